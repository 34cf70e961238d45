"""What every `incidents` sub-command shares: consoles, one-line errors, settings and a
session on a migrated database."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from incidents.config import Settings, load_settings
from incidents.errors import ConfigError, IncidentsError
from incidents.store import migrate
from incidents.store.db import build_engine

out = Console()
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

TimeOpt = Annotated[
    str | None, typer.Option("--at", help="When it happened: '14:05', '10m ago', ISO 8601.")
]
TzOpt = Annotated[
    str | None, typer.Option("--tz", help="Timezone for times you type (default: setting).")
]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who did it (default: your login).")]
RefArg = Annotated[str, typer.Argument(help="Id or key, e.g. 42 or INC-42.")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="A note for the timeline.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line and return the exit to raise."""
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Turn expected errors into one clear line and a non-zero exit."""
    try:
        yield
    except ConfigError as exc:
        raise fail(exc.message, 2) from None
    except IncidentsError as exc:
        raise fail(exc.message) from None
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise fail(f"database error: {reason}") from None


def settings() -> Settings:
    """Load settings or stop with the one-line reason."""
    with errors():
        return load_settings()


def with_session(work: Callable[[Session, Settings], T]) -> T:
    """Run `work` in a session on a database that is at head."""
    config = settings()
    engine = build_engine(config.database_url)
    try:
        with errors():
            require_head(engine)
            with Session(engine, expire_on_commit=False) as session:
                return work(session, config)
    finally:
        engine.dispose()


def require_head(engine: Engine) -> None:
    """Refuse to work on a database that is not migrated."""
    head, current = migrate.head_revision(), migrate.current_revision(engine)
    if current != head:
        raise IncidentsError(
            f"database is at revision {current}, not {head}: run `incidents db upgrade`"
        )


def actor_of(actor: str | None) -> str:
    """Return the acting person (default: the login name)."""
    return actor or f"cli:{getpass.getuser()}"
