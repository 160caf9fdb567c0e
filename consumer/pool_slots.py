"""Shared memory through which the pool's workers hand a chunk's results back, instead of the results pipe.

Why: a chunk's results are mostly bulk lines (~1.66 KB per document of the mixed corpus, a few MB per chunk).
Through the pipe they are copied four times: pickled into a growing buffer in the worker, written into the
pipe, read out of it into a new zeroed buffer here, unpickled into their bytes objects. Through a slot, twice:
the worker pickles straight into shared memory, and this process unpickles from it. In `secstash bench`'s (c)
the pipe's read alone cost this process ~0.5-0.7 µs per document (of ~3 µs it spends per document there).

How: a pool's memfd (memfd_create: shared memory that is not /dev/shm, which Docker and Kubernetes cap at 64
MiB) is cut into `count` slots of `size` bytes, sparse until written. The pipeline process claims a free slot
when it submits a chunk and names it in the call; the worker pickles the chunk's results into that slot and
returns a `Stashed` (slot, size) through the pipe; the pipeline process unpickles from the slot, then frees it.
Each hand-over rides on a message through the pool's pipes (the call, then its result), so a slot belongs to
one side at a time, with no lock across processes, and the pipes' system calls order the memory.

Results larger than a slot (a log object's thousands of documents), chunks submitted while every slot is
held, and machines without memfd_create go through the pipe, as before; `secstash_pool_results_total` says
which way each went. A slot's pages past `KEEP_BYTES` are given back once a large result is read, so what
stays resident is at most `count * KEEP_BYTES`.
"""

from __future__ import annotations

import mmap
import os
import pickle
from collections import deque
from multiprocessing import reduction
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary, finalize

# A chunk of `secstash bench`'s mixed corpus (100 records) returns 0.07-5.9 MB, median 1.35 MB (~a sixth of that
# deflated); larger results take the pipe.
SLOT_BYTES = 32 << 20
# What a slot keeps resident between chunks. Each page given back is faulted in again, zeroed, by the next
# result that reaches it: with 4 MiB, the 42 % of the bench's chunks above it cost their worker 0.08 faults and
# ~0.4 µs per document (`scripts/bench_pool_slots.py`).
KEEP_BYTES = 8 << 20


class Stashed(NamedTuple):
    """What a worker returns for results it wrote into a slot."""

    slot: int
    size: int


class ResultSlots:
    """The pipeline process's side: claims slots for calls, reads the results written into them.

    Pickled for a worker (in its pool's initializer arguments, while the worker is being started), it carries
    a duplicate of the memfd, and the worker maps the same memory (`WorkerSlots`)."""

    def __init__(self, count: int, size: int = SLOT_BYTES, keep: int = KEEP_BYTES) -> None:
        self.count, self.size, self._keep = count, size, min(keep, size)
        self._fd = os.memfd_create("secstash-results", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self._fd, count * size)
            self._maps = [mmap.mmap(self._fd, size, offset=slot * size) for slot in range(count)]
        except BaseException:
            os.close(self._fd)
            raise
        self._closed = finalize(self, os.close, self._fd)  # the memfd goes with the pool's executor
        self._free = deque(range(count))  # append and pop are atomic: no lock for the feeding threads

    def claim(self) -> int | None:
        """A free slot for a call's results, None when every one is held (the results then take the pipe)."""
        try:
            return self._free.pop()
        except IndexError:
            return None

    def release(self, slot: int) -> None:
        """The slot's call is over (its results read, or it failed, or its worker is gone): free it."""
        self._free.append(slot)

    def read(self, stashed: Stashed) -> Any:
        """The results a worker wrote into a slot; the slot stays claimed until `release`."""
        memory = self._maps[stashed.slot]
        results = unpickle_from(memory, stashed.size)
        if stashed.size > self._keep:  # a rare large result: its pages go back rather than stay resident
            memory.madvise(mmap.MADV_REMOVE, self._keep, self.size - self._keep)
        return results

    def resident_bytes(self) -> int:
        """Shared memory the slots hold: pages written and not given back."""
        return os.fstat(self._fd).st_blocks * 512

    def close(self) -> None:
        for memory in self._maps:
            memory.close()
        self._closed()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # DupFd passes the descriptor along with the process being started (SCM_RIGHTS to the forkserver);
        # outside a start it would need multiprocessing's descriptor-sharing thread, which is not wanted here.
        from multiprocessing import context

        if context.get_spawning_popen() is None:
            raise TypeError("ResultSlots cross to a worker only in its pool's initializer arguments")
        return WorkerSlots, (reduction.DupFd(self._fd), self.count, self.size)


class WorkerSlots:
    """A worker's side: writes a chunk's results into the slot its call names."""

    def __init__(self, fd: Any, count: int, size: int) -> None:
        descriptor = fd.detach()
        try:
            self._maps = [mmap.mmap(descriptor, size, offset=slot * size) for slot in range(count)]
        finally:
            os.close(descriptor)  # the maps hold the memory

    def stash(self, slot: int, results: Any) -> Any:
        """`Stashed` once `results` are in the slot; `results` themselves if they do not fit (or cannot be
        pickled), to go through the pipe, which reports a pickling error as it always has."""
        try:
            return Stashed(slot, pickle_into(self._maps[slot], results))
        except Exception:  # noqa: BLE001 - larger than the slot (mmap's ValueError) or unpicklable: the pipe's turn
            return results


def pickle_into(memory: mmap.mmap, results: Any) -> int:
    """Pickle `results` at the start of `memory`; their size. A Pickler writing to the map sends it a frame
    (64 KiB) at a time: `pickle.dumps` builds the whole pickle in a buffer it keeps growing, which cost ~2.5
    times as much per document of a parsed chunk."""
    memory.seek(0)
    pickle.Pickler(memory, protocol=pickle.HIGHEST_PROTOCOL).dump(results)
    return memory.tell()


def unpickle_from(memory: mmap.mmap, size: int) -> Any:
    """What `pickle_into` wrote (its views released at once: a map with views exported cannot be closed)."""
    with memoryview(memory) as whole, whole[:size] as written:
        return pickle.loads(written)


_POOLS: WeakKeyDictionary[Any, ResultSlots] = WeakKeyDictionary()


def create(count: int) -> ResultSlots | None:
    """A pool's slots, None where the platform has no memfd (the pool then uses its pipe alone)."""
    if not hasattr(os, "memfd_create"):
        return None
    try:
        return ResultSlots(count, SLOT_BYTES, KEEP_BYTES)
    except OSError:  # memfd refused (seccomp, out of memory): the pipe still works
        return None


def attach(executor: Any, slots: ResultSlots) -> None:
    """Remember which slots an executor's workers write into; they go with the executor."""
    _POOLS[executor] = slots


def of(executor: Any) -> ResultSlots | None:
    return _POOLS.get(executor)
