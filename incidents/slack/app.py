"""The Bolt app, built by a factory (its constructor would otherwise call Slack at import).

One error mapping for every listener: the toolkit's own errors become a one-line ephemeral
answer; anything unexpected gets an error id that is logged, never a Slack "dispatch_failed".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from sqlalchemy import Engine

from incidents.config import Settings
from incidents.errors import IncidentsError
from incidents.flows.ports import Clock, Notifier
from incidents.slack import commands, grammar
from incidents.slack.ids import ActionId
from incidents.slack.notifier import slack_client

log = logging.getLogger(__name__)
BUTTON_EVENTS = {
    ActionId.ACKNOWLEDGE: "ack",
    ActionId.MITIGATE: "mitigate",
    ActionId.RESOLVE: "resolve",
}


def answer(work: Callable[[], str]) -> str:
    """Run a command, turning every error into a line the person can act on."""
    try:
        return work()
    except IncidentsError as exc:
        return f":warning: {exc.message}"
    except Exception:  # noqa: BLE001 — Slack must always get an answer
        error_id = uuid.uuid4().hex[:12]
        log.exception("slack command failed, error id %s", error_id)
        return f":x: Something went wrong (error id {error_id}); it has been logged."


def build_bolt_app(settings: Settings, *, engine: Engine, clock: Clock, notifier: Notifier) -> App:
    """Build the Bolt app serving /incident and the card's buttons."""
    assert settings.slack_signing_secret is not None
    client = slack_client(settings)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        token_verification_enabled=False,
        process_before_response=True,
    )

    def context(user_id: str, channel_id: str) -> commands.Context:
        return commands.Context(
            user_id=user_id,
            channel_id=channel_id,
            engine=engine,
            settings=settings,
            clock=clock,
            notifier=notifier,
            client=client,
        )

    @app.command("/incident")
    def incident_command(ack: Ack, command: dict[str, Any]) -> None:
        ctx = context(command["user_id"], command["channel_id"])
        text = answer(lambda: commands.run(grammar.parse(command.get("text", "")), ctx))
        ack(response_type="ephemeral", text=text)

    def button(verb: str) -> Callable[..., None]:
        def pressed(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            ctx = context(body["user"]["id"], body.get("channel", {}).get("id", ""))
            parsed = grammar.Command(verb, incident=str(action["value"]))
            text = answer(lambda: commands.run(parsed, ctx))
            ack()
            log.info("card button %s on %s: %s", verb, action["value"], text)

        return pressed

    for action_id, verb in BUTTON_EVENTS.items():
        app.action(action_id.value)(button(verb))
    return app
