"""The ``incidents`` command: serve, migrate, and run incidents from a terminal.

Errors print one line on stderr and exit 1; a bad setting exits 2.
"""

from __future__ import annotations

import getpass
import ipaddress
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from incidents import cli_metrics as metrics_views
from incidents import cli_views as views
from incidents import demo as demo_data
from incidents.config import Settings, load_settings
from incidents.domain.humanize import format_duration
from incidents.domain.impact import MODELS as IMPACT_MODELS
from incidents.domain.lifecycle import Event
from incidents.domain.money import format_range
from incidents.domain.refs import incident_key
from incidents.domain.severity import parse_severity
from incidents.domain.timeinput import parse_human_time
from incidents.errors import ConfigError, IncidentsError, InvalidInput, NotFound
from incidents.flows import impact as impact_flow
from incidents.flows import incidents as flows
from incidents.flows import intake, metrics, queries
from incidents.flows.filters import incident_filter, metrics_query
from incidents.flows.impact import current_estimate
from incidents.flows.ports import SystemClock
from incidents.ingest.registry import ADAPTERS
from incidents.outbox.runtime import build_notifier, build_worker
from incidents.store import migrate
from incidents.store.db import build_engine
from incidents.store.models import Incident

app = typer.Typer(
    help="Incident-response toolkit: webhook target, lifecycle clock, honest MTTx.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console()
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

TimeOpt = Annotated[
    str | None, typer.Option("--at", help="When it happened: '14:05', '10m ago', ISO 8601.")
]
TzOpt = Annotated[
    str | None, typer.Option("--tz", help="Timezone for times you type (default: setting).")
]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who did it (default: your login).")]
RefArg = Annotated[str, typer.Argument(help="Id or key, e.g. 42 or INC-42.")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="A note for the timeline.")]


def main() -> None:
    """Run the CLI (console-script entry point)."""
    app()


def _fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line and return the exit to raise."""
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn expected errors into one clear line and a non-zero exit."""
    try:
        yield
    except ConfigError as exc:
        raise _fail(exc.message, 2) from None
    except IncidentsError as exc:
        raise _fail(exc.message) from None
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise _fail(f"database error: {reason}") from None


def _settings() -> Settings:
    """Load settings or stop with the one-line reason."""
    with _errors():
        return load_settings()


def _with_session(work: Callable[[Session, Settings], T]) -> T:
    """Run `work` in a session on a database that is at head."""
    settings = _settings()
    engine = build_engine(settings.database_url)
    try:
        with _errors():
            _require_head(engine)
            with Session(engine, expire_on_commit=False) as session:
                return work(session, settings)
    finally:
        engine.dispose()


def _require_head(engine: Engine) -> None:
    """Refuse to work on a database that is not migrated."""
    head, current = migrate.head_revision(), migrate.current_revision(engine)
    if current != head:
        raise IncidentsError(
            f"database is at revision {current}, not {head}: run `incidents db upgrade`"
        )


def _actor(actor: str | None) -> str:
    """Return the acting person (default: the login name)."""
    return actor or f"cli:{getpass.getuser()}"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (PostgreSQL only).")] = 1,
) -> None:
    """Migrate the database to head, then serve the HTTP API."""
    import uvicorn  # imported here: only `serve` needs the server

    settings = _settings()
    _check_serving(settings, host=host, workers=workers)
    engine = build_engine(settings.database_url)
    try:
        with _errors():
            migrate.upgrade(engine)
    finally:
        engine.dispose()
    if settings.api_token is None:
        err.print("no INCIDENTS_API_TOKEN set: /api/* is open, so serving on loopback only")
    uvicorn.run(
        "incidents.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )


def _check_serving(settings: Settings, *, host: str, workers: int) -> None:
    """Refuse unsafe or unsupported serving setups with the settings to change."""
    missing = [
        name
        for name, value in (
            ("INCIDENTS_API_TOKEN", settings.api_token),
            ("INCIDENTS_WEBHOOK_TOKEN", settings.webhook_token),
        )
        if value is None
    ]
    if missing and not _is_loopback(host):
        raise _fail(
            f"refusing to bind {host} without {', '.join(missing)}; set them or bind 127.0.0.1"
        )
    if workers > 1 and settings.database_url.startswith("sqlite"):
        raise _fail("SQLite serves one worker process; use PostgreSQL for --workers > 1")


def _is_loopback(host: str) -> bool:
    """Tell whether `host` is a loopback address or name."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the database to REVISION (default: head)."""
    _migrate(lambda engine: migrate.upgrade(engine, revision))


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Downgrade the database to REVISION (default: one step back; 'base' empties it)."""
    _migrate(lambda engine: migrate.downgrade(engine, revision))


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the newest known one."""
    _migrate(lambda _engine: None)


def _migrate(step: Callable[[Engine], None]) -> None:
    """Run one migration step and report where the database stands."""
    settings = _settings()
    engine = build_engine(settings.database_url)
    try:
        with _errors():
            step(engine)
            current, head = migrate.current_revision(engine), migrate.head_revision()
    finally:
        engine.dispose()
    state = "at head" if current == head else f"head is {head}"
    out.print(f"database revision: {current or 'empty'} ({state})", highlight=False)


@app.command()
def declare(
    title: Annotated[str, typer.Argument(help="What is wrong, in a few words.")],
    sev: Annotated[str, typer.Option("--sev", help="SEV1..SEV4.")] = "SEV3",
    service: Annotated[str | None, typer.Option(help="Affected service.")] = None,
    model: Annotated[str | None, typer.Option(help="Affected ML model.")] = None,
    summary: Annotated[str | None, typer.Option(help="Longer description.")] = None,
    commander: Annotated[str | None, typer.Option(help="Incident commander.")] = None,
    impact_started: Annotated[
        str | None, typer.Option(help="When impact began: '14:05', '30m ago', ISO 8601.")
    ] = None,
    detected: Annotated[
        str | None, typer.Option(help="When it was detected (default now).")
    ] = None,
    tz: TzOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Declare an incident."""

    def work(session: Session, settings: Settings) -> None:
        clock = SystemClock()
        zone = tz or settings.default_timezone
        declaration = flows.Declaration(
            title=title,
            severity=parse_severity(sev),
            service=service,
            model=model,
            summary=summary,
            commander=commander,
            actor=_actor(actor),
            impact_started_at=_time(impact_started, zone, clock),
            detected_at=_time(detected, zone, clock),
        )
        notifier = build_notifier(settings)
        incident = flows.declare(declaration, session=session, clock=clock, notifier=notifier)
        assert incident.id is not None
        views.print_detail(out, queries.show_incident(incident.id, session=session), zone=zone)

    _with_session(work)


def _time(text: str | None, zone: str, clock: SystemClock) -> Any:
    """Parse an optional human time."""
    return parse_human_time(text, tz=zone, now=clock.now()) if text else None


@app.command("list")
def list_command(
    status: Annotated[str, typer.Option(help="open, all, or comma-separated statuses.")] = "open",
    severity: Annotated[str | None, typer.Option(help="Comma-separated, e.g. SEV1,SEV2.")] = None,
    service: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help="Detected since: '7d', ISO date.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    tz: TzOpt = None,
) -> None:
    """List incidents, newest first."""

    def work(session: Session, settings: Settings) -> None:
        zone = tz or settings.default_timezone
        where = incident_filter(
            status=None if status == "all" else status,
            severity=severity,
            service=service,
            model=model,
            since=since,
            until=None,
            timezone=zone,
            now=SystemClock().now(),
        )
        page = queries.list_incidents(where=where, limit=limit, cursor=None, session=session)
        views.print_list(out, page.items, zone=zone)

    _with_session(work)


@app.command()
def show(ref: RefArg, tz: TzOpt = None) -> None:
    """Show one incident: timestamps, durations and timeline."""

    def work(session: Session, settings: Settings) -> None:
        zone = tz or settings.default_timezone
        views.print_detail(out, queries.show_incident(ref, session=session), zone=zone)
        views.print_timeline(out, queries.timeline(ref, session=session), zone=zone)

    _with_session(work)


def _status_command(event: Event) -> Callable[..., None]:
    """Build the ack/mitigate/resolve/reopen command for `event`."""

    def command(
        ref: RefArg,
        at: TimeOpt = None,
        note: NoteOpt = None,
        actor: ActorOpt = None,
        tz: TzOpt = None,
    ) -> None:
        def work(session: Session, settings: Settings) -> None:
            clock = SystemClock()
            zone = tz or settings.default_timezone
            flows.change_status(
                ref,
                event,
                actor=_actor(actor),
                at=_time(at, zone, clock),
                note=note,
                session=session,
                clock=clock,
                notifier=build_notifier(settings),
            )
            views.print_detail(out, queries.show_incident(ref, session=session), zone=zone)

        _with_session(work)

    command.__doc__ = f"{event.value.capitalize()} an incident (optionally back-dated with --at)."
    return command


app.command("ack")(_status_command(Event.ACKNOWLEDGE))
app.command("mitigate")(_status_command(Event.MITIGATE))
app.command("resolve")(_status_command(Event.RESOLVE))
app.command("reopen")(_status_command(Event.REOPEN))


@app.command()
def note(
    ref: RefArg,
    text: Annotated[str, typer.Argument(help="The note.")],
    at: TimeOpt = None,
    actor: ActorOpt = None,
    tz: TzOpt = None,
) -> None:
    """Add a note to an incident's timeline."""

    def work(session: Session, settings: Settings) -> None:
        clock = SystemClock()
        when = _time(at, tz or settings.default_timezone, clock)
        flows.add_note(ref, text=text, actor=_actor(actor), at=when, session=session, clock=clock)
        out.print(f"note added to {ref}", highlight=False)

    _with_session(work)


@app.command()
def replay(
    source: Annotated[str, typer.Argument(help="alertmanager, grafana, pagerduty, events-v2, ml…")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Payload file.")],
    url: Annotated[
        str | None, typer.Option(help="Send to a running server, e.g. http://127.0.0.1:8000.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Bearer token (default: INCIDENTS_WEBHOOK_TOKEN).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Query parameter NAME=VALUE (e.g. model=fraud).")
    ] = None,
) -> None:
    """Send a recorded payload through intake, to test an alerting configuration."""
    body = file.read_bytes()
    params = _params(param or [])
    if url:
        _replay_http(url, source, body, params=params, token=token)
        return

    def work(session: Session, settings: Settings) -> None:
        adapter = ADAPTERS.get(source)
        if adapter is None:
            raise NotFound(f"unknown source {source!r}: use one of {', '.join(sorted(ADAPTERS))}")
        result = intake.replay(
            adapter, body=body, params=params, settings=settings, session=session,
            clock=SystemClock(),
        )  # fmt: skip
        out.print(json.dumps(result.as_json()), highlight=False)

    _with_session(work)


def _params(pairs: list[str]) -> dict[str, str]:
    """Read NAME=VALUE options."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise _fail(f"--param {pair!r}: use NAME=VALUE")
        params[name] = value
    return params


def _replay_http(
    url: str, source: str, body: bytes, *, params: dict[str, str], token: str | None
) -> None:
    """POST the payload to a running server and print its answer."""
    import httpx  # imported here: only the HTTP replay needs a client

    secret = token
    if secret is None:
        configured = _settings().webhook_token
        secret = configured.get_secret_value() if configured else None
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    target = f"{url.rstrip('/')}/webhooks/{source}"
    try:
        response = httpx.post(target, content=body, params=params, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {target}: {exc}") from None
    if response.status_code >= 300:
        raise _fail(f"{target} answered {response.status_code}: {response.text.strip()}")
    out.print(response.text.strip(), highlight=False)


@app.command("metrics")
def metrics_command(
    since: Annotated[str, typer.Option(help="Detected since: '90d', ISO date or time.")] = "90d",
    until: Annotated[str | None, typer.Option(help="Detected before (default now).")] = None,
    by: Annotated[
        str | None, typer.Option(help="severity,service,model,slice,source + week|month|quarter")
    ] = None,
    severity: Annotated[str | None, typer.Option(help="Only these, e.g. SEV1,SEV2.")] = None,
    service: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    slice_: Annotated[str | None, typer.Option("--slice", help="e.g. language=de")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    trend: Annotated[bool, typer.Option(help="Compare with the period before.")] = False,
    format_: Annotated[
        metrics_views.MetricsFormat, typer.Option("--format", help="table, json or csv.")
    ] = metrics_views.MetricsFormat.TABLE,
    tz: TzOpt = None,
) -> None:
    """Show MTTD / MTTA / MTTM / MTTR: medians, p90, counts, exclusions."""

    def work(session: Session, settings: Settings) -> None:
        query = metrics_query(
            since=since,
            until=until,
            group_by=by,
            filters={"severity": severity, "service": service, "model": model,
                     "slice": slice_, "source": source},
            trend=trend,
            timezone=tz or settings.default_timezone,
            now=SystemClock().now(),
        )  # fmt: skip
        metrics_views.print_metrics(out, metrics.report(query, session=session), format_=format_)

    _with_session(work)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Deliver what is due now, then exit.")] = False,
) -> None:
    """Deliver queued side effects (Slack, PagerDuty); run several for more throughput."""
    import signal
    import threading

    settings = _settings()
    engine = build_engine(settings.database_url)
    try:
        with _errors():
            _require_head(engine)
            runner = build_worker(engine, settings=settings, clock=SystemClock())
            if once:
                out.print(f"delivered {runner.run_once(limit=1000)} message(s)", highlight=False)
                return
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            err.print(f"outbox worker {runner.name} running; Ctrl+C stops it")
            try:
                runner.run(stop)
            except KeyboardInterrupt:
                stop.set()
    finally:
        engine.dispose()


@app.command()
def postmortem(
    ref: RefArg,
    format_: Annotated[str, typer.Option("--format", help="md or html.")] = "md",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of the terminal.")
    ] = None,
) -> None:
    """Render an incident's postmortem document (from what the database holds now)."""
    from incidents.flows import postmortems
    from incidents.reports.render import FORMATS, render_postmortem

    if format_ not in FORMATS:
        raise _fail(f"--format {format_!r}: use {' or '.join(FORMATS)}")

    def work(session: Session, settings: Settings) -> None:
        context = postmortems.document_context(ref, session=session, clock=SystemClock())
        document = render_postmortem(context, templates_dir=settings.templates_dir, fmt=format_)
        if output is None:
            out.print(document, markup=False, highlight=False, soft_wrap=True, end="")
            return
        output.write_text(document, encoding="utf-8")
        out.print(f"wrote {output}", highlight=False)

    _with_session(work)


@app.command()
def demo() -> None:
    """Seed the three demo incidents (loan-default drift, recsys canary, chatbot languages)."""
    settings = _settings()
    engine = build_engine(settings.database_url)
    try:
        with _errors():
            _require_head(engine)
            seeded = demo_data.seed(engine, now=SystemClock().now().replace(microsecond=0))
            with Session(engine) as session:
                ids = (seeded.loan_default, seeded.recsys, seeded.chatbot)
                shown = [queries.show_incident(i, session=session).incident for i in ids]
    finally:
        engine.dispose()
    out.print("seeded the demo incidents:" if seeded.created else "the demo data is already there:")
    for incident in shown:
        key = incident_key(incident.id or 0)
        url = f"{settings.public_url.rstrip('/')}/api/incidents/{key}/summary.md"
        line = f"{key}  {incident.severity}  {incident.status:<12}  {incident.title}  {url}"
        out.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command()
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


catalog_app = typer.Typer(help="The service catalog (runbooks/catalog.yaml).", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("check")
def catalog_check(
    path: Annotated[
        Path | None, typer.Option(help="Catalog file (default: catalog.yaml in the runbooks dir).")
    ] = None,
) -> None:
    """Validate the catalog; every problem names its line."""
    from incidents.catalog import check

    target = path or _settings().runbooks_dir / "catalog.yaml"
    if not target.is_file():
        raise _fail(f"no catalog at {target}")
    catalog, problems = check(target)
    for problem in problems:
        err.print(f"{target}:{problem}", highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"{target}: {len(catalog.services)} services, {len(catalog.models)} models, OK",
              highlight=False)  # fmt: skip


runbooks_app = typer.Typer(help="Runbooks (runbooks/*.md).", no_args_is_help=True)
app.add_typer(runbooks_app, name="runbooks")


@runbooks_app.command("check")
def runbooks_check(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Runbooks folder (default: INCIDENTS_RUNBOOKS_DIR)."),
    ] = None,
) -> None:
    """Validate every runbook's front matter; each problem is printed as file:line: message."""
    from incidents.runbooks import check

    target = directory or _settings().runbooks_dir
    if not target.is_dir():
        raise _fail(f"no runbooks folder at {target}")
    runbooks, problems = check(target)
    for problem in problems:
        err.print(str(problem), highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)
    count = f"{len(runbooks)} runbook{'' if len(runbooks) == 1 else 's'}"
    out.print(f"{target}: {count}, OK", highlight=False, soft_wrap=True)
