"""Take one webhook delivery: authenticate, parse, deduplicate, and apply it atomically.

A delivery is committed whole or not at all. A redelivery (same source and idempotency
key within 24 h) is answered with the first answer and changes nothing. Source times later
than receipt (clock skew) are clamped to the receipt time and noted on the timeline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from incidents.config import Settings
from incidents.domain.alert import Alert
from incidents.domain.timeline import TimelineKind
from incidents.errors import InvalidInput, MalformedPayload, PayloadTooLarge
from incidents.flows.grouping import GroupOutcome, apply_group
from incidents.flows.incidents import record_entry
from incidents.flows.ports import NULL_NOTIFIER, Clock, Notifier
from incidents.ingest import Adapter, Headers, pagerduty
from incidents.store import intake as intake_store
from incidents.store.models import Incident

GROUP_ATTEMPTS = 3
KEY_LIMITS = {"fingerprint": 200, "group_key": 512}
NAME_LIMITS = {"service": 200, "model": 200, "model_version": 100}
FORGET_EVERY = 1000  # prune the idempotency table on every n-th delivery


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What a delivery did: alerts read, incidents touched, and whether it was a repeat."""

    alerts: int
    incidents: list[int]
    duplicate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Return the webhook answer body."""
        return {"alerts": self.alerts, "incidents": self.incidents, "duplicate": self.duplicate}

    def as_stored(self) -> dict[str, Any]:
        """Return what is kept for redeliveries (the answer and its extra details)."""
        return {**self.as_json(), "extra": self.extra}


def decode_json(body: bytes) -> Any:
    """Decode a JSON body, or raise MalformedPayload naming the parse error."""
    try:
        payload = json.loads(body)
    except UnicodeDecodeError as exc:
        raise MalformedPayload(f"body is not UTF-8 text: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise MalformedPayload("body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        raise MalformedPayload(f"body is not valid JSON: {exc}") from None
    if b"\\ud" in body.lower():
        _refuse_lone_surrogates(payload)
    return payload


def _refuse_lone_surrogates(payload: Any) -> None:
    """Refuse escaped UTF-16 halves that are not valid text (databases cannot store them)."""
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedPayload(
            "body is not valid JSON text: it holds an unpaired surrogate"
        ) from None


def read_delivery(
    adapter: Adapter,
    *,
    headers: Headers,
    body: bytes,
    params: Mapping[str, str],
    settings: Settings,
    clock: Clock,
) -> list[Alert]:
    """Authenticate the raw bytes, then decode and parse them (no database work)."""
    now = clock.now()
    adapter.verify(headers, body, settings, now)
    payload = decode_json(body)
    if body.count(b"{") + body.count(b"[") > settings.max_json_depth:  # else it cannot be
        check_depth(payload, settings.max_json_depth)
    alerts = adapter.parse(payload, now, params)
    check_alerts(alerts, settings)
    return alerts


def check_depth(payload: Any, limit: int) -> None:
    """Refuse JSON nested deeper than the setting (no sender needs it; walkers would pay)."""
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise PayloadTooLarge(
                f"body is nested more than {limit} levels deep (INCIDENTS_MAX_JSON_DEPTH)"
            )
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            stack.extend((child, depth + 1) for child in children)


def check_alerts(alerts: Sequence[Alert], settings: Settings) -> None:
    """Refuse deliveries with more alerts, or alerts with more labels, than the settings allow."""
    if len(alerts) > settings.max_alerts_per_delivery:
        raise PayloadTooLarge(
            f"{len(alerts)} alerts in one delivery; the limit is "
            f"{settings.max_alerts_per_delivery} (INCIDENTS_MAX_ALERTS_PER_DELIVERY)"
        )
    limit = settings.max_labels_per_alert
    for index, alert in enumerate(alerts):
        for kind, values in (("labels", alert.labels), ("annotations", alert.annotations)):
            if len(values) > limit:
                raise InvalidInput(
                    f"alerts[{index}] has {len(values)} {kind}; the limit is {limit} "
                    "(INCIDENTS_MAX_LABELS_PER_ALERT)",
                    fields=[f"alerts[{index}].{kind}"],
                )


def receive(
    source: str,
    alerts: Sequence[Alert],
    *,
    delivery_key: str,
    extra: dict[str, Any] | None = None,
    memory: timedelta = intake_store.DELIVERY_MEMORY,
    settings: Settings,
    session: Session,
    clock: Clock,
    notifier: Notifier = NULL_NOTIFIER,
) -> IntakeResult:
    """Apply parsed alerts in one transaction, unless this delivery was seen before."""
    delivery = Delivery(source, alerts, delivery_key=delivery_key, extra=extra or {}, memory=memory)
    result = apply_delivery(delivery, settings=settings, session=session, clock=clock,
                            notifier=notifier, guarded=True)  # fmt: skip
    if result.duplicate:
        session.rollback()
    else:
        session.commit()
    return result


@dataclass(frozen=True, slots=True)
class Delivery:
    """A parsed delivery waiting to be applied: its alerts and its idempotency key."""

    source: str
    alerts: Sequence[Alert]
    delivery_key: str
    extra: dict[str, Any] = field(default_factory=dict)
    memory: timedelta = intake_store.DELIVERY_MEMORY

    def first_group(self) -> str:
        """Return the smallest group key, the order in which a batch takes its locks."""
        return min((alert.group_key for alert in self.alerts), default="")


def identities(deliveries: Sequence[Delivery]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Return the (source, group key) and (source, fingerprint) pairs a batch will touch, as
    they will be stored (over-long keys hashed)."""
    groups: set[tuple[str, str]] = set()
    fingerprints: set[tuple[str, str]] = set()
    for delivery in deliveries:
        for alert in delivery.alerts:
            fitted = _fitted(alert)
            groups.add((alert.source, fitted.get("group_key", alert.group_key)))
            fingerprints.add((alert.source, fitted.get("fingerprint", alert.fingerprint)))
    return groups, fingerprints


def apply_delivery(
    delivery: Delivery,
    *,
    settings: Settings,
    session: Session,
    clock: Clock,
    notifier: Notifier,
    guarded: bool,
    claim: intake_store.Claim | None = None,
    answers: list[tuple[intake_store.Claim, dict[str, Any]]] | None = None,
) -> IntakeResult:
    """Apply one delivery inside the caller's transaction (the caller commits).

    `guarded` wraps each group in a savepoint so a concurrent opening of the same group
    (IntegrityError) is retried; the group-commit writer runs unguarded and, on any error,
    redoes its batch one guarded delivery at a time. The writer also claims its batch's
    deliveries up front (`claim`) and stores their answers together (`answers`).
    """
    now = clock.now()
    if claim is None:
        claim = intake_store.claim_delivery(session, source=delivery.source,
                                            key=delivery.delivery_key, now=now,
                                            memory=delivery.memory)  # fmt: skip
    if claim.seen:
        return replayed(claim.result or {}, count=len(delivery.alerts))
    touched: list[int] = []
    for group in _groups([_repair(alert, now) for alert in delivery.alerts]):
        outcome = _apply(group, now=now, settings=settings, session=session, guarded=guarded)
        if outcome is not None and outcome.incident.id not in touched:
            assert outcome.incident.id is not None
            touched.append(outcome.incident.id)
            _notify(notifier, session, outcome, now=now)
    result = IntakeResult(alerts=len(delivery.alerts), incidents=touched, extra=delivery.extra)
    answer = result.as_stored()
    if answers is None:
        intake_store.record_result(session, claim, answer)
    else:
        answers.append((claim, answer))
    if claim.id % FORGET_EVERY == 0:
        intake_store.forget_old_deliveries(session, now=now)
    return result


def _notify(notifier: Notifier, session: Session, outcome: GroupOutcome, *, now: datetime) -> None:
    """Tell the notifier about a new incident, or a changed one."""
    if outcome.opened:
        notifier.incident_opened(session, outcome.incident, now=now, declared=False)
    else:
        notifier.incident_changed(session, outcome.incident, now=now)


def replayed(stored: Mapping[str, Any], *, count: int) -> IntakeResult:
    """Answer a redelivery with what the first delivery answered."""
    return IntakeResult(
        alerts=int(stored.get("alerts", count)),
        incidents=list(stored.get("incidents", [])),
        duplicate=True,
        extra=dict(stored.get("extra") or {}),
    )


def _groups(alerts: Sequence[tuple[Alert, float]]) -> list[list[tuple[Alert, float]]]:
    """Split alerts by group key, keeping the order they came in."""
    groups: dict[str, list[tuple[Alert, float]]] = {}
    for item in alerts:
        groups.setdefault(item[0].group_key, []).append(item)
    return list(groups.values())


def _repair(alert: Alert, now: datetime) -> tuple[Alert, float]:
    """Clamp future source times to receipt and fit identities into their columns."""
    skew = max(0.0, (alert.starts_at - now).total_seconds())
    changes: dict[str, Any] = _fitted(alert)
    if skew:
        changes["starts_at"] = now
    if alert.ends_at is not None and alert.ends_at > now:
        changes["ends_at"] = now
    if alert.impact_started_at is not None and alert.impact_started_at > now:
        changes["impact_started_at"] = None
    return (dataclasses.replace(alert, **changes) if changes else alert), skew


def _fitted(alert: Alert) -> dict[str, Any]:
    """Hash over-long keys (identity must survive) and cut over-long names (display only)."""
    changes: dict[str, Any] = {}
    for name, limit in KEY_LIMITS.items():
        value: str = getattr(alert, name)
        if len(value) > limit:
            changes[name] = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    for name, limit in NAME_LIMITS.items():
        value_or_none: str | None = getattr(alert, name)
        if value_or_none is not None and len(value_or_none) > limit:
            changes[name] = value_or_none[:limit]
    return changes


def _apply(
    group: Sequence[tuple[Alert, float]], *, now: datetime, settings: Settings, session: Session,
    guarded: bool,
) -> GroupOutcome | None:  # fmt: skip
    """Apply one group, in a retried savepoint when guarded."""
    if not guarded:
        return _apply_group(group, now=now, settings=settings, session=session)
    for attempt in range(GROUP_ATTEMPTS):
        try:
            with session.begin_nested():
                return _apply_group(group, now=now, settings=settings, session=session)
        except IntegrityError:  # another process opened or reopened the group meanwhile
            if attempt == GROUP_ATTEMPTS - 1:
                raise
    return None


def _apply_group(
    group: Sequence[tuple[Alert, float]], *, now: datetime, settings: Settings, session: Session
) -> GroupOutcome | None:
    """Bring the group's incident up to date and note any clock skew."""
    outcome = apply_group([alert for alert, _ in group], now=now, settings=settings,
                          session=session)  # fmt: skip
    if outcome is not None:
        _note_skew(outcome.incident, group, now=now, session=session)
    return outcome


def _note_skew(
    incident: Incident, group: Sequence[tuple[Alert, float]], *, now: datetime, session: Session
) -> None:
    """Record on the timeline that a source's clock ran ahead of ours."""
    worst = max(skew for _, skew in group)
    if worst <= 0:
        return
    record_entry(
        session,
        incident,
        kind=TimelineKind.CLOCK_SKEW,
        at=now,
        now=now,
        actor=incident.source,
        text=f"source clock ahead by {worst:.0f}s; its times were clamped to receipt",
        data={"skew_seconds": worst},
    )


def deliver(
    adapter: Adapter,
    *,
    headers: Headers,
    body: bytes,
    params: Mapping[str, str],
    settings: Settings,
    session: Session,
    clock: Clock,
    notifier: Notifier = NULL_NOTIFIER,
) -> tuple[IntakeResult, list[Alert]]:
    """Authenticate, parse and apply one webhook delivery; return its result and alerts."""
    alerts = read_delivery(
        adapter, headers=headers, body=body, params=params, settings=settings, clock=clock
    )
    synced = _synced(adapter, headers=headers, body=body, session=session, clock=clock,
                     notifier=notifier)  # fmt: skip
    if synced is not None:
        return synced, alerts
    result = receive(
        adapter.source,
        alerts,
        delivery_key=adapter.delivery_key(headers, body),
        memory=adapter.delivery_memory,
        settings=settings,
        session=session,
        clock=clock,
        notifier=notifier,
    )
    return result, alerts


def _synced(
    adapter: Adapter, *, headers: Headers, body: bytes, session: Session, clock: Clock,
    notifier: Notifier,
) -> IntakeResult | None:  # fmt: skip
    """Apply a PagerDuty event about an incident we paged (two-way sync), if it is one."""
    if adapter.source != pagerduty.SOURCE:
        return None
    event = pagerduty.sync_event(decode_json(body))
    if event is None:
        return None
    from incidents.flows import paging_sync  # it builds on this module's IntakeResult

    return paging_sync.receive_sync(event, delivery_key=adapter.delivery_key(headers, body),
                                    session=session, clock=clock, notifier=notifier)  # fmt: skip


def replay(
    adapter: Adapter,
    *,
    body: bytes,
    params: Mapping[str, str],
    settings: Settings,
    session: Session,
    clock: Clock,
) -> IntakeResult:
    """Apply a payload file straight to the database (the CLI's replay without a server).

    Credentials are not checked: whoever can reach the database directly already holds a
    stronger one.
    """
    alerts = adapter.parse(decode_json(body), clock.now(), params)
    return receive(
        adapter.source,
        alerts,
        delivery_key=adapter.delivery_key({}, body),
        settings=settings,
        session=session,
        clock=clock,
    )
