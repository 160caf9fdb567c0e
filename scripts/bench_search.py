#!/usr/bin/env python3
"""Documents per second into Elasticsearch through the SearchSink, at several bulk sizes.

    .venv/bin/python scripts/bench_search.py [--docs 100000] [--sizes 1,5,10] [--heap-mb 1024] [--url URL]

Starts a local Elasticsearch from the integ-test zip (scripts/setup.sh installs it) unless --url names one,
then for each bulk size (MiB of NDJSON per request, `bulk_max_bytes`) sends the same number of CloudTrail-
shaped ECS documents (~1.2 kB each, pre-built: parsing is not measured) into a fresh data stream with the
sink's defaults otherwise (2 concurrent requests, gzip level 1, create with ids, pipeline=_none), and prints
documents/s and MB/s from the first deliver() to the last future resolved. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sinks.batch import BulkItem, Source
from sinks.search.config import SearchSettings
from sinks.search.service import SearchSink

MiB = 1024 * 1024
DATASET = "aws.cloudtrail"
ACTIONS = ["AssumeRole", "GetObject", "PutObject", "DescribeInstances", "ConsoleLogin", "ListBuckets",
           "CreateUser", "AttachRolePolicy", "GetCallerIdentity", "DeleteTrail"]


def document(n: int, namespace: str, rng: random.Random) -> dict[str, Any]:
    action = rng.choice(ACTIONS)
    ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    user = f"user-{rng.randint(0, 500)}"
    return {
        "@timestamp": (datetime(2024, 5, 6, tzinfo=UTC) + timedelta(milliseconds=n * 37)).isoformat(
            timespec="milliseconds"),
        "data_stream": {"type": "logs", "dataset": DATASET, "namespace": namespace},
        "ecs": {"version": "8.11.0"},
        "event": {"dataset": DATASET, "module": "aws", "kind": "event", "action": action,
                  "provider": "iam.amazonaws.com", "outcome": rng.choice(["success", "failure"]),
                  "id": str(uuid.UUID(int=rng.getrandbits(128))), "type": ["info"]},
        "cloud": {"provider": "aws", "region": rng.choice(["eu-west-1", "us-east-1"]),
                  "account": {"id": f"{rng.randint(10**11, 10**12 - 1)}"}},
        "source": {"ip": ip, "address": ip, "as": {"number": rng.randint(1, 65000)},
                   "geo": {"country_iso_code": "SE", "location": {"lat": 58.41, "lon": 15.62}}},
        "user": {"name": user, "id": f"AIDA{rng.getrandbits(40):012X}"},
        "user_agent": {"original": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.amzn.2 prompt/off"},
        "related": {"ip": [ip], "user": [user]},
        "aws": {"cloudtrail": {
            "event_version": "1.08", "event_type": "AwsApiCall", "read_only": action.startswith(("Get", "List")),
            "request_parameters": f"{{roleArn=arn:aws:iam::123456789012:role/r{n % 50}, roleSessionName=s{n}}}",
            "user_identity": {"type": "IAMUser", "arn": f"arn:aws:iam::123456789012:user/{user}",
                              "access_key_id": f"AKIA{rng.getrandbits(64):016X}"},
            "flattened": {"request_parameters": {"roleArn": f"arn:aws:iam::123456789012:role/r{n % 50}",
                                                 "durationSeconds": 3600}},
        }},
        "tags": ["forwarded", "aws-cloudtrail"],
    }


def items(count: int, namespace: str) -> list[BulkItem]:
    rng = random.Random(42)
    return [BulkItem(f"logs-{DATASET}-{namespace}", f"{namespace}-{n:09d}", orjson.dumps(document(n, namespace, rng)),
                     DATASET, Source("bench", "shardId-000000000000", str(n), 0, 0)) for n in range(count)]


class NoDeadLetters:
    def __init__(self) -> None:
        self.count = 0

    def deliver(self, entries: list[Any]) -> Future[None]:
        self.count += len(entries)
        future: Future[None] = Future()
        future.set_result(None)
        return future


class NoStore:
    """Spill is not part of the measurement; a spill here would be a failed run."""

    bucket = "none"
    s3 = None

    def put(self, key: str, body: bytes, **_: Any) -> None:
        raise RuntimeError("the benchmark spilled: the cluster could not keep up for spill_after_s")


def run_one(url: str, size_mib: int, count: int, run_id: str) -> dict[str, float]:
    namespace = f"bench_{run_id}_{size_mib}mb"
    batch = items(count, namespace)
    raw = sum(len(i.body) for i in batch)
    settings = SearchSettings(hosts=[url], bulk_max_bytes=size_mib * MiB, bulk_max_docs=100_000,
                              max_in_flight_bytes=max(64 * MiB, 4 * size_mib * MiB), redrive_spill=False)
    dead = NoDeadLetters()
    sink = SearchSink(settings, dead, NoStore(), "spill", datasets=[DATASET])
    sink.start()
    try:
        started = time.perf_counter()
        futures = [sink.deliver(batch[i:i + 1000]) for i in range(0, len(batch), 1000)]
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
        stats = sink.stats()
    finally:
        sink.close(60)
    return {"size": size_mib, "docs": count, "seconds": elapsed, "docs_s": count / elapsed,
            "mb_s": raw / MiB / elapsed, "requests": stats.bulk_requests, "retried": stats.retried,
            "dead": dead.count, "avg_doc": raw / count}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000, help="documents per bulk size")
    parser.add_argument("--sizes", default="1,5,10", help="bulk sizes in MiB, comma separated")
    parser.add_argument("--heap-mb", type=int, default=1024, help="heap of the local Elasticsearch")
    parser.add_argument("--url", help="an Elasticsearch to use instead of starting one (no auth)")
    args = parser.parse_args()
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    engine = None
    url = args.url
    if url is None:
        from consumer.embedded.search_engine import SearchEngine

        engine = SearchEngine("elasticsearch", heap_mb=args.heap_mb).start()
        url = engine.url
        print(f"Elasticsearch {engine.version} at {url}, heap {args.heap_mb} MB", file=sys.stderr)
    run_id = uuid.uuid4().hex[:6]
    try:
        rows = [run_one(url, int(size), args.docs, run_id) for size in args.sizes.split(",")]
    finally:
        if engine is not None:
            engine.stop()
    print(f"{'bulk':>6} {'docs':>8} {'seconds':>8} {'docs/s':>8} {'MB/s':>6} {'requests':>8} {'retried':>7}")
    for row in rows:
        print(f"{row['size']:>4}MB {row['docs']:>8} {row['seconds']:>8.1f} {row['docs_s']:>8.0f} "
              f"{row['mb_s']:>6.1f} {row['requests']:>8} {row['retried']:>7}")
    print(f"average document {rows[0]['avg_doc']:.0f} bytes of JSON; 2 concurrent requests, gzip level 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
