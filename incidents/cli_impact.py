"""`incidents impact`: set an incident's business-impact inputs from a terminal and see the
figure (catalog defaults, ranges as low..high, one-line errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from sqlmodel import Session

from incidents.cli_support import (
    ActorOpt,
    RefArg,
    out,
)
from incidents.cli_support import actor_of as _actor
from incidents.cli_support import with_session as _with_session
from incidents.config import Settings
from incidents.domain.humanize import format_duration
from incidents.domain.impact import MODELS as IMPACT_MODELS
from incidents.domain.money import format_range
from incidents.domain.refs import incident_key
from incidents.errors import InvalidInput, NotFound
from incidents.flows import impact as impact_flow
from incidents.flows import queries
from incidents.flows.impact import current_estimate
from incidents.flows.ports import SystemClock
from incidents.outbox.runtime import build_notifier
from incidents.store.models import Incident


def impact(
    ref: RefArg,
    model: Annotated[
        str | None, typer.Option(help="generic, credit or conversion (default: current/catalog).")
    ] = None,
    currency: Annotated[
        str | None, typer.Option(help="Three-letter code (default: the catalog's, else EUR).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="One input: NAME=NUMBER or NAME=LOW..HIGH (repeatable)."),
    ] = None,
    from_catalog: Annotated[
        bool, typer.Option("--from-catalog", help="Start from the catalog's defaults.")
    ] = False,
    actor: ActorOpt = None,
) -> None:
    """Set an incident's business-impact inputs and print the figure (no options: show it)."""

    def work(session: Session, settings: Settings) -> None:
        clock = SystemClock()
        overrides = dict(_impact_input(pair) for pair in set_ or [])
        incident = queries.show_incident(ref, session=session).incident
        if model is None and currency is None and not overrides and not from_catalog:
            _print_impact(incident, now=clock.now())
            return
        base = _catalog_impact(incident, settings) if from_catalog else _stored_impact(incident)
        if model is not None and model != base.model:
            base = ImpactBase()  # another model's inputs do not carry over
        chosen = model or base.model
        if not chosen:
            raise InvalidInput("--model: give generic, credit or conversion, or --from-catalog")
        _check_input_names(chosen, overrides)
        updated = impact_flow.set_impact(
            ref,
            model=chosen,
            currency=currency or base.currency or "EUR",
            inputs={**base.inputs, **overrides},
            actor=_actor(actor),
            session=session,
            clock=clock,
            notifier=build_notifier(settings),
        )
        _print_impact(updated, now=clock.now())

    _with_session(work)


@dataclass(frozen=True, slots=True)
class ImpactBase:
    """The inputs `incidents impact` starts from before --set (catalog, stored, or none)."""

    model: str | None = None
    currency: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)


def _impact_input(pair: str) -> tuple[str, float | list[float]]:
    """Read one ``--set NAME=NUMBER`` or ``NAME=LOW..HIGH``."""
    name, sep, text = pair.partition("=")
    low, dots, high = text.partition("..")
    try:
        value: float | list[float] = [float(low), float(high)] if dots else float(text)
    except ValueError:
        sep = ""
    if not sep or not name.strip():
        raise InvalidInput(
            f"--set {pair!r}: use NAME=NUMBER or NAME=LOW..HIGH, e.g. delta_pd=0.01..0.03"
        )
    return name.strip(), value


def _check_input_names(model: str, inputs: dict[str, Any]) -> None:
    """Refuse a --set name the model does not use, so a typo cannot pass silently."""
    known = [name for name, _upper in IMPACT_MODELS.get(model, ())]
    unknown = sorted(name for name in inputs if known and name not in known)
    if unknown:
        raise InvalidInput(
            f"--set {', '.join(unknown)}: not an input of the {model} model "
            f"(use {', '.join(known)})",
            fields=unknown,
        )


def _stored_impact(incident: Incident) -> ImpactBase:
    """Return the incident's current inputs, so --set can change one of them."""
    stored = incident.impact or {}
    return ImpactBase(stored.get("model"), stored.get("currency"), dict(stored.get("inputs", {})))


def _catalog_impact(incident: Incident, settings: Settings) -> ImpactBase:
    """Return the catalog's impact defaults for the incident's model, else its service."""
    from incidents.catalog import check

    path = settings.runbooks_dir / "catalog.yaml"
    key = incident_key(incident.id or 0)
    if not (incident.model or incident.service):
        raise InvalidInput(f"{key} names no model or service: give --model and --set instead")
    # Problems elsewhere in the catalog do not block this entry: set_impact validates it.
    catalog = check(path)[0] if path.is_file() else None
    found = (
        catalog.impact_defaults(service=incident.service, model=incident.model) if catalog else None
    )
    if not found:
        names = " or ".join(
            f"{kind} {name!r}"
            for kind, name in (("model", incident.model), ("service", incident.service))
            if name
        )
        raise NotFound(f"no impact defaults in {path} for {names}: give --model and --set instead")
    inputs = {k: v for k, v in found.items() if k not in ("model", "currency")}
    return ImpactBase(found.get("model"), found.get("currency"), inputs)


def _print_impact(incident: Incident, *, now: datetime) -> None:
    """Print the impact figure, its hourly rate, the formula and the inputs behind it."""
    key = incident_key(incident.id or 0)
    figure = current_estimate(incident, now=now)
    if figure is None or incident.impact is None:
        out.print(f"{key}: no impact estimate yet (give --set or --from-catalog)")
        return
    currency = incident.impact["currency"]
    hours = format_duration(timedelta(hours=figure.hours))
    so_far = f"so far ({hours}, ongoing)" if figure.ongoing else f"in total ({hours} of impact)"
    inputs = " ".join(f"{name}={_range_text(r.low, r.high)}" for name, r in figure.inputs.items())
    for line in (
        f"{key} impact ({figure.model}): {format_range(figure.total, currency)} {so_far}",
        f"rate: {format_range(figure.per_hour, currency)} per hour",
        f"formula: {figure.formula}",
        f"inputs: {inputs}",
    ):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def _range_text(low: float, high: float) -> str:
    """Write an input the way --set takes it (``0.01..0.03``, or one number)."""
    low_text, high_text = (str(int(v)) if v.is_integer() else repr(v) for v in (low, high))
    return low_text if low == high else f"{low_text}..{high_text}"
