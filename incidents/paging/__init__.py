"""PagerDuty adapter: Events API v2 (``events``) and the REST on-call look-up (``oncall``).

Both talk to PagerDuty through the official ``pagerduty`` client (7.x, on ``httpx2``) with the
same rules, kept in ``events``: https-only base URLs checked up front, an optional private CA
(``INCIDENTS_PAGERDUTY_CA_BUNDLE``), a 10 s timeout, and none of the client's own retries.
This file imports nothing, so importing ``incidents.paging.notifier`` stays cheap.
"""
