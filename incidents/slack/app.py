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
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from incidents.config import Settings
from incidents.errors import DeliveryFailed, IncidentsError, InvalidInput
from incidents.flows.ports import Clock, Notifier
from incidents.slack import commands, five_whys, grammar, impact_summary
from incidents.slack.blocks import declare_modal, modal_values
from incidents.slack.context import Context
from incidents.slack.ids import ActionId, BlockId, CallbackId
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


def _wants_form(text: str) -> bool:
    """Tell whether the text is `declare` with no title (the form collects it)."""
    try:
        parsed = grammar.parse(text)
    except IncidentsError:
        return False
    return parsed.verb == "declare" and not grammar.declaration(parsed.argument)[1]


def _open_form(client: WebClient, trigger_id: str) -> str:
    """Open the declare form; Slack wants it within 3 s of the command."""
    try:
        client.views_open(trigger_id=trigger_id, view=declare_modal())
    except SlackApiError as exc:
        raise DeliveryFailed(f"could not open the form: {exc.response.get('error')}") from None
    return ""


FORM_OPENERS: dict[str, Callable[..., None]] = {
    "postmortem": five_whys.open_postmortem,
    "impact": impact_summary.open_impact_form,
}


def _form_verb(text: str) -> str | None:
    """Return the verb when the text asks for a form of its own (postmortem, impact)."""
    try:
        verb = grammar.parse(text).verb
    except IncidentsError:
        return None
    return verb if verb in FORM_OPENERS else None


def _open_incident_form(client: WebClient, command: dict[str, Any], ctx: Context, verb: str) -> str:
    """Open the postmortem or impact form of the command's incident."""
    ref = commands.incident_for(grammar.parse(command.get("text", "")), ctx)
    return _opened(FORM_OPENERS[verb], client, command["trigger_id"], ref, ctx)


def _opened(opener: Callable[..., None], *args: Any) -> str:
    """Run a views.open, saying so when Slack refuses it."""
    try:
        opener(*args)
    except SlackApiError as exc:
        raise DeliveryFailed(f"could not open the form: {exc.response.get('error')}") from None
    return ""


def _handle_command(ack: Ack, command: dict[str, Any], client: WebClient, ctx: Context) -> None:
    """Answer one /incident: a form for `declare` without a title or `postmortem`, else text."""
    text = command.get("text", "")
    form = _form_verb(text)
    if _wants_form(text):
        ack(text=answer(lambda: _open_form(client, command["trigger_id"])))
    elif form is not None:
        ack(text=answer(lambda: _open_incident_form(client, command, ctx, form)))
    else:
        ack(response_type="ephemeral", text=answer(lambda: commands.run(grammar.parse(text), ctx)))


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

    def context(user_id: str, channel_id: str) -> Context:
        return Context(
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
        _handle_command(ack, command, client, context(command["user_id"], command["channel_id"]))

    @app.view(CallbackId.DECLARE.value)
    def declare_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = modal_values(view.get("state", {}))
        if not values.get(BlockId.TITLE.value):
            ack(response_action="errors", errors={BlockId.TITLE.value: "Say what is wrong."})
            return
        ctx = context(body["user"]["id"], "")
        said = answer(
            lambda: commands.declare_from_form(
                title=values[BlockId.TITLE.value],
                severity=values.get(BlockId.SEVERITY.value, "SEV3"),
                service=values.get(BlockId.SERVICE.value),
                ctx=ctx,
            )
        )
        log.info("declared from the form: %s", said)
        ack()

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

    @app.action(ActionId.POSTMORTEM.value)
    def postmortem_button(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        ctx = context(body["user"]["id"], "")
        log.info(
            "postmortem button: %s",
            answer(
                lambda: _opened(
                    five_whys.open_postmortem, client, body["trigger_id"], action["value"], ctx
                )
            ),
        )

    five_whys.register(app, lambda user_id: context(user_id, ""))
    _register_impact_form(app, client, lambda user_id: context(user_id, ""))
    return app


def _register_impact_form(app: App, client: WebClient, context: Callable[[str], Context]) -> None:
    """Serve the impact form: switching the model redraws it; submitting saves the inputs."""

    @app.action(ActionId.IMPACT_MODEL.value)
    def model_chosen(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        model = action["selected_option"]["value"]
        ctx = context(body["user"]["id"])
        said = answer(lambda: _opened(impact_summary.switch_model, client, body["view"], model,
                                      ctx))  # fmt: skip
        if said:
            log.info("impact form: %s", said)

    @app.view(CallbackId.IMPACT.value)
    def impact_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = modal_values(view.get("state", {}))
        ctx = context(body["user"]["id"])
        try:
            said = impact_summary.submit_impact(values, view.get("private_metadata", ""), ctx)
        except InvalidInput as exc:
            ack(response_action="errors", errors=impact_summary.field_errors(exc))
            return
        except IncidentsError as exc:  # e.g. the incident is gone: say so on the form
            ack(response_action="errors",
                errors={BlockId.IMPACT_CURRENCY.value: exc.message[:150]})  # fmt: skip
            return
        ack()
        log.info("impact form: %s", said)
