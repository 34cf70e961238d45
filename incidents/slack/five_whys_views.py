"""Pure Block Kit views of the guided 5 Whys: problem, one why at a time, action items.

Each view carries the incident (and, after a nudge, the answer that was nudged) in its
``private_metadata``, so any submission can be handled by any process after a restart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from incidents.domain import five_whys
from incidents.slack.ids import BlockId, CallbackId


class FlowState(BaseModel):
    """What a 5 Whys view remembers between submissions."""

    incident: int
    nudged: str | None = None

    def dump(self) -> str:
        """Serialise for ``private_metadata``."""
        return self.model_dump_json()

    @classmethod
    def load(cls, text: str) -> FlowState:
        """Read ``private_metadata``."""
        return cls.model_validate_json(text or "{}")


def fingerprint(answer: str) -> str:
    """Identify an answer, to accept it unchanged after its nudge was shown."""
    return hashlib.sha256(" ".join(answer.split()).encode()).hexdigest()[:16]


def problem_view(state: FlowState, *, key: str) -> dict[str, Any]:
    """Ask for the problem statement."""
    blocks = [
        _text(f"*Postmortem for {key}* — blameless: we look for what in the system let this "
              "happen, not for who.",),
        _input(BlockId.PROBLEM, "What went wrong, as customers saw it?",
               _text_input(multiline=True, max_length=2000)),
    ]  # fmt: skip
    return _modal(CallbackId.FIVE_WHYS_PROBLEM, "Postmortem", "Start", blocks, state)


def why_view(
    state: FlowState,
    *,
    key: str,
    problem: str,
    answers: Sequence[str],
    nudge: str | None = None,
    draft: str = "",
) -> dict[str, Any]:
    """Ask the next why, showing the chain so far (and a blame nudge when there is one)."""
    question = five_whys.question_for(answers[-1] if answers else problem)
    number = len(answers) + 1
    chain = "\n".join(f"{index}. {answer}" for index, answer in enumerate(answers, start=1))
    blocks: list[dict[str, Any]] = [_text(f"*{key}* · problem: {problem}")]
    if chain:
        blocks.append(_text(f"*So far*\n{chain}"))
    if nudge:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f":bulb: {nudge}"}]}
        )
    answer = _text_input(multiline=True, max_length=five_whys.MAX_ANSWER)
    if draft:
        answer["initial_value"] = draft
    blocks.append(_input(BlockId.ANSWER, f"Why {number}: {question}", answer))
    if number >= five_whys.MIN_WHYS or answers:
        blocks.append(_input(BlockId.ROOT_CAUSE, "Root cause?", {
            "type": "checkboxes", "action_id": "value",
            "options": [{"text": {"type": "plain_text", "text": "This is the root cause"},
                         "value": "yes"}],
        }, optional=True))  # fmt: skip
    return _modal(CallbackId.FIVE_WHYS_WHY, f"Why {number}", "Next why", blocks, state)


def actions_view(
    state: FlowState, *, key: str, root_cause: str, whys: int, added: int
) -> dict[str, Any]:
    """Collect action items (owner, due date, the why it addresses), then finish."""
    options = [{"text": {"type": "plain_text", "text": f"Why {n}"}, "value": str(n)}
               for n in range(1, whys + 1)]  # fmt: skip
    blocks = [
        _text(f"*{key}* · root cause: {root_cause}\n{added} action item(s) so far."),
        _input(BlockId.ACTION_TEXT, "What will we change?", _text_input(max_length=1000),
               optional=True),
        _input(BlockId.ACTION_OWNER, "Owner", {"type": "users_select", "action_id": "value"},
               optional=True),
        _input(BlockId.ACTION_DUE, "Due", {"type": "datepicker", "action_id": "value"},
               optional=True),
        _input(BlockId.ACTION_WHY, "Addresses", {"type": "static_select", "action_id": "value",
               "options": options, "initial_option": options[-1]}, optional=True),
        _input(BlockId.FINISH, "Done?", {"type": "checkboxes", "action_id": "value", "options": [
            {"text": {"type": "plain_text", "text": "Finish the postmortem and post it"},
             "value": "yes"}]}, optional=True),
    ]  # fmt: skip
    return _modal(CallbackId.FIVE_WHYS_ACTIONS, "Action items", "Save", blocks, state)


def submitted(view: dict[str, Any]) -> dict[str, Any]:
    """Read a submitted view: text, selected option, user, date, or checkbox flags."""
    values: dict[str, Any] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        field = actions.get("value", {})
        if "selected_options" in field:
            values[block_id] = bool(field["selected_options"])
        else:
            selected = (field.get("selected_option") or {}).get("value")
            values[block_id] = (field.get("value") or selected or field.get("selected_user")
                                or field.get("selected_date") or "")  # fmt: skip
    return values


def _modal(
    callback: CallbackId, title: str, submit: str, blocks: list[dict[str, Any]], state: FlowState
) -> dict[str, Any]:
    """Wrap blocks into a modal."""
    return {
        "type": "modal",
        "callback_id": callback.value,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Later"},
        "private_metadata": state.dump(),
        "blocks": blocks,
    }


def _text(text: str) -> dict[str, Any]:
    """Return a mrkdwn section."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _text_input(*, multiline: bool = False, max_length: int) -> dict[str, Any]:
    """Return a text input."""
    return {"type": "plain_text_input", "action_id": "value", "multiline": multiline,
            "max_length": max_length}  # fmt: skip


def _input(
    block_id: BlockId, label: str, element: dict[str, Any], *, optional: bool = False
) -> dict[str, Any]:
    """Return an input block."""
    return {"type": "input", "block_id": block_id.value,
            "label": {"type": "plain_text", "text": label[:2000]},
            "element": element, "optional": optional}  # fmt: skip
