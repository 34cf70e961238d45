"""The incident routes of the HTTP API, through the app as a client sees it (DESIGN §6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def declare(client, **fields):
    body = {"title": "Checkout 5xx above 2%", "severity": "SEV2", "service": "checkout", **fields}
    response = client.post("/api/incidents", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_full_lifecycle_carries_statuses_timestamps_and_durations(client, clock):
    created = declare(client, impact_started_at=iso(T0 - timedelta(minutes=7)))
    assert created["key"] == "INC-1"
    assert created["status"] == "triggered"
    assert created["detected_at"] == iso(T0)
    assert created["reported_at"] == iso(T0)
    assert created["impact_started_source"] == "human"
    assert created["durations"]["time_to_detect"] == 420.0

    clock.advance(minutes=3)
    acked = client.post("/api/incidents/INC-1/acknowledge", json={"actor": "alice"}).json()
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_by"] == "alice"
    assert acked["durations"]["time_to_acknowledge"] == 180.0

    clock.advance(minutes=10)
    mitigated = client.post("/api/incidents/1/mitigate", json={"note": "rolled back"}).json()
    assert mitigated["status"] == "mitigated"
    assert mitigated["durations"]["time_to_mitigate"] == 20 * 60.0

    clock.advance(minutes=30)
    resolved = client.post("/api/incidents/1/resolve").json()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] == iso(T0 + timedelta(minutes=43))
    assert resolved["durations"] == {
        "time_to_detect": 420.0,
        "time_to_acknowledge": 180.0,
        "time_to_mitigate": 1200.0,
        "time_to_resolve": 50 * 60.0,
        "time_to_resolve_from_detection": 43 * 60.0,
    }
    kinds = [entry["kind"] for entry in client.get("/api/incidents/1/timeline").json()]
    assert kinds == ["declared", "acknowledged", "mitigated", "resolved"]


def test_acknowledging_a_resolved_incident_is_409_with_the_current_status(client):
    declare(client)
    client.post("/api/incidents/1/resolve")
    response = client.post("/api/incidents/1/acknowledge")
    assert response.status_code == 409
    assert response.json()["status"] == "resolved"
    assert response.json()["error"] == "illegal_transition"


def test_mitigation_back_dated_before_detection_is_422_naming_the_fields(client):
    declare(client)
    before = iso(T0 - timedelta(minutes=5))
    response = client.post("/api/incidents/1/mitigate", json={"at": before})
    assert response.status_code == 422
    body = response.json()
    assert {"detected_at", "mitigated_at", "impact_started_at"} <= set(body["fields"])
    assert "defaulted to detection" in body["detail"]
    assert client.get("/api/incidents/1").json()["status"] == "triggered", "nothing changed"


def test_back_dated_acknowledgement_is_used_for_durations(client, clock):
    declare(client)
    clock.advance(hours=1)
    acked = client.post("/api/incidents/1/acknowledge", json={"at": iso(T0 + timedelta(minutes=4))})
    assert acked.json()["durations"]["time_to_acknowledge"] == 240.0


def test_future_at_is_refused(client):
    declare(client)
    response = client.post("/api/incidents/1/acknowledge", json={"at": "2030-01-01T00:00:00Z"})
    assert response.status_code == 422
    assert response.json()["fields"] == ["at"]


def test_naive_at_is_refused_as_a_validation_error(client):
    declare(client)
    response = client.post("/api/incidents/1/acknowledge", json={"at": "2026-11-25T08:00:00"})
    assert response.status_code == 422
    assert response.json()["fields"] == ["at"]


def test_reopen_clears_mitigation_and_resolution_and_keeps_them_on_the_timeline(client, clock):
    declare(client)
    clock.advance(minutes=5)
    client.post("/api/incidents/1/resolve")
    clock.advance(minutes=2)
    reopened = client.post("/api/incidents/1/reopen").json()
    assert reopened["status"] == "triggered"
    assert reopened["mitigated_at"] is None and reopened["resolved_at"] is None
    entry = client.get("/api/incidents/1/timeline").json()[-1]
    assert entry["kind"] == "reopened"
    old_values = {change["field"]: change["old"] for change in entry["data"]["changes"]}
    assert old_values == {
        "mitigated_at": iso(T0 + timedelta(minutes=5)).replace("Z", "+00:00"),
        "resolved_at": iso(T0 + timedelta(minutes=5)).replace("Z", "+00:00"),
    }


def test_unknown_incident_is_404(client):
    assert client.get("/api/incidents/99").status_code == 404
    assert client.get("/api/incidents/not-an-id").status_code == 404
    assert client.post("/api/incidents/INC-7/acknowledge").status_code == 404


def test_create_validates_fields(client):
    response = client.post("/api/incidents", json={"title": "", "severity": "SEV9", "bogus": 1})
    assert response.status_code == 422
    assert {"title", "severity", "bogus"} <= set(response.json()["fields"])


def test_invalid_json_is_400_naming_the_parse_error(client):
    response = client.post(
        "/api/incidents", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_declaring_with_detection_in_the_future_is_refused(client):
    response = client.post(
        "/api/incidents", json={"title": "x", "detected_at": "2027-01-01T00:00:00Z"}
    )
    assert response.status_code == 422
    assert response.json()["fields"] == ["detected_at"]


def test_declaring_with_impact_after_detection_is_refused(client):
    response = client.post(
        "/api/incidents",
        json={
            "title": "x",
            "impact_started_at": iso(T0 - timedelta(minutes=1)),
            "detected_at": iso(T0 - timedelta(minutes=5)),
        },
    )
    assert response.status_code == 422
    assert response.json()["fields"] == ["detected_at", "impact_started_at"]


def test_patch_corrects_timestamps_and_records_old_and_new(client, clock):
    declare(client)
    clock.advance(minutes=10)
    client.post("/api/incidents/1/acknowledge")
    corrected = client.patch(
        "/api/incidents/1",
        json={"impact_started_at": iso(T0 - timedelta(minutes=30)), "actor": "bob"},
    )
    assert corrected.status_code == 200
    assert corrected.json()["impact_started_source"] == "human"
    assert corrected.json()["durations"]["time_to_detect"] == 1800.0
    entry = client.get("/api/incidents/1/timeline").json()[-1]
    assert entry["kind"] == "corrected"
    assert entry["actor"] == "bob"
    assert entry["data"]["changes"] == [
        {
            "field": "impact_started_at",
            "old": "2026-11-25T09:00:00+00:00",
            "new": "2026-11-25T08:30:00+00:00",
        }
    ]


def test_patch_that_breaks_ordering_is_422_and_changes_nothing(client, clock):
    declare(client)
    clock.advance(minutes=10)
    client.post("/api/incidents/1/acknowledge")
    clock.advance(minutes=10)
    later = iso(T0 + timedelta(minutes=15))
    response = client.patch("/api/incidents/1", json={"detected_at": later})
    assert response.status_code == 422
    assert response.json()["fields"] == ["acknowledged_at", "detected_at", "reported_at"]
    assert client.get("/api/incidents/1").json()["detected_at"] == iso(T0)


def test_patch_cannot_set_a_stamp_that_no_event_set(client):
    declare(client)
    response = client.patch("/api/incidents/1", json={"mitigated_at": iso(T0)})
    assert response.status_code == 409
    assert "mitigate" in response.json()["detail"]


def test_patch_descriptive_fields_and_severity(client):
    declare(client)
    patched = client.patch(
        "/api/incidents/INC-1",
        json={"severity": "sev1", "commander": "carol", "slice": {"language": "de"}},
    ).json()
    assert patched["severity"] == "SEV1"
    assert patched["commander"] == "carol"
    assert patched["slice"] == {"language": "de"}
    kinds = [entry["kind"] for entry in client.get("/api/incidents/1/timeline").json()]
    assert kinds.count("severity_changed") == 1
    assert kinds.count("edited") == 2


def test_patch_refuses_clearing_the_title(client):
    declare(client)
    response = client.patch("/api/incidents/1", json={"title": None})
    assert response.status_code == 422
    assert response.json()["fields"] == ["title"]


def test_notes_are_added_to_the_timeline(client, clock):
    declare(client)
    clock.advance(minutes=1)
    response = client.post(
        "/api/incidents/1/notes", json={"text": "rolling back 4.2.1", "actor": "dan"}
    )
    assert response.status_code == 201
    timeline = client.get("/api/incidents/1/timeline").json()
    assert timeline[-1]["text"] == "rolling back 4.2.1"
    assert timeline[-1]["actor"] == "dan"


def test_list_filters_and_paginates_with_a_cursor(client, clock):
    for index in range(5):
        declare(client, title=f"incident {index}", severity="SEV1" if index % 2 else "SEV3")
        clock.advance(minutes=1)
    client.post("/api/incidents/2/resolve")

    first = client.get("/api/incidents", params={"limit": 2}).json()
    assert [item["key"] for item in first["items"]] == ["INC-5", "INC-4"]
    second = client.get(
        "/api/incidents", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [item["key"] for item in second["items"]] == ["INC-3", "INC-2"]
    third = client.get(
        "/api/incidents", params={"limit": 2, "cursor": second["next_cursor"]}
    ).json()
    assert [item["key"] for item in third["items"]] == ["INC-1"]
    assert third["next_cursor"] is None

    open_ = client.get("/api/incidents", params={"status": "open"}).json()["items"]
    assert {item["key"] for item in open_} == {"INC-1", "INC-3", "INC-4", "INC-5"}
    sev1 = client.get("/api/incidents", params={"severity": "SEV1"}).json()["items"]
    assert {item["key"] for item in sev1} == {"INC-2", "INC-4"}
    recent = client.get("/api/incidents", params={"since": "3m"}).json()["items"]
    assert {item["key"] for item in recent} == {"INC-3", "INC-4", "INC-5"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"severity": "SEV9"}, "severity"),
        ({"since": "whenever"}, "since"),
        ({"cursor": "!!!"}, "cursor"),
        ({"limit": 0}, "limit"),
    ],
)
def test_list_refuses_bad_filters_naming_them(client, params, field):
    response = client.get("/api/incidents", params=params)
    assert response.status_code == 422
    assert field in response.json()["fields"]


def test_impact_inputs_give_a_figure_that_keeps_counting_while_ongoing(client, clock):
    declare(client, impact_started_at=iso(T0 - timedelta(minutes=30)))
    clock.advance(minutes=30)
    body = {
        "model": "generic",
        "currency": "eur",
        "actor": "fin",
        "inputs": {"affected_share": [0.2, 0.3], "volume_per_hour": 1000, "value_per_unit": 50},
    }
    impact = client.put("/api/incidents/1/impact", json=body).json()["impact"]
    assert impact["currency"] == "EUR" and impact["ongoing"] is True
    assert impact["total"] == {"low": 10_000.0, "high": 15_000.0}  # one hour so far
    assert impact["detection_delay"] == {"low": 5_000.0, "high": 7_500.0}
    clock.advance(minutes=60)
    later = client.get("/api/incidents/1").json()["impact"]
    assert later["total"] == {"low": 20_000.0, "high": 30_000.0}
    client.post("/api/incidents/1/mitigate")
    clock.advance(hours=5)
    assert client.get("/api/incidents/1").json()["impact"]["total"]["high"] == 30_000.0
    kinds = [e["kind"] for e in client.get("/api/incidents/1/timeline").json()]
    assert "impact_set" in kinds


def test_impact_inputs_are_validated(client):
    declare(client)
    bad_share = {
        "model": "generic",
        "inputs": {"affected_share": 2, "volume_per_hour": 1, "value_per_unit": 1},
    }
    response = client.put("/api/incidents/1/impact", json=bad_share)
    assert response.status_code == 422 and response.json()["fields"] == ["affected_share"]
    missing = {"model": "credit", "inputs": {"approvals_per_day": 10}}
    assert client.put("/api/incidents/1/impact", json=missing).status_code == 422
    bad_currency = {"model": "generic", "currency": "€", "inputs": {}}
    assert client.put("/api/incidents/1/impact", json=bad_currency).json()["fields"] == ["currency"]
    assert client.get("/api/incidents/1").json()["impact"] is None
