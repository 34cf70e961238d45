"""alerts: the identity's unique index leads with the fingerprint

The intake looks alerts up by (source, fingerprint) — one at a time, and a whole batch's
fingerprints at once. With the index led by ``source`` (a handful of values) PostgreSQL,
when its statistics are stale or missing (a storm on a fresh database, or autovacuum off),
scanned every alert of the source and filtered the fingerprints: each batch's look-up grew
with the table (4 ms at 17,000 alerts). Led by the fingerprint, every such look-up is a
few index descents whatever the planner believes. The index is rebuilt (on SQLite the
table is copied), so this migration takes time in proportion to the alerts stored.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("uq_alerts_source_fingerprint_starts_at", ["source", "fingerprint", "starts_at"])
NEW = ("uq_alerts_fingerprint_source_starts_at", ["fingerprint", "source", "starts_at"])


def upgrade() -> None:
    """Apply this revision."""
    _swap(OLD, NEW)


def downgrade() -> None:
    """Revert this revision."""
    _swap(NEW, OLD)


def _swap(old: tuple[str, list[str]], new: tuple[str, list[str]]) -> None:
    """Replace one unique constraint of the alerts table with another."""
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint(old[0], type_="unique")
        batch.create_unique_constraint(new[0], new[1])
