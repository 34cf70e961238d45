"""Helpers shared by the storage tests."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from incidents.store.models import Incident


def stored_incident(session: Session, *, at: datetime) -> Incident:
    """Add and flush a minimal triggered incident whose every timestamp is `at`."""
    incident = Incident(title="Storm", status="triggered", severity="SEV2", source="test",
                        detected_at=at, reported_at=at, impact_started_at=at,
                        impact_started_source="defaulted", created_at=at,
                        updated_at=at)  # fmt: skip
    session.add(incident)
    session.flush()
    return incident
