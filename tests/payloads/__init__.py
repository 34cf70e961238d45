"""Recorded payloads (copied from the team's shared fixtures; provenance in INDEX.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).resolve().parent


def raw(relative: str) -> bytes:
    """Return the exact bytes of a payload file (signatures are over these)."""
    return (PAYLOADS / relative).read_bytes()


def load(relative: str) -> Any:
    """Return a payload file decoded from JSON."""
    return json.loads(raw(relative))


def vectors() -> dict[str, Any]:
    """Return the signing test vectors."""
    result: dict[str, Any] = load("vectors/signing_vectors.json")
    return result


def alertmanager_notification(
    *, alertname: str, group: str, fingerprint: str, severity: str = "warning",
    summary: str | None = None, earlier: Sequence[str] = (),
) -> bytes:  # fmt: skip
    """Return a firing Alertmanager (v4) notification with one alert (after the `earlier`
    fingerprints', sent again as Alertmanager repeats a group's firing alerts), shaped like
    the recorded ones, for tests and benchmarks that need many distinct deliveries."""
    return json.dumps({
        "receiver": alertname.lower(), "status": "firing", "version": "4",
        "truncatedAlerts": 0, "groupKey": f'{{}}:{{alertname="{alertname}", group="{group}"}}',
        "groupLabels": {"alertname": alertname, "group": group}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.test",
        "alerts": [{"status": "firing",
                    "labels": {"alertname": alertname, "group": group, "instance": each,
                               "severity": severity},
                    "annotations": {"summary": summary} if summary else {},
                    "startsAt": "2026-11-25T15:41:34Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "", "fingerprint": each}
                   for each in (*earlier, fingerprint)],
    }).encode()  # fmt: skip
