"""The 5 Whys rules and the blame check."""

from __future__ import annotations

import pytest

from incidents.domain.five_whys import (
    NUDGE,
    blame_nudge,
    check_can_add,
    check_root_cause,
    clean_answer,
    question_for,
    questions,
)
from incidents.errors import Conflict, InvalidInput


def test_each_question_asks_why_the_previous_answer_happened():
    assert question_for("Loan approvals fell 30%") == "Why did “Loan approvals fell 30%” happen?"
    assert questions("P", ["A1", "A2"]) == [
        "Why did “P” happen?",
        "Why did “A1” happen?",
        "Why did “A2” happen?",
    ]


def test_long_answers_are_quoted_short_and_whitespace_is_collapsed():
    asked = question_for("word " * 100)
    assert asked.startswith("Why did “word word") and "…”" in asked and len(asked) < 200
    assert question_for("a\n  b") == "Why did “a b” happen?"


def test_root_cause_needs_three_whys_and_an_existing_position():
    with pytest.raises(Conflict, match="after 3 whys"):
        check_root_cause(2, 2)
    check_root_cause(3, 3)
    with pytest.raises(InvalidInput):
        check_root_cause(4, 5)


def test_at_most_seven_whys():
    check_can_add(6)
    with pytest.raises(Conflict, match="at most 7"):
        check_can_add(7)


def test_answers_must_say_something():
    assert clean_answer("  The cache expired  ") == "The cache expired"
    with pytest.raises(InvalidInput):
        clean_answer("   ")
    with pytest.raises(InvalidInput):
        clean_answer("x" * 2001)


@pytest.mark.parametrize(
    "answer",
    [
        "Human error during the deploy",
        "Bob forgot to run the migration",
        "the on-call engineer was careless",
        "It was her mistake",
        "Dana didn't check the dashboard",
        "Ops should have known about the expiry",
        "<@U0ALICE> pushed the wrong config",
        "@alice deleted the table",
        "Negligence in review",
        "We blame the release manager",
        "Kim misconfigured the load balancer",
    ],
)
def test_blame_is_flagged_with_a_nudge_towards_the_system(answer):
    assert blame_nudge(answer) == NUDGE
    assert "what in the system" in NUDGE


@pytest.mark.parametrize(
    "answer",
    [
        "The deploy pipeline had no migration step",
        "Nothing alerted on certificate expiry",
        "The retry loop had no backoff, so the queue filled up",
        "The feature store served stale income data after the schema change",
        "Review did not include the config diff",
        "Drift monitoring only covered the aggregate, not per-language slices",
        "The runbook said to restart, which cleared the cache",
    ],
)
def test_system_answers_pass(answer):
    assert blame_nudge(answer) is None
