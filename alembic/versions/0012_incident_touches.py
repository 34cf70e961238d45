"""incident_touches: when each group-commit writer last moved an incident's timeline

An incident's ``updated_at`` is the latest of its own column and its rows here. Group
commit on PostgreSQL writes a batch's timeline touches here, one row per (incident,
writer), instead of updating the incident row: a row update locks the row until commit,
and two serving processes adding alerts to the same incidents took turns on those locks.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "incident_touches",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_touches_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("incident_id", "slot", name=op.f("pk_incident_touches")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("incident_touches")
