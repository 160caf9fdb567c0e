"""The floor: the least work that reads and writes every field of each event.

JSON events are decoded and encoded again with orjson; line events are split into their fields and the
list of fields is encoded with orjson. No parser can do less and still look at every field, so the parse
stage is reported as a fraction of this.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson

from consumer.bench.stages import Timing
from consumer.bench.workload import BareEvent, Workload


def run(events: Sequence[BareEvent]) -> int:
    """Do the floor's work on `events`; returns the bytes written (so nothing is optimised away)."""
    loads, dumps = orjson.loads, orjson.dumps
    written = 0
    for separator, text in events:
        if separator is None:
            written += len(dumps(loads(text)))
        else:
            written += len(dumps(text.split(separator)))
    return written


def timed(events: Sequence[BareEvent]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one pass."""
    wall, cpu = time.perf_counter(), time.process_time()
    run(events)
    return time.perf_counter() - wall, time.process_time() - cpu


def timed_pass(load: Workload, repeats: int = 3) -> Timing:
    """The floor on a workload's bare events: best of a few runs (it has no caches to warm)."""
    walls, cpus = zip(*(timed(load.bare) for _ in range(repeats)))
    return Timing(load.events, load.bare_bytes, min(walls), min(cpus))
