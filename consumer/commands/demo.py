"""`secstash demo`: the whole pipeline on a laptop, no AWS account.

Starts moto server, kinesis-local and Elasticsearch (or OpenSearch), creates a 2-shard stream, an Object
Lock bucket and a KMS key, puts sample events of every supported source packed as AWS packs them (plus a
few broken and intentionally dropped ones, to show where they go, and an S3 notification pointing at an ALB
log file in a bucket, as ALB delivers its logs), runs the real pipeline (KCL daemon,
parser pool, sinks) and prints what arrived where. The last line of the summary is

    demo: records_in=<n> events_in=<n> indexed=<n> dropped=<n> dead_lettered=<n> archived_records=<n>

where `indexed` is counted in the search engine, `dead_lettered` in the archive bucket's dead-letter
prefix and `archived_records` in the archive itself, so events_in = indexed + dropped + dead_lettered and
archived_records = records_in hold only if nothing was lost. Without `--once` it keeps running (and keeps
the URLs up) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import gzip
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from consumer import corpus, logs

STREAM = "secstash-demo"
BUCKET = "secstash-demo-archive"
LOG_BUCKET = "secstash-demo-alb-logs"
LOG_KEY = ("AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/11/01/123456789012_elasticloadbalancing_"
           "us-east-1_app.demo.0123456789abcdef_20261101T0005Z_10.0.0.1_demo.log.gz")
LOG_LINES = 25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=2000, help="sample events to put (default 2000)")
    parser.add_argument("--once", action="store_true", help="exit after the summary")
    parser.add_argument("--search", choices=["elasticsearch", "opensearch"], default="elasticsearch")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for delivery")
    parser.add_argument("--workdir", type=Path, help="keep emulator data and logs here")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def special_records() -> list[corpus.KinesisRecord]:
    """What a real stream also carries: a CloudWatch Logs control message (a counted drop, not an event),
    a record that is not valid gzip (dead-lettered whole), an event that is not JSON inside a valid
    envelope (dead-lettered), and a CloudFront header line (an intentional, counted drop)."""
    control = gzip.compress(orjson.dumps({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
                                          "logGroup": "", "logStream": "", "subscriptionFilters": [],
                                          "logEvents": [{"id": "", "timestamp": 0,
                                                         "message": "CWL CONTROL MESSAGE: Checking health of "
                                                                    "destination Kinesis stream."}]}), mtime=0)
    broken_gzip = b"\x1f\x8b\x08\x00" + b"\x00" * 12 + b"not really gzip"
    bad_event = gzip.compress(orjson.dumps({"messageType": "DATA_MESSAGE", "owner": "123456789012",
                                            "logGroup": "aws-cloudtrail-logs-123456789012-org",
                                            "logStream": "123456789012_CloudTrail_us-east-1",
                                            "subscriptionFilters": ["secstash"],
                                            "logEvents": [{"id": "1", "timestamp": 1793491200000,
                                                           "message": '{"eventVersion": "1.09", "truncat'}]}), mtime=0)
    header = b"#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method\n"
    return [corpus.KinesisRecord("control", control, "control", 0),
            corpus.KinesisRecord("broken", broken_gzip, "broken", 1),
            corpus.KinesisRecord("bad-event", bad_event, "cloudtrail", 1),
            corpus.KinesisRecord("header", header, "cloudfront_logs", 2)]


def log_object_record(sandbox: Any, seed: int) -> corpus.KinesisRecord:
    """An ALB log file written to a bucket, as ALB delivers its logs, and the S3 notification of it that
    reaches the stream: secstash reads the file and indexes its lines."""
    sandbox.create_bucket(LOG_BUCKET, object_lock=False, retention_days=None)
    lines = "\n".join(corpus.events("elb_logs", LOG_LINES, seed=seed)) + "\n"
    body = gzip.compress(lines.encode(), mtime=0)
    sandbox.client("s3").put_object(Bucket=LOG_BUCKET, Key=LOG_KEY, Body=body)
    notification = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                                 "eventName": "ObjectCreated:Put",
                                 "s3": {"bucket": {"name": LOG_BUCKET}, "object": {"key": LOG_KEY, "size": len(body)}}}]}
    return corpus.KinesisRecord("s3-pointer", orjson.dumps(notification), "elb_logs", LOG_LINES)


def run(args: argparse.Namespace) -> int:
    logs.configure("warning")
    from consumer.runtime import App
    from consumer.sandbox import Sandbox, wait_for

    _say(f"starting moto server, kinesis-local and {args.search} ...")
    sandbox = Sandbox(workdir=args.workdir or Path(__import__("tempfile").mkdtemp(prefix="secstash-demo-")),
                      search_kind=args.search)
    sandbox.start()
    app: App | None = None
    try:
        sandbox.create_stream(STREAM, args.shards)
        key_id = sandbox.create_key()
        sandbox.create_bucket(BUCKET, object_lock=True, retention_days=1, kms_key_id=key_id)
        # The stream lists the one log bucket its notifications may point at, as a deployment should.
        # ... and claims the log groups of its own naming the sample flow and query logs come from.
        settings = sandbox.settings([{"name": STREAM, "labels": {"project": "demo", "environment": "local"},
                                      "s3_objects": {"buckets": [LOG_BUCKET]},
                                      "detection": list(corpus.DETECTION)}], BUCKET, key_id)
        app = App(settings)
        app.start()
        records = list(corpus.records(args.events, seed=args.seed, mix=corpus.EVEN_MIX)) + special_records()
        records.append(log_object_record(sandbox, args.seed))
        _say(f"putting {len(records)} records ({args.events} generated events, a few broken ones and a pointer "
             f"to an ALB log file of {LOG_LINES} lines) ...")
        put_started = time.time()
        put = sandbox.put_records(STREAM, records)
        _say(f"put {put} records in {time.time() - put_started:.1f}s; waiting for delivery ...")
        wait_for(lambda: app.totals.records >= put, args.timeout, interval=0.5,
                 what=f"{put} records to be delivered (got {app.totals.records})")
        summary = summarize(sandbox, app, put)
        for line in summary:
            print(line, flush=True)
        if args.once:
            return 0 if _balanced(summary[-1]) else 1
        _say(f"metrics: http://127.0.0.1:{settings.metrics.port}/metrics   search: {sandbox.search.url}   "
             f"(Ctrl-C to stop)")
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        return 0
    finally:
        if app is not None:
            app.stop()
        sandbox.stop()


def summarize(sandbox: Any, app: Any, records_in: int) -> list[str]:
    search = sandbox.search
    search.request("POST", "/logs-*/_refresh")
    status, body = search.request("POST", "/logs-*/_search", {
        "size": 0, "track_total_hits": True, "aggs": {"by": {"terms": {"field": "data_stream.dataset", "size": 100}}}})
    indexed = body["hits"]["total"]["value"] if status == 200 else 0
    per_dataset = {b["key"]: b["doc_count"] for b in body.get("aggregations", {}).get("by", {}).get("buckets", [])}
    s3 = sandbox.client("s3")
    archived = _count_lines(s3, BUCKET, app.settings.archive.prefix + "/", unique=True)
    objects = archived.pop("__objects__")
    dead = _count_lines(s3, BUCKET, app.settings.archive.dead_letter_prefix + "/", unique=False)
    dead.pop("__objects__")
    latencies = sorted(app.latencies)
    totals = app.totals
    lines = ["", "documents indexed per dataset:"]
    lines += [f"  {name:<32} {count:>8}" for name, count in sorted(per_dataset.items())]
    lines += [f"archive: {objects} objects holding {archived['records']} records; "
              f"dead letters: {dead['records']}",
              f"S3 log objects read for notifications: {_objects_read():.0f}",
              f"end-to-end latency (Kinesis arrival to delivered): p50={_pct(latencies, 50):.2f}s "
              f"p99={_pct(latencies, 99):.2f}s",
              f"demo: records_in={records_in} events_in={totals.events} indexed={indexed} "
              f"dropped={totals.dropped_events} dead_lettered={dead['records']} archived_records={archived['records']}"]
    return lines


def _objects_read() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("secstash_s3_objects_read_total", {"stream": STREAM}) or 0.0


def _count_lines(s3: Any, bucket: str, prefix: str, unique: bool) -> Counter[str]:
    counts: Counter[str] = Counter()
    seen: set[tuple[str, str, int]] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".ndjson.gz"):
                continue
            counts["__objects__"] += 1
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            for line in body.splitlines():
                if not line:
                    continue
                if unique:
                    entry = orjson.loads(line)
                    seen.add((entry.get("shard"), entry.get("sequence"), entry.get("sub_sequence", 0)))
                else:
                    counts["records"] += 1
    if unique:
        counts["records"] = len(seen)
    counts.setdefault("records", 0)
    counts.setdefault("__objects__", 0)
    return counts


def _pct(values: list[float], pct: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _balanced(line: str) -> bool:
    fields = dict(part.split("=") for part in line.split()[1:])
    n = {k: int(v) for k, v in fields.items()}
    return (n["events_in"] == n["indexed"] + n["dropped"] + n["dead_lettered"]
            and n["archived_records"] == n["records_in"] and n["indexed"] > 0)
