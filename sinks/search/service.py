"""The search sink: the one place that sends bulk requests (I/O), retries per item, dead-letters, spills.

Flow of a document:

    deliver(items) --(blocks while in-flight bytes > max_in_flight_bytes)--> queue
    worker: take up to bulk_max_docs / bulk_max_bytes --> POST /_bulk (gzip, create, _id, pipeline)
        201 / 409 .............................................. done
        429, 5xx, timeout, unreachable, index block,
        cluster-wide refusals (shard limit), unknown errors .... retry heap (capped backoff, full jitter)
        400 known to be the document's (mapping, parsing) ...... dead-letter sink, then done
    a document not done `spill_after_s` after deliver() ....... spill mode: everything pending, and
                                                                  everything new, is written to the spill
                                                                  prefix (done) until health answers again
    background: health every `health_interval_s`; spilled batches redriven in order when healthy

A delivery's future resolves when all its documents are done, fails with SinkError when the dead-letter or
spill write fails (so the batch is not checkpointed and is read again), and with SinkClosed at shutdown.

Threads: `concurrent_requests` workers, one monitor (health, late setup), one spill redriver. One lock
(`_cond`) guards the queue, the retry heap and the counters; no I/O happens under it.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sinks.backoff import full_jitter
from sinks.batch import BulkItem, DeadLetter, Entry, as_items, documents_in
from sinks.errors import SinkClosed, SinkConfigError, SinkError
from sinks.search import bootstrap, events, request_builder, retry, templates
from sinks.search import client as client_mod
from sinks.search.client import SearchClient, ServerInfo, Unreachable, WrongProduct
from sinks.search.config import SearchSettings
from sinks.search.health import Health
from sinks.search.health import check as check_health
from sinks.search.retry import Decision, Outcome, RequestFate
from sinks.search.spill import Redriver, SpillStore


@dataclass(eq=False, slots=True)
class _Delivery:
    future: Future[None]
    remaining: int
    failed: bool = False


@dataclass(eq=False, slots=True)
class _Entry:
    # One document, or a record's documents from the compiled path (a run; or several records' runs, a group):
    # they go out, and nearly always succeed, together; when one of them needs anything else, the run becomes
    # an entry per document (`_explode`).
    item: Entry
    delivery: _Delivery
    size: int  # bytes this entry holds of the in-flight budget (its bulk bytes)
    accepted_at: float
    attempts: int = 0
    due: float = 0.0
    documents: int = 1
    parts: list[_Entry] | None = None  # a run's entries per document once `_explode` made them
    # Settled (indexed, duplicate, dead-lettered, spilled or failed) exactly once: a request that raised
    # after part of its entries settled (the second half of a split) is retried whole, and the settled
    # part must neither resolve its delivery twice nor go out again.
    settled: bool = False


@dataclass
class Stats:
    """Totals since start, by outcome (the redrive command and the benchmark print them)."""

    indexed: int = 0
    duplicates: int = 0
    retried: int = 0
    blocked: int = 0
    dead_lettered: int = 0
    spilled: int = 0
    spill_objects: int = 0
    bulk_requests: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)


class SearchSink:
    def __init__(self, settings: SearchSettings, dead_letters: Any, spill_store: Any, spill_prefix: str,
                 clock: Callable[[], float] = time.monotonic, *, s3: Any = None,
                 client_factory: Callable[..., SearchClient] = client_mod.build,
                 datasets: Sequence[str] | None = None, tick_s: float = 0.1,
                 rng: random.Random | None = None) -> None:
        """`dead_letters`: DeadLetterSink; `spill_store`: LockedObjectStore of the archive bucket; `s3`: the
        client to list and read spilled batches (default: the store's own). `datasets`: event datasets to
        install templates for (default: every registered parser's plus those with generated mappings)."""
        self.settings = settings
        self._dead_letters = dead_letters
        self._clock = clock
        self._client_factory = client_factory
        self._datasets = datasets
        self._tick = tick_s
        self._rng = rng or random.Random()
        self._spill = SpillStore(spill_store, spill_prefix, s3 if s3 is not None else spill_store.s3)
        self._redriver = Redriver(self._spill, self.deliver, self._redrive_ready, settings.redrive_interval_s)

        self._cond = threading.Condition()
        self._queue: deque[_Entry] = deque()
        self._retries: list[tuple[float, int, _Entry]] = []  # heap by due time
        self._seq = itertools.count()
        self._in_flight_bytes = 0
        self._outstanding = 0  # entries accepted and not done
        self._spilling = False
        self._closing = False
        self._stop_now = False
        self._ready = threading.Event()  # set up: connected, version known, templates installed
        self._healthy = False
        self._stats = Stats()
        self._workers: list[threading.Thread] = []
        self._monitor: threading.Thread | None = None
        self._monitor_stop = threading.Event()
        self.client: SearchClient | None = None
        self.server: ServerInfo | None = None
        self.setup: bootstrap.Report | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect, detect the server, install templates and the lifecycle policy; start the threads.

        Raises SinkConfigError when the cluster is unusable as configured (auth refused, wrong product, TLS
        failure, templates refused). A cluster that does not answer within `start_timeout_s` is not an
        error: the sink starts degraded and finishes its setup when the cluster answers; until then
        documents wait, and spill after `spill_after_s`.
        """
        if not self.settings.verify_certs:
            events.tls_unverified(self.settings.hosts)
        if plain := self.settings.credentials_in_clear():
            events.credentials_in_clear(plain)
        if self.settings.outside_logs_view():
            events.outside_logs_view(self.settings.index_pattern)
        self.client = self._client_factory(self.settings, self.settings.server_major)
        deadline = time.monotonic() + self.settings.start_timeout_s
        while True:
            try:
                self._set_up()
                break
            except Unreachable as exc:
                if exc.reason == "tls":
                    raise SinkConfigError(f"TLS handshake with {self.settings.hosts} failed: {exc.detail}. "
                                          "Check ca_certs and the host names in the certificate.") from None
                if time.monotonic() >= deadline:
                    events.start_degraded(str(exc))
                    break
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        for n in range(self.settings.concurrent_requests):
            thread = threading.Thread(target=self._work, name=f"search-bulk-{n}", daemon=True)
            thread.start()
            self._workers.append(thread)
        self._monitor = threading.Thread(target=self._watch, name="search-health", daemon=True)
        self._monitor.start()
        if self.settings.redrive_spill:
            self._redriver.start()
            self._redriver.kick()

    def _set_up(self) -> None:
        """Detect the server, pick the matching client, install templates. Raises Unreachable if no answer."""
        assert self.client is not None
        try:
            info = client_mod.detect(self.client)
        except WrongProduct as exc:
            raise SinkConfigError(f"{self.settings.hosts} is not {self.settings.kind}: {exc}") from None
        except PermissionError as exc:
            if "401" in str(exc):
                raise SinkConfigError(f"the cluster refused our credentials: {exc}") from None
            if self.settings.kind == "elasticsearch" and self.settings.server_major is None:
                raise SinkConfigError(f"cannot read the server version ({exc}): grant `monitor` or set "
                                      "search.server_major") from None
            info = ServerInfo(self.settings.kind, "unknown", self.settings.server_major or 2)
        except LookupError as exc:
            raise SinkConfigError(f"cannot tell the server version: {exc}") from None
        if info.kind == "elasticsearch" and info.major not in (8, 9):
            raise SinkConfigError(f"Elasticsearch {info.version} is not supported (8.x and 9.x are)")
        if info.kind == "elasticsearch" and info.major != self.client.major:
            self.client.close()
            self.client = self._client_factory(self.settings, info.major)
        self.server = info
        events.connected(info.label, f"{self.client.kind}-py {self.client.major}", self.settings.hosts)
        self._check_auth()
        if self.settings.install_templates:
            self.setup = bootstrap.Installer(self.client, self.settings, info).install(self._template_datasets())
        self._healthy = True
        events.health_changed(True, "set up")
        self._ready.set()
        with self._cond:
            self._cond.notify_all()

    def _check_auth(self) -> None:
        """`GET /` may be open to anonymous users; make one authenticated call that must succeed."""
        assert self.client is not None
        reply = self.client.request("GET", "/_cluster/health", timeout=10)
        if reply.status == 401:
            raise SinkConfigError(f"the cluster refused our credentials (HTTP 401): {reply.error_text()[:300]}")

    def _template_datasets(self) -> list[str]:
        if self._datasets is not None:
            return sorted(set(self._datasets))
        try:
            from parsers import registry

            registered = [registry.get(n).event_dataset for n in registry.names()]
        except Exception:  # noqa: BLE001 - a parser import problem must not stop the sink
            registered = []
        return templates.datasets(registered)

    def healthy(self) -> bool:
        """The last health check answered."""
        return self._healthy

    def alive(self) -> bool:
        """Its threads run (before `start` and once closing, trivially): a dead one would leave documents
        unsent, or spill mode never left, with nothing else noticing."""
        if self._monitor is None or self._closing:
            return True
        return self._monitor.is_alive() and all(worker.is_alive() for worker in self._workers)

    def stats(self) -> Stats:
        with self._cond:
            copy = Stats(**{k: v for k, v in vars(self._stats).items() if k != "by_reason"})
            copy.by_reason = Counter(self._stats.by_reason)
            return copy

    def close(self, timeout: float) -> None:
        """Stop taking documents; flush what is in flight within `timeout` s; fail the rest (SinkClosed)."""
        deadline = time.monotonic() + timeout
        self._redriver.stop(min(5.0, timeout / 4))
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            while self._outstanding and time.monotonic() < deadline:
                self._cond.wait(min(self._tick, max(0.0, deadline - time.monotonic())))
            self._stop_now = True
            leftovers = list(self._queue) + [e for _, _, e in self._retries]
            self._queue.clear()
            self._retries.clear()
            self._cond.notify_all()
        self._fail(leftovers, SinkClosed("search sink closed before these documents were indexed"))
        for thread in self._workers:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._monitor_stop.set()
        if self._monitor is not None:
            self._monitor.join(max(0.1, min(5.0, deadline - time.monotonic())))
        if self.client is not None:
            self.client.close()

    # --- taking work -------------------------------------------------------------------------------------

    def wait_for_room(self) -> None:
        """Return once the in-flight bytes are below `max_in_flight_bytes`; raise SinkClosed if the sink
        closes first. The pipeline calls it before parsing a round, so documents wait here unparsed rather
        than parsed in `deliver()`. Room comes from indexing, spilling or closing, never from the caller."""
        with self._cond:
            self._wait_while(lambda: self._in_flight_bytes >= self.settings.max_in_flight_bytes)
            if self._closing:
                raise SinkClosed("search sink is closing")

    def _wait_while(self, full: Callable[[], bool]) -> None:
        """Wait (holding `_cond`) while `full()` and the sink is open; counted in the waiting gauge."""
        if self._closing or not full():
            return
        events.waiting_for_room(1)
        try:
            while not self._closing and full():
                self._cond.wait(self._tick)
        finally:
            events.waiting_for_room(-1)

    def deliver(self, entries: Sequence[Entry]) -> Future[None]:
        """Take documents (BulkItems, and the compiled path's DocumentRuns and RunGroups); the future resolves
        when every one is indexed, a duplicate, dead-lettered or spilled. Blocks while the in-flight bytes are
        above `max_in_flight_bytes` (backpressure)."""
        future: Future[None] = Future()
        if not entries:
            future.set_result(None)
            return future
        s = self.settings
        items = list(request_builder.fitted(entries, s.bulk_max_docs, s.bulk_max_bytes))
        sizes = [request_builder.entry_bytes(i) for i in items]
        total = sum(sizes)
        with self._cond:
            # A delivery larger than the whole budget still goes through, alone, so it cannot deadlock.
            self._wait_while(lambda: bool(self._in_flight_bytes)
                             and self._in_flight_bytes + total > self.settings.max_in_flight_bytes)
            if self._closing:
                future.set_exception(SinkClosed("search sink is closing"))
                return future
            delivery = _Delivery(future, len(items))
            now = self._clock()
            self._queue.extend(_Entry(i, delivery, n, now, documents=documents_in(i))
                               for i, n in zip(items, sizes, strict=True))
            self._in_flight_bytes += total
            self._outstanding += len(items)
            events.in_flight(self._in_flight_bytes)
            self._cond.notify_all()
        return future

    def _take(self) -> tuple[str, list[_Entry]] | None:
        """The next batch for a worker: ("send" | "spill", entries), or None when the sink stops."""
        s = self.settings
        with self._cond:
            while True:
                if self._stop_now:
                    return None
                now = self._clock()
                if (not self._spilling and self._queue
                        and now - self._queue[0].accepted_at >= s.spill_after_s):
                    self._enter_spill(now - self._queue[0].accepted_at)
                if self._spilling:
                    batch = self._collect(now, ignore_due=True)
                    if batch:
                        return "spill", batch
                elif self._ready.is_set():
                    batch = self._collect(now, ignore_due=False)
                    if batch:
                        oldest = min(e.accepted_at for e in batch)
                        if now - oldest >= s.spill_after_s:
                            self._enter_spill(now - oldest)
                            return "spill", batch
                        return "send", batch
                if self._closing and not self._outstanding:
                    return None
                wait = self._tick
                if self._retries and self._ready.is_set():
                    wait = min(wait, max(0.001, self._retries[0][0] - now))
                self._cond.wait(wait)

    def _collect(self, now: float, *, ignore_due: bool) -> list[_Entry]:
        """Retries that are due first (they are older), then new entries, within the bulk bounds."""
        s = self.settings
        batch: list[_Entry] = []
        size = documents = 0

        def fits(entry: _Entry) -> bool:
            return not batch or (documents + entry.documents <= s.bulk_max_docs
                                 and size + entry.size <= s.bulk_max_bytes)

        while self._retries and (ignore_due or self._retries[0][0] <= now) and fits(self._retries[0][2]):
            entry = heapq.heappop(self._retries)[2]
            if entry.settled:
                continue
            batch.append(entry)
            size += entry.size
            documents += entry.documents
        while self._queue and fits(self._queue[0]):
            entry = self._queue.popleft()
            batch.append(entry)
            size += entry.size
            documents += entry.documents
        return batch

    def _enter_spill(self, oldest_age: float) -> None:
        self._spilling = True
        events.spill_started(oldest_age, sum(e.documents for e in self._queue)
                             + sum(e.documents for _, _, e in self._retries))

    # --- workers -----------------------------------------------------------------------------------------

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            kind, batch = taken
            try:
                if kind == "spill":
                    self._spill_batch(batch)
                else:
                    self._send(batch)
            except Exception as exc:  # noqa: BLE001 - a bug here must not kill the worker or lose the batch
                events.worker_failed(exc)
                self._retry(batch, Decision(Outcome.RETRY, "internal", type(exc).__name__, str(exc)))

    def _send(self, batch: list[_Entry]) -> None:
        assert self.client is not None
        s = self.settings
        request = request_builder.build(batch, lambda e: e.item, compress=s.compress, level=s.compression_level)
        documents = sum(e.documents for e in batch)
        started = time.perf_counter()
        try:
            reply = self.client.request("POST", "/_bulk", params=request_builder.params(s.pipeline),
                                        body=request.body, headers=request.headers)
        except Unreachable as exc:
            events.bulk_sent("unreachable", request.raw_bytes, time.perf_counter() - started)
            events.request_unreachable(exc.reason, documents, exc.detail)
            self._retry(batch, Decision(Outcome.RETRY, exc.reason, "", exc.detail))
            return
        fate, decision = retry.classify_request(reply.status, reply.body)
        items = reply.body.get("items") if isinstance(reply.body, dict) else None
        if fate is RequestFate.ITEMS and (not isinstance(items, list) or len(items) != documents):
            fate, decision = RequestFate.RETRY_ALL, Decision(Outcome.RETRY, "bad_reply", "",
                                                              "bulk reply items do not match the request")
        with self._cond:
            self._stats.bulk_requests += 1
        if fate is RequestFate.SPLIT:
            events.bulk_sent("http_4xx", request.raw_bytes, time.perf_counter() - started)
            if len(batch) == 1 and type(batch[0].item) is not BulkItem:
                batch = self._explode(batch[0])  # a run alone, even of one document: its documents are the pieces
            if len(batch) == 1:
                self._dead_letter(batch, [decision] if decision else [])
            elif batch:  # halve it here, in order, until the pieces fit (a single piece that does not is rejected)
                events.request_split(documents)
                middle = len(batch) // 2
                self._send(batch[:middle])
                self._send(batch[middle:])
            return
        if fate is RequestFate.RETRY_ALL:
            assert decision is not None
            events.bulk_sent(f"http_{reply.status // 100}xx", request.raw_bytes, time.perf_counter() - started)
            events.request_refused(reply.status, decision.reason, documents, reply.error_text())
            self._retry(batch, decision)
            return
        errors = bool(reply.body.get("errors"))
        events.bulk_sent("item_errors" if errors else "ok", request.raw_bytes, time.perf_counter() - started)
        self._settle_items(batch, items or [])

    def _settle_items(self, batch: list[_Entry], results: list[Any]) -> None:
        """`results`: the reply's items, one per document, in the order of the batch's documents."""
        done: list[_Entry] = []
        indexed: Counter[str] = Counter()
        duplicates: Counter[str] = Counter()
        again: list[tuple[_Entry, Decision]] = []
        rejected: list[tuple[_Entry, Decision]] = []
        position = 0
        for entry in batch:
            decisions = [_item_decision(result) for result in results[position:position + entry.documents]]
            position += entry.documents
            if type(entry.item) is not BulkItem:  # a run or a group: a dead letter needs its document's own item
                if all(d.outcome is Outcome.INDEXED or d.outcome is Outcome.DUPLICATE for d in decisions):
                    for decision in decisions:
                        (indexed if decision.outcome is Outcome.INDEXED else duplicates)[entry.item.dataset] += 1
                    done.append(entry)
                    continue
                parts = self._explode(entry)
                settling = list(zip(parts, decisions, strict=True)) if parts else []
            else:
                settling = [(entry, decisions[0])]
            for part, decision in settling:
                if decision.outcome is Outcome.INDEXED:
                    indexed[part.item.dataset] += 1
                    done.append(part)
                elif decision.outcome is Outcome.DUPLICATE:
                    duplicates[part.item.dataset] += 1
                    done.append(part)
                elif decision.outcome is Outcome.REJECT:
                    rejected.append((part, decision))
                else:
                    again.append((part, decision))
        events.documents_done(indexed, duplicates)
        if not any(d.outcome is Outcome.BLOCKED for _, d in again) and (done or rejected):
            events.block_cleared()
        with self._cond:
            self._stats.indexed += sum(indexed.values())
            self._stats.duplicates += sum(duplicates.values())
        self._finish(done)
        if again:
            self._retry_each(again)
        if rejected:
            self._dead_letter([e for e, _ in rejected], [d for _, d in rejected])

    def _explode(self, entry: _Entry) -> list[_Entry]:
        """A run's documents as entries of their own, for the one among them that needs a retry, a dead letter
        or a smaller request. They take the run's delivery and bytes, and its place: a worker's batch that
        fails from here on retries them (`_live`), not the run. Empty when the run is settled already."""
        assert type(entry.item) is not BulkItem
        items = entry.item.items()
        sizes = [request_builder.item_bytes(i) for i in items]
        parts = [_Entry(i, entry.delivery, n, entry.accepted_at, entry.attempts, entry.due)
                 for i, n in zip(items, sizes, strict=True)]
        with self._cond:
            if entry.settled:
                parts = []
            else:
                entry.settled, entry.parts = True, parts  # its parts settle instead
                entry.delivery.remaining += len(parts) - 1
                self._outstanding += len(parts) - 1
                self._in_flight_bytes += sum(sizes) - entry.size
        return parts

    # --- outcomes ----------------------------------------------------------------------------------------

    def _retry(self, entries: list[_Entry], decision: Decision) -> None:
        self._retry_each([(e, decision) for e in _live(entries)])

    def _retry_each(self, pairs: list[tuple[_Entry, Decision]]) -> None:
        s = self.settings
        now = self._clock()
        counts: Counter[tuple[str, str]] = Counter()
        blocked: Counter[str] = Counter()
        sample = ""
        # One backoff draw per attempt number, not per item: the items of one reply go out together again
        # instead of dribbling into many small bulks.
        delays: dict[int, float] = {}
        with self._cond:
            pairs = [(entry, decision) for entry, decision in pairs if not entry.settled]
            if not pairs:
                return
            closed = self._stop_now  # closed while this request was out: nobody would send it again
            if not closed:
                for entry, decision in pairs:
                    entry.attempts += 1
                    if entry.attempts not in delays:
                        delays[entry.attempts] = full_jitter(entry.attempts, s.retry_initial_backoff_s,
                                                             s.retry_max_backoff_s, self._rng)
                    entry.due = now + delays[entry.attempts]
                    heapq.heappush(self._retries, (entry.due, next(self._seq), entry))
                    counts[(entry.item.dataset, decision.reason)] += entry.documents
                    self._stats.by_reason[decision.reason] += entry.documents
                    if decision.outcome is Outcome.BLOCKED:
                        blocked[entry.item.dataset] += entry.documents
                    sample = sample or f"{decision.error_type}: {decision.message}"
                self._stats.retried += sum(e.documents for e, _ in pairs)
                self._stats.blocked += sum(blocked.values())
                self._cond.notify_all()
        if closed:
            self._fail([e for e, _ in pairs], SinkClosed("search sink closed before these documents were indexed"))
            return
        events.documents_blocked(blocked, sample)
        events.documents_retried(counts, max(e.attempts for e, _ in pairs), sample)

    def _dead_letter(self, entries: list[_Entry], decisions: list[Decision]) -> None:
        letters = []
        for entry, decision in zip(entries, decisions, strict=True):
            item = entry.item
            letters.append(DeadLetter(
                stage="index", reason=decision.reason,
                message=f"{decision.error_type}: {decision.message}".strip(": ")[:4000],
                dataset=item.dataset, source=item.source, raw=item.body.decode("utf-8", "replace"),
                index=item.index, id=item.id))
        try:
            future = self._dead_letters.deliver(letters)
        except Exception as exc:  # noqa: BLE001 - a synchronous failure is reported like an async one
            future = Future()
            future.set_exception(exc)

        def written(f: Future[None]) -> None:
            # concurrent.futures logs and swallows what a done-callback raises: anything going wrong here
            # must fail the entries, or their delivery never resolves and its batch hangs for ever.
            try:
                if f.cancelled():  # the dead-letter sink closed with this write still queued
                    self._fail(entries, SinkClosed("dead-letter write cancelled: the dead-letter sink closed"))
                    return
                error = f.exception()
                if error is not None:
                    self._fail(entries, SinkError(f"dead-letter write failed: {error}"))
                    return
                self._dead_lettered(entries, decisions)
            except BaseException as exc:  # noqa: BLE001 - see above; entries already finished stay finished
                self._fail(entries, SinkError(f"dead-letter outcome not recorded: {type(exc).__name__}: {exc}"))
                events.callback_failed("dead-letter", exc)

        future.add_done_callback(written)

    def _dead_lettered(self, entries: list[_Entry], decisions: list[Decision]) -> None:
        """Rejected entries whose dead letters are written: count them, then they are done."""
        by_reason: Counter[tuple[str, str]] = Counter((e.item.dataset, d.reason)
                                                      for e, d in zip(entries, decisions, strict=True))
        for (dataset, reason), n in by_reason.items():
            sample = next(d for e, d in zip(entries, decisions, strict=True)
                          if e.item.dataset == dataset and d.reason == reason)
            events.documents_dead_lettered(dataset, reason, n, f"{sample.error_type}: {sample.message}")
        with self._cond:
            self._stats.dead_lettered += len(entries)
        self._finish(entries)

    def _spill_batch(self, batch: list[_Entry]) -> None:
        items = as_items(e.item for e in batch)
        try:
            key, raw_bytes = self._spill.write(items)
        except SinkError as exc:
            self._fail(batch, exc)
            return
        except Exception as exc:  # noqa: BLE001 - botocore or a bug: the batch is not taken
            self._fail(batch, SinkError(f"spill write failed: {type(exc).__name__}: {exc}"))
            return
        events.spilled(key, Counter(i.dataset for i in items), raw_bytes)
        with self._cond:
            self._stats.spilled += len(items)
            self._stats.spill_objects += 1
        self._finish(batch)

    def _finish(self, entries: list[_Entry]) -> None:
        """Entries done: release their bytes, resolve deliveries whose last entry this was."""
        if not entries:
            return
        completed = []
        with self._cond:
            for entry in entries:
                if entry.settled:
                    continue
                entry.settled = True
                self._in_flight_bytes -= entry.size
                self._outstanding -= 1
                delivery = entry.delivery
                delivery.remaining -= 1
                if delivery.remaining == 0 and not delivery.failed:
                    completed.append(delivery.future)
            events.in_flight(self._in_flight_bytes)
            self._cond.notify_all()
        for future in completed:
            future.set_result(None)

    def _fail(self, entries: list[_Entry], error: SinkError) -> None:
        if not entries:
            return
        failed = []
        with self._cond:
            for entry in entries:
                if entry.settled:
                    continue
                entry.settled = True
                self._in_flight_bytes -= entry.size
                self._outstanding -= 1
                delivery = entry.delivery
                delivery.remaining -= 1
                if not delivery.failed:
                    delivery.failed = True
                    failed.append(delivery.future)
            events.in_flight(self._in_flight_bytes)
            self._cond.notify_all()
        for future in failed:
            if not future.done():
                future.set_exception(error)

    # --- background --------------------------------------------------------------------------------------

    def _watch(self) -> None:
        """Health every `health_interval_s`; finish a setup the start could not; leave spill mode."""
        while not self._monitor_stop.wait(self.settings.health_interval_s if self._ready.is_set() else 1.0):
            try:
                self._watch_once()
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any one check: only it leaves spill mode
                self._observe(Health(False, None, f"health check failed: {type(exc).__name__}: {exc}"[:300]))

    def _watch_once(self) -> None:
        if not self._ready.is_set():
            try:
                self._set_up()
            except Unreachable:
                return
            except SinkConfigError as exc:
                events.setup_failed(str(exc))
                return
        assert self.client is not None
        self._observe(check_health(self.client))

    def _observe(self, health: Health) -> None:
        if health.answered != self._healthy:
            events.health_changed(health.answered, health.detail)
        self._healthy = health.answered
        if health.usable:
            with self._cond:
                leaving = self._spilling
                self._spilling = False
                self._cond.notify_all()
            if leaving:
                events.spill_stopped()
                self._redriver.kick()

    def _redrive_ready(self) -> bool:
        return self._ready.is_set() and self._healthy and not self._spilling and not self._closing


def _item_decision(result: Any) -> Decision:
    """What one item of a bulk reply says happened to its document."""
    outcome = next(iter(result.values())) if isinstance(result, dict) and result else {}
    return retry.classify_item(int(outcome.get("status", 0)), outcome.get("error"))


def _live(entries: list[_Entry]) -> list[_Entry]:
    """The entries, a run that was exploded standing for its parts."""
    out: list[_Entry] = []
    for entry in entries:
        if entry.parts is None:
            out.append(entry)
        else:
            out.extend(_live(entry.parts))
    return out
