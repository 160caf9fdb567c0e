"""How many CPUs this process can use: the parser pool's default size.

`os.cpu_count()` counts the host's CPUs. In a container on a large node that is one parser process (each
120-190 MiB) per node core, under a memory limit sized for the pod's few CPUs. What the process may use is
the smaller of its CPU affinity (cpusets, `taskset`) and its cgroup's CPU quota, rounded up.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection
from pathlib import Path

# cgroup v1 mounts the cpu controller under either name.
_V1_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def usable_cpus(root: str | os.PathLike[str] = "/", affinity: Collection[int] | None = None) -> int:
    """The CPUs this process can use, at least 1: its affinity, capped by the cgroup v2 quota
    (`/sys/fs/cgroup/cpu.max`) or the cgroup v1 one (`cpu.cfs_quota_us` / `cpu.cfs_period_us`), each rounded
    up. `root` and `affinity` are for tests; by default, this process's."""
    if affinity is None:
        try:
            affinity = os.sched_getaffinity(0)
        except (AttributeError, OSError):  # not Linux
            affinity = range(os.cpu_count() or 1)
    cpus = max(1, len(affinity))
    cgroup = Path(root) / "sys" / "fs" / "cgroup"
    quotas = [_v2_quota(cgroup / "cpu.max")]
    quotas += [_v1_quota(cgroup / name) for name in _V1_DIRS]
    return min([cpus, *(q for q in quotas if q is not None)])


def _v2_quota(path: Path) -> int | None:
    """`max 100000` (no limit) or `<quota> <period>` in microseconds."""
    try:
        quota, period = path.read_text().split()[:2]
        return _cpus(int(quota), int(period)) if quota != "max" else None
    except (OSError, ValueError):
        return None


def _v1_quota(directory: Path) -> int | None:
    """`cpu.cfs_quota_us` is -1 without a limit."""
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return _cpus(quota, period)


def _cpus(quota: int, period: int) -> int | None:
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))
