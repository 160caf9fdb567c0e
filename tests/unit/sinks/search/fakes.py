"""Fakes at the search sink's boundary: a cluster behind `SearchClient.request`, a dead-letter sink, a clock."""

from __future__ import annotations

import gzip
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import orjson

from sinks.batch import ID_LENGTH, BulkItem, DeadLetter, DocumentRun, RunGroup, Source
from sinks.compress import SegmentWriter
from sinks.search.client import Reply, Unreachable
from sinks.search.request_builder import action_prefix

# A bulk responder gets the request's (index, id, document) triples and returns per-item (status, error)
# pairs, a whole Reply, or raises Unreachable.
Responder = Callable[[list[tuple[str, str, dict[str, Any]]]], Any]


def item(n: int, *, dataset: str = "aws.cloudtrail", size: int = 0, index: str | None = None) -> BulkItem:
    doc = {"@timestamp": "2024-01-01T00:00:00.000Z", "n": n, "pad": "x" * size}
    return BulkItem(index or f"logs-{dataset}-default", f"id-{n:06d}", orjson.dumps(doc), dataset,
                    Source("stream-a", "shardId-000000000000", str(1000 + n), 0, 0))


def items(count: int, start: int = 0, **kwargs: Any) -> list[BulkItem]:
    return [item(n, **kwargs) for n in range(start, start + count)]


def decode_bulk(body: bytes, headers: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    lines = body.splitlines()
    out = []
    for action, doc in zip(lines[::2], lines[1::2], strict=True):
        meta = orjson.loads(action)["create"]
        out.append((meta["_index"], meta["_id"], orjson.loads(doc)))
    return out


def created(docs: list[Any]) -> list[tuple[int, Any]]:
    return [(201, None) for _ in docs]


@dataclass
class FakeCluster:
    """The search cluster as `SearchClient` sees it. `bulk` decides each bulk reply (default: all 201)."""

    kind: str = "elasticsearch"
    major: int = 8
    version: str = "8.19.21"
    bulk: Responder = created
    reachable: bool = True
    health: str = "green"
    get_root_status: int = 405  # the integ-test zip's answer to GET /
    auth_status: int = 200
    requests: list[tuple[str, str, dict[str, Any], Any, dict[str, str]]] = field(default_factory=list)
    bulks: list[list[tuple[str, str, dict[str, Any]]]] = field(default_factory=list)
    indexed: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, method: str, path: str, *, params: Any = None, body: Any = None, headers: Any = None,
                timeout: float | None = None) -> Reply:
        headers = dict(headers or {})
        with self.lock:
            self.requests.append((method, path, dict(params or {}), body, headers))
        if not self.reachable:
            raise Unreachable("connection", "connection refused")
        if self.auth_status != 200:
            return Reply(self.auth_status, {"error": {"type": "security_exception", "reason": "unable to authenticate"}})
        if path == "/" and method == "GET":
            if self.kind == "opensearch":
                return Reply(200, {"version": {"distribution": "opensearch", "number": self.version}})
            if self.get_root_status != 200:
                return Reply(self.get_root_status, {"error": "Incorrect HTTP method for uri [/]"})
            return Reply(200, {"version": {"number": self.version}})
        if path == "/_nodes/_local":
            return Reply(200, {"nodes": {"n1": {"version": self.version}}})
        if path == "/_cluster/health":
            return Reply(200, {"status": self.health})
        if path == "/_bulk":
            docs = decode_bulk(body, headers)
            with self.lock:
                self.bulks.append(docs)
            answer = self.bulk(docs)
            if isinstance(answer, Reply):
                return answer
            results = []
            for (index, doc_id, doc), (status, error) in zip(docs, answer, strict=True):
                if status == 201:
                    with self.lock:
                        if doc_id in self.indexed:
                            status, error = 409, {"type": "version_conflict_engine_exception",
                                                  "reason": f"[{doc_id}]: version conflict"}
                        else:
                            self.indexed[doc_id] = doc
                result: dict[str, Any] = {"status": status}
                if error is not None:
                    result["error"] = error
                results.append({"create": result})
            return Reply(200, {"errors": any(r["create"]["status"] >= 300 for r in results), "items": results})
        return Reply(200, {"acknowledged": True})

    def close(self) -> None:
        pass

    def factory(self, settings: Any, major: int | None = None) -> FakeCluster:
        self.major = (major or 8) if self.kind == "elasticsearch" else 2
        return self


@dataclass
class FakeDeadLetters:
    fail: Exception | None = None
    letters: list[DeadLetter] = field(default_factory=list)

    def deliver(self, entries: list[DeadLetter]) -> Future[None]:
        future: Future[None] = Future()
        if self.fail is not None:
            future.set_exception(self.fail)
        else:
            self.letters.extend(entries)
            future.set_result(None)
        return future


class ManualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def es_error(kind: str, reason: str = "") -> dict[str, Any]:
    return {"type": kind, "reason": reason or kind}


def run(count: int, *, first: int = 0, dataset: str = "aws.vpcflow", sequence: str = "2000",
        deflated: bool = False) -> DocumentRun:
    """A record's documents as the compiled path hands them over: bulk lines in one buffer (ids of ID_LENGTH);
    `deflated`: as a pool worker sends them when the sink gzips its bodies (a deflate segment, no lines)."""
    index = f"logs-{dataset}-default"
    prefix = action_prefix(index)
    lines, bounds = bytearray(), bytearray()
    for ordinal in range(first, first + count):
        action = len(lines)
        lines += prefix + run_id(sequence, ordinal).encode() + b'"}}\n'
        body = len(lines)
        lines += orjson.dumps({"@timestamp": "2024-01-01T00:00:00.000Z", "record": sequence, "ordinal": ordinal})
        lines += b"\n"
        bounds += struct.pack("<3I", action, body, len(lines) - 1)
    out = DocumentRun(index, dataset, dataset, "stream-a", "shardId-000000000000", sequence, 0, bytes(lines),
                      bytes(bounds), len(prefix), first)
    if deflated:
        out.deflate(SegmentWriter(1))
    return out


def group(*runs: DocumentRun) -> RunGroup:
    """Runs (of one index and dataset) as a pool worker sends them when they share a deflate segment."""
    return RunGroup.deflated(list(runs), SegmentWriter(1))


def run_id(sequence: str, ordinal: int) -> str:
    return f"r{sequence}-{ordinal:0{ID_LENGTH - 2 - len(sequence)}d}"
