"""Kinds of timeline entries: the facts an incident's history is made of."""

from __future__ import annotations

from enum import StrEnum


class TimelineKind(StrEnum):
    """What a timeline entry records."""

    DECLARED = "declared"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    NOTE = "note"
    EDITED = "edited"
    CORRECTED = "corrected"
    SEVERITY_CHANGED = "severity_changed"
