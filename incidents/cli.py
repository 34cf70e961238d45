"""The ``incidents`` command: serve, migrate, and run incidents from a terminal.

Errors print one line on stderr and exit 1; a bad setting exits 2.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine
from sqlmodel import Session

from incidents import cli_impact
from incidents import cli_metrics as metrics_views
from incidents import cli_views as views
from incidents import demo as demo_data
from incidents.cli_slo import slo_app
from incidents.cli_support import (
    ActorOpt,
    NoteOpt,
    RefArg,
    TimeOpt,
    TzOpt,
    err,
    out,
)
from incidents.cli_support import actor_of as _actor
from incidents.cli_support import errors as _errors
from incidents.cli_support import fail as _fail
from incidents.cli_support import require_head as _require_head
from incidents.cli_support import settings as _settings
from incidents.cli_support import with_session as _with_session
from incidents.config import Settings
from incidents.domain.lifecycle import Event
from incidents.domain.refs import incident_key
from incidents.domain.severity import parse_severity
from incidents.domain.timeinput import parse_human_time
from incidents.errors import NotFound
from incidents.flows import incidents as flows
from incidents.flows import intake, metrics, queries
from incidents.flows.filters import incident_filter, metrics_query
from incidents.flows.ports import SystemClock
from incidents.ingest.registry import ADAPTERS
from incidents.outbox.runtime import build_notifier, build_worker
from incidents.store import migrate
from incidents.store.db import build_engine

app = typer.Typer(
    help="Incident-response toolkit: webhook target, lifecycle clock, honest MTTx.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(slo_app, name="slo")


def main() -> None:
    """Run the CLI (console-script entry point)."""
    app()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (PostgreSQL only).")] = 1,
) -> None:
    """Migrate the database to head, then serve the HTTP API."""
    from incidents import serving  # imported here: only `serve` needs the server

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
    serving.run(host=host, port=port, workers=workers, log_level=settings.log_level.lower(),
                pin_cpu=settings.pin_cpu)  # fmt: skip


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
        context = postmortems.document_context(
            ref, session=session, clock=SystemClock(), settings=settings
        )
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


app.command()(cli_impact.impact)


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
