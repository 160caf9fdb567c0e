from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

from sinks.archive.replay import RateLimiter, Replayer
from sinks.batch import BulkItem, Source
from sinks.documents import document_id
from tests.unit.sinks.archive.fakes import FakeS3
from tests.unit.sinks.archive.helpers import T0, archive, archive_without_dedupe, batch


class Target:
    def __init__(self, conflicts_every: int = 0) -> None:
        self.items: list[BulkItem] = []
        self.conflicts_every = conflicts_every

    def deliver(self, items: Sequence[BulkItem]) -> Future[Any]:
        self.items.extend(items)
        done: Future[Any] = Future()
        conflicts = len(items) // self.conflicts_every if self.conflicts_every else 0
        done.set_result(SimpleNamespace(created=len(items) - conflicts, conflicts=conflicts, dead_lettered=0))
        return done


def parse(stream: str, shard: str, records: Sequence[Sequence[Any]]) -> Any:
    items = [BulkItem("logs-test-default", document_id(stream, shard, r[0], r[1], 0, 0), r[4].encode(),
                      "cloudtrail" if int(r[0][-2]) % 2 else "vpcflow", Source(stream, shard, r[0], r[1], 0))
             for r in records]
    return SimpleNamespace(items=items, dead_letters=[])


def replayer(s3: FakeS3, target: Target, **kwargs: Any) -> Replayer:
    return Replayer(s3, "tamper-bucket", "archive", parse, target, **kwargs)


def test_every_record_is_replayed_once_in_order_even_when_archived_twice():
    s3 = FakeS3(versioned=False, lock=None)
    archive_without_dedupe(s3, batch(0, 10), batch(5, 15), batch(15, 20))
    target = Target()
    r = replayer(s3, target)
    report = r.run(r.plan(None, None, None), None, None)
    assert report.records == 25 and report.duplicate_records == 5 and report.created == 20
    sources = [int(i.source.sequence) for i in target.items]
    assert sources == sorted(sources) and len(set(sources)) == 20


def test_only_records_that_arrived_in_the_range_are_replayed():
    s3 = FakeS3(versioned=False, lock=None)
    archive(s3, batch(0, 20))  # arrivals T0 + i*100 ms
    target = Target()
    r = replayer(s3, target)
    since, until = T0 + 500, T0 + 1500
    report = r.run(r.plan(None, since, until), since, until)
    assert report.created == 10 and report.out_of_range_records == 10


def test_conflicts_reported_by_the_target_are_counted_as_already_there():
    s3 = FakeS3(versioned=False, lock=None)
    archive(s3, batch(0, 10))
    r = replayer(s3, Target(conflicts_every=2))
    report = r.run(r.plan(None, None, None), None, None)
    assert (report.created, report.conflicts) == (5, 5)


def test_a_dataset_filter_keeps_only_that_dataset():
    s3 = FakeS3(versioned=False, lock=None)
    archive(s3, batch(0, 10))
    target = Target()
    r = replayer(s3, target, datasets=frozenset({"vpcflow"}))
    report = r.run(r.plan(None, None, None), None, None)
    assert {i.dataset for i in target.items} == {"vpcflow"}
    assert report.documents + report.skipped_documents == 10


def test_rate_limiter_waits_for_what_a_burst_overdraws():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(100, clock=lambda: now[0], sleep=sleep)
    limiter.acquire(100)  # the first second's worth is free
    assert slept == []
    limiter.acquire(50)
    assert slept == [0.5]
    now[0] += 10
    limiter.acquire(100)  # idle time refills, but only up to one second's worth
    assert slept == [0.5]
    RateLimiter(None).acquire(10**9)


def test_a_target_with_stats_is_counted_from_them():
    class Stats:
        def __init__(self, indexed: int, duplicates: int) -> None:
            self.indexed, self.duplicates, self.dead_lettered, self.spilled = indexed, duplicates, 0, 0

    class SearchLike(Target):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def stats(self) -> Stats:
            self.calls += 1
            return Stats(100, 7) if self.calls == 1 else Stats(103, 14)

    s3 = FakeS3(versioned=False, lock=None)
    archive(s3, batch(0, 10))
    r = replayer(s3, SearchLike())
    report = r.run(r.plan(None, None, None), None, None)
    assert (report.created, report.conflicts) == (3, 7)


HOUR_MS = 3_600_000
NEXT_HOUR = T0 - T0 % HOUR_MS + HOUR_MS  # 2023-11-14T23:00Z


def test_records_after_since_are_replayed_from_an_object_filed_under_the_hour_before():
    s3 = FakeS3(versioned=False, lock=None)
    archive(s3, batch(0, 10, t0=NEXT_HOUR - 500))  # 5 records before 23:00, 5 after: filed under 22:00
    target = Target()
    r = replayer(s3, target)
    since, until = NEXT_HOUR, NEXT_HOUR + HOUR_MS
    report = r.run(r.plan(None, since, until), since, until)
    assert (report.created, report.out_of_range_records) == (5, 5)


def test_an_object_spanning_hours_is_found_and_objects_ending_before_since_are_not_read():
    s3 = FakeS3(versioned=False, lock=None)
    early = NEXT_HOUR - 5 * HOUR_MS
    archive(s3, batch(0, 3, t0=early, step_ms=60_000),  # 18:00-18:02: ends long before since
            batch(3, 6, t0=early, step_ms=HOUR_MS))  # 21:00, 22:00, 23:00 (a quiet shard), filed under 21:00
    target = Target()
    r = replayer(s3, target)
    since = NEXT_HOUR - 1
    report = r.run(r.plan(None, since, None), since, None)
    assert report.objects == 1 and report.created == 1
    assert [int(i.source.sequence) for i in target.items] == [int(batch(5, 6).records[0].sequence)]


def test_records_the_parser_defers_are_parsed_in_later_rounds_each_sent_before_the_next():
    calls: list[list[tuple[str, int]]] = []

    def parse_two(stream: str, shard: str, records: Sequence[Sequence[Any]]) -> Any:
        """At most two records a round; a record of several log objects goes on from the one it names."""
        calls.append([(r[0], r[5] if len(r) > 5 else 0) for r in records])
        done_now, later = records[:2], list(records[2:])
        if len(records[0]) == 5:  # the first record stops after its first log object
            later.insert(0, [*records[0][:5], 1])
            done_now = records[1:2]
        return SimpleNamespace(items=parse(stream, shard, done_now).items, dead_letters=[], deferred=later)

    s3 = FakeS3(versioned=False, lock=None)
    archive(s3, batch(0, 5))
    target = Target()
    r = Replayer(s3, "tamper-bucket", "archive", parse_two, target)
    report = r.run(r.plan(None, None, None), None, None)
    assert max(len(c) for c in calls[1:]) <= 4 and calls[1][0][1] == 1  # the resumed record, from pointer 1
    assert report.documents == len(target.items) == 5
    assert len({i.id for i in target.items}) == 5
