"""Recorded payloads (copied from the team's shared fixtures; provenance in INDEX.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).resolve().parent


def raw(relative: str) -> bytes:
    """Return the exact bytes of a payload file (signatures are over these)."""
    return (PAYLOADS / relative).read_bytes()


def load(relative: str) -> Any:
    """Return a payload file decoded from JSON."""
    return json.loads(raw(relative))


def vectors() -> dict[str, Any]:
    """Return the signing test vectors."""
    result: dict[str, Any] = load("vectors/signing_vectors.json")
    return result
