"""How steady this machine's CPU speed stays over a bench run: a fixed loop of pure Python, timed between stages.

A shared machine's vCPU may run at half its speed for seconds at a time. At stop 20 a loop of integer
arithmetic took 4.2 s and, a minute later, 2.0 s, with nothing else running on the guest and no steal time in
/proc/stat. A stage that lands in such a phase reports the host, not the code. The bench times this loop
between its stages and prints how far its time moved, so a reader can tell which it was (docs/performance.md).

One core's speed is not the whole story: at stop 21 the pool's CPU per event rose by 20-40 % in some
rounds while the one-core loop kept its time. The same loop run on both cores at once (`Steadiness.probe_pair`)
did slow down then, most of the time. The rounds of (b), (c) and (d) are framed by such pair probes, and the
report prints the slowest around each round beside its ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future

LOOP = 100_000  # about 10 ms of one core of this host at full speed
TRIES = 3  # the fastest of three back-to-back loops: one interrupt must not count as a slow phase
UNSTEADY = 1.15  # a slowest probe this much above the fastest: the run's ratios may be the host's


def probe_ms(loop: int = LOOP) -> float:
    """Milliseconds of wall time for `loop` multiply-adds in Python, the fastest of `TRIES` in a row."""
    best = float("inf")
    for _ in range(TRIES):
        started = time.perf_counter()
        total = 0
        for number in range(loop):
            total += number * number
        best = min(best, time.perf_counter() - started)
    return best * 1e3


class Steadiness:
    """The probes of one run (between stages, never during one: a probe would take a core from it)."""

    def __init__(self) -> None:
        self.samples_ms: list[float] = []  # one core

    def probe(self) -> None:
        self.samples_ms.append(probe_ms())

    def probe_pair(self, on_other_core: Callable[[], Future[float]]) -> float:
        """The loop here and, at the same time, in another process (`on_other_core` starts `probe_ms` there and
        returns its future): the slower of the two. Also a one-core probe first, for the `host:` line."""
        self.probe()
        other = on_other_core()
        here = probe_ms()
        return max(here, other.result())


def spread(samples_ms: list[float]) -> float | None:
    """The slowest probe over the fastest; None before two probes."""
    return max(samples_ms) / min(samples_ms) if len(samples_ms) >= 2 else None
