"""`secstash bench`: throughput against the floor, scaling over cores, the whole pipeline, peak memory.

Measures on a seeded mixed corpus (CloudTrail 50 %, VPC Flow 30 %, ALB 10 %, every other source 10 %, packed
as each arrives) and prints per dataset (a) the floor and (b) the parse stage on one core, then on the mixed
corpus (c) the parse stage on the pool, (d) the whole pipeline with sinks that build real request and archive
bytes and drop them, with the peak RSS of the Python processes under a backlog of a million events, and with
`--e2e` (e) end to end through kinesis-local, the KCL daemon and a local search engine. The last line is

    bench: floor=<events/s> parse1=<events/s> parseN=<events/s> pipeline=<events/s> rss_mb=<n>

`--quick` runs (a) to (d) on smaller corpora (a backlog of 100,000 events) in under a minute.
docs/performance.md explains the figures and keeps the latest ones.
"""

from __future__ import annotations

import argparse
import sys

from consumer import corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="(a) to (d) on small corpora, in under a minute")
    parser.add_argument("--e2e", action="store_true",
                        help="also (e): kinesis-local, KCL and a search engine (minutes)")
    parser.add_argument("--e2e-events", type=int, default=100_000, help="events for (e) (default 100000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, help="pool workers (default: one per core)")
    parser.add_argument("--geoip-dir", help="folder with MaxMind City/ASN .mmdb files (default: no GeoIP)")
    parser.add_argument("--dataset", action="append", choices=sorted(corpus.SOURCES), dest="datasets",
                        help="measure (a) and (b) for this dataset only (repeatable; default: every one)")
    parser.add_argument("--events", type=int, help="events per dataset for (a) and (b)")
    parser.add_argument("--mixed-events", type=int, help="events of the mixed corpus for (a) to (d)")
    parser.add_argument("--backlog-events", type=int, help="events of the backlog run (default 1000000)")
    parser.add_argument("--passes", type=int, help="passes per stage, the best counts (default 3; --quick 2)")
    parser.add_argument("--rounds", type=int,
                        help="rounds of (b), (c) and (d) of the mixed corpus, whose ratios' medians the targets take "
                             "(default 7; --quick 3)")
    parser.add_argument("--python-only", action="store_true",
                        help="every record through the Python parsers, not the compiled record path")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")


def run(args: argparse.Namespace) -> int:
    from consumer import logs
    from consumer.bench import Plan, render
    from consumer.bench import run as measure

    logs.configure("warning")
    overrides: dict[str, object] = {"seed": args.seed, "workers": args.workers, "geoip_dir": args.geoip_dir,
                                    "native": not args.python_only}
    for key, value in (("datasets", tuple(args.datasets or ())), ("dataset_events", args.events),
                       ("mixed_events", args.mixed_events), ("backlog_events", args.backlog_events),
                       ("passes", args.passes), ("rounds", args.rounds)):
        if value:
            overrides[key] = value
    if args.e2e:
        overrides["e2e_events"] = args.e2e_events
    plan = Plan.quick(**overrides) if args.quick else Plan(**overrides)  # type: ignore[arg-type]
    results = measure(plan, progress=lambda step: print(f"bench: {step} ...", file=sys.stderr, flush=True))
    print(render(results), flush=True)
    if args.check and not all(ok for _, ok in results.checks()):
        return 1
    return 0
