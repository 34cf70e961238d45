"""Locate the folders that ship with the package (migrations, templates, runbooks).

A wheel carries them under ``incidents/_bundled/``; an editable install or a source
checkout reads them from the repository root, so both layouts work unchanged.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """Return the shipped folder `name` (``alembic``, ``templates`` or ``runbooks``)."""
    inside_wheel = _PACKAGE_DIR / "_bundled" / name
    if inside_wheel.is_dir():
        return inside_wheel
    return _PACKAGE_DIR.parent / name
