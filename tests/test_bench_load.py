"""The benchmarks' load generators count what they send, so the ingest benchmark can check
the database holds exactly the alerts sent: each generator against the real server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bench.ingest import stored
from tests.bench.load import Load, python_load, wrk
from tests.servers import running_server, server_env

TOKEN = "bench-load-test-token"
GROUPS = 5


def _drive(generator: str, base: str, *, repeat: bool = False) -> Load:
    """Send new alerts for a second over 4 connections (with `repeat`, each delivery also
    carries an earlier alert of its group again)."""
    drive = wrk if generator == "wrk" else python_load
    return drive(base, duration=1, connections=4, groups=GROUPS, token=TOKEN, repeat=repeat)


@pytest.mark.parametrize("generator", ["python", "wrk"])
def test_every_alert_sent_is_stored_once_and_seen_as_often_as_sent(
    generator: str, tmp_path: Path, database_url: str
) -> None:
    if generator == "wrk" and shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    env = server_env(database_url, webhook_token=TOKEN, runbooks_dir=str(tmp_path / "none"))
    with running_server(tmp_path, env) as base:
        first = _drive(generator, base)
        second = _drive(generator, base, repeat=True)  # new alerts, and repeats of its own
    alerts, distinct, open_incidents, sightings = stored(database_url)
    assert first.non_2xx == second.non_2xx == 0
    assert first.socket_errors == second.socket_errors == 0
    assert first.requests > 0 and second.requests > 0
    assert first.requests <= first.sent <= first.requests + 4  # at most one in flight each
    assert alerts == distinct == first.sent + second.sent
    assert first.repeats == 0 and second.repeats > 0
    assert sightings == first.sent + second.sent + second.repeats
    assert open_incidents == GROUPS
