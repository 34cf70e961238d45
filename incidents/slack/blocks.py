"""Pure Block Kit builders: the incident card, and the help and usage texts.

Times use Slack's ``<!date^…>`` tokens, so every reader sees them in their own timezone.
Nothing here does I/O; the card is a function of an ``IncidentCard`` value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from incidents.domain.humanize import format_duration
from incidents.slack.ids import ActionId, BlockId, CallbackId

STATUS_EMOJI = {
    "triggered": ":red_circle:",
    "acknowledged": ":large_orange_circle:",
    "mitigated": ":large_blue_circle:",
    "resolved": ":white_check_mark:",
}
# Which buttons a status offers (pressing one is the same as the command).
BUTTONS: dict[str, tuple[tuple[ActionId, str, str | None], ...]] = {
    "triggered": ((ActionId.ACKNOWLEDGE, "Acknowledge", "primary"),
                  (ActionId.MITIGATE, "Mitigated", None), (ActionId.RESOLVE, "Resolve", None),
                  (ActionId.POSTMORTEM, "Start postmortem", None)),
    "acknowledged": ((ActionId.MITIGATE, "Mitigated", "primary"),
                     (ActionId.RESOLVE, "Resolve", None),
                     (ActionId.POSTMORTEM, "Start postmortem", None)),
    "mitigated": ((ActionId.RESOLVE, "Resolve", "primary"),
                  (ActionId.POSTMORTEM, "Start postmortem", None)),
    "resolved": ((ActionId.POSTMORTEM, "Start postmortem", "primary"),),
}  # fmt: skip
TIMESTAMPS = (
    ("Impact started", "impact_started_at"),
    ("Detected", "detected_at"),
    ("Acknowledged", "acknowledged_at"),
    ("Mitigated", "mitigated_at"),
    ("Resolved", "resolved_at"),
)


@dataclass(frozen=True, slots=True)
class IncidentCard:
    """What the card shows about one incident."""

    key: str
    title: str
    status: str
    severity: str
    service: str | None
    model: str | None
    slice: dict[str, str] | None
    commander: str | None
    impact_started_at: datetime
    impact_defaulted: bool
    detected_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    alert_count: int
    runbook_url: str | None
    link: str | None
    now: datetime


def card_text(card: IncidentCard) -> str:
    """Return the notification text (what screen readers and notifications show)."""
    return f"{card.key} {card.severity} {card.status}: {card.title}"


def incident_card(card: IncidentCard) -> list[dict[str, Any]]:
    """Build the incident card blocks."""
    emoji = STATUS_EMOJI.get(card.status, "")
    title = f"{emoji} *{card.key}* · *{card.severity}* · {card.status.capitalize()}\n{card.title}"
    blocks: list[dict[str, Any]] = [_section(title), _fields(card), _timeline(card)]
    context = _context(card)
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    actions = _buttons(card)
    if actions:
        blocks.append({"type": "actions", "block_id": f"card-{card.key}", "elements": actions})
    return blocks


def _section(text: str) -> dict[str, Any]:
    """Return a mrkdwn section."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _fields(card: IncidentCard) -> dict[str, Any]:
    """Return the subject, commander and alert count."""
    subject = " / ".join(part for part in (card.service, card.model, _slice(card.slice)) if part)
    fields = [
        f"*Subject*\n{subject or '—'}",
        f"*Commander*\n{card.commander or 'unassigned'}",
        f"*Alerts*\n{card.alert_count}",
        f"*Impact so far*\n{_impact(card)}",
    ]
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]}


def _timeline(card: IncidentCard) -> dict[str, Any]:
    """Return the key timestamps, each in the reader's timezone."""
    lines = []
    for label, name in TIMESTAMPS:
        value: datetime | None = getattr(card, name)
        if value is None:
            continue
        note = (
            " (defaulted to detection)"
            if name == "impact_started_at" and card.impact_defaulted
            else ""
        )
        lines.append(f"{label}: {slack_date(value)}{note}")
    return _section("\n".join(lines))


def _impact(card: IncidentCard) -> str:
    """Return how long customers have been affected (to mitigation, or so far)."""
    end = card.mitigated_at or card.now
    duration = format_duration(max(end - card.impact_started_at, timedelta(0)))
    return duration if card.mitigated_at else f"{duration} and counting"


def _context(card: IncidentCard) -> str:
    """Return the runbook and web links."""
    links = []
    if card.runbook_url:
        links.append(f"<{card.runbook_url}|Runbook>")
    if card.link:
        links.append(f"<{card.link}|Open {card.key}>")
    return " · ".join(links)


def _buttons(card: IncidentCard) -> list[dict[str, Any]]:
    """Return the buttons the incident's status allows."""
    buttons = []
    for action_id, label, style in BUTTONS.get(card.status, ()):
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action_id.value,
            "text": {"type": "plain_text", "text": label},
            "value": card.key,
        }
        if style:
            button["style"] = style
        buttons.append(button)
    return buttons


def _slice(slice_: dict[str, str] | None) -> str | None:
    """Format a slice for people: language=de, region=eu."""
    if not slice_:
        return None
    return ", ".join(f"{name}={slice_[name]}" for name in sorted(slice_))


def slack_date(value: datetime) -> str:
    """Return a Slack date token shown in the reader's timezone, with a UTC fallback."""
    epoch = int(value.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time_secs}}|{value:%Y-%m-%d %H:%M:%S} UTC>"


def declare_modal() -> dict[str, Any]:
    """Return the form `/incident declare` opens when no title is given."""
    severities = [
        {"text": {"type": "plain_text", "text": name}, "value": name}
        for name in ("SEV1", "SEV2", "SEV3", "SEV4")
    ]
    return {
        "type": "modal",
        "callback_id": CallbackId.DECLARE.value,
        "title": {"type": "plain_text", "text": "Declare an incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _input(BlockId.TITLE, "What is wrong?", _text_input(300)),
            _input(BlockId.SEVERITY, "Severity", {
                "type": "static_select", "action_id": "value",
                "options": severities, "initial_option": severities[2],
            }),
            _input(BlockId.SERVICE, "Service or model", _text_input(200), optional=True),
        ],
    }  # fmt: skip


def _text_input(max_length: int) -> dict[str, Any]:
    """Return a one-line text input."""
    return {"type": "plain_text_input", "action_id": "value", "max_length": max_length}


def _input(
    block_id: BlockId, label: str, element: dict[str, Any], *, optional: bool = False
) -> dict[str, Any]:
    """Return one input block of a modal."""
    return {
        "type": "input",
        "block_id": block_id.value,
        "label": {"type": "plain_text", "text": label},
        "element": element,
        "optional": optional,
    }


def modal_values(state: dict[str, Any]) -> dict[str, str]:
    """Read a submitted modal's inputs as block id → text (empty when not given)."""
    values: dict[str, str] = {}
    for block_id, actions in state.get("values", {}).items():
        field = actions.get("value", {})
        selected = field.get("selected_option") or {}
        values[block_id] = str(field.get("value") or selected.get("value") or "").strip()
    return values
