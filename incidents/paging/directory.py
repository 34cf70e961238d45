"""Who is on call for a service: the catalog names its PagerDuty service, PagerDuty's REST
API names the people (``/oncalls`` for the service's escalation policy)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from incidents.catalog import load_catalog
from incidents.config import Settings
from incidents.errors import NotConfigured, NotFound
from incidents.paging.oncall import OnCall, on_call_now, rest_client

# PagerDuty object ids: upper-case letters and digits, e.g. PXPGF42.
PAGERDUTY_ID = re.compile(r"^P[A-Z0-9]{5,13}$")


@dataclass(frozen=True, slots=True)
class OnCallList:
    """The people on call now for one service, most immediate escalation level first."""

    service: str
    pagerduty_service: str
    people: list[OnCall]


def pagerduty_service_of(name: str, settings: Settings) -> str:
    """Return the PagerDuty service id of a catalog service or model (or a literal id)."""
    found = load_catalog(settings.runbooks_dir).pagerduty_service(name)
    if found:
        return found
    if PAGERDUTY_ID.match(name):
        return name
    raise NotFound(
        f"no PagerDuty service for {name!r}: set `pagerduty_service` for it in the catalog"
    )


def who_is_on_call(service: str, *, settings: Settings) -> OnCallList:
    """Ask PagerDuty who is on call now for the service's escalation policy."""
    if settings.pagerduty_api_token is None:
        raise NotConfigured("PagerDuty is not configured: set INCIDENTS_PAGERDUTY_API_TOKEN")
    service_id = pagerduty_service_of(service, settings)
    people = on_call_now(rest_client(settings), service_id=service_id)
    return OnCallList(service=service, pagerduty_service=service_id, people=people)
