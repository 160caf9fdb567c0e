"""The wall-clock backstop behind `pool.cpu_deadlines`: a parser worker stuck on one record is killed.

`cpu_deadlines` raises inside the worker from a signal handler, which Python runs only between bytecodes: a
record whose parse loops inside one C call that never checks for signals, or blocks in one (both spend
their time where no handler runs, and a blocked call spends no CPU time at all), would keep its worker, and
so its shard, for ever. Here every worker announces on a board in shared memory which record it is parsing
and until when; a thread in the pipeline process kills (SIGKILL) a worker still on a record past that
deadline and notes the record. The pool, whose chunks then fail with BrokenProcessPool, dead-letters that
record as `parse_timeout` and parses the rest of its chunk again (`ParserPool`).

The deadline is `WALL_FACTOR` times `pipeline.parse_timeout_s` of wall time, S3 reads excluded (they wait
on the network, with botocore's own timeouts): the CPU limit stops every record whose time goes on in
Python or `re`, and a loaded or CPU-throttled machine can stretch a sound record's CPU seconds into more
wall seconds, so the backstop only catches what the CPU limit cannot.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from consumer import events

WALL_FACTOR = 2.0
# Worker processes one pipeline process can have at once, across its pools (the parser pool, a replaced
# pool's last workers, the isolation and canary pools). A worker that finds no free slot parses unwatched.
SLOTS = 256
SCAN_INTERVAL_S = 0.25  # how late past its deadline a stuck worker may be killed, at most
KILLED_REMEMBERED = 1024  # records killed for hanging whose chunk has not been answered for yet (bounded)


def chunk_key(stream: str, shard: str, chunk: Sequence[Sequence[Any]]) -> int:
    """A chunk's identity on the board: 64 bits of a hash of its shard, first record and length (the board holds
    fixed-size numbers). A record is its chunk's key and its position in the chunk: hashing once per chunk
    rather than once per record saved ~2 µs per record in the workers."""
    first = chunk[0] if chunk else ("", 0)
    text = f"{stream}\0{shard}\0{first[0]}\0{first[1]}\0{len(chunk)}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


# Board entries per slot: a slot's pid, key, position and deadline sit in a cache line of their own, so two
# workers writing their deadlines for every record do not take one line back and forth between their cores.
STRIDE = 8  # 8-byte entries: 64 bytes


class Board:
    """Shared memory: per slot, a worker's pid, the chunk it parses, the record's position in that chunk and the
    monotonic time it must be done by (0: not parsing). CLOCK_MONOTONIC is one clock for every process of a
    machine. Slots are numbered 0, STRIDE, 2 * STRIDE, ...: index the arrays with a slot as it is."""

    def __init__(self, context: Any, slots: int = SLOTS) -> None:
        self.pids = context.RawArray(ctypes.c_int64, slots * STRIDE)
        self.keys = context.RawArray(ctypes.c_uint64, slots * STRIDE)
        self.positions = context.RawArray(ctypes.c_int64, slots * STRIDE)
        self.deadlines = context.RawArray(ctypes.c_double, slots * STRIDE)
        self.slots = range(0, slots * STRIDE, STRIDE)
        self.lock = context.Lock()  # only to claim and free slots

    def claim(self, pid: int) -> int | None:
        with self.lock:
            for slot in self.slots:
                holder = self.pids[slot]
                if holder == 0 or not _alive(holder):  # a worker that crashed leaves its slot behind
                    self.pids[slot], self.deadlines[slot] = pid, 0.0
                    return slot
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the pid was reused by a process of another user: not one of our workers
        return False
    return True


# --- in a worker ---------------------------------------------------------------------------------------

class WorkerWatch:
    """A worker's slot: parse_chunk names its chunk (`watch.chunk(key, budget_s)`), then says which record it is
    on (`with watch.record(position):`), and when it is waiting on S3. `record` returns the watch itself, a
    context manager with slots rather than a generator's: it is entered once per record."""

    __slots__ = ("_budget_s", "_deadlines", "_keys", "_position", "_positions", "_slot")

    def __init__(self, board: Board, slot: int) -> None:
        self._slot = slot
        self._keys, self._positions, self._deadlines = board.keys, board.positions, board.deadlines
        self._position = 0
        self._budget_s = 0.0

    def chunk(self, key: int, budget_s: float) -> WorkerWatch:
        """The chunk now parsed (between records: no deadline is set beside it)."""
        self._keys[self._slot] = key
        self._budget_s = budget_s
        return self

    def record(self, position: int) -> WorkerWatch:
        self._position = position
        return self

    def __enter__(self) -> None:
        # The deadline is 0 between records (`__exit__`): the position is never read beside another's deadline.
        slot = self._slot
        self._positions[slot] = self._position
        self._deadlines[slot] = time.monotonic() + self._budget_s

    def __exit__(self, *_: object) -> None:
        self._deadlines[self._slot] = 0.0

    @contextmanager
    def paused(self) -> Iterator[None]:
        """S3 reads do not count: the deadline moves by the time they take."""
        deadlines, slot = self._deadlines, self._slot
        deadline = deadlines[slot]
        if not deadline:
            yield
            return
        started = time.monotonic()
        deadlines[slot] = 0.0
        try:
            yield
        finally:
            deadlines[slot] = deadline + (time.monotonic() - started)


def watch_worker(board: Board | None) -> WorkerWatch | None:
    """Called by the worker initializer: a slot of the board, if there is one and a slot is free."""
    if board is None:
        return None
    slot = board.claim(os.getpid())
    return None if slot is None else WorkerWatch(board, slot)


# --- in the pipeline process ---------------------------------------------------------------------------

class Watchdog:
    """Kills workers past their record's deadline and remembers those records for the pool."""

    def __init__(self, board: Board, interval_s: float = SCAN_INTERVAL_S) -> None:
        self.board = board
        self._interval_s = interval_s
        self._killed: OrderedDict[tuple[int, int], None] = OrderedDict()  # (chunk key, position)
        self._lock = threading.Lock()

    def start(self) -> Watchdog:
        threading.Thread(target=self._run, name="secstash-hang-watch", daemon=True).start()
        return self

    def _run(self) -> None:
        while True:
            time.sleep(self._interval_s)  # a scan loop for the life of the process, not a wait in a test
            self.scan(time.monotonic())

    def scan(self, now: float) -> None:
        board = self.board
        for slot in board.slots:
            deadline = board.deadlines[slot]
            if not deadline or now <= deadline:
                continue
            key, position, pid = board.keys[slot], board.positions[slot], board.pids[slot]
            # The worker may have moved on since the deadline was read: kill only if it has not.
            if board.deadlines[slot] != deadline or board.keys[slot] != key or pid <= 0:
                continue
            with self._lock:
                self._killed[(key, position)] = None  # before the kill: the pool sees the broken chunk only after it
                while len(self._killed) > KILLED_REMEMBERED:
                    self._killed.popitem(last=False)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            board.deadlines[slot] = 0.0
            events.parser_worker_hung(pid, round(now - deadline, 2))

    def take_hung(self, stream: str, shard: str, chunk: Sequence[Sequence[Any]]) -> list[int]:
        """Positions in `chunk` of the records whose workers were killed for hanging (forgotten once told)."""
        with self._lock:
            if not self._killed:
                return []
            key = chunk_key(stream, shard, chunk)
            hung = sorted(position for chunk_of, position in self._killed
                          if chunk_of == key and 0 <= position < len(chunk))
            for position in hung:
                del self._killed[(key, position)]
            return hung


_WATCHDOG: Watchdog | None = None
_WATCHDOG_LOCK = threading.Lock()


def watchdog(context: Any) -> Watchdog:
    """The pipeline process's one board and its watchdog, started with the first pool that uses them."""
    global _WATCHDOG
    with _WATCHDOG_LOCK:
        if _WATCHDOG is None:
            _WATCHDOG = Watchdog(Board(context)).start()
        return _WATCHDOG


def current() -> Watchdog | None:
    """The watchdog if one was started (pools built by other executor factories have none)."""
    return _WATCHDOG
