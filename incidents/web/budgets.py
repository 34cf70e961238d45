"""The SLO page's data: per SLO the budget left and the burn rates against their thresholds.

Each burn window (1h, 6h, 24h, 3d) is drawn against the alert rule whose long window it is
(thresholds derived from the SLO window, f·P/w — see ``domain.slo``); a window without a
rule (longer than the SLO window) has no threshold. One ``flows.slos.status`` per SLO.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup
from sqlmodel import Session

from incidents.config import Settings
from incidents.domain.slo import window_label
from incidents.flows.slos import SloStatus, status
from incidents.slos import load_slos
from incidents.web.charts import BurnBar, budget_gauge, burn_chart


@dataclass(frozen=True, slots=True)
class SloView:
    """One SLO's card: its status, the two charts and the burn data (text alternative)."""

    status: SloStatus
    window: str
    budget_chart: Markup
    burn_chart: Markup
    bars: list[BurnBar]


def slos_exist(settings: Settings) -> bool:
    """Tell whether any SLO is defined (the page and its nav link exist only then)."""
    return bool(load_slos(settings.runbooks_dir))


def slo_views(*, settings: Settings, session: Session, now: datetime) -> list[SloView]:
    """Compute every SLO's status now and draw its charts."""
    views = []
    for slo in load_slos(settings.runbooks_dir):
        found = status(slo, session=session, now=now)
        bars = burn_bars(found)
        views.append(
            SloView(
                status=found,
                window=window_label(slo.window),
                budget_chart=budget_gauge(
                    found.budget.remaining,
                    chart_id=f"budget-{slo.name}",
                    title=f"{slo.name}: error budget left",
                ),
                burn_chart=burn_chart(
                    bars, chart_id=f"burn-{slo.name}", title=f"{slo.name}: burn rate per window"
                ),
                bars=bars,
            )
        )
    return views


def burn_bars(found: SloStatus) -> list[BurnBar]:
    """Pair each burn window's rate with the threshold of the rule on that long window."""
    rules = {rule["long"]: rule for rule in found.alert.rules}
    bars = []
    for window, rate in found.burn_rates.items():
        rule = rules.get(window)
        bars.append(
            BurnBar(
                window=window,
                rate=rate,
                threshold=rule["threshold"] if rule else None,
                severity=rule["severity"] if rule else None,
            )
        )
    return bars
