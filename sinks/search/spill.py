"""Spill: documents the cluster could not take within `spill_after_s`, kept in the archive bucket, and the
redrive that indexes them later, in order, once the cluster is healthy.

Layout under the spill prefix (objects are Object-Locked, so nothing is ever deleted or rewritten):

    <prefix>/data/YYYY/MM/DD/<YYYYmmddTHHMMSS.ffffffZ>-<writer>-<seq>.ndjson.gz   one spilled batch
    <prefix>/done/YYYY/MM/DD/<same name>.json                                    written once it is redriven

A batch is two lines per document, gzip-compressed: a metadata line (`index`, `id`, `dataset`, `source`)
and the document exactly as it would have been indexed. Progress is one marker per redriven batch rather
than a cursor, because batches from several workers or daemons can land out of name order; a batch without
its marker is redriven (again), which deterministic ids and `create` make harmless.
"""

from __future__ import annotations

import itertools
import re
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from sinks.compress import DEFAULT_LEVEL, gzip_bytes
from sinks.batch import BulkItem, Source
from sinks.search import events

_NAME = re.compile(r"(\d{8}T\d{6}\.\d{6}Z)-[0-9a-f]+-\d+\.ndjson\.gz$")
MAX_OBJECT_BYTES = 1024 * 1024 * 1024  # decompression cap when reading a batch back (ours are ~bulk-sized)


def encode(items: Sequence[BulkItem]) -> bytes:
    """The NDJSON (uncompressed) of a spilled batch."""
    parts: list[bytes] = []
    for item in items:
        src = item.source
        parts.append(orjson.dumps({
            "index": item.index, "id": item.id, "dataset": item.dataset,
            "source": {"stream": src.stream, "shard": src.shard, "sequence": src.sequence,
                       "sub_sequence": src.sub_sequence, "ordinal": src.ordinal},
        }) + b"\n")
        parts.append(item.body.rstrip(b"\n") + b"\n")
    return b"".join(parts)


def decode(data: bytes) -> list[BulkItem]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) % 2:
        raise ValueError("spill object has an odd number of lines: truncated or not ours")
    items = []
    for meta_line, body in zip(lines[::2], lines[1::2], strict=True):
        meta = orjson.loads(meta_line)
        src = meta["source"]
        items.append(BulkItem(meta["index"], meta["id"], body, meta["dataset"],
                              Source(src["stream"], src["shard"], src["sequence"], src["sub_sequence"],
                                     src["ordinal"])))
    return items


class SpillStore:
    """Writes spilled batches through the LockedObjectStore; lists and reads them back with plain S3 calls."""

    def __init__(self, store: Any, prefix: str, s3: Any, *, wall: Callable[[], datetime] | None = None,
                 compression_level: int = DEFAULT_LEVEL) -> None:
        self._store = store
        self._s3 = s3
        self.bucket: str = store.bucket
        self.prefix = prefix.strip("/")
        self._wall = wall or (lambda: datetime.now(UTC))
        self._writer = uuid.uuid4().hex[:8]
        self._seq = itertools.count(1)
        self._level = compression_level

    def data_prefix(self) -> str:
        return f"{self.prefix}/data/"

    def done_prefix(self) -> str:
        return f"{self.prefix}/done/"

    def write(self, items: Sequence[BulkItem]) -> tuple[str, int]:
        """Store one batch; returns its key and raw size. Blocks while S3 is unavailable (the store retries)."""
        now = self._wall().astimezone(UTC)
        raw = encode(items)
        key = (f"{self.data_prefix()}{now:%Y/%m/%d}/{now:%Y%m%dT%H%M%S.%f}Z-{self._writer}-"
               f"{next(self._seq):06d}.ndjson.gz")
        self._store.put(key, gzip_bytes(raw, self._level),
                        metadata={"documents": str(len(items)), "format": "secstash-spill-1"})
        return key, len(raw)

    def read(self, key: str) -> list[BulkItem]:
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        inflater = zlib.decompressobj(wbits=31)  # gzip
        data = inflater.decompress(body, MAX_OBJECT_BYTES)
        if inflater.unconsumed_tail:
            raise ValueError(f"{key} decompresses beyond {MAX_OBJECT_BYTES} bytes")
        return decode(data)

    def marker_key(self, key: str) -> str:
        relative = key[len(self.data_prefix()):]
        return f"{self.done_prefix()}{relative.removesuffix('.ndjson.gz')}.json"

    def mark_done(self, key: str, documents: int) -> None:
        body = orjson.dumps({"key": key, "documents": documents,
                             "redriven_at": self._wall().astimezone(UTC).isoformat()})
        self._store.put(self.marker_key(key), body, content_type="application/json", content_encoding=None)

    def _keys(self, prefix: str) -> Iterator[str]:
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def pending(self, since: datetime | None = None) -> list[str]:
        """Spilled batches without a redrive marker, oldest first."""
        done = set(self._keys(self.done_prefix()))
        out = []
        for key in self._keys(self.data_prefix()):
            match = _NAME.search(key)
            if not match or self.marker_key(key) in done:
                continue
            if since is not None:
                written = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
                if written < since:
                    continue
            out.append(key)
        return sorted(out, key=lambda k: (_NAME.search(k).group(1), k))  # type: ignore[union-attr]


@dataclass
class RedriveResult:
    objects: int = 0
    documents: int = 0
    failed: int = 0


class Redriver:
    """Indexes spilled batches in order through `submit` (the sink's own deliver) while `ready()` holds.

    `run_once()` does one pass (the `secstash redrive --spill` command); `start()` runs passes in a thread
    every `interval_s` or when `kick()`ed (the sink kicks it when the cluster is healthy again).
    """

    def __init__(self, store: SpillStore, submit: Callable[[list[BulkItem]], Future[None]],
                 ready: Callable[[], bool], interval_s: float) -> None:
        self._store = store
        self._submit = submit
        self._ready = ready
        self._interval = interval_s
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="search-redrive", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        self._kick.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._kick.wait(self._interval)
            self._kick.clear()
            if self._stop.is_set():
                return
            if self._ready():
                try:
                    self.run_once()
                except Exception as exc:  # noqa: BLE001 - S3 listing trouble: try again next round
                    events.redrive_failed("(listing)", exc)

    def run_once(self, since: datetime | None = None) -> RedriveResult:
        result = RedriveResult()
        for key in self._store.pending(since):
            if self._stop.is_set() or not self._ready():
                break
            try:
                items = self._store.read(key)
                future = self._submit(items)
                while not self._stop.is_set():
                    try:
                        future.result(timeout=0.5)
                        break
                    except TimeoutError:
                        continue
                if not future.done():
                    break
                future.result()
                self._store.mark_done(key, len(items))
            except Exception as exc:  # noqa: BLE001 - keep the batch for the next pass, in order
                events.redrive_failed(key, exc)
                result.failed += 1
                break
            events.redriven("spill", len(items), key)
            result.objects += 1
            result.documents += len(items)
        return result
