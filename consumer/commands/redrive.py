"""`secstash redrive`: send dead-lettered or spilled documents to Elasticsearch/OpenSearch again.

    secstash redrive --config settings.yml [--dead-letter | --spill] [--since 2024-05-01T00:00Z]

--dead-letter  documents the cluster refused (index stage of the dead-letter prefix), once their cause is
               fixed (a mapping changed and the data stream rolled over, a field limit raised...). A
               document refused again is reported, not dead-lettered a second time.
--spill        spilled batches not yet redriven, oldest first, each marked done once delivered (what the
               daemon's background redrive does; useful when that is turned off).
Neither flag: both. Deterministic ids and `create` make every run harmless to repeat: documents already
indexed answer 409 and count as delivered. Exit status 0 when everything was delivered, 1 when documents
were refused again or could not be sent, 2 for unusable settings.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from consumer import logs
from sinks.batch import BulkItem, DeadLetter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="settings file (YAML)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--dead-letter", action="store_true", help="only documents the cluster refused")
    which.add_argument("--spill", action="store_true", help="only spilled batches")
    parser.add_argument("--since", type=_when, default=None,
                        help="only what was written on or after this UTC time (ISO 8601: 2024-05-01 or "
                             "2024-05-01T12:00:00Z)")


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
    """Index-stage dead letters as bulk items (parse-stage ones are `secstash replay`'s business)."""
    for letter in letters:
        if letter.stage != "index" or not letter.index or not letter.id:
            continue
        yield BulkItem(letter.index, letter.id, letter.raw.encode("utf-8"), letter.dataset or "unknown",
                       letter.source)


def run(args: argparse.Namespace) -> int:
    from consumer.settings import SettingsError, load
    from sinks import aws
    from sinks.deadletter import DeadLetterSink, iter_dead_letters
    from sinks.errors import SinkError
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
    do_dead = args.dead_letter or not args.spill
    do_spill = args.spill or not args.dead_letter
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
        if do_dead:
            sent = 0
            pending: list[Future[None]] = []
            batch: list[BulkItem] = []
            letters = iter_dead_letters(s3, archive.bucket, archive.dead_letter_prefix, since=args.since,
                                        stage="index")
            for item in items_from(letters):
                refusals.redriven.add((item.index, item.id))
                batch.append(item)
                if len(batch) >= search.bulk_max_docs:
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
            reasons = Counter(letter.reason for letter in refusals.again)
            print(f"dead letters: {sent} documents sent, {len(refusals.again)} refused again"
                  + (f" ({', '.join(f'{r}: {n}' for r, n in sorted(reasons.items()))})" if reasons else ""))
            for letter in refusals.again[:10]:
                print(f"  {letter.index}/{letter.id}: {letter.message[:200]}", file=sys.stderr)
        stats = sink.stats()
        print(f"indexed {stats.indexed}, already there {stats.duplicates}, spilled {stats.spilled}, "
              f"retried {stats.retried}")
        return 1 if failures or refusals.again else 0
    finally:
        sink.close(search.request_timeout_s)
        dead_letters.close()
