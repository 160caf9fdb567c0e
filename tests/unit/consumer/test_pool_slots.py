"""Shared-memory slots through which pool workers hand back their chunks' results: what a worker writes is read
here whole, what does not fit takes the pipe, a slot is free again only once nobody writes into it, and a large
result's pages are given back."""

from __future__ import annotations

import base64
import gzip
import multiprocessing
import os
import pickle
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor

import orjson
import pytest
from prometheus_client import REGISTRY

from consumer import pool as pool_module
from consumer import pool_slots
from consumer.pool import ParserPool, WorkerConfig, _Call, parse_chunk
from consumer.pool_slots import ResultSlots, Stashed
from parsers import ParseOptions, StreamParsing

MIB = 1 << 20
_WORKER_SLOTS: pool_slots.WorkerSlots | None = None


def _keep(slots: pool_slots.WorkerSlots) -> None:
    global _WORKER_SLOTS
    _WORKER_SLOTS = slots


def _stash(slot: int, results: object) -> object:
    assert _WORKER_SLOTS is not None
    return _WORKER_SLOTS.stash(slot, results)


@pytest.fixture
def slots() -> Iterator[ResultSlots]:
    made = ResultSlots(3, size=4 * MIB, keep=1 * MIB)
    yield made
    made.close()


@pytest.fixture
def worker(slots: ResultSlots) -> Iterator[ProcessPoolExecutor]:
    # forkserver, as the parser pool starts its workers: the slots' memfd goes along with the starting worker
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(1, mp_context=context, initializer=_keep, initargs=(slots,)) as executor:
        yield executor


def _results(size: int) -> dict[str, object]:
    return {"lines": os.urandom(size), "counts": {"cloudtrail": 3}, "runs": [(0, b"a" * 100), (5, b"")]}


def test_results_a_worker_writes_into_a_slot_are_read_here_whole(slots, worker) -> None:
    sent = _results(2 * MIB)
    slot = slots.claim()
    assert slot is not None
    stashed = worker.submit(_stash, slot, sent).result(timeout=60)
    assert type(stashed) is Stashed and stashed.slot == slot
    assert slots.read(stashed) == sent


def test_results_larger_than_a_slot_come_back_through_the_pipe_themselves(slots, worker) -> None:
    sent = _results(5 * MIB)
    assert worker.submit(_stash, slots.claim(), sent).result(timeout=60) == sent


def test_a_slot_written_again_holds_the_new_results_only(slots, worker) -> None:
    slot = slots.claim()
    first, second = _results(3 * MIB), _results(10)
    assert slots.read(worker.submit(_stash, slot, first).result(timeout=60)) == first
    assert slots.read(worker.submit(_stash, slot, second).result(timeout=60)) == second


def test_a_large_result_gives_its_pages_back_once_read_and_a_small_one_keeps_them(slots, worker) -> None:
    slot = slots.claim()
    small = worker.submit(_stash, slot, _results(MIB // 2)).result(timeout=60)
    slots.read(small)
    assert MIB // 2 <= slots.resident_bytes() <= MIB  # what a slot keeps stays written: no fault next time
    large = worker.submit(_stash, slot, _results(3 * MIB)).result(timeout=60)
    assert slots.resident_bytes() >= 3 * MIB
    slots.read(large)
    assert slots.resident_bytes() <= MIB  # keep=1 MiB: the rest went back


def test_a_pools_slots_keep_the_pages_of_the_benchs_largest_chunks_for_the_next() -> None:
    # The mixed corpus's chunks return up to ~6 MB: their pages stay written, so the next result faults none
    made = pool_slots.create(2)
    assert made is not None
    context = multiprocessing.get_context("forkserver")
    try:
        with ProcessPoolExecutor(1, mp_context=context, initializer=_keep, initargs=(made,)) as executor:
            slot = made.claim()
            assert made.read(executor.submit(_stash, slot, _results(6 * MIB)).result(timeout=60))
            assert made.resident_bytes() >= 6 * MIB
    finally:
        made.close()


def test_when_every_slot_is_claimed_there_is_none_until_one_is_released(slots) -> None:
    claimed = {slots.claim() for _ in range(3)}
    assert claimed == {0, 1, 2}
    assert slots.claim() is None
    slots.release(1)
    assert slots.claim() == 1


def test_slots_cross_only_to_a_worker_being_started() -> None:
    slots = ResultSlots(1, size=MIB)
    try:
        with pytest.raises(TypeError, match="initializer"):
            pickle.dumps(slots)
    finally:
        slots.close()


def test_an_abandoned_call_frees_its_slot_once_its_worker_is_done_with_it_not_before(slots) -> None:
    slot = slots.claim()
    running: Future[object] = Future()
    call = _Call(None, running, slots, slot)
    call.abandon()
    others = [slots.claim(), slots.claim()]
    assert slot not in others and slots.claim() is None  # the worker may still be writing into it
    running.set_result(Stashed(slot, 10))
    assert slots.claim() == slot


def test_a_call_frees_its_slot_whether_its_results_came_or_its_worker_failed(slots) -> None:
    for outcome in ("result", "error"):
        slot = slots.claim()
        done: Future[object] = Future()
        if outcome == "result":
            done.set_result("parsed through the pipe")
        else:
            done.set_exception(RuntimeError("worker failed"))
        call = _Call(None, done, slots, slot)
        if outcome == "result":
            assert call.outcome() == "parsed through the pipe"
        else:
            with pytest.raises(RuntimeError):
                call.outcome()
        assert sorted(slots.claim() for _ in range(3)) == [0, 1, 2]
        for claimed in range(3):
            slots.release(claimed)


# --- the parser pool --------------------------------------------------------------------------------------

CONFIG = WorkerConfig({"logs": StreamParsing(stream="logs", namespace="prod")}, ParseOptions())


def _records(count: int) -> list[list[object]]:
    def record(seq: int) -> list[object]:
        data = gzip.compress(orjson.dumps({
            "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/ecs/app", "logStream": "app/1",
            "subscriptionFilters": ["f"],
            "logEvents": [{"id": str(i), "timestamp": 1_700_000_000_000, "message": f"event {seq}.{i} " + "x" * 200}
                          for i in range(20)]}))
        return [str(seq), 0, 1_700_000_000_000, "pk", base64.b64encode(data).decode()]

    return [record(seq) for seq in range(count)]


def _via(way: str) -> float:
    return REGISTRY.get_sample_value("secstash_parser_pool_results_total", {"via": way}) or 0.0


@pytest.mark.parametrize("slot_bytes, way", [(8 * MIB, "slot"), (64 * 1024, "pipe")])
def test_the_parser_pools_results_are_the_same_through_slots_or_through_the_pipe(monkeypatch, slot_bytes, way):
    monkeypatch.setattr(pool_slots, "SLOT_BYTES", slot_bytes)  # 64 KiB: smaller than a chunk's results
    records = _records(300)
    expected = parse_chunk("logs", "shardId-1", records, CONFIG)
    before = _via(way)
    pool = ParserPool(CONFIG, workers=2)
    try:
        parsed = [pool.parse("logs", "shardId-1", records) for _ in range(3)]  # slots used again and again
    finally:
        pool.close()
    for got in parsed:
        assert [(i.id, i.body) for i in got.items] == [(i.id, i.body) for i in expected.items]
        assert got.event_count == expected.event_count == 6000
    assert _via(way) - before == 3 * 2  # every chunk of every batch came back that way


def _crash_on_poison(slot: int | None, stream: str, shard: str, chunk: list, *rest: object) -> object:
    if any(w[0] == "999" for w in chunk):
        os._exit(1)  # as a segfault or the OOM killer ends a worker
    if slot is None:
        return pool_module.parse_in_worker(stream, shard, chunk, *rest)  # type: ignore[arg-type]
    return pool_module.parse_into_slot(slot, stream, shard, chunk, *rest)  # type: ignore[arg-type]


class _SlottedCrashing(ProcessPoolExecutor):
    """The pool's own executor (slots, initializer), whose worker dies on a poison record."""

    def submit(self, fn, *args):  # type: ignore[override]
        if fn is pool_module.parse_into_slot:
            return super().submit(_crash_on_poison, *args)
        return super().submit(_crash_on_poison, None, *args)


def test_a_worker_that_dies_mid_batch_leaves_every_slot_free_and_the_rest_parsed() -> None:
    context = multiprocessing.get_context("forkserver")
    built: list[ResultSlots] = []

    def factory(workers: int, config: WorkerConfig) -> ProcessPoolExecutor:
        slots = pool_slots.create(2 * workers + 2)
        assert slots is not None
        executor = _SlottedCrashing(max_workers=workers, mp_context=context, initializer=pool_module._init_worker,
                                    initargs=(config, None, slots))
        pool_slots.attach(executor, slots)
        built.append(slots)
        return executor

    records = _records(100)
    records.insert(10, ["999", *records[10][1:]])  # its worker dies on it
    pool = ParserPool(CONFIG, workers=2, executor_factory=factory)
    try:
        parsed = pool.parse("logs", "shardId-1", records)
        again = pool.parse("logs", "shardId-1", _records(100))  # the replaced pool, through its own slots
    finally:
        pool.close()
    assert [d.source.sequence for d in parsed.dead_letters] == ["999"]
    assert parsed.event_count == 100 * 20 + 1 and again.event_count == 100 * 20
    for slots in built:  # the broken pool's, the isolation pools', the replacement's: none left claimed
        assert sorted(slots.claim() for _ in range(slots.count)) == list(range(slots.count))
