"""`secstash redrive`: send dead-lettered or spilled documents to Elasticsearch/OpenSearch again.

    secstash redrive --config settings.yml [--dead-letter | --parse | --spill] [--since 2024-05-01T00:00Z]

--dead-letter  documents the cluster refused (index stage of the dead-letter prefix), once their cause is
               fixed (a mapping changed and the data stream rolled over, a field limit raised...). A
               document refused again is reported, not dead-lettered a second time.
--parse        records whose parsing failed, in part or whole (parse stage: a bad event or line, a log object
               that could not be read, the `too_many_objects`/`too_many_events` caps...), once their cause is
               fixed (a parser, a permission, a cap raised): each record named is read from the archive and
               parsed again with the settings given, as `secstash replay` does, and all its documents are
               sent; those indexed before answer 409. What fails again is reported, not dead-lettered again.
--spill        spilled batches not yet redriven, oldest first, each marked done once delivered (what the
               daemon's background redrive does; useful when that is turned off).
Neither flag: --dead-letter and --spill, and a count of the parse-stage dead letters left for --parse.
Deterministic ids and `create` make every run harmless to repeat: documents already indexed answer 409 and
count as delivered. Dead letters are never deleted (the bucket locks them); `--since` skips older ones.
Exit status 0 when everything was delivered, 1 when documents were refused again or could not be sent, or
(--parse) records failed again or are not in the archive, 2 for unusable settings.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from consumer import logs
from sinks.archive.replay import Records
from sinks.batch import BulkItem, DeadLetter, Position
from sinks.errors import SinkError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="settings file (YAML)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--dead-letter", action="store_true", help="only documents the cluster refused")
    which.add_argument("--parse", action="store_true",
                       help="only records whose parsing failed: parse them again from the archive")
    which.add_argument("--spill", action="store_true", help="only spilled batches")
    parser.add_argument("--since", type=_when, default=None,
                        help="only what was written on or after this UTC time (ISO 8601: 2024-05-01 or "
                             "2024-05-01T12:00:00Z)")
    parser.add_argument("--workers", type=int, default=0,
                        help="--parse: parser processes (0: parse in this process)")


def _when(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Refusals:
    """Stands in for the dead-letter sink while redriving dead letters: a document refused again is counted
    and reported, not written to the dead-letter prefix a second time. Spilled documents refused for the
    first time go to the real dead-letter sink."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.redriven: set[tuple[str, str]] = set()
        self.again: list[DeadLetter] = []

    def deliver(self, entries: Sequence[DeadLetter]) -> Future[None]:
        first_time = [e for e in entries if (e.index, e.id) not in self.redriven]
        self.again.extend(e for e in entries if (e.index, e.id) in self.redriven)
        if first_time:
            return self._real.deliver(first_time)
        done: Future[None] = Future()
        done.set_result(None)
        return done


def items_from(letters: Iterable[DeadLetter]) -> Iterable[BulkItem]:
    """Index-stage dead letters as bulk items (parse-stage ones are redriven by parsing their records again)."""
    for letter in letters:
        item = _item(letter) if letter.stage == "index" else None
        if item is not None:
            yield item


def run(args: argparse.Namespace) -> int:
    from consumer.settings import SettingsError, load
    from sinks import aws
    from sinks.deadletter import DeadLetterSink, iter_dead_letters
    from sinks.s3store import LockedObjectStore
    from sinks.search.service import SearchSink
    from sinks.search.spill import Redriver, SpillStore

    try:
        settings = load(args.config)
    except SettingsError as exc:
        print(f"secstash redrive: {exc}", file=sys.stderr)
        return 2
    # Before any sink exists: their log lines and errors may carry hosts and credentials.
    logs.configure("warning", secrets=logs.secrets_in(settings))
    do_dead = args.dead_letter or not (args.spill or args.parse)
    do_spill = args.spill or not (args.dead_letter or args.parse)
    archive = settings.archive
    s3 = aws.client("s3", settings.aws.region, settings.aws.endpoint("s3"))
    store = LockedObjectStore(s3, archive.bucket, kms_key_id=archive.kms_key_id,
                              retention_days=archive.retention_days,
                              multipart_threshold=archive.multipart_threshold_bytes)
    dead_letters = DeadLetterSink(store, archive.dead_letter_prefix)
    refusals = _Refusals(dead_letters)
    search = settings.search.model_copy(update={"redrive_spill": False})
    sink = SearchSink(search, refusals, store, archive.spill_prefix, s3=s3)
    try:
        store.check_encryption()  # refused dead letters and spilled batches are written back: SSE-KMS too
        sink.start()
    except SinkError as exc:
        print(f"secstash redrive: {logs.scrub(str(exc))}", file=sys.stderr)
        return 2
    failures = 0
    try:
        if sink.server is None:
            print(f"secstash redrive: {logs.scrub(str(search.hosts))} did not answer", file=sys.stderr)
            return 1
        if do_spill:
            result = Redriver(SpillStore(store, archive.spill_prefix, s3), sink.deliver, lambda: True,
                              search.redrive_interval_s).run_once(args.since)
            failures += result.failed
            print(f"spill: {result.objects} batches, {result.documents} documents redriven"
                  + (f", {result.failed} batch failed (kept for the next run)" if result.failed else ""))
        if do_dead or args.parse:
            left = _ParseStage()
            letters = iter_dead_letters(s3, archive.bucket, archive.dead_letter_prefix, since=args.since,
                                        stage="index" if args.dead_letter else "parse" if args.parse else None)
            failures += _send_index_stage(left.take(letters), sink, refusals, search.bulk_max_docs, do_dead)
            if args.parse:
                try:
                    failures += reparse(settings, s3, sink, left.records, left.reasons, args.workers)
                except Exception as exc:  # noqa: BLE001 - the archive or the cluster failed: the letters stay
                    failures += 1
                    print(f"secstash redrive: parse stage stopped: {type(exc).__name__}: {logs.scrub(str(exc))}",
                          file=sys.stderr)
            elif left.reasons:
                print(f"parse stage: {sum(left.reasons.values())} dead letters of {left.record_count} records kept, "
                      f"not redriven ({_counts(left.reasons)}): `secstash redrive --parse` parses those records "
                      "again from the archive once the cause is fixed")
        stats = sink.stats()
        print(f"indexed {stats.indexed}, already there {stats.duplicates}, spilled {stats.spilled}, "
              f"retried {stats.retried}")
        return 1 if failures or refusals.again else 0
    finally:
        sink.close(search.request_timeout_s)
        dead_letters.close()


class _ParseStage:
    """The records parse-stage dead letters name, and the letters' reasons, taken out of the stream of letters
    (their text is not kept: one bad log object can make a letter per line)."""

    def __init__(self) -> None:
        self.records: Records = {}
        self.reasons: Counter[str] = Counter()

    @property
    def record_count(self) -> int:
        return sum(len(positions) for positions in self.records.values())

    def take(self, letters: Iterable[DeadLetter]) -> Iterator[DeadLetter]:
        """The index-stage letters; the parse-stage ones are noted."""
        for letter in letters:
            if letter.stage == "index":
                yield letter
                continue
            source = letter.source
            self.records.setdefault((source.stream, source.shard), set()).add(
                Position(int(source.sequence), source.sub_sequence))
            self.reasons[letter.reason] += 1


def _send_index_stage(letters: Iterable[DeadLetter], sink: Any, refusals: _Refusals, bulk_max_docs: int,
                      send: bool) -> int:
    """Send the index-stage letters' documents again (all read, none sent unless `send`); returns the
    failures: letters without a target, deliveries that failed."""
    failures, sent = 0, 0
    pending: list[Future[None]] = []
    batch: list[BulkItem] = []
    for letter in letters:
        if not send:
            continue
        item = _item(letter)
        if item is None:
            failures += 1
            print(f"secstash redrive: an index-stage dead letter of {_where(letter)} names no index or id: kept, "
                  "not sent", file=sys.stderr)
            continue
        refusals.redriven.add((item.index, item.id))
        batch.append(item)
        if len(batch) >= bulk_max_docs:
            pending.append(sink.deliver(batch))
            sent, batch = sent + len(batch), []
    if batch:
        pending.append(sink.deliver(batch))
        sent += len(batch)
    for future in pending:
        try:
            future.result()
        except SinkError as exc:
            failures += 1
            print(f"secstash redrive: {logs.scrub(str(exc))}", file=sys.stderr)
    if send:
        reasons = Counter(letter.reason for letter in refusals.again)
        print(f"dead letters: {sent} documents sent, {len(refusals.again)} refused again"
              + (f" ({_counts(reasons)})" if reasons else ""))
        for letter in refusals.again[:10]:
            print(f"  {letter.index}/{letter.id}: {letter.message[:200]}", file=sys.stderr)
    return failures


def reparse(settings: Any, s3: Any, sink: Any, records: Records, reasons: Counter[str], workers: int) -> int:
    """Parse the archived records of parse-stage dead letters again and send all their documents; returns 1
    when a record failed again or could not be found (its dead letters stay: say so), else 0."""
    from consumer.pool import ParserPool, parse_chunk
    from consumer.runtime import worker_config
    from sinks.archive.replay import Replayer, holding, plan

    archive = settings.archive
    letters, wanted = sum(reasons.values()), sum(len(p) for p in records.values())
    config = worker_config(settings)
    unconfigured = sorted({stream for stream, _ in records} - set(config.parsing))
    if unconfigured:  # parsed with defaults they would make other documents than live did, under its ids
        print(f"secstash redrive: no configured stream has the key {', '.join(unconfigured)}: its records are "
              "not parsed again (give the settings a stream with that `id`)", file=sys.stderr)
    found = {key: positions for key, positions in records.items() if key[0] not in unconfigured}
    objects = holding([o for stream in sorted({s for s, _ in found})
                       for o in plan(s3, archive.bucket, archive.prefix, archive.manifest_prefix, stream, None, None)],
                      found)
    pool = ParserPool(config, workers) if workers > 0 else None

    def parse(stream: str, shard: str, wire: Sequence[Any]) -> Any:
        return pool.parse(stream, shard, wire) if pool else parse_chunk(stream, shard, wire, config)

    try:
        report = Replayer(s3, archive.bucket, archive.prefix, parse, sink,
                          manifest_prefix=archive.manifest_prefix).run(objects, None, None, only=found)
    finally:
        if pool:
            pool.close()
    unparsed = sum(len(positions) for key, positions in records.items() if key[0] in unconfigured)
    missing = wanted - unparsed - len(report.replayed)
    print(f"parse stage: {letters} dead letters ({_counts(reasons)}) of {wanted} records; {len(report.replayed)} "
          f"records parsed again, {report.documents} documents sent"
          + (f" ({report.dead_lettered} refused by the cluster: index-stage dead letters now)"
             if report.dead_lettered else "")
          + f"; {report.parse_failures} failed again"
          + (f" ({_counts(report.failure_reasons)})" if report.failure_reasons else "")
          + f"; {missing} records not found in the archive"
          + (f", {unparsed} of unconfigured stream keys" if unparsed else "")
          + (" (their dead letters stay)" if missing or unparsed else ""))
    return 1 if missing or unparsed or report.parse_failures or report.dead_lettered else 0


def _item(letter: DeadLetter) -> BulkItem | None:
    if not letter.index or not letter.id:
        return None
    return BulkItem(letter.index, letter.id, letter.raw.encode("utf-8"), letter.dataset or "unknown", letter.source)


def _where(letter: DeadLetter) -> str:
    source = letter.source
    return f"{source.stream}/{source.shard}/{source.sequence}.{source.sub_sequence}"


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
