"""Protocols through which flows reach the outside world (time, Slack, PagerDuty)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


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
