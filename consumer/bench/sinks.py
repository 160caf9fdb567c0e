"""Sinks that do all the CPU work of the real ones and then drop the bytes: no network, no S3.

The archive sink cuts and encodes archive objects (`sinks.archive.encode.plan_objects`: NDJSON + gzip at the
archive's level); the search sink cuts bulk requests and builds their bodies (`sinks.search.request_builder`:
action lines, documents, gzip at the search sink's level); the dead-letter sink encodes its NDJSON. Like the
real sinks they work on their own threads, so the pipeline overlaps them with parsing the way it does live.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from sinks.archive.config import ArchiveSettings
from sinks.archive.encode import plan_objects
from sinks.batch import DeadLetter, Entry, RecordBatch, documents_in
from sinks.compress import gzip_bytes
from sinks.deadletter import encode_entry
from sinks.search import request_builder
from sinks.search.config import SearchSettings


def _default(model: type, name: str) -> object:
    return model.model_fields[name].default


def search_bounds() -> tuple[int, int]:
    """The search sink's request bounds by default: bulk_max_docs, bulk_max_bytes."""
    return int(_default(SearchSettings, "bulk_max_docs")), int(_default(SearchSettings, "bulk_max_bytes"))  # type: ignore[arg-type]


def search_compression() -> int | None:
    """The gzip level of bulk bodies by default (`WorkerConfig.bulk_compression`), None if they are not gzipped."""
    return int(_default(SearchSettings, "compression_level")) if _default(SearchSettings, "compress") else None  # type: ignore[arg-type]


class _Counted:
    def __init__(self, threads: int, name: str) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self._lock = threading.Lock()
        self.raw_bytes = 0  # before compression
        self.bytes = 0  # what would have been sent
        self.requests = 0

    def _count(self, raw: int, sent: int) -> None:
        with self._lock:
            self.raw_bytes += raw
            self.bytes += sent
            self.requests += 1

    def close(self) -> None:
        self._executor.shutdown(wait=True)


class DiscardArchive(_Counted):
    def __init__(self, threads: int = 2) -> None:
        super().__init__(threads, "bench-archive")
        self.level = int(_default(ArchiveSettings, "compression_level"))  # type: ignore[arg-type]
        self.max_object_bytes = int(_default(ArchiveSettings, "max_object_bytes"))  # type: ignore[arg-type]

    def deliver(self, batch: RecordBatch) -> Future[None]:
        return self._executor.submit(self._encode, batch)

    def _encode(self, batch: RecordBatch) -> None:
        for obj in plan_objects("archive", batch.stream, batch.shard, batch.records, self.max_object_bytes,
                                self.level):
            self._count(obj.ndjson_bytes, len(obj.body))


class DiscardSearch(_Counted):
    def __init__(self, threads: int = 2) -> None:
        super().__init__(threads, "bench-search")
        level = search_compression()
        self.compress, self.level = level is not None, level or 0
        self.max_docs, self.max_bytes = search_bounds()

    def deliver(self, entries: Sequence[Entry]) -> Future[None]:
        return self._executor.submit(self._encode, entries)

    def wait_for_room(self) -> None:
        """Always room: the bench measures the pipeline, not a cluster's backpressure."""

    def _encode(self, entries: Sequence[Entry]) -> None:
        # As SearchSink cuts them: runs in pieces a request can take, requests bounded in documents and bytes.
        pieces = request_builder.fitted(entries, self.max_docs, self.max_bytes)
        for chunk in request_builder.chunks(pieces, request_builder.entry_bytes, self.max_docs, self.max_bytes,
                                            documents_in):
            request = request_builder.build(chunk, _same, compress=self.compress, level=self.level)
            self._count(request.raw_bytes, len(request.body))


class DiscardDeadLetters(_Counted):
    def __init__(self) -> None:
        super().__init__(1, "bench-dead-letters")

    def deliver(self, entries: Sequence[DeadLetter]) -> Future[None]:
        return self._executor.submit(self._encode, entries)

    def _encode(self, entries: Sequence[DeadLetter]) -> None:
        raw = b"".join(encode_entry(e) for e in entries)
        self._count(len(raw), len(gzip_bytes(raw)))


def _same(entry: Entry) -> Entry:
    return entry
