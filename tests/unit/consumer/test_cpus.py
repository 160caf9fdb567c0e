"""The parser pool's default size is the CPUs the process may use (affinity, cgroup quota), not the host's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from consumer.cpus import usable_cpus


def cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "sys" / "fs" / "cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(("files", "affinity", "expected"), [
    ({}, range(16), 16),  # no cgroup files: the affinity
    ({"cpu.max": "max 100000\n"}, range(16), 16),  # v2 without a limit
    ({"cpu.max": "200000 100000\n"}, range(16), 2),
    ({"cpu.max": "150000 100000\n"}, range(16), 2),  # 1.5 CPUs: rounded up
    ({"cpu.max": "50000 100000\n"}, range(16), 1),  # half a CPU: still one worker
    ({"cpu.max": "800000 100000\n"}, range(2), 2),  # the affinity is smaller than the quota
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, range(16), 3),  # v1
    ({"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, range(16), 16),
    ({"cpu.max": "garbage\n"}, range(4), 4),  # unreadable: ignored
    ({}, [], 1),
], ids=["none", "v2-max", "v2-2", "v2-rounded-up", "v2-half", "affinity-smaller", "v1", "v1-unlimited",
        "unparsable", "empty-affinity"])
def test_usable_cpus_is_the_affinity_capped_by_the_cgroup_quota(tmp_path: Path, files: dict[str, str],
                                                                 affinity: range, expected: int) -> None:
    assert usable_cpus(cgroup(tmp_path, files), affinity=set(affinity)) == expected


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2, reason="needs 2 CPUs")
def test_the_parser_pool_defaults_to_the_cpus_of_its_affinity_not_the_hosts() -> None:
    """Under `taskset -c 0` on a multi-core host, the pool starts one worker, not one per host core."""
    script = ("import os\n"
              "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
              "from consumer.pool import ParserPool, WorkerConfig\n"
              "pool = ParserPool(WorkerConfig({}, None), executor_factory=lambda workers, config: None)\n"
              "print(pool.workers, os.cpu_count())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
                          cwd=Path(__file__).resolve().parents[3])
    workers, host = map(int, done.stdout.split())
    assert host >= 2 and workers == 1
