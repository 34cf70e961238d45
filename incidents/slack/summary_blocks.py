"""Pure Block Kit for stakeholder summaries and the impact form.

A summary is rendered from ``templates/summary.slack.j2`` as mrkdwn; here it becomes one
message that fits Slack's limits: at most 50 blocks, at most 3,000 characters per section,
and a plain-text fallback (notifications, screen readers) well under the 40,000 of ``text``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from incidents.domain.impact import MODELS
from incidents.errors import InvalidInput
from incidents.slack.ids import ActionId, BlockId, CallbackId

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FALLBACK = 3000
ELLIPSIS = "…"
_PARAGRAPHS = re.compile(r"\n\s*\n")
INPUT_HINTS = {
    "affected_share": "Share of traffic affected, 0–1 (e.g. 0.05..0.2)",
    "volume_per_hour": "Transactions, requests or sessions per hour",
    "value_per_unit": "Money per transaction or conversion",
    "approvals_per_day": "Loans approved per day with the affected model",
    "delta_pd": "Under-estimated probability of default, 0–1 (e.g. 0.01..0.03)",
    "lgd": "Loss given default, 0–1",
    "ead": "Exposure at default per loan",
    "delta_rate": "Drop in conversion or satisfaction rate, 0–1 (e.g. 0.05..0.1)",
}


def summary_message(mrkdwn: str) -> dict[str, Any]:
    """Split rendered mrkdwn into section blocks (one per paragraph) within Slack's limits."""
    paragraphs = [p.strip() for p in _PARAGRAPHS.split(mrkdwn) if p.strip()]
    if len(paragraphs) > MAX_BLOCKS:  # keep the head (business impact first), fold the rest
        paragraphs = [*paragraphs[: MAX_BLOCKS - 1], "\n".join(paragraphs[MAX_BLOCKS - 1 :])]
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(p, MAX_SECTION)}}
        for p in paragraphs
    ]
    fallback = _cut("\n".join(paragraphs[:2]), MAX_FALLBACK)
    return {"text": fallback, "blocks": blocks}


def _cut(text: str, limit: int) -> str:
    """Shorten text to `limit` characters, saying so with an ellipsis."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def impact_modal(
    *, incident: str, model: str, currency: str, values: Mapping[str, Sequence[float]]
) -> dict[str, Any]:
    """Return the impact form for one model, prefilled with `values` ([low, high] each)."""
    options = [_option(name) for name in MODELS]
    chooser = {
        "type": "actions",
        "block_id": BlockId.IMPACT_MODEL.value,
        "elements": [{"type": "static_select", "action_id": ActionId.IMPACT_MODEL.value,
                      "options": options, "initial_option": _option(model)}],
    }  # fmt: skip
    blocks: list[dict[str, Any]] = [
        chooser,
        _text_block(BlockId.IMPACT_CURRENCY.value, "Currency (ISO code)", currency, max_length=3),
    ]
    for name, _upper in MODELS[model]:
        blocks.append(
            _text_block(f"{BlockId.IMPACT_INPUT_PREFIX.value}{name}", INPUT_HINTS[name],
                        _range_text(values.get(name)), max_length=60)
        )  # fmt: skip
    return {
        "type": "modal",
        "callback_id": CallbackId.IMPACT.value,
        "private_metadata": f"{incident}|{model}",
        "title": {"type": "plain_text", "text": f"Impact of {incident}"[:24]},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _option(name: str) -> dict[str, Any]:
    """Return one select option for an impact model."""
    return {"text": {"type": "plain_text", "text": name}, "value": name}


def _text_block(block_id: str, label: str, initial: str, *, max_length: int) -> dict[str, Any]:
    """Return a one-line text input, prefilled when there is a value."""
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value",
                               "max_length": max_length}  # fmt: skip
    if initial:
        element["initial_value"] = initial
    return {"type": "input", "block_id": block_id,
            "label": {"type": "plain_text", "text": label}, "element": element}  # fmt: skip


def _range_text(value: Sequence[float] | float | None) -> str:
    """Show a stored input as people type it: "2400" or "0.01..0.03"."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        return _number(value)
    low, high = value
    return _number(low) if low == high else f"{_number(low)}..{_number(high)}"


def _number(value: float) -> str:
    """Show a number without a needless ".0"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def parse_range(text: str, *, name: str) -> float | list[float]:
    """Read "2400", "0.01..0.03" or "0.01-0.03" as a number or a [low, high] pair."""
    cleaned = text.strip().replace(",", "").replace(" ", "")
    parts = re.split(r"\.\.|(?<=\d)[-–](?=\d)", cleaned) if cleaned else []
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 1:
        return numbers[0]
    if len(numbers) == 2:  # noqa: PLR2004 — low and high
        return numbers
    raise InvalidInput(f"{name}: give a number or a range such as 0.01..0.03", fields=[name])
