"""Retry delays: exponential, capped, half of each random."""

from __future__ import annotations

import random

from webhooks.backoff import retry_delay


def test_delays_double_and_stay_within_half_to_all_of_the_ceiling():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 30), (2, 60), (3, 120), (8, 3600), (40, 3600)]:
        delays = [retry_delay(attempt, base=30, cap=3600, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), attempt
        assert len(set(delays)) > 100  # jitter: not in lockstep


def test_base_one_second_for_tests():
    assert 0.5 <= retry_delay(1, base=1, cap=3600) <= 1
