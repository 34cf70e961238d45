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
    OPENED = "opened"
    ALERT_ADDED = "alert_added"
    ALERT_RESOLVED = "alert_resolved"
    ALERT_REFIRED = "alert_refired"
    SEVERITY_RAISED = "severity_raised"
    AUTO_MITIGATED = "auto_mitigated"
    AUTO_RESOLVED = "auto_resolved"
    CLOCK_SKEW = "clock_skew"
    DELIVERY_DEAD = "delivery_dead"
    POSTMORTEM = "postmortem"
    IMPACT_SET = "impact_set"
    SUMMARY_POSTED = "summary_posted"
    OVERRIDE_APPLIED = "override_applied"
    OVERRIDE_ENDED = "override_ended"
    SLICE_SCAN = "slice_scan"
