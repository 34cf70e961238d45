"""incidents: an index for the reopen look-up (a group's recently resolved incident)

When a delivery's group has no open incident, the intake asks for the group's incident
auto-resolved within the reopen window (flapping). No index served that question: every
new group of a storm scanned the whole incidents table, 36 ms per group at 200,000
incidents on PostgreSQL. A partial index over resolved incidents by (source, group key,
resolution time) makes it an index probe. Building it locks the incidents table against
writes for the time it takes (the table holds one row per incident, not per alert).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_incidents_source_group_key_resolved_at"
RESOLVED = sa.text("status = 'resolved'")


def upgrade() -> None:
    """Apply this revision."""
    op.create_index(NAME, "incidents", ["source", "group_key", "resolved_at"],
                    postgresql_where=RESOLVED, sqlite_where=RESOLVED)  # fmt: skip


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(NAME, table_name="incidents")
