"""`incidents serve` as a user starts it: migrates, answers, keeps data across a restart."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.servers import running_server, server_env

TOKEN = "serve-test-token-123"


def test_serve_migrates_answers_and_keeps_data_across_restart(tmp_path, database_url):
    on_postgres = database_url.startswith("postgresql")
    env = server_env(database_url if on_postgres else None, api_token=TOKEN)  # SQLite: default
    auth = {"Authorization": f"Bearer {TOKEN}"}
    if not on_postgres:
        Path(database_url.removeprefix("sqlite:///")).unlink()  # start truly empty
    with running_server(tmp_path, env) as base:
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/api/incidents").status_code == 401
        created = httpx.post(
            f"{base}/api/incidents", json={"title": "Search latency"}, headers=auth
        )
        assert created.status_code == 201
        key = created.json()["key"]
        for action in ("acknowledge", "mitigate", "resolve"):
            response = httpx.post(f"{base}/api/incidents/{key}/{action}", headers=auth)
            assert response.status_code == 200, response.text
        assert (
            httpx.post(f"{base}/api/incidents/{key}/acknowledge", headers=auth).status_code == 409
        )
    if not on_postgres:
        assert (tmp_path / "incidents.db").exists(), "default database is incidents.db in the cwd"
    with running_server(tmp_path, env) as base:
        after = httpx.get(f"{base}/api/incidents/{key}", headers=auth).json()
        assert after["status"] == "resolved"
        assert after["acknowledged_at"] <= after["mitigated_at"] <= after["resolved_at"]
        assert after["durations"]["time_to_resolve"] is not None
        kinds = [
            e["kind"]
            for e in httpx.get(f"{base}/api/incidents/{key}/timeline", headers=auth).json()
        ]
        assert kinds == ["declared", "acknowledged", "mitigated", "resolved"]
