"""CPU seconds spent by this process and its children (the pool's workers) over a stretch of code.

Wall-clock rates fall when other work shares the machine; CPU seconds per event do not (much). The report
shows both, so a run on a busy machine still says what our own code costs.
"""

from __future__ import annotations

from typing import Self

import psutil


class GroupCpu:
    """`with GroupCpu() as cpu: ...` then `cpu.seconds` (user + system, every process of the group)."""

    def __init__(self, exclude: frozenset[int] = frozenset()) -> None:
        self._process = psutil.Process()
        self._exclude = exclude
        self._before: dict[int, float] = {}
        self.seconds = 0.0

    def __enter__(self) -> Self:
        self._before = self._snapshot()
        return self

    def __exit__(self, *_: object) -> None:
        after = self._snapshot()
        self.seconds = sum(max(0.0, spent - self._before.get(pid, 0.0)) for pid, spent in after.items())

    def _snapshot(self) -> dict[int, float]:
        out = {}
        for process in (self._process, *self._process.children(recursive=True)):
            if process.pid in self._exclude:
                continue
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            out[process.pid] = times.user + times.system
        return out
