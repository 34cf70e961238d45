"""Assemble the outbox worker and the notifier from settings (Slack when configured)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from incidents.config import Settings
from incidents.flows.overrides import end_due as end_due_overrides
from incidents.flows.ports import NULL_NOTIFIER, Clock, Notifier, Notifiers
from incidents.flows.slos import evaluate_all
from incidents.outbox.worker import AfterHook, Handler, Tick, Worker
from incidents.paging.notifier import paging_configured


def slack_configured(settings: Settings) -> bool:
    """Tell whether a Slack bot token is set."""
    return settings.slack_bot_token is not None


def build_notifier(settings: Settings) -> Notifier:
    """Return the notifier for these settings: Slack and PagerDuty when configured."""
    notifiers: list[Notifier] = []
    if slack_configured(settings):
        from incidents.slack.effects import SlackNotifier  # imported only when Slack is on

        notifiers.append(SlackNotifier(settings))
    if paging_configured(settings):
        from incidents.paging.notifier import PagerNotifier

        notifiers.append(PagerNotifier(settings))
    if not notifiers:
        return NULL_NOTIFIER
    return notifiers[0] if len(notifiers) == 1 else Notifiers(*notifiers)


def build_worker(engine: Engine, *, settings: Settings, clock: Clock) -> Worker:
    """Return a worker with every configured handler (Slack when a token is set)."""
    handlers: dict[str, Handler] = {}
    after: dict[str, AfterHook] = {}
    ticks: list[Tick] = [end_due_overrides, _slo_tick(settings, clock)]
    if slack_configured(settings):
        from incidents.slack import effects, notifier, oncall, reminders

        client = notifier.slack_client(settings)
        handlers |= notifier.slack_handlers(client)
        handlers |= effects.card_handlers(engine, client, settings=settings, clock=clock)
        after |= effects.after_hooks(settings, clock)
        ticks.append(reminders.reminder_tick(settings))
        handlers |= oncall.invite_oncall_handler(client, settings)
    if paging_configured(settings):
        from incidents.paging.delivery import pagerduty_handlers

        handlers |= pagerduty_handlers(engine, settings)
    return Worker(
        engine, handlers=handlers, settings=settings, clock=clock, after=after, ticks=ticks
    )


def _slo_tick(settings: Settings, clock: Clock) -> Tick:
    """Return the tick that opens and resolves SLO burn incidents."""
    notifier = build_notifier(settings)

    def tick(session: Session, _now: datetime) -> None:
        evaluate_all(session, settings=settings, clock=clock, notifier=notifier)

    return tick


@contextmanager
def background_worker(worker: Worker) -> Iterator[threading.Event]:
    """Run `worker` in a daemon thread until the block ends."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="outbox", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=10)
