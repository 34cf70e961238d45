"""The adapters by URL name: ``/webhooks/<name>`` serves ``ADAPTERS[name]``."""

from __future__ import annotations

from incidents.ingest import Adapter, alertmanager, events_v2, evidently, grafana, ml, pagerduty

ADAPTERS: dict[str, Adapter] = {
    "alertmanager": alertmanager.ADAPTER,
    "grafana": grafana.ADAPTER,
    "pagerduty": pagerduty.ADAPTER,
    "events-v2": events_v2.ADAPTER,
    "ml": ml.ADAPTER,
    "evidently": evidently.ADAPTER,
}
