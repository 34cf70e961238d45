"""Demo data: the three situations of DESIGN §1, seeded through the real flows.

``seed`` opens each incident the way it would happen for real — an Alertmanager drift alert
and an ML-monitor slice scan go through intake, the canary incident is declared by a person —
then acknowledges, corrects, estimates, mitigates, resolves and writes the postmortem with
the same flows the API, the CLI and Slack use, so every step is on the timeline.

Decisions:

- Deterministic for a given ``now``: every moment is a fixed offset before it (the tables
  below), and the flows run on a frozen clock moved to each step's moment — so receipt times,
  timeline entries and postmortem answers carry plausible times instead of all being ``now``.
  Nothing is random; nothing visible holds an id that differs between runs.
- Idempotent: each scenario is looked up first (the drift alert's group key, the canary's
  exact title, the slice scan's group key, whatever the incident's status by now) and only
  seeded when absent. A run interrupted half-way leaves its scenario half-built; a later run
  finds it and leaves it alone.
- Impact inputs come from the service catalog, so the demo follows the shipped
  ``runbooks/catalog.yaml``; where only part of the traffic was affected, one input is scaled
  by that share (see ``CANARY_SHARE`` and ``NON_ENGLISH_SHARE``).
- Nothing is sent anywhere: the flows get ``NULL_NOTIFIER``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from incidents.catalog import Catalog, check
from incidents.config import Settings, load_settings
from incidents.domain.alert import fnv1a_fingerprint
from incidents.domain.lifecycle import Event
from incidents.domain.severity import Severity
from incidents.errors import InvalidInput, NotFound
from incidents.flows import edits, impact, intake, postmortems
from incidents.flows import incidents as lifecycle
from incidents.flows.ports import NULL_NOTIFIER
from incidents.ingest import Adapter
from incidents.ingest.alertmanager import ADAPTER as ALERTMANAGER
from incidents.ingest.ml import ADAPTER as ML_MONITOR
from incidents.store.models import Incident

# Scenario 1: the loan-default model drifts after an interest-rate change (ongoing).
LOAN_DEFAULT_TITLE = "Loan-default model drift: 4 of 6 input features drifted (share 0.67 ≥ 0.5)"
LOAN_DEFAULT_GROUP_KEY = (
    '{}/{environment="demo"}:{alertname="ModelDriftDetected", model="loan-default"}'
)
# Scenario 2: a recommender canary hurts click-through and is rolled back (resolved).
RECSYS_TITLE = "Canary recsys v2: click-through rate below baseline"
# The canary served 10% of recommendation traffic, so the catalog's volume (every session) is
# scaled by 0.1: only canary sessions clicked less. Scaling Δrate instead gives the same money
# but would count all 250,000 sessions an hour as affected.
CANARY_SHARE = 0.1
# Scenario 3: chatbot satisfaction drops for non-English chats only (mitigated).
CHATBOT_SLICE = {"language": "de,es,fr"}
CHATBOT_GROUP_KEY = "ml:chatbot|language=de,es,fr|performance"
# German, Spanish and French are 35% of chatbot sessions; the catalog's volume is every
# session, so it is scaled by 0.35: English chats were not affected.
NON_ENGLISH_SHARE = 0.35

SCAN_SUMMARY = (
    "Per-slice scan: satisfaction for language=de,es,fr fell to 0.62 (threshold 0.8) while "
    "aggregate accuracy stayed flat"
)
ALERTMANAGER_GROUP_WAIT = timedelta(seconds=30)  # Alertmanager's default before it notifies


def _before(hours: float = 0, minutes: float = 0, seconds: float = 0) -> timedelta:
    """Return how long before `now` a step happens."""
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


# When each step happens, as time before `now` (the clock is moved there for the step).
LOAN_DEFAULT_STEPS: dict[str, timedelta] = {
    "impact_started": _before(hours=6),
    "detected": _before(hours=2),
    "received": _before(hours=2) - ALERTMANAGER_GROUP_WAIT,
    "acknowledged": _before(hours=1, minutes=50),
    "corrected": _before(hours=1, minutes=40),
    "impact_set": _before(hours=1, minutes=30),
    "update": _before(hours=1),
}
RECSYS_STEPS: dict[str, timedelta] = {
    "impact_started": _before(hours=5),
    "detected": _before(hours=4, minutes=45),
    "declared": _before(hours=4, minutes=43),
    "acknowledged": _before(hours=4, minutes=42),
    "impact_set": _before(hours=4, minutes=35),
    "mitigated": _before(hours=4, minutes=20),  # 40 minutes of impact
    "resolved": _before(hours=3, minutes=50),
    "postmortem": _before(hours=2, minutes=30),
    "postmortem_done": _before(hours=2),
}
CHATBOT_STEPS: dict[str, timedelta] = {
    "impact_started": _before(hours=3),
    "detected": _before(hours=1, minutes=30),
    "received": _before(hours=1, minutes=29),
    "acknowledged": _before(hours=1, minutes=20),
    "described": _before(hours=1, minutes=15),
    "impact_set": _before(hours=1, minutes=10),
    "mitigated": _before(minutes=30),
    "redescribed": _before(minutes=25),
    "update": _before(minutes=20),
}


@dataclass(frozen=True)
class Seeded:
    """The demo incidents' ids, and whether this call created any of them."""

    loan_default: int  # incident ids
    recsys: int
    chatbot: int
    created: bool  # False when the demo data was already there (idempotent)


@dataclass(frozen=True, slots=True)
class _Impact:
    """Impact inputs as set_impact takes them."""

    model: str
    currency: str
    inputs: dict[str, float | list[float]]


class _Script:
    """Runs a scenario's steps in one session on a frozen clock moved to each step."""

    def __init__(self, session: Session, settings: Settings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.end = now
        self.current = now

    def now(self) -> datetime:
        """Return the moment of the current step (the Clock protocol)."""
        return self.current

    def at(self, before_now: timedelta) -> datetime:
        """Move the clock to `before_now` before the end and return that moment."""
        self.current = self.end - before_now
        return self.current


def seed(engine: Engine, *, now: datetime, catalog: Catalog | None = None) -> Seeded:
    """Seed the DESIGN §1 incidents so a newcomer sees real summaries; repeats create nothing."""
    if now.tzinfo is None:
        raise InvalidInput("now: must be timezone-aware", fields=["now"])
    settings = load_settings()
    impacts = _impacts(catalog or _catalog(settings))  # refuse a bad catalog before writing
    with Session(engine, expire_on_commit=False) as session:
        script = _Script(session, settings, now.astimezone(UTC))
        found = [_find_loan_default(session), _find_recsys(session), _find_chatbot(session)]
        ids = [
            existing if existing is not None else create(script, figures)
            for existing, create, figures in zip(found, SCENARIOS, impacts, strict=True)
        ]
    return Seeded(loan_default=ids[0], recsys=ids[1], chatbot=ids[2], created=None in found)


def _catalog(settings: Settings) -> Catalog:
    """Load the catalog from the runbooks directory, refusing one with problems."""
    path = settings.runbooks_dir / "catalog.yaml"
    if not path.is_file():
        raise NotFound(f"no catalog at {path}: the demo takes its impact inputs from it")
    catalog, problems = check(path)
    if problems:
        raise InvalidInput(f"{path}:{problems[0]} (run `incidents catalog check`)")
    return catalog


def _impacts(catalog: Catalog) -> tuple[_Impact, _Impact, _Impact]:
    """Return the three scenarios' impact inputs: catalog defaults, scaled where partial."""
    return (
        _defaults(catalog, "loan-default"),
        _scaled(_defaults(catalog, "recsys"), "volume_per_hour", CANARY_SHARE),
        _scaled(_defaults(catalog, "chatbot"), "volume_per_hour", NON_ENGLISH_SHARE),
    )


def _defaults(catalog: Catalog, model: str) -> _Impact:
    """Return the catalog's impact defaults for `model`, or say the demo needs them."""
    found = catalog.impact_defaults(service=None, model=model)
    if not found or "model" not in found:
        raise NotFound(
            f"the catalog has no impact defaults for model {model!r}: the demo needs "
            "loan-default, recsys and chatbot"
        )
    inputs = {k: v for k, v in found.items() if k not in ("model", "currency")}
    return _Impact(str(found["model"]), str(found.get("currency", "EUR")), inputs)


def _scaled(figures: _Impact, name: str, share: float) -> _Impact:
    """Scale one input (a number or [low, high]) by the affected share."""
    if name not in figures.inputs:
        raise InvalidInput(
            f"the catalog's {figures.model} impact model has no {name} to scale", fields=[name]
        )
    value = figures.inputs[name]
    scaled: float | list[float] = (
        [_times(v, share) for v in value] if isinstance(value, list) else _times(value, share)
    )
    return _Impact(figures.model, figures.currency, {**figures.inputs, name: scaled})


def _times(value: float, share: float) -> float:
    """Multiply, dropping binary noise (0.006 × 0.1 is 0.0006, not 0.0006000000000000001)."""
    return float(f"{float(value) * share:.12g}")


def _first_id(session: Session, *conditions: Any) -> int | None:
    """Return the oldest incident matching `conditions`, whatever its status by now."""
    statement = select(Incident.id).where(*conditions).order_by(col(Incident.id)).limit(1)
    return session.exec(statement).first()


def _find_loan_default(session: Session) -> int | None:
    """Find the drift incident by its alert group."""
    return _first_id(
        session, Incident.source == "alertmanager", Incident.group_key == LOAN_DEFAULT_GROUP_KEY
    )


def _find_recsys(session: Session) -> int | None:
    """Find the canary incident by its exact title."""
    return _first_id(
        session,
        Incident.source == "manual",
        Incident.model == "recsys",
        Incident.title == RECSYS_TITLE,
    )


def _find_chatbot(session: Session) -> int | None:
    """Find the slice incident by its alert group."""
    return _first_id(session, Incident.source == "ml", Incident.group_key == CHATBOT_GROUP_KEY)


def _rfc3339(moment: datetime) -> str:
    """Write a time the way Go and most monitors do (``Z`` for UTC)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def drift_alert_body(detected_at: datetime) -> bytes:
    """Return the loan-default drift alert as Alertmanager 0.25 sends it (webhook version 4)."""
    labels = {
        "alertname": "ModelDriftDetected",
        "environment": "demo",
        "model": "loan-default",
        "model_version": "7",
        "severity": "high",
    }
    annotations = {
        "summary": LOAN_DEFAULT_TITLE,
        "description": "Evidently data-drift share for loan-default v7 has been at or above "
        "0.5 for 30 minutes: income, debt_to_income, loan_amount and employment_length drifted.",
    }
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": _rfc3339(detected_at),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": fnv1a_fingerprint(labels),
    }
    body = {
        "receiver": "incidents",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {"alertname": labels["alertname"], "model": labels["model"]},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.example.internal:9093",
        "version": "4",
        "groupKey": LOAN_DEFAULT_GROUP_KEY,
        "truncatedAlerts": 0,
    }
    return _json(body)


def slice_scan_body(window_start: datetime, window_end: datetime) -> bytes:
    """Return the ML-monitor alert (README /webhooks/ml) a slice scan sends for the chatbot."""
    alert = {
        "model": "chatbot",
        "model_version": "2026.11.3",
        "environment": "demo",
        "signal": "performance",
        "metric": "csat_rate",
        "value": 0.62,
        "threshold": 0.8,
        "comparator": "<",
        "slice": CHATBOT_SLICE,
        "window_start": _rfc3339(window_start),
        "window_end": _rfc3339(window_end),
        "status": "firing",
        "summary": SCAN_SUMMARY,
    }
    return _json(alert)


def _json(payload: Mapping[str, Any]) -> bytes:
    """Encode a payload the way a sender would put it on the wire."""
    return json.dumps(payload, ensure_ascii=False).encode()


# What people write during the scenarios: notes, summaries (what users see), the postmortem.
LOAN_DEFAULT_TEXT = {
    "onset": "Drift dashboard: income and debt-to-income distributions shifted with the first "
    "scoring batch after the interest-rate change, four hours before the alert fired; moving "
    "the impact start there.",
    "summary": "Loan applicants are being approved with under-estimated default risk since the "
    "interest-rate change; approvals continue, so expected credit losses grow until the model "
    "is fixed.",
    "update": "Scoring this week's applications with v6 and v7 side by side to choose between "
    "rolling back to v6 and retraining on data from after the rate change.",
}
RECSYS_TEXT = {
    "summary": "Shoppers in the 10% canary saw less relevant product recommendations and "
    "clicked fewer of them; everyone else was unaffected.",
    "finding": "Canary click-through 4.1% against 4.6% on the baseline for 30 minutes; rolling "
    "the canary back.",
    "mitigated": "canary rolled back: all traffic on recsys v1",
    "resolved": "click-through at baseline for 30 minutes after the rollback",
    "after": "v2 stays off until its training data passes a coverage check; postmortem next.",
    "problem": "Canary recsys v2 lowered click-through on its 10% of traffic for 40 minutes "
    "before it was rolled back",
}
RECSYS_WHYS = (
    "Recsys v2 ranked rarely bought items above popular ones in most sessions",
    "Its training set lacked the last four weeks of click events, so popularity features were "
    "near zero",
    "The feature-pipeline migration renamed the click-event table, and the training job read "
    "an empty partition without failing",
    "The training job checks neither row counts nor feature coverage before it trains",
)
RECSYS_ROOT_CAUSE = 4  # the position of the why accepted as the root cause
# Action items: text, owner, days until due (from the postmortem's day), the why addressed.
RECSYS_ACTIONS = (
    ("Fail the training job when a feature's coverage drops below 95% of the previous run",
     "ben", 14, 4),
    ("Compare canary click-through with the baseline automatically and roll back on a "
     "significant drop", "carla", 28, 1),
)  # fmt: skip
RECSYS_RETROSPECTIVE = {
    "went_well": [
        "The canary limited the damage to 10% of traffic",
        "Rolling back took one command, 20 minutes after acknowledgement",
    ],
    "went_wrong": [
        "Nothing checked the training data before training",
        "Canary and baseline were compared by a person reading a dashboard",
    ],
    "got_lucky": ["It happened on a weekday morning with normal traffic"],
}
CHATBOT_TEXT = {
    "summary": "Customers writing in German, Spanish or French get less helpful chatbot answers "
    "and rate them lower; English conversations are unaffected.",
    "mitigated": "routed language=de,es,fr to the manual-review queue",
    "summary_mitigated": "Chats in German, Spanish and French are answered by human reviewers: "
    "replies take longer but are correct again; English chats were never affected.",
    "update": "Finding why release 2026.11.3 answers German, Spanish and French worse; the "
    "manual-review queue stays on until a fix passes the per-language evaluation.",
}


def _intake(script: _Script, adapter: Adapter, body: bytes) -> int:
    """Feed one alert payload through intake; return the incident it opened."""
    result = intake.replay(
        adapter, body=body, params={}, settings=script.settings, session=script.session,
        clock=script,
    )  # fmt: skip
    return result.incidents[0]


def _status(script: _Script, ref: int, event: Event, actor: str, note: str | None = None) -> None:
    """Apply a lifecycle event at the clock's current moment."""
    lifecycle.change_status(
        ref, event, actor=actor, at=None, note=note, session=script.session, clock=script,
        notifier=NULL_NOTIFIER,
    )  # fmt: skip


def _note(script: _Script, ref: int, actor: str, text: str) -> None:
    """Add a timeline note at the clock's current moment."""
    lifecycle.add_note(ref, text=text, actor=actor, at=None, session=script.session, clock=script)


def _edit(script: _Script, ref: int, actor: str, **values: Any) -> None:
    """Edit fields or correct times, as a person would with PATCH."""
    edits.edit_incident(
        ref, values=values, actor=actor, session=script.session, clock=script,
        notifier=NULL_NOTIFIER,
    )  # fmt: skip


def _set_impact(script: _Script, ref: int, actor: str, figures: _Impact) -> None:
    """Set the impact inputs."""
    impact.set_impact(
        ref, model=figures.model, currency=figures.currency, inputs=figures.inputs,
        actor=actor, session=script.session, clock=script, notifier=NULL_NOTIFIER,
    )  # fmt: skip


def _loan_default(script: _Script, figures: _Impact) -> int:
    """Seed scenario 1: a drift alert opens a SEV2 on loan-default; still ongoing."""
    steps, text = LOAN_DEFAULT_STEPS, LOAN_DEFAULT_TEXT
    script.at(steps["received"])
    ref = _intake(script, ALERTMANAGER, drift_alert_body(script.end - steps["detected"]))
    script.at(steps["acknowledged"])
    _status(script, ref, Event.ACKNOWLEDGE, "ana")
    script.at(steps["corrected"])
    _note(script, ref, "ana", text["onset"])
    onset = script.end - steps["impact_started"]
    _edit(script, ref, "ana", impact_started_at=onset, commander="ana", summary=text["summary"])
    script.at(steps["impact_set"])
    _set_impact(script, ref, "ana", figures)
    script.at(steps["update"])
    _note(script, ref, "ana", text["update"])
    return ref


def _recsys(script: _Script, figures: _Impact) -> int:
    """Seed scenario 2: a canary hurts click-through, is rolled back, and is written up."""
    steps, text = RECSYS_STEPS, RECSYS_TEXT
    script.at(steps["declared"])
    declaration = lifecycle.Declaration(
        title=RECSYS_TITLE,
        severity=Severity.SEV3,
        model="recsys",
        model_version="v2",
        summary=text["summary"],
        commander="ben",
        actor="ben",
        impact_started_at=script.end - steps["impact_started"],
        detected_at=script.end - steps["detected"],
    )
    incident = lifecycle.declare(
        declaration, session=script.session, clock=script, notifier=NULL_NOTIFIER
    )
    assert incident.id is not None
    ref = incident.id
    script.at(steps["acknowledged"])
    _status(script, ref, Event.ACKNOWLEDGE, "ben")
    script.at(steps["impact_set"])
    _set_impact(script, ref, "ben", figures)
    _note(script, ref, "ben", text["finding"])
    script.at(steps["mitigated"])
    _status(script, ref, Event.MITIGATE, "ben", text["mitigated"])
    script.at(steps["resolved"])
    _status(script, ref, Event.RESOLVE, "ben", text["resolved"])
    _note(script, ref, "ben", text["after"])
    _recsys_postmortem(script, ref)
    return ref


def _recsys_postmortem(script: _Script, ref: int) -> None:
    """Write the canary's finished postmortem: whys, root cause, actions, retrospective."""
    session, started = script.session, script.at(RECSYS_STEPS["postmortem"])
    postmortems.set_problem(
        ref, statement=RECSYS_TEXT["problem"], actor="ben", session=session, clock=script
    )
    for position, answer in enumerate(RECSYS_WHYS, start=1):
        script.at(RECSYS_STEPS["postmortem"] - timedelta(minutes=5 * position))
        root_cause = position == RECSYS_ROOT_CAUSE
        postmortems.add_why(
            ref, answer=answer, actor="ben", session=session, clock=script, root_cause=root_cause
        )
    for action, owner, days, why in RECSYS_ACTIONS:
        due = started.date() + timedelta(days=days)
        postmortems.add_action(
            ref, text=action, owner=owner, due=due, why=why, actor="ben", session=session,
            clock=script,
        )  # fmt: skip
    postmortems.set_retrospective(ref, values=RECSYS_RETROSPECTIVE, session=session, clock=script)
    script.at(RECSYS_STEPS["postmortem_done"])
    postmortems.set_status(
        ref, "done", actor="ben", session=session, clock=script, notifier=NULL_NOTIFIER
    )


def _chatbot(script: _Script, figures: _Impact) -> int:
    """Seed scenario 3: a slice scan opens a SEV2; routing to manual review mitigates it."""
    steps, text = CHATBOT_STEPS, CHATBOT_TEXT
    script.at(steps["received"])
    scan = slice_scan_body(script.end - steps["impact_started"], script.end - steps["detected"])
    ref = _intake(script, ML_MONITOR, scan)
    script.at(steps["acknowledged"])
    _status(script, ref, Event.ACKNOWLEDGE, "chloe")
    script.at(steps["described"])
    _edit(script, ref, "chloe", commander="chloe", summary=text["summary"])
    script.at(steps["impact_set"])
    _set_impact(script, ref, "chloe", figures)
    script.at(steps["mitigated"])
    _status(script, ref, Event.MITIGATE, "chloe", text["mitigated"])
    script.at(steps["redescribed"])
    _edit(script, ref, "chloe", summary=text["summary_mitigated"])
    script.at(steps["update"])
    _note(script, ref, "chloe", text["update"])
    return ref


# The scenarios in the order of Seeded's fields (and of the ids an empty database gives them).
SCENARIOS: tuple[Callable[[_Script, _Impact], int], ...] = (_loan_default, _recsys, _chatbot)
