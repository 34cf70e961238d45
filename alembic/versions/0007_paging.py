"""paging: what PagerDuty was last told about an incident, and through which routing

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("pagerduty_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("pagerduty_routing", sa.String(length=200), nullable=True))
        batch.create_index(
            "ix_incidents_pagerduty_incident_id", ["pagerduty_incident_id"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_pagerduty_incident_id")
        batch.drop_column("pagerduty_routing")
        batch.drop_column("pagerduty_status")
