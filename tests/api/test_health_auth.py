"""Health, readiness, Prometheus self-metrics, OpenAPI and the API token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.store import migrate
from incidents.store.db import build_engine

TOKEN = "s3cr3t-api-token-for-tests"


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "revision": migrate.head_revision()}


def test_readyz_is_503_on_an_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with TestClient(create_app(Settings(database_url=url))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "incidents db upgrade" in response.json()["reason"]


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    with TestClient(create_app(Settings(database_url=url))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"].startswith("database unreachable")


def _samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def test_metrics_count_requests_and_incidents(client):
    client.post("/api/incidents", json={"title": "a", "severity": "SEV1"})
    client.post("/api/incidents", json={"title": "b", "severity": "SEV1"})
    client.post("/api/incidents", json={"title": "c", "severity": "SEV3"})
    client.post("/api/incidents/3/resolve")
    client.get("/api/incidents/1")
    client.get("/api/incidents/2")
    samples = _samples(client)
    assert samples[("incidents_opened_total", ())] == 3
    assert samples[("incidents_open", (("severity", "SEV1"),))] == 2
    assert samples[("incidents_open", (("severity", "SEV3"),))] == 0
    key = (
        "incidents_http_requests_total",
        (("method", "GET"), ("route", "/api/incidents/{ref}"), ("status", "200")),
    )
    assert samples[key] == 2, "requests are labelled by route template, not raw path"
    count_key = (
        "incidents_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/api/incidents")),
    )
    assert samples[count_key] == 3


def test_openapi_and_docs_are_served(client):
    schema = client.get("/openapi.json").json()
    assert "/api/incidents/{ref}/acknowledge" in schema["paths"]
    assert client.get("/docs").status_code == 200


@pytest.fixture
def guarded(database_url):
    engine = build_engine(database_url)
    settings = Settings(database_url=database_url, api_token=TOKEN)
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client, engine
    engine.dispose()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/incidents"),
        ("post", "/api/incidents"),
        ("get", "/api/incidents/1"),
        ("patch", "/api/incidents/1"),
        ("post", "/api/incidents/1/acknowledge"),
        ("post", "/api/incidents/1/mitigate"),
        ("post", "/api/incidents/1/resolve"),
        ("post", "/api/incidents/1/reopen"),
        ("post", "/api/incidents/1/notes"),
        ("get", "/api/incidents/1/timeline"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", TOKEN])
def test_api_without_the_token_is_401_and_writes_nothing(guarded, method, path, header):
    client, engine = guarded
    headers = {"Authorization": header} if header else {}
    response = client.request(method, path, headers=headers, json={"title": "x", "text": "y"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in response.text
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM incidents")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM timeline")).scalar() == 0


def test_api_with_the_token_works(guarded):
    client, _ = guarded
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/incidents", json={"title": "x"}, headers=headers).status_code == 201
    assert client.get("/api/incidents/1", headers=headers).status_code == 200


def test_health_routes_need_no_token(guarded):
    client, _ = guarded
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200
