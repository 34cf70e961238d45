"""The ``/incident`` grammar (DESIGN §7), parsed purely: text in, a Command or a usage error.

In an incident channel the incident is implied; elsewhere the first or the last word after
the verb names it (``#42`` or ``INC-42``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from incidents.errors import InvalidInput

HELP = """\
*/incident* — run an incident from Slack
• `declare [sev1-4] <title>` — declare (no title: a form)
• `ack` · `mitigate [note]` · `resolve [note]` — move the incident on
• `sev <1-4>` · `lead @user` · `note <text>` · `started <time>` — edit it (time in your timezone)
• `status` — the incident's card · `list` — open incidents
• `oncall [service]` — who is on call (PagerDuty) · `metrics [30d]` — MTTx medians
• `impact` — business-impact inputs (a form) · `summary` — post the stakeholder summary
• `override language=de,es,fr -> manual-review [for 4h]` — route a slice elsewhere
  (`fallback[:target]`, `manual-review[:queue]`, `block`); mitigates the incident
• `release-check <service>` — the release gate's last verdict and the error budget
• `postmortem` — start or resume the guided 5 Whys
• `help` — this text
In an incident channel the incident is implied; elsewhere add `#42` or `INC-42`."""

VERBS = ("declare", "ack", "mitigate", "resolve", "sev", "lead", "note", "started", "status",
         "list", "oncall", "metrics", "postmortem", "impact", "summary", "override",
         "release-check", "help")  # fmt: skip
TAKES_INCIDENT = frozenset(
    {
        "ack",
        "mitigate",
        "resolve",
        "sev",
        "lead",
        "note",
        "started",
        "status",
        "postmortem",
        "impact",
        "summary",
        "override",
    }
)
NEEDS_ARGUMENT = {
    "sev": "sev <1-4>",
    "lead": "lead @user",
    "note": "note <text>",
    "started": "started <time>, e.g. started 14:05 or started 20m ago",
    "override": "override <slice> -> <target>, e.g. override language=de,es,fr -> manual-review",
    "release-check": "release-check <service>, e.g. release-check recsys",
}
_REF = re.compile(r"^(#\d+|inc-\d+)$", re.IGNORECASE)
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_SEVERITY = re.compile(r"^(?:sev)?([1-4])$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed ``/incident`` command."""

    verb: str
    incident: str | None = None
    argument: str = ""


def parse(text: str) -> Command:
    """Parse the text after ``/incident``; raise InvalidInput with a usage line when wrong."""
    words = text.strip().split()
    if not words:
        return Command("help")
    verb = words[0].lower()
    if verb not in VERBS:
        raise InvalidInput(f"unknown command `{words[0]}`: try `/incident help`", fields=["verb"])
    rest = words[1:]
    incident = None
    if verb in TAKES_INCIDENT and rest and _REF.match(rest[0]):
        incident, rest = rest[0].lstrip("#"), rest[1:]
    elif verb in TAKES_INCIDENT and rest and _REF.match(rest[-1]):
        incident, rest = rest[-1].lstrip("#"), rest[:-1]
    argument = " ".join(rest)
    if verb in NEEDS_ARGUMENT and not argument:
        raise InvalidInput(f"usage: `/incident {NEEDS_ARGUMENT[verb]}`", fields=["argument"])
    _check(verb, argument)
    return Command(verb, incident, argument)


def _check(verb: str, argument: str) -> None:
    """Validate the argument of verbs with a fixed shape."""
    if verb == "sev" and not _SEVERITY.match(argument):
        raise InvalidInput("usage: `/incident sev <1-4>`", fields=["argument"])
    if verb == "override":
        override_spec(argument)
    if verb == "lead" and not _MENTION.match(argument):
        raise InvalidInput(
            "usage: `/incident lead @user` (mention the person)", fields=["argument"]
        )


@dataclass(frozen=True, slots=True)
class OverrideSpec:
    """A parsed ``override`` argument."""

    slice: dict[str, str]
    action: str
    target: str | None
    lasting: str | None  # a duration such as "4h", when given


_ACTIONS = {"manual-review": "manual_review", "manual_review": "manual_review",
            "fallback": "fallback", "block": "block"}  # fmt: skip
_PAIR = re.compile(r"^([A-Za-z0-9_.-]{1,64})=(\S{1,200})$")


def override_spec(argument: str) -> OverrideSpec:
    """Read ``language=de,es,fr -> manual-review[:queue] [for 4h]``."""
    usage = f"usage: `/incident {NEEDS_ARGUMENT['override']}`"
    left, arrow, right = argument.replace("→", "->").partition("->")
    pairs = [_PAIR.match(word) for word in left.split()]
    words = right.split()
    if not arrow or not pairs or not all(pairs) or not words:
        raise InvalidInput(usage, fields=["argument"])
    lasting = None
    if len(words) == 3 and words[1].lower() == "for":  # noqa: PLR2004 — "<target> for <time>"
        lasting, words = words[2], words[:1]
    if len(words) != 1:
        raise InvalidInput(usage, fields=["argument"])
    name, _colon, target = words[0].partition(":")
    action = _ACTIONS.get(name.lower())
    if action is None:  # any other word names a fallback
        action, target = "fallback", words[0]
    found = {m.group(1): m.group(2) for m in pairs if m}
    return OverrideSpec(slice=found, action=action, target=target or None, lasting=lasting)


def mentioned_user(argument: str) -> str:
    """Return the user id of a ``<@U123|name>`` mention."""
    match = _MENTION.match(argument)
    if match is None:
        raise InvalidInput("mention the person with @", fields=["argument"])
    return match.group(1)


def declaration(argument: str) -> tuple[str | None, str]:
    """Split ``[sev1-4] <title>`` into (severity digit or None, title)."""
    words = argument.split()
    if words and _SEVERITY.match(words[0]):
        return _SEVERITY.match(words[0]).group(1), " ".join(words[1:])  # type: ignore[union-attr]
    return None, argument
