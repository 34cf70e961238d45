"""Every Slack action_id, block_id and callback_id the bot uses (kebab-case)."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """Buttons on the incident card."""

    ACKNOWLEDGE = "incident-acknowledge"
    MITIGATE = "incident-mitigate"
    RESOLVE = "incident-resolve"
    POSTMORTEM = "incident-postmortem"
    IMPACT_MODEL = "impact-model"


class CallbackId(StrEnum):
    """Modals."""

    DECLARE = "incident-declare"
    IMPACT = "incident-impact"
    FIVE_WHYS_PROBLEM = "five-whys-problem"
    FIVE_WHYS_WHY = "five-whys-why"
    FIVE_WHYS_ACTIONS = "five-whys-actions"


class BlockId(StrEnum):
    """Inputs of the declare modal."""

    TITLE = "declare-title"
    SEVERITY = "declare-severity"
    SERVICE = "declare-service"
    PROBLEM = "five-whys-problem-text"
    ANSWER = "five-whys-answer"
    ROOT_CAUSE = "five-whys-root-cause"
    ACTION_TEXT = "five-whys-action-text"
    ACTION_OWNER = "five-whys-action-owner"
    ACTION_DUE = "five-whys-action-due"
    ACTION_WHY = "five-whys-action-why"
    FINISH = "five-whys-finish"
    IMPACT_MODEL = "impact-model"
    IMPACT_CURRENCY = "impact-currency"
    IMPACT_INPUT_PREFIX = "impact-input-"
