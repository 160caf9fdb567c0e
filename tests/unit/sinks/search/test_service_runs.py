"""SearchSink with the compiled path's DocumentRuns: a run goes out as its bulk lines and settles whole when all
its documents do; one that needs anything else (a retry, a dead letter, a smaller request, a spill) becomes a
BulkItem per document, each with its own source, and only those go out again."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from sinks.search.client import Reply
from sinks.search.spill import decode

from .fakes import FakeCluster, es_error, group, items, run, run_id
from .test_service import WAIT, make

__all__ = ["make"]

# Each runs on runs as the compiled path hands them over and as a worker sends them to a sink that gzips its
# bodies (a deflate segment, the lines inflated only for a document that needs a request of its own).
DEFLATED = pytest.mark.parametrize("deflated", [False, True], ids=["lines", "deflated"])


def sent_ids(bulk: list[Any]) -> list[str]:
    return [doc_id for _, doc_id, _ in bulk]


@DEFLATED
def test_runs_and_items_go_out_in_order_within_the_bounds_and_settle_whole(make: Any, deflated: bool) -> None:
    h = make(bulk_max_docs=10, concurrent_requests=1)
    entries = [*items(3), run(25, sequence="2001", deflated=deflated), *items(2, start=3), run(4, sequence="2002", deflated=deflated)]
    h.sink.deliver(entries).result(WAIT)
    expected = [*(f"id-{n:06d}" for n in range(3)), *(run_id("2001", n) for n in range(25)),
                *(f"id-{n:06d}" for n in range(3, 5)), *(run_id("2002", n) for n in range(4))]
    assert [i for b in h.cluster.bulks for i in sent_ids(b)] == expected
    assert all(len(b) <= 10 for b in h.cluster.bulks) and len(h.cluster.bulks) >= 4
    assert h.sink.stats().indexed == 34
    h.sink.close(WAIT)
    assert h.sink._outstanding == 0 and h.sink._in_flight_bytes == 0


@DEFLATED
def test_a_run_cut_to_the_byte_bound_keeps_every_document(make: Any, deflated: bool) -> None:
    per_request = 1024 // len(run(1).ndjson())  # documents of a run are all the same size here
    h = make(bulk_max_bytes=1024, concurrent_requests=1)
    h.sink.deliver([run(20, deflated=deflated)]).result(WAIT)
    assert [len(b) for b in h.cluster.bulks] == [per_request] * (20 // per_request) + [20 % per_request]
    assert sorted(h.cluster.indexed) == sorted(run_id("2000", n) for n in range(20))


@DEFLATED
def test_only_the_document_of_a_run_refused_with_429_is_sent_again(make: Any, deflated: bool) -> None:
    throttled = run_id("2000", 3)
    calls = {"n": 0}

    def one_throttled(docs: list[Any]) -> list[tuple[int, Any]]:
        calls["n"] += 1
        return [(429, es_error("es_rejected_execution_exception")) if calls["n"] == 1 and doc_id == throttled
                else (201, None) for _, doc_id, _ in docs]

    h = make(FakeCluster(bulk=one_throttled), concurrent_requests=1)
    future = h.sink.deliver([run(6, deflated=deflated)])
    future.result(WAIT)
    assert [sent_ids(b) for b in h.cluster.bulks] == [[run_id("2000", n) for n in range(6)], [throttled]]
    assert h.sink.stats().indexed == 6 and h.sink.stats().retried == 1
    h.sink.close(WAIT)
    assert h.sink._outstanding == 0 and h.sink._in_flight_bytes == 0


@DEFLATED
def test_a_rejected_document_of_a_run_is_dead_lettered_with_its_own_source_and_body(make: Any, deflated: bool) -> None:
    bad = run_id("2000", 7)

    def one_bad(docs: list[Any]) -> list[tuple[int, Any]]:
        return [(400, es_error("document_parsing_exception", "failed to parse")) if doc_id == bad else (201, None)
                for _, doc_id, _ in docs]

    h = make(FakeCluster(bulk=one_bad))
    h.sink.deliver([run(5, first=5, deflated=deflated)]).result(WAIT)  # the record's events 5 to 9
    [letter] = h.dead.letters
    assert (letter.id, letter.reason, letter.source.sequence, letter.source.ordinal) == (bad, "parsing", "2000", 7)
    assert '"ordinal":7' in letter.raw
    assert len(h.cluster.indexed) == 4 and h.sink.stats().dead_lettered == 1


@DEFLATED
def test_a_run_too_large_for_the_cluster_is_split_down_to_the_document_that_is(make: Any, deflated: bool) -> None:
    big = run_id("2000", 2)

    def limit(docs: list[Any]) -> Any:
        if len(docs) > 2 or any(doc_id == big for _, doc_id, _ in docs):
            return Reply(413, "request entity too large")
        return [(201, None)] * len(docs)

    h = make(FakeCluster(bulk=limit), concurrent_requests=1)
    h.sink.deliver([run(6, deflated=deflated)]).result(WAIT)
    assert sorted(h.cluster.indexed) == sorted(run_id("2000", n) for n in (0, 1, 3, 4, 5))
    assert [(d.id, d.reason) for d in h.dead.letters] == [(big, "too_large")]


@DEFLATED
def test_runs_not_indexed_within_spill_after_are_spilled_as_documents(make: Any, deflated: bool) -> None:
    h = make(manual_clock=True, spill_after_s=60)
    h.cluster.reachable = False
    future = h.sink.deliver([run(4, first=1, deflated=deflated), *items(2)])
    h.clock.advance(61)
    future.result(WAIT)
    spilled = [i for key in h.spilled_keys() for i in decode(gzip.decompress(h.s3.body(key)))]
    expected = run(4, first=1).items() + items(2)
    assert [(i.id, i.body, i.source, i.dataset, i.index) for i in spilled] == \
           [(i.id, i.body, i.source, i.dataset, i.index) for i in expected]
    assert h.sink.stats().spilled == 6


@DEFLATED
def test_a_rejected_run_of_one_document_is_dead_lettered_not_retried(make: Any, deflated: bool) -> None:
    def refuse(docs: list[Any]) -> list[tuple[int, Any]]:
        return [(400, es_error("document_parsing_exception", "failed to parse")) for _ in docs]

    h = make(FakeCluster(bulk=refuse))
    h.sink.deliver([run(1, first=4, deflated=deflated)]).result(WAIT)
    [letter] = h.dead.letters
    assert (letter.id, letter.source.sequence, letter.source.ordinal) == (run_id("2000", 4), "2000", 4)
    assert h.sink.stats().dead_lettered == 1 and h.sink.stats().retried == 0


def test_a_group_of_runs_goes_out_whole_and_settles_whole(make: Any) -> None:
    h = make(bulk_max_docs=8, concurrent_requests=1)
    h.sink.deliver([*items(2), group(run(3, sequence="2001"), run(4, sequence="2002")), *items(2, start=2)]).result(WAIT)
    expected = [*(f"id-{n:06d}" for n in range(2)), *(run_id("2001", n) for n in range(3)),
                *(run_id("2002", n) for n in range(4)), *(f"id-{n:06d}" for n in range(2, 4))]
    assert [i for b in h.cluster.bulks for i in sent_ids(b)] == expected
    assert [len(b) for b in h.cluster.bulks] == [2, 8, 1]  # the group of 7 is not cut to fill the first request
    assert h.sink.stats().indexed == 11
    h.sink.close(WAIT)
    assert h.sink._outstanding == 0 and h.sink._in_flight_bytes == 0


def test_a_rejected_document_of_a_group_is_dead_lettered_with_its_own_record(make: Any) -> None:
    bad = run_id("2002", 6)

    def one_bad(docs: list[Any]) -> list[tuple[int, Any]]:
        return [(400, es_error("document_parsing_exception", "failed to parse")) if doc_id == bad else (201, None)
                for _, doc_id, _ in docs]

    h = make(FakeCluster(bulk=one_bad))
    h.sink.deliver([group(run(3, sequence="2001"), run(4, first=4, sequence="2002"))]).result(WAIT)
    [letter] = h.dead.letters
    assert (letter.id, letter.source.sequence, letter.source.ordinal) == (bad, "2002", 6)
    assert '"record":"2002","ordinal":6' in letter.raw
    assert len(h.cluster.indexed) == 6 and h.sink.stats().dead_lettered == 1 and h.sink.stats().indexed == 6


def test_a_group_too_large_for_the_cluster_is_split_down_to_the_document_that_is(make: Any) -> None:
    big = run_id("2002", 1)

    def limit(docs: list[Any]) -> Any:
        if len(docs) > 2 or any(doc_id == big for _, doc_id, _ in docs):
            return Reply(413, "request entity too large")
        return [(201, None)] * len(docs)

    h = make(FakeCluster(bulk=limit), concurrent_requests=1)
    h.sink.deliver([group(run(3, sequence="2001"), run(3, sequence="2002"))]).result(WAIT)
    assert sorted(h.cluster.indexed) == sorted([*(run_id("2001", n) for n in range(3)), run_id("2002", 0),
                                                run_id("2002", 2)])
    assert [(d.id, d.reason, d.source.sequence) for d in h.dead.letters] == [(big, "too_large", "2002")]


def test_a_group_not_indexed_within_spill_after_is_spilled_as_documents(make: Any) -> None:
    h = make(manual_clock=True, spill_after_s=60)
    h.cluster.reachable = False
    future = h.sink.deliver([group(run(2, sequence="2001"), run(3, first=1, sequence="2002"))])
    h.clock.advance(61)
    future.result(WAIT)
    spilled = [i for key in h.spilled_keys() for i in decode(gzip.decompress(h.s3.body(key)))]
    expected = run(2, sequence="2001").items() + run(3, first=1, sequence="2002").items()
    assert [(i.id, i.body, i.source, i.dataset, i.index) for i in spilled] == \
           [(i.id, i.body, i.source, i.dataset, i.index) for i in expected]
    assert h.sink.stats().spilled == 5
