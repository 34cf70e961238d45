"""Slack side effects through the outbox, with the real slack_sdk against a fake Slack:
all ok, rate-limited once, a 500 once, name_taken, not_in_channel, and a worker dying."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from incidents.config import Settings
from incidents.outbox.worker import Worker
from incidents.slack import notifier
from incidents.store import outbox as store
from incidents.store.models import OutboxMessage
from tests.fake_slack import TOKEN, fake_slack
from tests.fakes import FrozenClock

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def slack():
    with fake_slack() as (url, workspace):
        yield url, workspace


@pytest.fixture
def setup(engine, database_url, slack):
    url, workspace = slack
    settings = Settings(database_url=database_url, slack_api_url=url, slack_bot_token=TOKEN,
                        outbox_lease=timedelta(seconds=30))  # fmt: skip
    clock = FrozenClock(T0)
    handlers = notifier.slack_handlers(notifier.slack_client(settings))

    def make_worker(name: str = "w1") -> Worker:
        return Worker(engine, handlers=handlers, settings=settings, clock=clock, name=name)

    return engine, workspace, clock, make_worker


def queue(engine, clock, topic, payload, key="k1"):
    with Session(engine) as session:
        store.add_message(session, topic=topic, key=key, payload=payload, now=clock.now())
        session.commit()


def result(engine, key="k1") -> dict[str, Any]:
    return message(engine, key).result or {}


def message(engine, key="k1") -> OutboxMessage:
    with Session(engine) as session:
        return session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).one()


def test_post_create_invite_and_update_all_ok(setup):
    engine, workspace, clock, make_worker = setup
    queue(engine, clock, notifier.CREATE_CHANNEL, {"name": "inc-1-checkout-errors"}, key="c")
    make_worker().run_once()
    channel = result(engine, "c")["channel"]
    assert workspace.channels[channel] == "inc-1-checkout-errors"
    queue(engine, clock, notifier.INVITE, {"channel": channel, "users": ["U1", "U2"]}, key="i")
    queue(engine, clock, notifier.POST_MESSAGE, {"channel": channel, "text": "INC-1 declared"},
          key="p")  # fmt: skip
    make_worker().run_once()
    assert workspace.members[channel] == {"U1", "U2"}
    posted = result(engine, "p")
    update = {"channel": channel, "ts": posted["ts"], "text": "INC-1 acknowledged"}
    queue(engine, clock, notifier.UPDATE_MESSAGE, update, key="u")
    make_worker().run_once()
    assert workspace.messages[channel][0]["text"] == "INC-1 acknowledged"
    assert {m.state for m in [message(engine, k) for k in "cipu"]} == {"done"}


def test_rate_limited_once_waits_for_retry_after(setup):
    engine, workspace, clock, make_worker = setup
    workspace.fail("chat.postMessage", status=429, error="ratelimited", retry_after=7)
    queue(engine, clock, notifier.POST_MESSAGE, {"channel": "C0ANNOUNCE", "text": "hi"})
    make_worker().run_once()
    waiting = message(engine)
    assert waiting.state == "pending"
    assert waiting.next_attempt_at == T0 + timedelta(seconds=7)
    clock.advance(seconds=7)
    make_worker().run_once()
    assert message(engine).state == "done"
    assert len(workspace.messages["C0ANNOUNCE"]) == 1


def test_a_server_error_once_is_retried(setup):
    engine, workspace, clock, make_worker = setup
    workspace.fail("chat.postMessage", status=500, error="internal_error")
    queue(engine, clock, notifier.POST_MESSAGE, {"channel": "C0ANNOUNCE", "text": "hi"})
    make_worker().run_once()
    assert message(engine).state == "pending"
    clock.advance(minutes=10)
    make_worker().run_once()
    assert message(engine).state == "done" and len(workspace.messages["C0ANNOUNCE"]) == 1


def test_name_taken_picks_the_next_free_name(setup):
    engine, workspace, clock, make_worker = setup
    workspace.channels["C0TAKEN"] = "inc-7-db"
    queue(engine, clock, notifier.CREATE_CHANNEL, {"name": "inc-7-db"})
    make_worker().run_once()
    assert result(engine)["name"] == "inc-7-db-2"


def test_not_in_channel_joins_then_posts(setup):
    engine, workspace, clock, make_worker = setup
    workspace.channels["C0PUBLIC"] = "ops"
    queue(engine, clock, notifier.POST_MESSAGE, {"channel": "C0PUBLIC", "text": "hi"})
    make_worker().run_once()
    assert message(engine).state == "done"
    assert workspace.count("conversations.join") == 1
    assert len(workspace.messages["C0PUBLIC"]) == 1


def test_errors_that_cannot_succeed_are_dead_lettered_with_slacks_code(setup):
    engine, workspace, clock, make_worker = setup
    queue(engine, clock, notifier.POST_MESSAGE, {"channel": "C0NOWHERE", "text": "hi"})
    make_worker().run_once()
    dead = message(engine)
    assert dead.state == "dead"
    assert dead.last_error == "slack: channel_not_found (HTTP 200)"


def test_a_worker_dying_after_posting_does_not_post_twice(setup):
    engine, workspace, clock, make_worker = setup
    queue(engine, clock, notifier.POST_MESSAGE, {"channel": "C0ANNOUNCE", "text": "once"})
    doomed = make_worker("doomed")
    (claimed,) = doomed.claim(limit=1)
    doomed.handlers[claimed.topic](claimed)  # posted; the process dies before recording it
    clock.advance(seconds=31)
    make_worker("survivor").run_once()
    assert len(workspace.messages["C0ANNOUNCE"]) == 1
    assert message(engine).state == "done"
    assert workspace.count("conversations.history") == 1


def test_slack_unreachable_is_retried(engine, database_url):
    settings = Settings(database_url=database_url, slack_api_url="http://127.0.0.1:9/",
                        slack_bot_token=TOKEN)  # fmt: skip
    clock = FrozenClock(T0)
    worker = Worker(engine, handlers=notifier.slack_handlers(notifier.slack_client(settings)),
                    settings=settings, clock=clock)  # fmt: skip
    queue(engine, clock, notifier.POST_MESSAGE, {"channel": "C1", "text": "hi"})
    worker.run_once()
    pending = message(engine)
    assert pending.state == "pending" and "unreachable" in (pending.last_error or "")


def test_a_worker_dying_after_creating_the_channel_does_not_create_a_second(setup):
    engine, workspace, clock, make_worker = setup
    queue(engine, clock, notifier.CREATE_CHANNEL, {"name": "inc-9-db"})
    doomed = make_worker("doomed")
    (claimed,) = doomed.claim(limit=1)
    doomed.handlers[claimed.topic](claimed)  # created; the process dies before recording it
    clock.advance(seconds=31)
    make_worker("survivor").run_once()
    assert sorted(workspace.channels.values()) == ["inc-9-db", "incidents"]
    assert result(engine)["name"] == "inc-9-db"
