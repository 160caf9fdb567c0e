"""Capped exponential backoff with full jitter (the AWS Architecture Blog's "Full Jitter")."""

from __future__ import annotations

import random

# Past this many doublings every sane `initial` is beyond every sane `maximum`; computing further would
# overflow a float (attempt 1025 raised OverflowError, and a retry loop with it).
_MAX_DOUBLINGS = 64


def full_jitter(attempt: int, initial: float, maximum: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1-based): uniform in [0, min(max, initial * 2**(n-1))]."""
    doublings = max(0, attempt - 1)
    ceiling = maximum if doublings > _MAX_DOUBLINGS else min(maximum, initial * (2 ** doublings))
    return (rng or random).uniform(0, ceiling)
