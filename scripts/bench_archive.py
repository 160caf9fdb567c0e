#!/usr/bin/env python3
"""Archive figures: throughput (MB/s), compression ratio on a mixed corpus, and `verify` seconds per GB.

    .venv/bin/python scripts/bench_archive.py [--megabytes 128] [--shards 4] [--batch-records 500]

Runs against a moto server it starts (S3 with Object Lock, KMS) on this machine, so the end-to-end figure is
bounded by moto's in-memory S3 on loopback, not by AWS; the encode-only figure is the archive's own CPU cost
(NDJSON + gzip) per core. Prints figures only: nothing here asserts a time.

The mixed corpus: every raw line of the shared Elastic AWS fixtures (CloudTrail, VPC Flow Logs, ELB, S3
access, CloudFront, WAF, GuardDuty, Route 53, ...), digits re-drawn per record so no two records repeat, with a
third of the records sent as CloudWatch Logs subscription envelopes (gzip JSON, ten events each), as they
arrive on Kinesis in practice. Sizes are payload bytes as Kinesis carries them (before base64).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import random
import re
import sys
import time
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consumer.embedded.moto_server import MotoServer
from sinks import aws
from sinks.compress import DEFAULT_LEVEL, gzip_bytes
from sinks.archive import ArchiveSettings, ArchiveSink, Verifier
from sinks.archive.encode import plan_objects
from sinks.batch import RawRecord, RecordBatch
from sinks.s3store import LockedObjectStore

FIXTURES = ROOT.parent / "shared" / "fixtures" / "elastic-aws"
MB = 1_000_000


def fixture_lines() -> list[bytes]:
    lines = [line for path in sorted(FIXTURES.glob("*/*/*.log")) for line in path.read_bytes().splitlines()
             if line.strip()]
    if not lines:
        sys.exit(f"no fixtures under {FIXTURES}: the mixed corpus needs ../shared")
    return lines


def corpus(total_bytes: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    lines = fixture_lines()
    digit = re.compile(rb"\d")
    out, size, n = [], 0, 0

    def fresh() -> bytes:
        line = rng.choice(lines)
        return digit.sub(lambda _: b"%d" % rng.randrange(10), line)

    while size < total_bytes:
        if n % 3 == 2:
            events = [{"id": str(rng.getrandbits(60)), "timestamp": 1_700_000_000_000 + n, "message": fresh().decode(
                "utf-8", "replace")} for _ in range(10)]
            payload = gzip.compress(orjson.dumps({
                "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/bench",
                "logStream": f"stream-{n % 7}", "subscriptionFilters": ["all"], "logEvents": events}))
        else:
            payload = fresh()
        out.append(payload)
        size += len(payload)
        n += 1
    return out


def batches(payloads: list[bytes], shards: int, per_batch: int) -> list[RecordBatch]:
    out = []
    t0 = int(time.time() * 1000) - 3_600_000
    for shard in range(shards):
        mine = payloads[shard::shards]
        for start in range(0, len(mine), per_batch):
            chunk = mine[start:start + per_batch]
            out.append(RecordBatch("bench", f"shardId-{shard:012d}", tuple(
                RawRecord(str(49_650_000_000_000_000_000_000_000_000_000_000_000_000_000_000 + (start + i) * 10), 0,
                          t0 + start + i, f"pk-{i % 16}", base64.b64encode(p).decode())
                for i, p in enumerate(chunk))))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=128, help="payload MB to archive (default 128)")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--batch-records", type=int, default=500, help="records per KCL batch (default 500)")
    parser.add_argument("--level", type=int, default=DEFAULT_LEVEL,
                        help=f"ISA-L gzip level 0-3 (default {DEFAULT_LEVEL}, the setting's default)")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

    payloads = corpus(int(args.megabytes * MB))
    work = batches(payloads, args.shards, args.batch_records)
    raw = sum(b.raw_bytes for b in work)
    plain = [p for i, p in enumerate(payloads) if i % 3 != 2]
    enveloped = [p for i, p in enumerate(payloads) if i % 3 == 2]
    print(f"corpus: {len(payloads)} records, {raw / MB:.1f} MB payload ({sum(map(len, plain)) / MB:.1f} MB plain "
          f"lines, {sum(map(len, enveloped)) / MB:.1f} MB CloudWatch Logs envelopes), {len(work)} batches "
          f"over {args.shards} shards")

    started = time.perf_counter()
    encoded = [plan_objects("archive", b.stream, b.shard, b.records, 64 * 1024 * 1024, args.level) for b in work]
    encode_s = time.perf_counter() - started
    stored = sum(len(o.body) for objs in encoded for o in objs)
    ndjson = sum(o.ndjson_bytes for objs in encoded for o in objs)
    print(f"encode only (NDJSON + gzip -{args.level}, one core): {raw / MB / encode_s:.1f} MB/s of payload")
    print(f"compression: payload {raw / MB:.1f} MB -> stored {stored / MB:.1f} MB = ratio {raw / stored:.2f}:1 "
          f"(NDJSON with base64 {ndjson / MB:.1f} MB -> {ndjson / stored:.2f}:1)")
    for name, part in (("plain lines", plain), ("CloudWatch Logs envelopes", enveloped)):
        size = sum(map(len, part))
        packed = len(gzip_bytes(b"".join(base64.b64encode(p) + b"\n" for p in part), args.level))
        as_text = len(gzip_bytes(b"".join(p + b"\n" for p in part), args.level))
        print(f"  {name}: ratio {size / packed:.2f}:1 (if stored as text instead of base64: {size / as_text:.2f}:1)")
    del encoded

    with MotoServer() as server:
        s3 = aws.client("s3", "us-east-1", server.endpoint)
        kms = aws.client("kms", "us-east-1", server.endpoint)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        settings = ArchiveSettings(bucket=bucket, kms_key_id=key, retention_days=1, compression_level=args.level,
                                   upload_concurrency=max(4, args.shards))
        store = LockedObjectStore(s3, bucket, kms_key_id=key, retention_days=1,
                                  multipart_threshold=settings.multipart_threshold_bytes)
        sink = ArchiveSink(settings, store, s3, kms=kms)
        sink.start()
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
        started = time.perf_counter()
        # one batch in flight per shard, as the KCL processors do: each waits for its batch before the next
        by_shard: dict[str, list[RecordBatch]] = {}
        for b in work:
            by_shard.setdefault(b.shard, []).append(b)
        while any(by_shard.values()):
            futures = [sink.deliver(q.pop(0)) for q in by_shard.values() if q]
            for future in futures:
                future.result()
        archive_s = time.perf_counter() - started
        sink.close(30)
        print(f"archive to moto S3 (SSE-KMS, checksum, COMPLIANCE lock, manifest entry per object, {args.shards} "
              f"shards in parallel): {raw / MB / archive_s:.1f} MB/s of payload ({archive_s:.1f} s)")

        report = Verifier(s3, bucket, workers=8).run()
        gigabytes = report.bytes_read / 1e9
        print(f"verify: {report.objects} objects, {report.manifests} entries, {report.bytes_read / MB:.1f} MB read "
              f"in {report.seconds:.2f} s = {report.seconds / gigabytes:.1f} s/GB stored "
              f"({report.seconds / (raw / 1e9):.1f} s per GB of payload); clean={report.clean}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
