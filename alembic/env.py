"""Alembic environment: the URL comes from Settings, or an engine handed in by the caller."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine
from sqlmodel import SQLModel

import incidents.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from incidents.config import load_settings
from incidents.store.db import build_engine

target_metadata = SQLModel.metadata


def _engine() -> Engine:
    """Return the engine passed in by code, or one built from Settings."""
    passed = context.config.attributes.get("engine")
    if isinstance(passed, Engine):
        return passed
    return build_engine(load_settings().database_url)


def _configure(connection: Connection) -> None:
    """Configure the migration context for one connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations_online() -> None:
    """Run migrations inside one transaction on the target database."""
    with _engine().connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
