"""Protocols through which flows reach the outside world (time, Slack, PagerDuty)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlmodel import Session

    from incidents.store.models import Incident


class Clock(Protocol):
    """Where "now" comes from, so tests can freeze it."""

    def now(self) -> datetime:
        """Return the current time, aware UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current time, aware UTC."""
        return datetime.now(UTC)


class Notifier(Protocol):
    """Queues what the outside world should hear about an incident (in the same transaction)."""

    def incident_opened(
        self, session: Session, incident: Incident, *, now: datetime, declared: bool
    ) -> None:
        """React to a new incident (declared by a person, or opened by an alert)."""
        ...

    def incident_changed(self, session: Session, incident: Incident, *, now: datetime) -> None:
        """React to any change of an incident, from any surface."""
        ...

    def postmortem_finished(
        self, session: Session, incident: Incident, *, now: datetime, digest: str
    ) -> None:
        """Share a finished postmortem (a short digest with a link)."""
        ...

    def stakeholder_update(
        self, session: Session, incident: Incident, *, now: datetime, channel: str,
        message: dict[str, Any],
    ) -> None:  # fmt: skip
        """Post a stakeholder summary (``text`` and ``blocks``) to `channel`."""
        ...


class NullNotifier:
    """Tells nobody: the default when no chat or pager is configured."""

    def incident_opened(
        self, session: Session, incident: Incident, *, now: datetime, declared: bool
    ) -> None:
        """Do nothing."""

    def incident_changed(self, session: Session, incident: Incident, *, now: datetime) -> None:
        """Do nothing."""

    def postmortem_finished(
        self, session: Session, incident: Incident, *, now: datetime, digest: str
    ) -> None:
        """Do nothing."""

    def stakeholder_update(
        self, session: Session, incident: Incident, *, now: datetime, channel: str,
        message: dict[str, Any],
    ) -> None:  # fmt: skip
        """Do nothing."""


NULL_NOTIFIER = NullNotifier()


class Notifiers:
    """Tell several notifiers (Slack and PagerDuty), in the same transaction, in order."""

    def __init__(self, *notifiers: Notifier) -> None:
        self.notifiers = notifiers

    def incident_opened(
        self, session: Session, incident: Incident, *, now: datetime, declared: bool
    ) -> None:
        """Tell each notifier about a new incident."""
        for notifier in self.notifiers:
            notifier.incident_opened(session, incident, now=now, declared=declared)

    def incident_changed(self, session: Session, incident: Incident, *, now: datetime) -> None:
        """Tell each notifier about a change."""
        for notifier in self.notifiers:
            notifier.incident_changed(session, incident, now=now)

    def postmortem_finished(
        self, session: Session, incident: Incident, *, now: datetime, digest: str
    ) -> None:
        """Tell each notifier about a finished postmortem."""
        for notifier in self.notifiers:
            notifier.postmortem_finished(session, incident, now=now, digest=digest)

    def stakeholder_update(
        self, session: Session, incident: Incident, *, now: datetime, channel: str,
        message: dict[str, Any],
    ) -> None:  # fmt: skip
        """Tell each notifier about a stakeholder summary."""
        for notifier in self.notifiers:
            notifier.stakeholder_update(
                session, incident, now=now, channel=channel, message=message
            )
