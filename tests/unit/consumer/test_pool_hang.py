"""Records that hang a parser worker where its CPU-time limit cannot reach: inside one C call."""

from __future__ import annotations

import collections
import ctypes
import itertools
import multiprocessing
import os
import subprocess
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from consumer import events, hang_watch
from consumer import pool as pool_module
from consumer.pool import ParserPool, WorkerConfig, parse_chunk
from parsers import ParseOptions, StreamParsing
from tests.unit.consumer.test_pool import cwl, wire

# 0.5 CPU seconds, so a worker stuck on a record is killed after 1 s of wall time (hang_watch.WALL_FACTOR).
HANG_CONFIG = WorkerConfig({"logs": StreamParsing(stream="logs", namespace="prod")}, ParseOptions(),
                           parse_timeout_s=0.5)
_REAL_PARSE_RECORD = pool_module.parse_record


def _loop_in_c(data: bytes, *args, **kwargs):
    """parse_record, but a record holding b"hang" runs a C loop that never ends and never checks for signals:
    SIGPROF arrives, and the handler that would raise Overtime never runs."""
    if b"hang" in data:
        collections.deque(itertools.repeat(None), maxlen=0)
    return _REAL_PARSE_RECORD(data, *args, **kwargs)


def _block_in_c(data: bytes, *args, **kwargs):
    """parse_record, but a record holding b"hang" blocks in a C call: no CPU time passes, no SIGPROF comes."""
    if b"hang" in data:
        ctypes.CDLL(None).pause()
    return _REAL_PARSE_RECORD(data, *args, **kwargs)


def _crash_or_hang(data: bytes, *args, **kwargs):
    if b"crash" in data:
        os._exit(1)  # as a segfault or the OOM killer ends a worker
    return _block_in_c(data, *args, **kwargs)


_HANGS = {"loop": _loop_in_c, "block": _block_in_c, "crash_or_hang": _crash_or_hang}


def _parse_hanging(kind: str, stream: str, shard: str, chunk: list, config: object = None, *rest: object) -> object:
    pool_module.parse_record = _HANGS[kind]  # in this worker process only
    return parse_chunk(stream, shard, chunk, HANG_CONFIG, *rest)


def _factory(kind: str):
    """Real forkserver workers started as in production (initializer, hang-watch board), whose parser hangs."""
    context = multiprocessing.get_context("forkserver")

    class Hanging(ProcessPoolExecutor):
        def submit(self, fn, *args):  # type: ignore[override]
            return super().submit(_parse_hanging, kind, *args)

    def build(workers: int, config: WorkerConfig) -> ProcessPoolExecutor:
        board = hang_watch.watchdog(context).board
        return Hanging(max_workers=workers, mp_context=context, initializer=pool_module._init_worker,
                       initargs=(config, board))

    return build


def _parse_in_thread(pool: ParserPool, records: list, timeout_s: float = 120) -> object:
    result: dict[str, object] = {}

    def parse() -> None:
        try:
            result["parsed"] = pool.parse("logs", "shardId-0", records)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            result["parsed"] = exc

    thread = threading.Thread(target=parse, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), "the shard's parse round is still blocked by the hanging record"
    return result["parsed"]


def _killed() -> float:
    return events.WORKERS_HUNG._value.get()


@pytest.mark.parametrize("kind", ["loop", "block"])
def test_a_record_stuck_in_a_c_call_is_dead_lettered_as_parse_timeout_and_its_chunk_parsed_again(kind: str) -> None:
    pool = ParserPool(HANG_CONFIG, workers=2, executor_factory=_factory(kind))
    records = [wire(n, cwl(f"line {n}")) for n in range(100)]
    records[37] = wire(37, b"hang")
    killed_before = _killed()
    try:
        parsed = _parse_in_thread(pool, records)
        assert [(d.source.sequence, d.reason, d.raw) for d in parsed.dead_letters] == [("37", "parse_timeout",
                                                                                        records[37][4])]
        assert "wall time" in parsed.dead_letters[0].message
        assert parsed.failures == {"parse_timeout": 1} and parsed.event_count == 100
        assert sorted(int(item.source.sequence) for item in parsed.items) == [n for n in range(100) if n != 37]
        assert _killed() == killed_before + 1
        # The shard goes on: the replaced pool parses the next batch.
        assert len(_parse_in_thread(pool, [wire(200, cwl("next"))]).items) == 1
    finally:
        pool.close(grace_s=0.5)


def test_a_record_that_hangs_beside_one_that_crashes_costs_each_its_own_dead_letter_only() -> None:
    # The crash breaks the pool; the chunk is parsed again alone, where the hang is killed; the rest of the
    # chunk is parsed again, and halving finds the record that crashes.
    pool = ParserPool(HANG_CONFIG, workers=1, executor_factory=_factory("crash_or_hang"))
    records = [wire(n, cwl(f"line {n}")) for n in range(20)]
    records[3] = wire(3, b"crash")
    records[12] = wire(12, b"hang")
    try:
        parsed = _parse_in_thread(pool, records)
        assert sorted((d.source.sequence, d.reason) for d in parsed.dead_letters) == [("12", "parse_timeout"),
                                                                                      ("3", "worker_crashed")]
        assert sorted(int(item.source.sequence) for item in parsed.items) == [n for n in range(20) if n not in (3, 12)]
    finally:
        pool.close(grace_s=0.5)


def test_a_worker_within_its_deadline_is_left_alone_and_one_past_it_is_killed() -> None:
    board = hang_watch.Board(multiprocessing.get_context("forkserver"), slots=4)
    watchdog = hang_watch.Watchdog(board)  # not started: scanned by hand with an injected clock
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    chunk = [wire(n, b"") for n in range(5)]
    try:
        for slot, sleeper, deadline in zip(board.slots, sleepers, (100.0, 200.0, 0.0)):
            board.pids[slot], board.deadlines[slot] = sleeper.pid, deadline
            board.keys[slot], board.positions[slot] = hang_watch.chunk_key("logs", "shardId-0", chunk), 3
        watchdog.scan(now=150.0)
        assert sleepers[0].wait(timeout=10) == -9  # past its deadline
        assert sleepers[1].poll() is None and sleepers[2].poll() is None  # before it; not parsing
        assert watchdog.take_hung("logs", "shardId-0", chunk[:4]) == []  # another chunk (the same first record)
        assert watchdog.take_hung("logs", "shardId-1", chunk) == []  # another shard's
        assert watchdog.take_hung("logs", "shardId-0", chunk) == [3]  # the record at its position
        assert watchdog.take_hung("logs", "shardId-0", chunk) == []  # told once
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


def test_time_waiting_on_s3_does_not_count_toward_the_wall_deadline() -> None:
    board = hang_watch.Board(multiprocessing.get_context("forkserver"), slots=1)
    watch = hang_watch.watch_worker(board)
    assert watch is not None
    with watch.chunk(key=7, budget_s=0.05).record(2):
        assert (board.keys[0], board.positions[0]) == (7, 2)
        deadline = board.deadlines[0]
        with watch.paused():
            assert board.deadlines[0] == 0.0  # nothing to kill while the read waits
            while time.monotonic() <= deadline + 0.1:  # a read longer than the whole budget
                time.sleep(0.01)
        assert board.deadlines[0] > time.monotonic()  # the deadline moved by the read's time
    assert board.deadlines[0] == 0.0


def test_each_workers_slot_is_a_cache_line_of_its_own() -> None:
    board = hang_watch.Board(multiprocessing.get_context("forkserver"), slots=3)
    assert [board.claim(pid) for pid in (os.getpid(), os.getppid(), 1)] == [0, 8, 16]
    assert board.claim(os.getpid()) is None
    assert ctypes.sizeof(board.deadlines) // 3 == 64


def test_a_slot_left_by_a_dead_worker_is_claimed_again() -> None:
    board = hang_watch.Board(multiprocessing.get_context("forkserver"), slots=1)
    gone = subprocess.Popen(["true"])
    gone.wait()
    board.pids[0] = gone.pid
    assert board.claim(os.getpid()) == 0 and board.pids[0] == os.getpid()
    assert board.claim(os.getpid() + 1) is None  # full: that worker parses unwatched
