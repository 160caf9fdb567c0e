"""Peak memory of the secstash Python processes: this one and its children (the parser pool's workers and
the forkserver that starts them), sampled on a thread.

RSS counts pages shared between processes once per process, so the sum over-states what the group holds;
PSS splits shared pages among their sharers and sums to the true total. Both are reported; the target is
on RSS, the stricter of the two.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Self

import psutil

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Peak:
    rss_mb: float  # peak of the summed RSS of the process group
    pss_mb: float | None  # peak of the summed PSS (None where the platform has no PSS)
    main_rss_mb: float  # peak RSS of this process alone
    processes: int  # most processes seen at once


class RssSampler:
    """`with RssSampler() as sampler: ...` then `sampler.peak`."""

    def __init__(self, interval_s: float = 0.5, pss: bool = True,
                 exclude: frozenset[int] = frozenset()) -> None:
        self.interval_s = interval_s
        self._exclude = exclude  # children that are not secstash's (the bench's helper process)
        self._pss = pss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)
        self._process = psutil.Process()
        self._rss = self._main = 0
        self._pss_total: int | None = None
        self._count = 0

    def __enter__(self) -> Self:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def peak(self) -> Peak:
        pss = None if self._pss_total is None else self._pss_total / MB
        return Peak(self._rss / MB, pss, self._main / MB, self._count)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        children = self._process.children(recursive=True)
        processes = [self._process, *(p for p in children if p.pid not in self._exclude)]
        rss = pss = 0
        has_pss = self._pss
        for process in processes:
            try:
                if has_pss:
                    info = process.memory_full_info()
                    rss += info.rss
                    pss += getattr(info, "pss", 0)
                    has_pss = hasattr(info, "pss")
                else:
                    rss += process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if process is self._process:
                self._main = max(self._main, rss)
        self._rss = max(self._rss, rss)
        self._count = max(self._count, len(processes))
        if has_pss:
            self._pss_total = max(self._pss_total or 0, pss)
