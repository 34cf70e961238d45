"""When to try a failed delivery again: exponential backoff with "equal" jitter, capped.

Jitter (a uniform draw between half the exponential bound and the bound) spreads retries
of messages that failed together, so a recovering peer is not hit by a synchronised wave.
"""

from __future__ import annotations

import random
from datetime import timedelta


def retry_delay(
    attempts: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> timedelta:
    """Return the wait before attempt `attempts + 1`; a peer's Retry-After is honoured."""
    if retry_after is not None:
        return timedelta(seconds=min(max(retry_after, 0.0), cap))
    bound = min(cap, base * 2 ** max(attempts - 1, 0))
    draw = (rng or random).uniform(bound / 2, bound)
    return timedelta(seconds=draw)
