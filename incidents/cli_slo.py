"""`incidents slo check|status`: validate runbooks/slos.yaml, and see every SLO's budget,
burn rates and alert state as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import Session

from incidents.cli_support import errors, fail, out, settings, with_session
from incidents.config import Settings
from incidents.flows.ports import SystemClock
from incidents.flows.slos import SloStatus, status
from incidents.slos import check, find, load_slos

slo_app = typer.Typer(help="Service level objectives (runbooks/slos.yaml).", no_args_is_help=True)
STATE_STYLE = {"healthy": "green", "caution": "yellow", "slow": "yellow", "critical": "red",
               "exhausted": "bold red"}  # fmt: skip


PathOpt = Annotated[
    Path | None, typer.Option(help="SLO file (default: slos.yaml in the runbooks dir).")
]


@slo_app.command("check")
def slo_check(path: PathOpt = None) -> None:
    """Validate the SLO definitions; every problem names its line."""
    target = path or settings().runbooks_dir / "slos.yaml"
    if not target.is_file():
        raise fail(f"no SLO file at {target}")
    with errors():
        found, problems = check(target)
    for problem in problems:
        out.print(f"{target}:{problem}", highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"{target}: {len(found)} SLOs, OK", highlight=False, markup=False)


@slo_app.command("status")
def slo_status(
    name: Annotated[str | None, typer.Argument(help="One SLO (default: all).")] = None,
) -> None:
    """Show budgets, burn rates and alert states now."""

    def work(session: Session, config: Settings) -> None:
        chosen = [find(config.runbooks_dir, name)] if name else load_slos(config.runbooks_dir)
        now = SystemClock().now()
        print_statuses([status(slo, session=session, now=now) for slo in chosen])

    with_session(work)


def print_statuses(statuses: list[SloStatus]) -> None:
    """Print one row per SLO."""
    if not statuses:
        out.print("no SLOs defined (runbooks/slos.yaml)")
        return
    table = Table(title="SLOs now")
    for header in ("slo", "objective", "window", "SLI", "budget left", "state",
                   "burn 1h", "6h", "24h", "3d", "alert", "exhausted in"):  # fmt: skip
        table.add_column(header)
    for found in statuses:
        budget, alert = found.budget, found.alert
        left = "—" if budget.remaining is None else f"{budget.remaining:.1%}"
        style = STATE_STYLE.get(budget.state, "")
        burns = [_burn(found.burn_rates.get(label)) for label in ("1h", "6h", "24h", "3d")]
        exhaustion = found.time_to_exhaustion
        table.add_row(
            found.slo.name, f"{found.slo.objective:.3%}", f"{found.slo.window.days}d",
            "—" if found.sli is None else f"{found.sli:.3%}", left,
            f"[{style}]{budget.state}[/]" if style else budget.state, *burns,
            alert.severity or "—",
            "never" if exhaustion is None else f"{exhaustion.total_seconds() / 3600:.1f} h",
        )  # fmt: skip
    out.print(table)


def _burn(value: float | None) -> str:
    """Show a burn rate to two decimals, — when there is no data."""
    return "—" if value is None else f"{value:.2f}"
