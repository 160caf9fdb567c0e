"""`secstash replay --from s3://B/P --since T --until T --config F`: re-parse archived records into the search
target, with the live pipeline's document ids, a progress bar and a rate limit.

Into the live namespace, documents already indexed stay as they are (409s, counted). To rebuild after a parser
or mapping change, give `--namespace NEW` (documents go to `logs-<dataset>-NEW`), check it, then switch
readers over. Run `secstash verify` on the range first: replay reads every object under the prefix.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from consumer import logs
from sinks.archive import reader
from sinks.archive.replay import RateLimiter, Replayer, ReplayReport
from sinks.batch import BulkItem
from sinks.errors import SinkError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, help="s3://BUCKET/PREFIX of the archive")
    parser.add_argument("--since", required=True, help="arrival time, inclusive: ISO 8601 or an age (24h, 7d)")
    parser.add_argument("--until", required=True, help="arrival time, exclusive: ISO 8601 or an age")
    parser.add_argument("--stream", help="only this stream: its key (`id`, or else its name), or a stream name only "
                                         "one configured stream has")
    parser.add_argument("--dataset", action="append", help="only documents of this dataset (repeatable)")
    parser.add_argument("--namespace", help="send documents to this data stream namespace instead")
    parser.add_argument("--config", "-c", required=True, help="settings YAML: search target, parsing, AWS")
    parser.add_argument("--rate", type=float, default=5000.0, help="documents per second at most (0: no limit)")
    parser.add_argument("--workers", type=int, default=0, help="parser processes (0: parse in this process)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--dry-run", action="store_true", help="parse but send nothing; count documents")


class _Discard:
    def deliver(self, items: Sequence[BulkItem]) -> Future[Any]:
        done: Future[Any] = Future()
        done.set_result({"created": len(items), "conflicts": 0})
        return done


def _source(text: str) -> tuple[str, str]:
    if not text.startswith("s3://"):
        raise ValueError(f"--from must be s3://BUCKET/PREFIX, not {text!r}")
    bucket, _, prefix = text[5:].partition("/")
    if not bucket:
        raise ValueError("--from names no bucket")
    return bucket, prefix.strip("/") or "archive"


def run(args: argparse.Namespace) -> int:
    from consumer import settings as settings_module
    from consumer.pool import IndexNaming, ParserPool, WorkerConfig, parse_chunk
    from parsers import StreamParsing, registry
    from sinks import aws

    logs.configure("warning")
    try:
        s = settings_module.load(args.config)
        bucket, prefix = _source(args.source)
        since, until = reader.parse_time(args.since), reader.parse_time(args.until)
        stream = s.stream_key(args.stream) if args.stream else None  # the archive is keyed by stream key
        datasets = None
        if args.dataset:
            known = {spec: spec for spec in registry.names()}
            known.update({registry.get(n).event_dataset: n for n in registry.names()})
            unknown = [d for d in args.dataset if d not in known]
            if unknown:
                raise ValueError(f"unknown dataset {', '.join(unknown)}; known: {', '.join(registry.names())}")
            datasets = frozenset(known[d] for d in args.dataset)
    except Exception as exc:  # noqa: BLE001 - settings and argument errors: say what is wrong, exit 2
        print(f"secstash replay: {exc}", file=sys.stderr)
        return 2
    logs.configure("warning", secrets=logs.secrets_in(s))

    parsing = {st.key: st.parsing(s.filters) for st in s.streams}
    if args.namespace:
        parsing = {key: dataclasses.replace(p, namespace=args.namespace) for key, p in parsing.items()}
        if stream and stream not in parsing:
            parsing[stream] = StreamParsing(stream=stream, namespace=args.namespace)
    config = WorkerConfig(
        parsing=parsing,
        options=s.pipeline.parse_options(),
        naming=IndexNaming() if s.search.data_streams else IndexNaming(s.search.index_pattern),
        objects=s.object_access(), parse_timeout_s=s.pipeline.parse_timeout_s)
    pool = ParserPool(config, args.workers) if args.workers > 0 else None

    def parse(stream: str, shard: str, records: Sequence[Sequence[Any]]) -> Any:
        return pool.parse(stream, shard, records) if pool else parse_chunk(stream, shard, records, config)

    s3 = aws.client("s3", s.aws.region, s.aws.endpoint("s3"))
    try:
        target, closers = _target(args, s, s3)
    except SinkError as exc:  # the archive bucket or the search target is unusable as configured
        print(f"secstash replay: {exc}", file=sys.stderr)
        return 2
    try:
        replayer = Replayer(s3, bucket, prefix, parse, target, RateLimiter(args.rate or None), datasets,
                            manifest_prefix=s.archive.manifest_prefix)
        plan = replayer.plan(stream, since, until)
        bar = _progress(sum(o.size for o in plan), args.no_progress)
        if bar is not None:
            replayer.progress = lambda size, report: (bar.update(size), bar.set_postfix(
                docs=report.documents, conflicts=report.conflicts, dups=report.duplicate_records, refresh=False))
        try:
            report = replayer.run(plan, since, until)
        finally:
            if bar is not None:
                bar.close()
    except Exception as exc:  # noqa: BLE001 - report how far we got, exit 1
        print(f"secstash replay: stopped: {type(exc).__name__}: {logs.scrub(str(exc))}", file=sys.stderr)
        return 1
    finally:
        for close in closers:
            close()
        if pool:
            pool.close()
    print(render(report, bucket, prefix))
    return 0


def _target(args: argparse.Namespace, s: Any, s3: Any) -> tuple[Any, list[Any]]:
    if args.dry_run:
        return _Discard(), []
    from sinks.deadletter import DeadLetterSink
    from sinks.s3store import LockedObjectStore
    from sinks.search.service import SearchSink

    store = LockedObjectStore(s3, s.archive.bucket, kms_key_id=s.archive.kms_key_id,
                              retention_days=s.archive.retention_days,
                              multipart_threshold=s.archive.multipart_threshold_bytes)
    store.check_encryption()  # dead letters and spilled batches go to the archive bucket: SSE-KMS too
    dead_letters = DeadLetterSink(store, s.archive.dead_letter_prefix)
    search = SearchSink(s.search, dead_letters, store, s.archive.spill_prefix)
    search.start()
    return search, [lambda: search.close(60.0), lambda: dead_letters.close(60.0)]


def _progress(total: int, disabled: bool) -> Any:
    if disabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="replay", file=sys.stderr,
                disable=None)  # None: off when stderr is not a terminal


def render(report: ReplayReport, bucket: str, prefix: str) -> str:
    return (f"replay of s3://{bucket}/{prefix}: {report.objects} objects, {report.bytes_read / 1024 ** 2:.1f} MiB, "
            f"{report.records} records ({report.duplicate_records} duplicates skipped, "
            f"{report.out_of_range_records} outside the range), {report.documents} documents: "
            f"{report.created} created, {report.conflicts} already there (409), {report.dead_lettered} "
            f"dead-lettered; {report.parse_failures} parse failures, {report.skipped_documents} of other "
            f"datasets; {report.seconds:.1f} s")
