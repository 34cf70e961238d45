"""The webhook path from raw bytes to a committed answer, shared by every intake route."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from incidents.domain.alert import Alert
from incidents.flows import intake
from incidents.flows.group_commit import GroupCommitter
from incidents.ingest import Adapter, Headers, pagerduty

# Small bodies (nearly every delivery) are checked and parsed on the event loop: a thread
# hop costs more than the parse. Larger ones go to a thread so the loop stays responsive.
INLINE_BYTES = 64 * 1024


async def accept(
    state: State, headers: Headers, adapter: Adapter, body: bytes, *, params: Mapping[str, str]
) -> tuple[intake.IntakeResult, list[Alert]]:
    """Authenticate and parse a delivery, then apply it through the group-commit writer."""
    if adapter.source == pagerduty.SOURCE:  # may be a two-way sync event: the plain path
        return await run_in_threadpool(_alone, state, headers, adapter, body, params)
    read = partial(intake.read_delivery, adapter, headers=headers, body=body,
                   params=params, settings=state.settings, clock=state.clock)  # fmt: skip
    alerts = read() if len(body) <= INLINE_BYTES else await run_in_threadpool(read)
    key = adapter.delivery_key(headers, body)
    delivery = intake.Delivery(adapter.source, alerts, delivery_key=key,
                               memory=adapter.delivery_memory)  # fmt: skip
    committer: GroupCommitter = state.committer
    result = await committer.apply(delivery, state.notifier)
    return result, alerts


def _alone(
    state: State, headers: Headers, adapter: Adapter, body: bytes, params: Mapping[str, str]
) -> tuple[intake.IntakeResult, list[Alert]]:
    """Apply one delivery in its own transaction (PagerDuty's webhooks, which are few)."""
    with Session(state.engine, expire_on_commit=False) as session:
        return intake.deliver(adapter, headers=headers, body=body, params=params,
                              settings=state.settings, session=session, clock=state.clock,
                              notifier=state.notifier)  # fmt: skip
