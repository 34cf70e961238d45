"""SQLModel tables: incidents, their alerts and the append-only timeline.

Every ``*_at`` column is ``UTCDateTime`` (aware UTC on every backend). Enumerations are
stored as short strings so migrations never fight database enum types.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, UniqueConstraint, event, text
from sqlalchemy.orm import Mapper
from sqlmodel import Field, SQLModel

from incidents.store.db import SafeString, SafeText, UTCDateTime

# Deterministic constraint names keep migrations identical on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

OPEN_GROUP_INDEX = "uq_incidents_open_group"
RESOLVED_GROUP_INDEX = "ix_incidents_source_group_key_resolved_at"


class Incident(SQLModel, table=True):
    """One incident record with its lifecycle timestamps."""

    __tablename__ = "incidents"
    __table_args__ = (
        # At most one open incident per (source, group_key): the database enforces grouping
        # so several processes can never open duplicates (DESIGN §5, §12).
        Index(
            OPEN_GROUP_INDEX,
            "source",
            "group_key",
            unique=True,
            sqlite_where=text("status != 'resolved' AND group_key IS NOT NULL"),
            postgresql_where=text("status != 'resolved' AND group_key IS NOT NULL"),
        ),
        Index("ix_incidents_status_severity", "status", "severity"),
        # The reopen look-up (a group's incident resolved within the window, store/intake):
        # without it every delivery to a new group scanned the whole table (36 ms at
        # 200,000 incidents, each new group of a storm).
        Index(
            RESOLVED_GROUP_INDEX,
            "source",
            "group_key",
            "resolved_at",
            sqlite_where=text("status = 'resolved'"),
            postgresql_where=text("status = 'resolved'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_type=SafeString(300))
    summary: str | None = Field(default=None, sa_type=SafeText)
    status: str = Field(sa_type=SafeString(16))
    severity: str = Field(sa_type=SafeString(8))
    source: str = Field(default="manual", sa_type=SafeString(32))
    group_key: str | None = Field(default=None, sa_type=SafeString(512))
    service: str | None = Field(default=None, sa_type=SafeString(200), index=True)
    model: str | None = Field(default=None, sa_type=SafeString(200), index=True)
    model_version: str | None = Field(default=None, sa_type=SafeString(100))
    slice: dict[str, str] | None = Field(default=None, sa_type=JSON)
    slice_key: str | None = Field(default=None, sa_type=SafeString(500), index=True)
    commander: str | None = Field(default=None, sa_type=SafeString(200))
    reporter: str | None = Field(default=None, sa_type=SafeString(200))
    acknowledged_by: str | None = Field(default=None, sa_type=SafeString(200))
    resolved_by: str | None = Field(default=None, sa_type=SafeString(200))
    impact_started_source: str = Field(sa_type=SafeString(16))
    impact_started_at: datetime = Field(sa_type=UTCDateTime)
    detected_at: datetime = Field(sa_type=UTCDateTime, index=True)
    reported_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    mitigated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    runbook: str | None = Field(default=None, sa_type=SafeString(300))
    slack_channel: str | None = Field(default=None, sa_type=SafeString(100))
    slack_card_ts: str | None = Field(default=None, sa_type=SafeString(32))
    impact: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    pagerduty_incident_id: str | None = Field(default=None, sa_type=SafeString(100), index=True)
    # What PagerDuty was last told (triggered/acknowledged/resolved; None: never paged), and
    # the catalog service whose routing key paged it ("" for the default key): acknowledge
    # and resolve must reach PagerDuty through the same routing key as the trigger.
    pagerduty_status: str | None = Field(default=None, sa_type=SafeString(16))
    pagerduty_routing: str | None = Field(default=None, sa_type=SafeString(200))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class AlertRecord(SQLModel, table=True):
    """One normalised alert attached to an incident; repeats update it, never duplicate it."""

    __tablename__ = "alerts"
    # Led by the fingerprint: the intake's look-ups stay index descents even when the
    # database's statistics are stale (alembic/versions/0010_alert_identity_index.py).
    __table_args__ = (UniqueConstraint("fingerprint", "source", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(
        sa_column=Column(Integer, ForeignKey("incidents.id"), nullable=False, index=True)
    )
    source: str = Field(sa_type=SafeString(32))
    fingerprint: str = Field(sa_type=SafeString(200))
    group_key: str = Field(sa_type=SafeString(512))
    status: str = Field(sa_type=SafeString(16))
    severity: str = Field(sa_type=SafeString(8))
    title: str = Field(sa_type=SafeString(300))
    summary: str | None = Field(default=None, sa_type=SafeText)
    labels: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    annotations: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    links: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    seen_count: int = Field(default=1)


class TimelineEntry(SQLModel, table=True):
    """One append-only fact about an incident: what happened, when, who, old and new values."""

    __tablename__ = "timeline"
    __table_args__ = (Index("ix_timeline_incident_id_at", "incident_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incidents.id"), nullable=False))
    at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(sa_type=SafeString(32))
    actor: str | None = Field(default=None, sa_type=SafeString(200))
    text: str | None = Field(default=None, sa_type=SafeText)
    data: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class IncidentTouch(SQLModel, table=True):
    """When a group-commit writer last recorded something on an incident's timeline: the
    incident's ``updated_at`` is the latest of its own column and these (PostgreSQL).

    Why a table of its own: two serving processes' batches adding alerts to the same open
    incidents took turns when each moved the incident row's ``updated_at`` (a row update
    locks the row until commit). Each writer (``slot``: its worker's index) keeps its own
    row here, so batches that only add alerts share the incidents' locks (store/intake).
    """

    __tablename__ = "incident_touches"

    incident_id: int = Field(
        sa_column=Column(Integer, ForeignKey("incidents.id"), primary_key=True)
    )
    slot: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_type=UTCDateTime)


class Delivery(SQLModel, table=True):
    """One webhook delivery seen, so a redelivery is answered as a duplicate (24 h)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("source", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(sa_type=SafeString(32))
    key: str = Field(sa_type=SafeString(128))
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class OutboxMessage(SQLModel, table=True):
    """One side effect (a Slack call, a page) waiting to be delivered, written in the same
    transaction as the change that causes it (DESIGN §12)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_type=SafeString(200))
    topic: str = Field(sa_type=SafeString(64))
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    incident_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("incidents.id"), nullable=True)
    )
    state: str = Field(sa_type=SafeString(16))
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, sa_type=SafeString(100))
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=SafeText)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Override(SQLModel, table=True):
    """A routing override: send one model's slice to a fallback, manual review or a block
    while an incident lasts (DESIGN §9); a serving layer polls the active ones."""

    __tablename__ = "overrides"
    __table_args__ = (Index("ix_overrides_model_ended_at", "model", "ended_at"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(
        sa_column=Column(Integer, ForeignKey("incidents.id"), nullable=False, index=True)
    )
    model: str = Field(sa_type=SafeString(200))
    slice: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    slice_key: str = Field(sa_type=SafeString(500))
    action: str = Field(sa_type=SafeString(16))
    target: str | None = Field(default=None, sa_type=SafeString(200))
    traffic_share: float | None = None
    created_by: str | None = Field(default=None, sa_type=SafeString(200))
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_reason: str | None = Field(default=None, sa_type=SafeString(16))
    ended_by: str | None = Field(default=None, sa_type=SafeString(200))


class SloBucket(SQLModel, table=True):
    """Good and total events of one SLO in one minute; a re-sent minute replaces the old
    counts, so pushing the same batch twice changes nothing (DESIGN §11)."""

    __tablename__ = "slo_buckets"
    __table_args__ = (UniqueConstraint("slo", "bucket_start"),)

    id: int | None = Field(default=None, primary_key=True)
    slo: str = Field(sa_type=SafeString(200))
    bucket_start: datetime = Field(sa_type=UTCDateTime)
    good: int
    total: int


class ReleaseCheck(SQLModel, table=True):
    """One release-gate verdict with the inputs it saw, for the postmortem to show later."""

    __tablename__ = "release_checks"

    id: int | None = Field(default=None, primary_key=True)
    service: str = Field(sa_type=SafeString(200), index=True)
    decision: str = Field(sa_type=SafeString(16))
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    verdict: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    checked_at: datetime = Field(sa_type=UTCDateTime, index=True)


class Postmortem(SQLModel, table=True):
    """An incident's postmortem: the problem, the 5 Whys chain's state, who and when."""

    __tablename__ = "postmortems"
    __table_args__ = (UniqueConstraint("incident_id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incidents.id"), nullable=False))
    problem_statement: str | None = Field(default=None, sa_type=SafeText)
    status: str = Field(sa_type=SafeString(16))
    root_cause_position: int | None = None
    contributing_factors: list[str] = Field(default_factory=list, sa_type=JSON)
    went_well: list[str] = Field(default_factory=list, sa_type=JSON)
    went_wrong: list[str] = Field(default_factory=list, sa_type=JSON)
    got_lucky: list[str] = Field(default_factory=list, sa_type=JSON)
    created_by: str | None = Field(default=None, sa_type=SafeString(200))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PostmortemWhy(SQLModel, table=True):
    """One answer of the chain; its question is derived from the answer before it."""

    __tablename__ = "postmortem_whys"
    __table_args__ = (UniqueConstraint("postmortem_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(
        sa_column=Column(Integer, ForeignKey("postmortems.id"), nullable=False)
    )
    position: int
    answer: str = Field(sa_type=SafeText)
    author: str | None = Field(default=None, sa_type=SafeString(200))
    created_at: datetime = Field(sa_type=UTCDateTime)
    edited_by: str | None = Field(default=None, sa_type=SafeString(200))
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PostmortemAction(SQLModel, table=True):
    """A follow-up action: what, who, by when, which why it addresses."""

    __tablename__ = "postmortem_actions"

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(
        sa_column=Column(Integer, ForeignKey("postmortems.id"), nullable=False, index=True)
    )
    text: str = Field(sa_type=SafeText)
    owner: str | None = Field(default=None, sa_type=SafeString(200))
    due: date | None = None
    why_position: int | None = None
    status: str = Field(sa_type=SafeString(16))
    author: str | None = Field(default=None, sa_type=SafeString(200))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


def _refuse_timeline_change(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    """Keep the timeline append-only: an entry is never updated or deleted through the ORM."""
    raise PermissionError(f"timeline entry {target.id} is append-only")


event.listen(TimelineEntry, "before_update", _refuse_timeline_change)
event.listen(TimelineEntry, "before_delete", _refuse_timeline_change)
