"""slos: per-minute SLI event buckets and recorded release-gate verdicts

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "slo_buckets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slo", sa.String(length=200), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("good", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slo_buckets")),
        sa.UniqueConstraint("slo", "bucket_start", name=op.f("uq_slo_buckets_slo_bucket_start")),
    )
    op.create_table(
        "release_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_checks")),
    )
    op.create_index("ix_release_checks_service", "release_checks", ["service"])
    op.create_index("ix_release_checks_checked_at", "release_checks", ["checked_at"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_release_checks_checked_at", table_name="release_checks")
    op.drop_index("ix_release_checks_service", table_name="release_checks")
    op.drop_table("release_checks")
    op.drop_table("slo_buckets")
