"""Routing overrides (DESIGN §9): what a serving layer does with one model's slice while an
incident lasts, how people write it, and how much traffic it moves.

Actions: ``fallback`` (serve another model or rules, named by ``target``), ``manual_review``
(send to a human queue, ``target`` names it), ``block`` (refuse, no target). People write
``manual-review`` or ``manual_review`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from incidents.errors import InvalidInput


class OverrideAction(StrEnum):
    """What the serving layer does with the slice's requests."""

    FALLBACK = "fallback"
    MANUAL_REVIEW = "manual_review"
    BLOCK = "block"


DEFAULT_TARGETS = {
    OverrideAction.FALLBACK: "fallback",
    OverrideAction.MANUAL_REVIEW: "manual-review queue",
}


def parse_action(text: str) -> OverrideAction:
    """Read an action as people write it ("manual-review", "Fallback")."""
    cleaned = text.strip().lower().replace("-", "_")
    try:
        return OverrideAction(cleaned)
    except ValueError:
        raise InvalidInput(
            f"action: {text!r} is not one of fallback, manual_review, block", fields=["action"]
        ) from None


def slice_values(value: str) -> list[str]:
    """Split a slice value that lists several (``de,es,fr``) into its parts."""
    return [part.strip() for part in value.split(",") if part.strip()]


def traffic_share(
    slice_: Mapping[str, str], weights: Mapping[str, Mapping[str, float]] | None
) -> float | None:
    """Return the share of the model's traffic the slice carries, when the weights say.

    Values listed in one dimension add up (``language=de,es,fr``); several dimensions
    multiply, assuming they are independent (the response says so). None when a dimension
    or value has no weight.
    """
    if not slice_ or not weights:
        return None
    share = 1.0
    for name, value in slice_.items():
        known = weights.get(name)
        parts = slice_values(value)
        if not known or not parts or any(part not in known for part in parts):
            return None
        share *= sum(float(known[part]) for part in parts)
    return round(min(share, 1.0), 6)  # weights are given to a few digits; drop float noise
