"""Capped exponential backoff with full jitter."""

from __future__ import annotations

import random

import pytest

from sinks.backoff import full_jitter


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 0.1), (2, 0.2), (4, 0.8), (8, 5.0), (100, 5.0)])
def test_the_ceiling_doubles_per_attempt_up_to_the_maximum(attempt: int, ceiling: float) -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    assert full_jitter(attempt, 0.1, 5.0, Top()) == pytest.approx(ceiling)


@pytest.mark.parametrize("attempt", [1025, 10_000, 10**9])
def test_a_retry_loop_that_runs_for_hours_keeps_getting_delays(attempt: int) -> None:
    # A long outage with millisecond backoffs passes 1,024 attempts: 2**1024 overflowed a float.
    delay = full_jitter(attempt, 0.001, 0.005, random.Random(1))
    assert 0 <= delay <= 0.005
