#!/usr/bin/env python3
"""Log objects read through S3 notifications: what following a pointer costs next to the same lines on the
stream.

    .venv/bin/python scripts/bench_objects.py [--objects 200] [--lines 500] [--passes 3]

Puts `--objects` gzip ALB log files of `--lines` lines each into a moto server it starts, then parses, on one
core (`consumer.pool.parse_chunk`, as a parser worker does):
  pointers  one S3 notification record per file: read the object from moto, gunzip, parse every line
  lines     the same lines as plain-line records put on the stream directly (no S3 read)
and prints events/s, objects/s and MB/s (of the files' decompressed lines) for each, best of `--passes`; then
the most Python memory one pass over the pointers held (`--objects 1 --lines 100000`: one large file).
moto's in-memory S3 on loopback stands in for S3, so `pointers` measures the reader's own cost per object
(request, body, gunzip), not S3's latency, which in a region adds tens of milliseconds per GET (the pool's
workers read in parallel, one object at a time each). Prints figures only.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consumer import corpus
from consumer.embedded.moto_server import MotoServer
from consumer.objects import ObjectAccess
from consumer.pool import WorkerConfig, parse_chunk
from parsers import ParseOptions
from sinks import aws

STREAM = "bench-objects"
KEY = ("AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/11/01/123456789012_elasticloadbalancing_"
       "us-east-1_app.bench.0123456789abcdef_20261101T{n:04d}Z_10.0.0.1_{n}.log.gz")


def wire(payload: bytes, number: int) -> list:
    return [str(49_650_000_000_000_000_000 + number), 0, 1_793_491_200_000 + number, "pk",
            base64.b64encode(payload).decode()]


def notification(bucket: str, key: str, size: int) -> bytes:
    return orjson.dumps({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                                      "eventName": "ObjectCreated:Put",
                                      "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size}}}]})


def best(run, passes: int) -> tuple[float, int]:
    timings = []
    documents = 0
    for _ in range(passes):
        started = time.perf_counter()
        parsed = run()
        timings.append(time.perf_counter() - started)
        documents = len(parsed.items)
        assert not parsed.dead_letters, parsed.dead_letters[:1]
    return min(timings), documents


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    with MotoServer() as moto:
        s3 = aws.client("s3", "us-east-1", moto.endpoint)
        bucket = f"alb-logs-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        lines = corpus.events("elb_logs", args.objects * args.lines, seed=3)
        pointers, plain, raw_bytes, stored = [], [], 0, 0
        for n in range(args.objects):
            text = "\n".join(lines[n * args.lines:(n + 1) * args.lines]) + "\n"
            body = gzip.compress(text.encode(), 6)
            key = KEY.format(n=n)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            pointers.append(wire(notification(bucket, key, len(body)), n))
            plain.append(wire(text.encode(), n))
            raw_bytes += len(text.encode())
            stored += len(body)
        access = ObjectAccess(region="us-east-1", max_bytes=512 << 20, s3_endpoint=moto.endpoint)
        config = WorkerConfig(parsing={}, options=ParseOptions(), objects={STREAM: access})
        parse_chunk(STREAM, "shardId-0", pointers[:5], config)  # warm: the client, the regexes
        events = args.objects * args.lines
        print(f"{args.objects} ALB log files x {args.lines} lines: {raw_bytes / 1e6:.1f} MB of lines, "
              f"{stored / 1e6:.1f} MB gzip in moto; one core, best of {args.passes}")
        for name, records in (("pointers", pointers), ("lines", plain)):
            seconds, documents = best(lambda r=records: parse_chunk(STREAM, "shardId-0", r, config), args.passes)
            assert documents == events, (name, documents, events)
            print(f"  {name:<9} {events / seconds:>9,.0f} events/s  {args.objects / seconds:>7,.1f} objects/s  "
                  f"{raw_bytes / seconds / 1e6:>6.1f} MB/s  ({seconds:.2f} s)")
        # One more (untimed) pass over the pointers under tracemalloc: the most Python memory the reads,
        # documents and bulk items of one chunk held at once, over what the process held before it.
        tracemalloc.start()
        parsed = parse_chunk(STREAM, "shardId-0", pointers, config)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        bodies = sum(len(item.body) for item in parsed.items)
        print(f"  pointers: peak Python memory {peak / 1e6:,.0f} MB while parsing (tracemalloc), for "
              f"{raw_bytes / 1e6:,.1f} MB of lines and {bodies / 1e6:,.1f} MB of document bodies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
