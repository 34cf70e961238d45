"""Test doubles that implement the ports in incidents.flows.ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FrozenClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        """Return the frozen time."""
        return self.current

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward and return the new time."""
        self.current = self.current + timedelta(**delta)
        return self.current
