"""The README's intake snippets work when pasted: curl commands and the Evidently job run
against a real server; the Alertmanager configuration passes amtool (and drives the real
Alertmanager in test_alertmanager_real)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import httpx
import pytest

from tests.payloads import raw
from tests.readme import snippet
from tests.servers import running_server, server_env

TOKEN = "readme-snippet-token"
API = {"Authorization": f"Bearer {TOKEN}"}
PLACEHOLDER = "REPLACE_WITH_INCIDENTS_WEBHOOK_TOKEN"


def pasted(name: str, server: str) -> str:
    """Return a snippet with the user's own URL and token filled in."""
    return snippet(name).replace("http://127.0.0.1:8000", server).replace(PLACEHOLDER, TOKEN)


def run_shell(script: str) -> str:
    env = {**os.environ, "INCIDENTS_WEBHOOK_TOKEN": TOKEN}
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


EVIDENTLY_STUB = {
    "evidently/__init__.py": """
        class _Run:
            def json(self):
                with open({fixture!r}) as f:
                    return f.read()

        class Report:
            def __init__(self, metrics, include_tests=False):
                assert include_tests

            def run(self, current_data, reference_data):
                return _Run()
    """,
    "evidently/presets.py": """
        class DataDriftPreset:
            pass
    """,
}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_and_python_snippets_work_against_a_running_server(tmp_path, database_url):
    env = server_env(database_url, webhook_token=TOKEN, api_token=TOKEN)
    with running_server(tmp_path, env) as server:
        answer = json.loads(run_shell(pasted("events-v2.sh", server)))
        assert answer == {"status": "success", "message": "Event processed",
                          "dedup_key": "checkout/HighErrorRate"}  # fmt: skip
        assert json.loads(run_shell(pasted("ml.sh", server)))["incidents"] == [2]

        fixture = tmp_path / "run.json"
        fixture.write_bytes(raw("evidently/report_v2_datadrift_preset_with_tests.json"))
        for relative, text in EVIDENTLY_STUB.items():
            target = tmp_path / "stub" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text.format(fixture=str(fixture))))
        job = pasted("evidently.py", server) + "\nmonitor(reference=None, current=None)\n"
        run_env = {**os.environ, "PYTHONPATH": str(tmp_path / "stub"),
                   "INCIDENTS_URL": server, "INCIDENTS_WEBHOOK_TOKEN": TOKEN}  # fmt: skip
        done = subprocess.run([sys.executable, "-c", job], env=run_env, capture_output=True,
                              text=True, timeout=30)  # fmt: skip
        assert done.returncode == 0, done.stderr

        items = httpx.get(f"{server}/api/incidents", headers=API).json()["items"]
    by_source = {item["source"]: item for item in items}
    assert set(by_source) == {"events_v2", "ml", "evidently"}
    assert by_source["ml"]["slice"] == {"language": "de"}
    assert by_source["evidently"]["model"] == "loan-default"
    assert by_source["evidently"]["model_version"] == "7"


NO_AMTOOL = "amtool is not installed (apt-get install prometheus-alertmanager)"


@pytest.mark.skipif(shutil.which("amtool") is None and not os.environ.get("CI"), reason=NO_AMTOOL)
def test_alertmanager_snippet_passes_amtool(tmp_path):
    config = tmp_path / "alertmanager.yml"
    config.write_text(snippet("alertmanager.yml").replace(PLACEHOLDER, TOKEN))
    done = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
