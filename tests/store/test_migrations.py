"""Migrations bring an empty database to head, match the models exactly, and go back down."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import incidents.store.models  # noqa: F401  (registers the tables)
from incidents.store import migrate
from incidents.store.db import build_engine

POSTGRES_URL = os.environ.get("INCIDENTS_TEST_POSTGRES_URL")


@pytest.fixture
def empty_engine(tmp_path) -> Iterator[Engine]:
    """An engine on a brand-new, empty database of the backend under test."""
    if not POSTGRES_URL:
        engine = build_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    name = f"incidents_mig_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        make_url(POSTGRES_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = build_engine(make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_upgrade_from_empty_reaches_head(empty_engine):
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert {"incidents", "alerts", "timeline"} <= set(inspect(empty_engine).get_table_names())


def test_autogenerate_finds_no_difference_between_models_and_migrations(empty_engine):
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_autogenerate_would_notice_a_missing_table(empty_engine):
    """Guard the guard: the comparison above can fail."""
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(text("DROP TABLE timeline"))
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert any(diff[0] == "add_table" and diff[1].name == "timeline" for diff in differences)


def test_downgrade_to_base_and_back(empty_engine):
    migrate.upgrade(empty_engine)
    migrate.downgrade(empty_engine, "base")
    assert migrate.current_revision(empty_engine) is None
    assert "incidents" not in inspect(empty_engine).get_table_names()
    migrate.upgrade(empty_engine)
    assert migrate.is_at_head(empty_engine, migrate.head_revision())


INCIDENT_ROW = text(
    "INSERT INTO incidents (title, status, severity, source, impact_started_source,"
    " impact_started_at, detected_at, reported_at, created_at, updated_at) VALUES"
    " ('kept across migrations', 'triggered', 'SEV2', 'manual', 'defaulted',"
    " '2026-11-25 09:00:00', '2026-11-25 09:00:00', '2026-11-25 09:00:00',"
    " '2026-11-25 09:00:00', '2026-11-25 09:00:00')"
)


@pytest.mark.parametrize("start", migrate.revisions()[:-1])
def test_upgrade_from_every_revision_with_data_then_down_one_step(empty_engine, start):
    migrate.upgrade(empty_engine, start)
    with empty_engine.begin() as connection:
        connection.execute(INCIDENT_ROW)
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    with empty_engine.connect() as connection:
        titles = connection.execute(text("SELECT title, severity FROM incidents")).all()
    assert [tuple(row) for row in titles] == [("kept across migrations", "SEV2")]
    migrate.downgrade(empty_engine, "-1")
    assert migrate.current_revision(empty_engine) == migrate.revisions()[-2]
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM incidents")).scalar_one() == 1
