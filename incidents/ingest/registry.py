"""The adapters by URL name: ``/webhooks/<name>`` serves ``ADAPTERS[name]``."""

from __future__ import annotations

from incidents.ingest import Adapter, alertmanager

ADAPTERS: dict[str, Adapter] = {
    "alertmanager": alertmanager.ADAPTER,
}
