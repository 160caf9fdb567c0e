"""Capped exponential backoff with full jitter (the AWS Architecture Blog's "Full Jitter")."""

from __future__ import annotations

import random


def full_jitter(attempt: int, initial: float, maximum: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1-based): uniform in [0, min(max, initial * 2**(n-1))]."""
    ceiling = min(maximum, initial * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0, ceiling)
