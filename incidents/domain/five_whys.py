"""The guided, blameless 5 Whys: questions, chain rules and the blame check.

- The first question asks why the problem statement happened; every later question asks why
  the previous answer happened: "Why did “<answer>” happen?".
- A root cause is accepted after at least ``MIN_WHYS`` whys and the chain stops at
  ``MAX_WHYS``; answers stay editable (the questions after an edited answer are re-derived).
- The blame check flags answers that name a person or a human slip ("forgot", "human
  error", "careless"…) and returns a nudge towards what in the system allowed it: blameless
  postmortems look for missing guardrails, not culprits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from incidents.errors import Conflict, InvalidInput

MIN_WHYS = 3
MAX_WHYS = 7
MAX_ANSWER = 2000
QUOTE_LIMIT = 160

NUDGE = (
    "This answer points at a person or a human slip. People will always slip; what in the "
    "system let this one through — a missing check, guardrail, alert, test or safe default? "
    "Try answering that instead."
)
_BLAME_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\bhuman error\b",
        r"\b(forgot|forgotten|forgetting)\b",
        r"\bcareless(ness|ly)?\b",
        r"\bnegligen(t|ce)\b",
        r"\b(incompeten(t|ce)|sloppy|lazy)\b",
        r"\b(his|her|their) (fault|mistake|error)\b",
        r"\b(fault|mistake|error) (of|by) [A-Z@<]",
        r"\bshould have (known|checked|noticed|tested)\b",
        r"\bblame[sd]?\b",
        r"<@[UW][A-Z0-9]+(\|[^>]*)?>",  # a Slack mention
        r"@[a-z][\w.-]+",  # an @handle
    )
)
# A capitalised word (a name) doing a human slip; generic verbs ("did not include") are
# left out because systems do those too.
_NAMED_SLIP = re.compile(
    r"\b[A-Z][a-z]+ (didn't|did not|failed to) (check|notice|test|read|follow|see)\b"
    r"|\b[A-Z][a-z]+ (forgot|missed|ignored|overlooked|misconfigured|mistyped|fat-fingered)\b"
)


def question_for(previous: str) -> str:
    """Return the next question, asked about the previous answer (or the problem)."""
    quoted = " ".join(previous.split())
    if len(quoted) > QUOTE_LIMIT:
        quoted = quoted[: QUOTE_LIMIT - 1].rstrip() + "…"
    return f"Why did “{quoted}” happen?"


def questions(problem: str, answers: Sequence[str]) -> list[str]:
    """Return the question of every why in a chain (one more than there are answers)."""
    return [question_for(previous) for previous in [problem, *answers]]


def blame_nudge(answer: str) -> str | None:
    """Return a nudge when an answer blames a person or a human slip, else None."""
    if any(pattern.search(answer) for pattern in _BLAME_PATTERNS) or _NAMED_SLIP.search(answer):
        return NUDGE
    return None


def clean_answer(text: str) -> str:
    """Validate one answer: not blank, not longer than MAX_ANSWER characters."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("the answer is empty: say why it happened", fields=["answer"])
    if len(cleaned) > MAX_ANSWER:
        raise InvalidInput(f"keep the answer under {MAX_ANSWER} characters", fields=["answer"])
    return cleaned


def check_can_add(count: int) -> None:
    """Refuse an eighth why: past seven, the chain has lost the plot."""
    if count >= MAX_WHYS:
        raise Conflict(f"a chain has at most {MAX_WHYS} whys: mark one of them as the root cause")


def check_root_cause(count: int, position: int) -> None:
    """Accept a root cause only after enough whys, and only one that exists."""
    if count < MIN_WHYS:
        raise Conflict(
            f"keep asking: a root cause is accepted after {MIN_WHYS} whys ({count} so far)"
        )
    if not 1 <= position <= count:
        raise InvalidInput(f"there is no why {position}", fields=["position"])
