"""When to try a failed delivery again: exponential backoff with jitter (pure, no Django)."""

from __future__ import annotations

import random


def retry_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): half of min(cap, base * 2**(attempt-1))
    fixed, the other half random, so that many receivers' retries do not arrive in lockstep."""
    ceiling = min(cap, base * 2.0 ** min(max(attempt - 1, 0), 32))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
