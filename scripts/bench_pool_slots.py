"""What the pool's workers spend per document, in CPU and in page faults, with each resident size a shared-memory
slot keeps between chunks (`consumer.pool_slots.KEEP_BYTES`).

    .venv/bin/python scripts/bench_pool_slots.py [keep_mib ...]   # default: 4 8

For each size in turn (twice over, alternating, as the host's speed drifts), a fresh pool of two workers
parses the mixed corpus as `secstash bench`'s (c) does, after a warm-up pass over the same events; prints the workers' CPU µs and minor
page faults per document, the best of three passes, and the pipeline process's. A page a slot gave back is
faulted in again, zeroed, by the next result that reaches it. Run from the project root.
"""

from __future__ import annotations

import sys

import psutil

from consumer import corpus, native_path, pool_slots
from consumer.bench import mixed_records, stages
from consumer.bench.workload import Workload
from consumer.pool import IndexNaming, ParserPool, WorkerConfig
from parsers import ParseOptions

PASSES = 3
EVENTS = 60_000


def usage(process: psutil.Process) -> tuple[float, int]:
    """CPU seconds and minor faults of the process."""
    times = process.cpu_times()
    with open(f"/proc/{process.pid}/stat") as stat:  # psutil does not report minor faults
        faults = int(stat.read().rsplit(")", 1)[1].split()[7])
    return times.user + times.system, faults


def measure(keep_mib: int, config: WorkerConfig, loads: list[Workload]) -> dict[str, float]:
    pool_slots.KEEP_BYTES = keep_mib << 20  # read when a pool's slots are made
    pool = ParserPool(config, 2, keep_runs=True)
    me = psutil.Process()
    try:
        for warm in loads:  # every slot each worker will write into is mapped and written once
            stages.parse_pool(pool, warm.wire, warm.events, warm.bare_bytes, 2)
        best: dict[str, float] = {}
        for load in loads:
            workers = me.children(recursive=True)  # the workers, and the idle forkserver
            before = [usage(process) for process in (me, *workers)]
            stages.parse_pool(pool, load.wire, load.events, load.bare_bytes, 2)
            after = [usage(process) for process in (me, *workers)]
            spent = [(a[0] - b[0], a[1] - b[1]) for a, b in zip(after, before)]
            figures = {"worker_us": sum(cpu for cpu, _ in spent[1:]) / load.events * 1e6,
                       "worker_faults": sum(faults for _, faults in spent[1:]) / load.events,
                       "main_us": spent[0][0] / load.events * 1e6, "main_faults": spent[0][1] / load.events}
            if not best or figures["worker_us"] < best["worker_us"]:
                best = figures
        return best
    finally:
        pool.close()


def main(keeps: list[int]) -> None:
    config = WorkerConfig({stages.STREAM: corpus.stream_parsing(stages.STREAM)}, ParseOptions(), IndexNaming(),
                          native_records=native_path.available())
    loads = [mixed_records(EVENTS, 101 + number) for number in range(PASSES)]
    print(f"per document of the mixed corpus, best of {PASSES} passes of {EVENTS:,} events; pool of 2 workers")
    print(f"{'keep MiB':>8}{'workers µs':>12}{'faults':>8}{'pipeline µs':>13}{'faults':>8}")
    for keep in keeps * 2:
        row = measure(keep, config, loads)
        print(f"{keep:>8}{row['worker_us']:>12.2f}{row['worker_faults']:>8.3f}{row['main_us']:>13.2f}"
              f"{row['main_faults']:>8.3f}", flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [4, 8])
