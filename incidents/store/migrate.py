"""Alembic, driven from code: upgrade, downgrade, current revision and an at-head check.

No ``alembic.ini`` is needed: the script location is the shipped ``alembic/`` folder and
the database URL comes from Settings (or an engine handed in, as tests do).
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from incidents.resources import bundled_dir


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic Config that migrates through `engine`."""
    config = Config()
    config.set_main_option("script_location", str(bundled_dir("alembic")))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision`."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "-1") -> None:
    """Downgrade the database behind `engine` to `revision` (default: one step)."""
    command.downgrade(alembic_config(engine), revision)


def head_revision() -> str | None:
    """Return the newest revision the shipped migrations know."""
    script = ScriptDirectory.from_config(_script_config())
    return script.get_current_head()


def revisions() -> list[str]:
    """Return every shipped revision, oldest first (upgrade tests start from each)."""
    script = ScriptDirectory.from_config(_script_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_at_head(engine: Engine, head: str | None) -> bool:
    """Tell whether the database is migrated to `head`."""
    return current_revision(engine) == head


def _script_config() -> Config:
    """Return a Config that only knows where the scripts are."""
    config = Config()
    config.set_main_option("script_location", str(bundled_dir("alembic")))
    return config
