"""Dead letters to the archive bucket, and back for `secstash redrive`.

    DeadLetterSink(store, prefix).deliver([DeadLetter, ...]) -> Future[None]
    iter_dead_letters(s3, bucket, prefix, since=None, stream=None, stage=None) -> Iterator[DeadLetter]

Entries are grouped by stream, shard and stage; each group becomes one gzip NDJSON object, written through
`LockedObjectStore` (SSE-KMS, checksum, retention) like the archive:

    <prefix>/stream=<s>/dt=YYYY-MM-DD/<shard>/<first-seq>.<sub>-<last-seq>.<sub>-<stage>.<digest>.ndjson.gz

`dt` is the UTC date the entries were written (a dead letter carries no arrival time); `first` and `last`
are the lowest and highest source positions in the object; `digest` (12 hex characters of the content's
SHA-256) keeps two different groups over the same positions apart (index rejects of one batch can arrive in
several bulk replies) while a retry of the same group writes the same key with the same bytes.

One line per entry, its fields in this order (all of `DeadLetter`, `source` nested):

    {"stage", "reason", "message", "dataset", "source": {"stream", "shard", "sequence", "sub_sequence",
     "ordinal"}, "raw", "index", "id"}
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

import orjson

from sinks.archive import reader
from sinks.archive.encode import ArchiveFormatError, decompress
from sinks.batch import DeadLetter, Position, Source
from sinks.compress import gzip_bytes
from sinks.errors import SinkClosed, SinkError
from sinks.s3store import LockedObjectStore

MAX_OBJECT_BYTES = 256 * 1024 * 1024  # decompression cap when reading back
_DAY = re.compile(r"dt=(\d{4}-\d{2}-\d{2})/$")


def encode_entry(entry: DeadLetter) -> bytes:
    source = entry.source
    return orjson.dumps({
        "stage": entry.stage, "reason": entry.reason, "message": entry.message, "dataset": entry.dataset,
        "source": {"stream": source.stream, "shard": source.shard, "sequence": source.sequence,
                   "sub_sequence": source.sub_sequence, "ordinal": source.ordinal},
        "raw": entry.raw, "index": entry.index, "id": entry.id,
    }) + b"\n"


def decode_entry(line: bytes) -> DeadLetter:
    obj = orjson.loads(line)
    source = obj["source"]
    return DeadLetter(stage=obj["stage"], reason=obj["reason"], message=obj["message"], dataset=obj["dataset"],
                      source=Source(source["stream"], source["shard"], source["sequence"],
                                    int(source["sub_sequence"]), source["ordinal"]),
                      raw=obj["raw"], index=obj.get("index"), id=obj.get("id"))


def dead_letter_key(prefix: str, stream: str, shard: str, stage: str, entries: Sequence[DeadLetter], body: bytes,
                    day: str) -> str:
    positions = [Position(int(e.source.sequence), e.source.sub_sequence) for e in entries]
    first, last = min(positions), max(positions)
    digest = hashlib.sha256(body).hexdigest()[:12]
    return f"{prefix}/stream={stream}/dt={day}/{shard}/{first}-{last}-{stage}.{digest}.ndjson.gz"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DeadLetterSink:
    def __init__(self, store: LockedObjectStore, prefix: str, *, concurrency: int = 4,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self._store = store
        self._prefix = prefix
        self._clock = clock
        self._closed = False
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="dead-letter")
        self._in_flight: set[Future[None]] = set()
        self._lock = threading.Lock()

    def deliver(self, entries: Sequence[DeadLetter]) -> Future[None]:
        if self._closed:
            failed: Future[None] = Future()
            failed.set_exception(SinkClosed("dead-letter sink is closed"))
            return failed
        if not entries:
            done: Future[None] = Future()
            done.set_result(None)
            return done
        future = self._executor.submit(self._write, list(entries))
        with self._lock:
            self._in_flight.add(future)
        future.add_done_callback(self._written)
        return future

    def _written(self, future: Future[None]) -> None:
        with self._lock:
            self._in_flight.discard(future)

    def close(self, timeout: float = 30.0) -> None:
        """Take nothing more; wait up to `timeout` s for writes in hand, then end the store's retries of the
        rest (their batches fail and are not checkpointed), so a stuck S3 cannot hold the process open."""
        self._closed = True
        with self._lock:
            in_hand = list(self._in_flight)
        _, stuck = wait(in_hand, timeout=timeout)
        if stuck:
            self._store.close()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _write(self, entries: list[DeadLetter]) -> None:
        groups: dict[tuple[str, str, str], list[DeadLetter]] = {}
        for entry in entries:
            groups.setdefault((entry.source.stream, entry.source.shard, entry.stage), []).append(entry)
        day = self._clock().strftime("%Y-%m-%d")
        for (stream, shard, stage), group in groups.items():
            group.sort(key=lambda e: (int(e.source.sequence), e.source.sub_sequence, e.source.ordinal or -1))
            body = gzip_bytes(b"".join(encode_entry(e) for e in group))
            key = dead_letter_key(self._prefix, stream, shard, stage, group, body, day)
            try:
                self._store.put(key, body)
            except SinkError:
                raise
            except Exception as exc:
                raise SinkError(f"dead letters to s3://{self._store.bucket}/{key}: {exc}") from exc


def iter_dead_letters(s3: Any, bucket: str, prefix: str, since: datetime | int | None = None,
                      stream: str | None = None, stage: str | None = None) -> Iterator[DeadLetter]:
    """Every dead letter written on or after the day of `since` (a datetime, or epoch ms; None: all), oldest
    day first; optionally of one stream and one stage ("parse" or "index")."""
    if isinstance(since, datetime):
        since_day = since.astimezone(UTC).strftime("%Y-%m-%d")
    elif since is not None:
        since_day = datetime.fromtimestamp(since / 1000, UTC).strftime("%Y-%m-%d")
    else:
        since_day = None
    for name in reader.streams(s3, bucket, prefix, stream):
        for day_prefix in reader.list_prefixes(s3, bucket, f"{prefix}/stream={name}/"):
            match = _DAY.search(day_prefix)
            if match is None or (since_day is not None and match[1] < since_day):
                continue
            for key, _ in reader.list_objects(s3, bucket, day_prefix):
                if stage is not None and f"-{stage}." not in key.rsplit("/", 1)[-1]:
                    continue
                body = reader.get_bytes(s3, bucket, key)
                if body is None:
                    continue
                try:
                    lines = decompress(body, MAX_OBJECT_BYTES).splitlines()
                except ArchiveFormatError as exc:
                    raise SinkError(f"dead-letter object s3://{bucket}/{key} is unreadable: {exc}") from None
                for line in lines:
                    if line:
                        yield decode_entry(line)
