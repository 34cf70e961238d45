"""Incident references: ``INC-42``, ``#42`` and ``42`` all name incident 42."""

from __future__ import annotations

import hashlib
import re

from incidents.errors import NotFound

KEY_PREFIX = "INC-"
SLICE_KEY_MAX = 500
# Ids are 32-bit integers in PostgreSQL: anything larger names no row, and asking the
# database would be an "integer out of range" error, not a "not found".
MAX_ID = 2**31 - 1
_REF = re.compile(r"^\s*(?:inc-|#)?(\d{1,18})\s*$", re.IGNORECASE)


def incident_key(incident_id: int) -> str:
    """Return the human key of an incident id, e.g. ``INC-42``."""
    return f"{KEY_PREFIX}{incident_id}"


def parse_incident_ref(ref: str | int) -> int:
    """Return the numeric id named by `ref`, or raise NotFound for something that is no id."""
    if isinstance(ref, int):
        number = ref
    else:
        match = _REF.match(ref)
        if match is None:
            raise NotFound(f"no incident {ref!r}: use a number or a key such as INC-42")
        number = int(match.group(1))
    if not 0 < number <= MAX_ID:
        raise NotFound(f"no incident {ref!r}")
    return number


def slice_key(slice_: dict[str, str] | None) -> str | None:
    """Return a canonical, sortable text for a slice, e.g. ``language=de,region=eu``.

    Keys longer than the column (500) are replaced by their SHA-256, so they still group.
    """
    if not slice_:
        return None
    text = ",".join(f"{name}={slice_[name]}" for name in sorted(slice_))
    if len(text) <= SLICE_KEY_MAX:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def subject(service: str | None, model: str | None, slice_: dict[str, str] | None) -> str:
    """Name what an incident is about in one short phrase: "chatbot · language=de"."""
    names = " / ".join(part for part in (service, model) if part) or "—"
    if not slice_:
        return names
    scope = " ".join(f"{name}={slice_[name]}" for name in sorted(slice_))
    return f"{names} · {scope}"
