"""Instructions per event of the parse stage (b), for `valgrind --tool=callgrind`: steady whatever the load.

    for m in 0 1; do MEASURE=$m valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python scripts/bench_instructions.py vpcflow 3000 2>&1 | grep Collected; done

(b) per event = (Collected with MEASURE=1 - Collected with MEASURE=0) / events. Both runs build the same
corpora (seed 1 measured, seed 99 warm-up, as `secstash bench` builds them, GeoIP on) and parse the warm-up;
only MEASURE=1 also parses the measured corpus. NATIVE=0 sends every record through the Python parsers (as
`secstash bench --python-only`). Run from the project root (PYTHONPATH=<tree> for another).
"""

from __future__ import annotations

import os
import sys

from consumer import corpus
from consumer.bench import stages, workload
from consumer.pool import IndexNaming, WorkerConfig, tune_gc
from parsers import ParseOptions

GEOIP = os.environ.get("GEOIP_DIR", "../shared/reference/geoip")


def main(name: str, events: int) -> None:
    config = WorkerConfig({stages.STREAM: corpus.stream_parsing(stages.STREAM)}, ParseOptions(geoip_dir=GEOIP),
                          IndexNaming(), native_records=os.environ.get("NATIVE", "1") == "1")
    tune_gc()
    mix = corpus.BENCH_MIX if name == "mixed" else None
    warm = workload.build(name, 2000, 99, mix)
    load = workload.build(name, events, 1, mix)
    stages.parse_one_core(warm.wire, config, warm.events, warm.bare_bytes)
    if os.environ.get("MEASURE") == "1":
        stages.parse_one_core(load.wire, config, load.events, load.bare_bytes)
    print(f"events {load.events}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
