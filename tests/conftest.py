"""Shared fixtures: a fresh, migrated database per test (SQLite, or PostgreSQL when
INCIDENTS_TEST_POSTGRES_URL is set), a frozen clock, and an app client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.store import migrate
from incidents.store.db import build_engine
from tests.fakes import FrozenClock

POSTGRES_URL = os.environ.get("INCIDENTS_TEST_POSTGRES_URL")


def pytest_report_header() -> str:
    """Say which database the suite runs on."""
    return f"database: {'PostgreSQL ' + POSTGRES_URL if POSTGRES_URL else 'SQLite'}"


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine | None]:
    """Migrate the PostgreSQL test database once per run (None when not configured)."""
    if not POSTGRES_URL:
        yield None
        return
    engine = build_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _truncate(engine: Engine) -> None:
    """Empty every table and restart ids, so each test starts from nothing."""
    names = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(tmp_path: Path, postgres_engine: Engine | None) -> str:
    """Return the URL of an empty, migrated database for this test."""
    if postgres_engine is not None:
        _truncate(postgres_engine)
        assert POSTGRES_URL is not None
        return POSTGRES_URL
    url = f"sqlite:///{tmp_path / 'incidents.db'}"
    engine = build_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """Return an engine on this test's database."""
    engine = build_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """Return a session on this test's database."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def clock() -> FrozenClock:
    """Return a clock frozen at 2026-11-25 09:00 UTC."""
    return FrozenClock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Return settings for this test's database, without tokens."""
    return Settings(database_url=database_url)


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: FrozenClock) -> Iterator[TestClient]:
    """Return a client of an app on this test's database and clock."""
    with TestClient(create_app(settings, engine=engine, clock=clock)) as test_client:
        yield test_client
