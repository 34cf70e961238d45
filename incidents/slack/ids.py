"""Every Slack action_id, block_id and callback_id the bot uses (kebab-case)."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """Buttons on the incident card."""

    ACKNOWLEDGE = "incident-acknowledge"
    MITIGATE = "incident-mitigate"
    RESOLVE = "incident-resolve"


class CallbackId(StrEnum):
    """Modals."""

    DECLARE = "incident-declare"


class BlockId(StrEnum):
    """Inputs of the declare modal."""

    TITLE = "declare-title"
    SEVERITY = "declare-severity"
    SERVICE = "declare-service"
