"""SearchSink against a fake cluster: per-item retries, dead letters, spill, backpressure, setup."""

from __future__ import annotations

import gzip
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import REGISTRY

from consumer.embedded.process import wait_until
from sinks.errors import SinkClosed, SinkConfigError, SinkError
from sinks.s3store import LockedObjectStore
from sinks.search.client import Reply, Unreachable
from sinks.search.config import SearchSettings
from sinks.search.service import SearchSink
from sinks.search.spill import decode
from tests.unit.sinks.archive.fakes import FakeS3

from .fakes import FakeCluster, FakeDeadLetters, ManualClock, es_error, items

WAIT = 10.0


def settings(**overrides: Any) -> SearchSettings:
    base: dict[str, Any] = {"hosts": ["http://search:9200"], "retry_initial_backoff_s": 0.001,
                            "retry_max_backoff_s": 0.005, "health_interval_s": 0.05, "start_timeout_s": 0,
                            "redrive_interval_s": 3600, "install_templates": False}
    base.update(overrides)
    return SearchSettings(**base)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Harness:
    """A started-or-not sink over a fake cluster, a fake S3 and a fake dead-letter sink. The clock is real
    (retry backoffs are milliseconds) unless `manual_clock`: spill tests move time by hand."""

    def __init__(self, cluster: FakeCluster, manual_clock: bool = False, dead: Any = None,
                 **overrides: Any) -> None:
        self.cluster = cluster
        self.clock = ManualClock() if manual_clock else None
        self.dead = dead if dead is not None else FakeDeadLetters()
        self.s3 = FakeS3()
        self.store = LockedObjectStore(self.s3, "archive", kms_key_id=None, retention_days=None,
                                       backoff_initial_s=0.001, backoff_max_s=0.002)
        self.sink = SearchSink(settings(**overrides), self.dead, self.store, "spill", self.clock or time.monotonic,
                               s3=self.s3, client_factory=cluster.factory, datasets=["aws.cloudtrail"],
                               tick_s=0.01, rng=random.Random(7))

    def spilled_keys(self) -> list[str]:
        return [k for k in self.s3.keys("spill/data/")]


@pytest.fixture
def make() -> Iterator[Any]:
    made: list[Harness] = []

    def build(cluster: FakeCluster | None = None, *, start: bool = True, manual_clock: bool = False,
              dead: Any = None, **overrides: Any) -> Harness:
        harness = Harness(cluster or FakeCluster(), manual_clock, dead, **overrides)
        if start:
            harness.sink.start()
        made.append(harness)
        return harness

    yield build
    for harness in made:
        harness.sink.close(1.0)


def test_delivery_resolves_once_every_document_is_created(make: Any) -> None:
    h = make()
    future = h.sink.deliver(items(50))
    future.result(WAIT)
    assert len(h.cluster.indexed) == 50
    assert h.sink.stats().indexed == 50


def test_bulk_request_is_gzip_ndjson_of_create_actions_with_ids_and_pipeline_none(make: Any) -> None:
    h = make()
    h.sink.deliver(items(3)).result(WAIT)
    method, _, params, body, headers = next(r for r in h.cluster.requests if r[1] == "/_bulk")
    assert (method, params["pipeline"], headers["content-encoding"]) == ("POST", "_none", "gzip")
    lines = gzip.decompress(body).splitlines()
    assert lines[0] == b'{"create":{"_index":"logs-aws.cloudtrail-default","_id":"id-000000"}}'
    assert "filter_path" in params


def test_bulk_requests_respect_document_and_byte_bounds(make: Any) -> None:
    h = make(bulk_max_docs=7, bulk_max_bytes=4096, concurrent_requests=1)
    h.sink.deliver(items(40, size=300)).result(WAIT)
    assert len(h.cluster.indexed) == 40
    assert all(len(b) <= 7 for b in h.cluster.bulks)
    assert all(sum(len(d["pad"]) + 100 for _, _, d in b) <= 4096 for b in h.cluster.bulks)
    assert len(h.cluster.bulks) >= 40 // 7


def test_conflict_409_counts_as_delivered(make: Any) -> None:
    h = make()
    h.sink.deliver(items(5)).result(WAIT)
    before = metric("secstash_search_duplicate_documents_total", dataset="aws.cloudtrail")
    h.sink.deliver(items(5)).result(WAIT)
    assert h.sink.stats().duplicates == 5
    assert metric("secstash_search_duplicate_documents_total", dataset="aws.cloudtrail") - before == 5


def test_only_the_items_refused_with_429_are_sent_again(make: Any) -> None:
    calls = {"n": 0}

    def first_half_throttled(docs: list[Any]) -> list[tuple[int, Any]]:
        calls["n"] += 1
        if calls["n"] == 1:
            return [(429, es_error("es_rejected_execution_exception")) if i % 2 else (201, None)
                    for i in range(len(docs))]
        return [(201, None)] * len(docs)

    before = metric("secstash_search_retried_documents_total", dataset="aws.cloudtrail", reason="too_many_requests")
    h = make(FakeCluster(bulk=first_half_throttled), concurrent_requests=1)
    h.sink.deliver(items(10)).result(WAIT)
    assert [d[1] for d in h.cluster.bulks[1]] == [f"id-{n:06d}" for n in range(1, 10, 2)]
    assert len(h.cluster.indexed) == 10
    assert metric("secstash_search_retried_documents_total", dataset="aws.cloudtrail",
                  reason="too_many_requests") - before == 5


def test_server_errors_and_unreachable_cluster_retry_the_whole_batch(make: Any) -> None:
    answers = iter([Reply(503, {"error": es_error("unavailable_shards_exception")}), "down", "ok"])

    def flaky(docs: list[Any]) -> Any:
        answer = next(answers, "ok")
        if answer == "down":
            raise Unreachable("timeout", "read timed out")
        return answer if isinstance(answer, Reply) else [(201, None)] * len(docs)

    h = make(FakeCluster(bulk=flaky), concurrent_requests=1)
    h.sink.deliver(items(4)).result(WAIT)
    assert len(h.cluster.bulks) == 3 and len(h.cluster.indexed) == 4
    assert h.sink.stats().by_reason["server_error"] == 4 and h.sink.stats().by_reason["timeout"] == 4


def test_mapping_error_is_dead_lettered_with_document_error_and_source(make: Any) -> None:
    def one_bad(docs: list[Any]) -> list[tuple[int, Any]]:
        return [(400, es_error("document_parsing_exception", "failed to parse field [n] of type [long]"))
                if doc_id == "id-000002" else (201, None) for _, doc_id, _ in docs]

    h = make(FakeCluster(bulk=one_bad))
    h.sink.deliver(items(5)).result(WAIT)
    [letter] = h.dead.letters
    assert (letter.stage, letter.reason, letter.id, letter.index) == (
        "index", "parsing", "id-000002", "logs-aws.cloudtrail-default")
    assert "failed to parse field [n]" in letter.message and '"n":2' in letter.raw
    assert letter.source.sequence == "1002"
    assert len(h.cluster.indexed) == 4 and h.sink.stats().dead_lettered == 1


def test_failed_dead_letter_write_fails_the_delivery(make: Any) -> None:
    h = make(FakeCluster(bulk=lambda docs: [(400, es_error("mapper_parsing_exception"))] * len(docs)))
    h.dead.fail = SinkError("s3 refused")
    with pytest.raises(SinkError, match="dead-letter write failed"):
        h.sink.deliver(items(2)).result(WAIT)


SHARD_LIMIT = {"type": "validation_exception", "reason": (  # Elasticsearch 8.19's answer, as captured
    "Validation Failed: 1: this action would add [2] shards, but this cluster currently has [1]/[1] maximum "
    "normal shards open; for more information, see https://www.elastic.co/guide/en/elasticsearch/reference/"
    "8.19/size-your-shards.html#troubleshooting-max-shards-open;")}


def test_the_cluster_shard_limit_keeps_documents_waiting_until_an_operator_raises_it(make: Any) -> None:
    limited = threading.Event()
    limited.set()

    def shard_limit(docs: list[Any]) -> list[tuple[int, Any]]:
        return [(400, SHARD_LIMIT) if limited.is_set() else (201, None) for _ in docs]

    before = metric("secstash_search_retried_documents_total", dataset="aws.cloudtrail", reason="cluster_limit")
    h = make(FakeCluster(bulk=shard_limit))
    future = h.sink.deliver(items(5))
    wait_until(lambda: metric("secstash_search_retried_documents_total", dataset="aws.cloudtrail",
                              reason="cluster_limit") - before >= 10, timeout=WAIT, what="cluster_limit retries")
    assert not future.done() and not h.dead.letters  # not dead-lettered: the batch is not checkpointed
    limited.clear()  # the operator raised cluster.max_shards_per_node
    future.result(WAIT)
    assert len(h.cluster.indexed) == 5 and h.sink.stats().dead_lettered == 0


def test_the_cluster_shard_limit_spills_after_spill_after_s_instead_of_dead_lettering(make: Any) -> None:
    h = make(FakeCluster(bulk=lambda docs: [(400, SHARD_LIMIT)] * len(docs)), manual_clock=True, spill_after_s=60)
    future = h.sink.deliver(items(5))
    wait_until(lambda: h.sink.stats().by_reason["cluster_limit"] >= 5, timeout=WAIT, what="retries")
    h.clock.advance(61)
    future.result(WAIT)
    assert h.sink.stats().spilled == 5 and not h.dead.letters


class QueuedDeadLetters:
    """Dead-letter writes that stay queued (a slow S3) until the test settles them."""

    def __init__(self) -> None:
        self.writes: list[tuple[list[Any], Future[None]]] = []
        self.lock = threading.Lock()

    def deliver(self, entries: list[Any]) -> Future[None]:
        future: Future[None] = Future()
        with self.lock:
            self.writes.append((list(entries), future))
        return future

    def queued(self) -> int:
        with self.lock:
            return sum(len(entries) for entries, _ in self.writes)


def rejecting(docs: list[Any]) -> list[tuple[int, Any]]:
    return [(400, es_error("mapper_parsing_exception"))] * len(docs)


def test_a_cancelled_dead_letter_write_fails_the_delivery(make: Any) -> None:
    # DeadLetterSink.close() cancels the writes still queued: their documents must not wait for ever.
    dead = QueuedDeadLetters()
    h = make(FakeCluster(bulk=rejecting), dead=dead)
    future = h.sink.deliver(items(3))
    wait_until(lambda: dead.queued() == 3, timeout=WAIT, what="the dead-letter writes queued")
    for _, write in dead.writes:
        assert write.cancel()
    with pytest.raises(SinkClosed, match="dead-letter write cancelled"):
        future.result(WAIT)
    assert h.sink._outstanding == 0 and h.sink._in_flight_bytes == 0 and h.sink.stats().dead_lettered == 0


def test_a_failure_inside_the_dead_letter_callback_fails_the_delivery(make: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("metrics broke")

    monkeypatch.setattr("sinks.search.events.documents_dead_lettered", broken)
    h = make(FakeCluster(bulk=rejecting))
    with pytest.raises(SinkError, match="dead-letter outcome not recorded: RuntimeError: metrics broke"):
        h.sink.deliver(items(2)).result(WAIT)
    assert h.sink._outstanding == 0 and h.sink._in_flight_bytes == 0


def test_index_block_is_retried_and_raises_the_block_metric_until_lifted(make: Any) -> None:
    blocked = threading.Event()
    blocked.set()

    def read_only(docs: list[Any]) -> list[tuple[int, Any]]:
        if blocked.is_set():
            return [(403, es_error("cluster_block_exception",
                                   "index [x] blocked by: [FORBIDDEN/8/index write (api)];"))] * len(docs)
        return [(201, None)] * len(docs)

    before = metric("secstash_search_blocked_documents_total", dataset="aws.cloudtrail")
    h = make(FakeCluster(bulk=read_only))
    future = h.sink.deliver(items(3))
    wait_until(lambda: metric("secstash_search_blocked_documents_total", dataset="aws.cloudtrail") - before >= 9,
               timeout=WAIT, what="blocked retries")
    assert metric("secstash_search_index_blocked") == 1 and not future.done()
    blocked.clear()
    future.result(WAIT)
    assert metric("secstash_search_index_blocked") == 0 and not h.dead.letters


def test_too_large_request_is_split_and_a_single_too_large_document_dead_lettered(make: Any) -> None:
    def limit(docs: list[Any]) -> Any:
        if len(docs) > 2 or any(d["n"] == 5 for _, _, d in docs):
            return Reply(413, "request entity too large")
        return [(201, None)] * len(docs)

    h = make(FakeCluster(bulk=limit), concurrent_requests=1)
    h.sink.deliver(items(8)).result(WAIT)
    assert len(h.cluster.indexed) == 7
    assert [d.id for d in h.dead.letters] == ["id-000005"] and h.dead.letters[0].reason == "too_large"


def test_a_split_whose_second_half_raises_resolves_only_once_every_document_is_in(make: Any) -> None:
    calls: list[list[str]] = []
    second_half_in = threading.Event()

    def bulk(docs: list[Any]) -> Any:
        calls.append([doc_id for _, doc_id, _ in docs])
        if len(calls) == 1:
            return Reply(413, "request entity too large")
        if len(calls) == 3:  # the second half: an error the client does not translate (a bug, a bad reply)
            raise ValueError("not a bulk reply")
        if "id-000003" in calls[-1] and not second_half_in.wait(WAIT):
            raise AssertionError("the test never let the second half in")
        return [(201, None)] * len(docs)

    h = make(FakeCluster(bulk=bulk), concurrent_requests=1)
    future = h.sink.deliver(items(4))
    wait_until(lambda: len(calls) >= 4, timeout=WAIT, what="the retry of the failed request")
    assert not future.done()  # two of four documents are not indexed yet
    second_half_in.set()
    future.result(WAIT)
    assert sorted(h.cluster.indexed) == [f"id-00000{n}" for n in range(4)]
    assert all("id-000000" not in call for call in calls[2:])  # the settled half does not go out again
    h.sink.close(WAIT)
    assert h.sink._outstanding == 0 and h.sink._in_flight_bytes == 0


def test_documents_not_indexed_within_spill_after_are_spilled_and_delivered(make: Any) -> None:
    h = make(manual_clock=True, spill_after_s=60)
    h.cluster.reachable = False
    future = h.sink.deliver(items(20))
    wait_until(lambda: len(h.cluster.bulks) == 0 and len(h.cluster.requests) > 3, timeout=WAIT, what="retries")
    assert not future.done()
    h.clock.advance(61)
    future.result(WAIT)
    spilled = [i for key in h.spilled_keys() for i in decode(gzip.decompress(h.s3.body(key)))]
    assert sorted(i.id for i in spilled) == sorted(i.id for i in items(20))
    assert spilled[0].body == items(1)[0].body and spilled[0].source == items(1)[0].source
    assert h.sink.stats().spilled == 20 and metric("secstash_search_spilling") == 1


def test_while_spilling_new_documents_go_straight_to_spill(make: Any) -> None:
    h = make(manual_clock=True, spill_after_s=60)
    h.cluster.reachable = False
    first = h.sink.deliver(items(5))
    h.clock.advance(61)
    first.result(WAIT)
    h.sink.deliver(items(5, start=100)).result(WAIT)  # no clock advance needed
    assert h.sink.stats().spilled == 10


def test_spilled_batches_are_redriven_in_order_once_the_cluster_is_healthy(make: Any) -> None:
    h = make(manual_clock=True, spill_after_s=60, bulk_max_docs=5, concurrent_requests=1)
    h.cluster.reachable = False
    future = h.sink.deliver(items(20))
    h.clock.advance(61)
    future.result(WAIT)
    assert len(h.spilled_keys()) == 4 and not h.cluster.indexed
    h.cluster.reachable = True
    wait_until(lambda: len(h.cluster.indexed) == 20, timeout=WAIT, what="redrive")
    wait_until(lambda: len(h.s3.keys("spill/done/")) == 4, timeout=WAIT, what="markers")
    order = [doc_id for bulk in h.cluster.bulks for _, doc_id, _ in bulk]
    assert order == sorted(order)
    assert metric("secstash_search_spilling") == 0


def test_deliver_blocks_while_in_flight_bytes_are_over_the_cap(make: Any) -> None:
    gate = threading.Event()

    def slow(docs: list[Any]) -> list[tuple[int, Any]]:
        gate.wait(WAIT)
        return [(201, None)] * len(docs)

    h = make(FakeCluster(bulk=slow), max_in_flight_bytes=1024 * 1024, bulk_max_bytes=1024 * 1024)
    first = h.sink.deliver(items(10, size=90_000))  # ~900 kB in flight
    returned = threading.Event()
    second: list[Future[None]] = []
    thread = threading.Thread(target=lambda: (second.append(h.sink.deliver(items(2, start=50, size=90_000))),
                                              returned.set()))
    thread.start()
    assert not returned.wait(0.3)  # blocked: the cap holds
    gate.set()
    first.result(WAIT)
    assert returned.wait(WAIT)
    second[0].result(WAIT)
    thread.join()


def test_wait_for_room_waits_while_the_cap_is_reached_and_counts_the_waiter(make: Any) -> None:
    gate = threading.Event()

    def slow(docs: list[Any]) -> list[tuple[int, Any]]:
        gate.wait(WAIT)
        return [(201, None)] * len(docs)

    h = make(FakeCluster(bulk=slow), max_in_flight_bytes=1024 * 1024, bulk_max_bytes=1024 * 1024)
    h.sink.wait_for_room()  # empty: room at once
    first = h.sink.deliver(items(12, size=90_000))  # ~1.08 MB: over the cap, taken alone
    waiting = metric("secstash_search_waiting_for_room")
    roomy = threading.Event()
    thread = threading.Thread(target=lambda: (h.sink.wait_for_room(), roomy.set()))
    thread.start()
    wait_until(lambda: metric("secstash_search_waiting_for_room") == waiting + 1, timeout=WAIT, what="the waiter")
    assert not roomy.is_set()
    gate.set()
    first.result(WAIT)
    assert roomy.wait(WAIT)
    thread.join(WAIT)
    assert metric("secstash_search_waiting_for_room") == waiting


def test_wait_for_room_raises_sink_closed_when_the_sink_closes(make: Any) -> None:
    h = make(FakeCluster(reachable=False), max_in_flight_bytes=1024 * 1024, bulk_max_bytes=1024 * 1024)
    h.sink.deliver(items(12, size=90_000))
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            h.sink.wait_for_room()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            outcome.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    wait_until(lambda: metric("secstash_search_waiting_for_room") >= 1, timeout=WAIT, what="the waiter")
    h.sink.close(0.1)
    thread.join(WAIT)
    assert len(outcome) == 1 and isinstance(outcome[0], SinkClosed)
    with pytest.raises(SinkClosed):
        h.sink.wait_for_room()


def test_close_flushes_in_flight_documents(make: Any) -> None:
    h = make(start=True)
    future = h.sink.deliver(items(100))
    h.sink.close(WAIT)
    assert future.result(0) is None and len(h.cluster.indexed) == 100


def test_close_fails_what_cannot_be_flushed_and_refuses_new_documents(make: Any) -> None:
    h = make()
    h.cluster.reachable = False
    future = h.sink.deliver(items(3))
    h.sink.close(0.2)
    with pytest.raises(SinkClosed):
        future.result(WAIT)
    with pytest.raises(SinkClosed):
        h.sink.deliver(items(1)).result(WAIT)


def test_start_refuses_credentials_the_cluster_rejects(make: Any) -> None:
    h = make(FakeCluster(auth_status=401), start=False)
    with pytest.raises(SinkConfigError, match="credentials"):
        h.sink.start()


def test_start_warns_when_credentials_would_cross_plain_http(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sinks.search import events

    warned: list[list[str]] = []
    monkeypatch.setattr(events, "credentials_in_clear", warned.append)
    make(FakeCluster(), hosts=["http://search:9200"], username="u", password="p")
    make(FakeCluster(), hosts=["https://search:9200"], username="u", password="p")
    assert warned == [["http://search:9200"]]


def test_start_warns_when_plain_indices_are_outside_the_logs_data_view(make: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from sinks.search import events

    warned: list[str] = []
    monkeypatch.setattr(events, "outside_logs_view", warned.append)
    make(data_streams=False, index_pattern="secstash-{dataset}-{namespace}")
    make(data_streams=False, index_pattern="logs-{dataset}-{namespace}-{date}")
    make()  # data streams: logs-<dataset>-<namespace>
    assert warned == ["secstash-{dataset}-{namespace}"]


def test_start_picks_the_client_major_version_of_the_server(make: Any) -> None:
    cluster = FakeCluster(version="9.1.0", get_root_status=200)
    h = make(cluster)
    assert h.sink.server is not None and h.sink.server.major == 9 and cluster.major == 9


def test_start_refuses_unsupported_elasticsearch_versions(make: Any) -> None:
    h = make(FakeCluster(version="7.17.0", get_root_status=200), start=False)
    with pytest.raises(SinkConfigError, match="not supported"):
        h.sink.start()


def test_unreachable_cluster_at_start_is_set_up_when_it_answers(make: Any) -> None:
    cluster = FakeCluster(reachable=False)
    h = make(cluster)
    assert not h.sink.healthy()
    future = h.sink.deliver(items(3))
    cluster.reachable = True
    future.result(WAIT)
    assert h.sink.healthy() and h.sink.server is not None


def test_templates_are_installed_at_start_unless_disabled(make: Any) -> None:
    h = make(install_templates=True)
    paths = [r[1] for r in h.cluster.requests if r[0] == "PUT"]
    assert "/_index_template/secstash-logs-aws.cloudtrail" in paths
    assert "/_component_template/secstash-ecs@mappings" in paths
    assert "/_ilm/policy/secstash-logs" in paths
    h2 = make()
    assert not [r for r in h2.cluster.requests if r[0] == "PUT"]


def test_a_cluster_absent_since_start_still_lets_documents_spill(make: Any) -> None:
    h = make(FakeCluster(reachable=False), manual_clock=True, spill_after_s=60)
    assert h.sink.server is None
    future = h.sink.deliver(items(4))
    h.clock.advance(61)
    future.result(WAIT)
    assert h.sink.stats().spilled == 4 and not h.cluster.bulks


@dataclass
class _GarbledHealthCluster(FakeCluster):
    """Answers /_cluster/health with what the client cannot read (a proxy's HTML page) while `garbled`."""

    garbled: bool = False

    def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        if path == "/_cluster/health" and self.garbled:
            raise ValueError("Unknown mimetype, unable to deserialize: text/html")
        return super().request(method, path, **kwargs)


def test_an_unreadable_health_answer_is_unhealthy_and_the_monitor_lives_on_to_leave_spill_mode(make: Any) -> None:
    cluster = _GarbledHealthCluster()
    h = make(cluster, manual_clock=True, health_interval_s=0.02, spill_after_s=60)
    cluster.garbled = True
    wait_until(lambda: not h.sink.healthy(), timeout=WAIT, what="the unreadable answer counted as unhealthy")
    cluster.garbled, cluster.reachable = False, False  # then a plain outage: documents spill
    first = h.sink.deliver(items(3))
    h.clock.advance(61)
    first.result(WAIT)
    assert h.sink.stats().spilled == 3 and h.sink.alive()
    cluster.reachable = True  # back: only the monitor's next check ends spill mode
    wait_until(h.sink.healthy, timeout=WAIT, what="healthy again")
    h.sink.deliver(items(3, start=10)).result(WAIT)
    # The new documents go straight in, and the spilled ones are redriven.
    wait_until(lambda: h.sink.stats().indexed == 6, timeout=WAIT, what="new and spilled documents indexed")
    assert h.sink.alive()
