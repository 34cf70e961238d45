"""Routing overrides through the API: apply (mitigates), poll with an ETag, expire with a
frozen clock, delete, end on resolve — every step on the incident's timeline."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from incidents.outbox.runtime import build_worker
from incidents.store.models import Override, TimelineEntry

CHATBOT = {"title": "Satisfaction drop for non-English chats", "severity": "SEV2",
           "model": "chatbot", "slice": {"language": "de,es,fr"}}  # fmt: skip


def timeline(engine) -> list[tuple[str, str | None]]:
    with Session(engine) as session:
        rows = session.exec(select(TimelineEntry).order_by(col(TimelineEntry.id))).all()
        return [(row.kind, row.text) for row in rows]


def test_an_override_mitigates_only_its_slice_and_says_how_much_traffic_moves(
    client, engine, clock
):
    client.post("/api/incidents", json=CHATBOT)
    clock.advance(minutes=10)
    client.post("/api/incidents/1/acknowledge")
    clock.advance(minutes=5)
    created = client.post("/api/incidents/INC-1/overrides",
                          json={"action": "manual-review", "actor": "alice"})  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["model"], body["slice"], body["action"], body["target"]) == (
        "chatbot",
        {"language": "de,es,fr"},
        "manual_review",
        "manual-review queue",
    )
    assert body["traffic_share"] == 0.35 and body["active"] is True  # 15% + 12% + 8%
    assert body["guard_rail"].startswith("reroutes about 35.0% of chatbot traffic")
    incident = client.get("/api/incidents/1").json()
    assert incident["status"] == "mitigated"
    assert incident["mitigated_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert [o["id"] for o in incident["overrides"]] == [1]
    kinds = [kind for kind, _ in timeline(engine)]
    assert kinds[-2:] == ["override_applied", "mitigated"]

    clock.advance(minutes=5)
    second = client.post("/api/incidents/1/overrides",
                         json={"action": "fallback", "target": "rules-v3",
                               "slice": {"language": "it"}})  # fmt: skip
    assert second.json()["traffic_share"] is None, "no weight for Italian in the catalog"
    assert "check how much traffic language=it carries" in second.json()["guard_rail"]
    after = client.get("/api/incidents/1").json()
    assert after["mitigated_at"] == incident["mitigated_at"], "first stamp wins"


def test_polling_with_the_etag_is_304_until_something_changes(client, clock):
    client.post("/api/incidents", json=CHATBOT)
    client.post("/api/incidents/1/overrides", json={"action": "manual_review"})
    first = client.get("/api/overrides", params={"model": "chatbot"})
    etag = first.headers["etag"]
    assert [o["slice_key"] for o in first.json()["overrides"]] == ["language=de,es,fr"]
    unchanged = client.get("/api/overrides", params={"model": "chatbot"},
                           headers={"if-none-match": etag})  # fmt: skip
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert client.get("/api/overrides", params={"model": "recsys"}).json() == {"overrides": []}
    client.post("/api/incidents/1/overrides", json={"action": "block", "slice": {"region": "eu"}})
    changed = client.get("/api/overrides", params={"model": "chatbot"},
                         headers={"if-none-match": etag})  # fmt: skip
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert [o["action"] for o in changed.json()["overrides"]] == ["manual_review", "block"]


def test_an_override_expires_at_its_time_and_the_worker_records_it(client, engine, clock, settings):
    client.post("/api/incidents", json=CHATBOT)
    expires = (clock.now() + timedelta(minutes=30)).isoformat()
    client.post("/api/incidents/1/overrides",
                json={"action": "fallback", "expires_at": expires})  # fmt: skip
    clock.advance(minutes=29)
    assert len(client.get("/api/overrides").json()["overrides"]) == 1
    clock.advance(minutes=1)
    assert client.get("/api/overrides").json() == {"overrides": []}, "expired: stops at once"
    worker = build_worker(engine, settings=settings, clock=clock)
    worker.run_once()
    with Session(engine) as session:
        override = session.get(Override, 1)
        assert override is not None and override.ended_reason == "expired"
        assert override.ended_at == clock.now()
    assert "ended: expired" in (timeline(engine)[-1][1] or "")


def test_delete_ends_an_override_once_and_resolve_ends_the_rest(client, engine, clock):
    client.post("/api/incidents", json=CHATBOT)
    client.post("/api/incidents/1/overrides", json={"action": "manual_review"})
    client.post("/api/incidents/1/overrides", json={"action": "block", "slice": {"region": "eu"}})
    deleted = client.delete("/api/overrides/2", params={"actor": "bob"})
    assert deleted.json()["ended_reason"] == "deleted" and deleted.json()["active"] is False
    again = client.delete("/api/overrides/2")
    assert again.json()["ended_at"] == deleted.json()["ended_at"], "ending twice changes nothing"
    assert client.delete("/api/overrides/99").status_code == 404
    clock.advance(minutes=20)
    client.post("/api/incidents/1/resolve")
    listed = client.get("/api/overrides", params={"active": "false"}).json()["overrides"]
    assert [(o["id"], o["ended_reason"]) for o in listed] == [(1, "resolved"), (2, "deleted")]
    ended = [text for kind, text in timeline(engine) if kind == "override_ended"]
    assert len(ended) == 2 and ended[1] is not None and ended[1].endswith("ended: resolved")


def test_override_mistakes_get_clear_errors_and_write_nothing(client, engine, clock):
    client.post("/api/incidents", json={"title": "no model", "severity": "SEV2"})
    client.post("/api/incidents", json=CHATBOT)
    cases = [
        (1, {"action": "fallback", "slice": {"language": "de"}}, 422, "model"),
        (2, {"action": "reroute"}, 422, "action"),
        (2, {"action": "fallback", "slice": {}}, 422, "slice"),
        (2, {"action": "fallback", "expires_at": "2026-11-25T08:00:00Z"}, 422, "expires_at"),
        (2, {"action": "fallback", "colour": "red"}, 422, "colour"),
    ]
    for incident, body, code, names in cases:
        answer = client.post(f"/api/incidents/{incident}/overrides", json=body)
        assert answer.status_code == code and names in answer.text, (body, answer.text)
    client.post("/api/incidents/2/resolve")
    resolved = client.post("/api/incidents/2/overrides", json={"action": "fallback"})
    assert resolved.status_code == 409 and "reopen" in resolved.json()["detail"]
    with Session(engine) as session:
        assert session.exec(select(Override)).all() == []
