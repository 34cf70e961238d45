"""``/incident impact`` (a form prefilled from the catalog) and ``/incident summary`` (the
stakeholder summary, posted to the service's stakeholder channel through the outbox)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from sqlmodel import Session

from incidents.catalog import load_catalog
from incidents.domain.impact import MODELS
from incidents.domain.refs import incident_key
from incidents.errors import InvalidInput
from incidents.flows import impact, summary
from incidents.reports.render import render_summary
from incidents.slack.context import Context
from incidents.slack.ids import BlockId
from incidents.slack.summary_blocks import impact_modal, parse_range, summary_message
from incidents.store import incidents as store
from incidents.store.models import Incident

IMPACT_META = frozenset({"model", "currency"})
DEFAULT_MODEL = "generic"
DEFAULT_CURRENCY = "EUR"


def post_summary(ref: str, ctx: Context, session: Session) -> str:
    """Render the Slack summary now and queue it for the stakeholder channel."""
    incident = store.get_incident(session, ref)
    channel = stakeholder_channel(incident, ctx)
    found = summary.summary(ref, session=session, clock=ctx.clock, cadence=ctx.settings.cadence,
                            public_url=ctx.settings.public_url)  # fmt: skip
    text = render_summary(found, templates_dir=ctx.settings.templates_dir, fmt="slack")
    summary.record_posted(ref, channel=channel, message=summary_message(text),
                          actor=ctx.user_id, session=session, clock=ctx.clock,
                          notifier=ctx.notifier)  # fmt: skip
    figure = found.money.text if found.money else "no money estimate yet"
    return f"The {found.key} summary ({figure}) is on its way to <#{channel}>."


def stakeholder_channel(incident: Incident, ctx: Context) -> str:
    """Return where stakeholders read about this incident: catalog entry, else the setting."""
    catalog = load_catalog(ctx.settings.runbooks_dir)
    channel = catalog.stakeholder_channel(service=incident.service, model=incident.model)
    channel = channel or ctx.settings.slack_stakeholder_channel
    if not channel:
        subject = incident.model or incident.service or "this incident"
        raise InvalidInput(
            f"no stakeholder channel for {subject}: set `stakeholder_channel` in the catalog "
            "or INCIDENTS_SLACK_STAKEHOLDER_CHANNEL",
            fields=["channel"],
        )
    return channel


def impact_form(ref: str, ctx: Context, *, model: str | None = None,
                currency: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Return the impact form: the incident's inputs, else the catalog's defaults."""
    with Session(ctx.engine) as session:
        incident = store.get_incident(session, ref)
    assert incident.id is not None
    stored = incident.impact or {}
    defaults = (
        load_catalog(ctx.settings.runbooks_dir).impact_defaults(
            service=incident.service, model=incident.model
        )
        or {}
    )
    chosen = model or stored.get("model") or defaults.get("model") or DEFAULT_MODEL
    if chosen not in MODELS:
        chosen = DEFAULT_MODEL
    if stored.get("model") == chosen:
        values = dict(stored["inputs"])
    elif defaults.get("model") == chosen:
        values = {k: v for k, v in defaults.items() if k not in IMPACT_META}
    else:
        values = {}
    code = currency or stored.get("currency") or defaults.get("currency") or DEFAULT_CURRENCY
    return impact_modal(incident=incident_key(incident.id), model=chosen, currency=str(code),
                        values=values)  # fmt: skip


def open_impact_form(client: WebClient, trigger_id: str, ref: str, ctx: Context) -> None:
    """Open the impact form (Slack wants it within 3 s of the command)."""
    client.views_open(trigger_id=trigger_id, view=impact_form(ref, ctx))


def switch_model(client: WebClient, view: dict[str, Any], model: str, ctx: Context) -> None:
    """Redraw the open form for another impact model, keeping the typed currency."""
    ref, _old = str(view.get("private_metadata", "")).split("|", 1)
    typed = view.get("state", {}).get("values", {}).get(BlockId.IMPACT_CURRENCY.value, {})
    currency = (typed.get("value") or {}).get("value") or None
    form = impact_form(ref, ctx, model=model, currency=currency)
    client.views_update(view_id=view["id"], hash=view.get("hash"), view=form)


def submit_impact(values: dict[str, str], metadata: str, ctx: Context) -> str:
    """Validate and save the submitted inputs; errors name the form field."""
    ref, model = metadata.split("|", 1)
    prefix = BlockId.IMPACT_INPUT_PREFIX.value
    inputs = {
        block.removeprefix(prefix): parse_range(text, name=block.removeprefix(prefix))
        for block, text in values.items()
        if block.startswith(prefix)
    }
    with Session(ctx.engine, expire_on_commit=False) as session:
        incident = impact.set_impact(
            ref, model=model, currency=values.get(BlockId.IMPACT_CURRENCY.value, ""),
            inputs=inputs, actor=ctx.user_id, session=session, clock=ctx.clock,
            notifier=ctx.notifier,
        )  # fmt: skip
        figure = impact.current_estimate(incident, now=ctx.clock.now())
    assert incident.id is not None and figure is not None
    return f"{incident_key(incident.id)} impact saved ({figure.formula})."


def field_errors(exc: InvalidInput) -> dict[str, str]:
    """Map an input error onto the form's blocks, so Slack shows it under the field."""
    blocks = {
        name: f"{BlockId.IMPACT_INPUT_PREFIX.value}{name}"
        for inputs in MODELS.values()
        for name, _upper in inputs
    } | {"currency": BlockId.IMPACT_CURRENCY.value}
    targets = [blocks[f] for f in exc.fields if f in blocks]
    return {targets[0] if targets else BlockId.IMPACT_CURRENCY.value: exc.message[:150]}
