"""How long a log object in S3 may keep failing transiently before its pointer is dead-lettered.

A transient read error (throttling, a 5xx, KMS busy, a dropped connection) fails the batch: nothing is
checkpointed, the shard's processor exits, its daemon is restarted, and the record is read again, which is
right for an outage of minutes. An object that fails that way for hours (a prefix S3 keeps throttling, a
damaged object answering 500) would stall its shard for as long, and with it every other shard of that
stream's daemon, which restarts for each failed batch. So the parser pool, in the pipeline process, notes
when each object first failed (`RetryBudget`); once an object has been failing for
`pipeline.object_retry_budget_s`, the chunk that met it is parsed again at once with that object given up:
it is read one last time, and if that read fails too its pointer is dead-lettered (`object_retries_exhausted`,
raw: a notification of the object; `secstash redrive --parse` parses its record again) and the shard goes on. A budget of
0 never gives up.

What the budget counts is wall time since the first failure, not attempts: restarts are backed off, so
attempts say little. An object that has not failed for `STALE_AFTER_S` starts afresh (it was read in
between, or its record was checkpointed by another instance). The state lives in the `secstash run`
process: a restarted process gives every object a new budget.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection

from consumer import events
from consumer.object_errors import ObjectReadFailed, transient
from consumer.objects import object_location
from parsers import ObjectRef, ObjectUnavailable

# A daemon restart is backed off by kcl.restart_backoff_max_s (60 s by default): far below this, so an object
# failing on every re-read never looks stale between two of them.
STALE_AFTER_S = 15 * 60.0
# Objects followed at once; past this the one that failed least recently is forgotten (it starts afresh).
MAX_TRACKED = 10_000


def guarded(read: Callable[[ObjectRef], bytes], stream: str, give_up: Collection[str]) -> Callable[[ObjectRef], bytes]:
    """`read`, whose transient failures name their object (`ObjectReadFailed`), and for an object in
    `give_up` become a dead letter (`ObjectUnavailable`, reason `object_retries_exhausted`) instead."""

    def fetch(ref: ObjectRef) -> bytes:
        try:
            return read(ref)
        except Exception as exc:
            if not transient(exc):
                raise
            where = object_location(ref)
            detail = f"{type(exc).__name__}: {str(exc)[:300]}"
            if where in give_up:
                raise ObjectUnavailable(
                    f"{where}: still failing after pipeline.object_retry_budget_s ({detail}); once it reads again, "
                    "`secstash redrive --parse` parses its record again", reason="object_retries_exhausted") from None
            raise ObjectReadFailed(f"{where}: {detail}", stream, where) from None

    return fetch


class RetryBudget:
    """When each failing object first failed (and last), by stream and location. Thread-safe: every shard's
    batches parse through one pool."""

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget_s = budget_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failing: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()  # -> (first, last)

    def exhausted(self, failure: ObjectReadFailed) -> bool:
        """Note the failure; True once its object has been failing for the whole budget."""
        now = self._clock()
        key = (failure.stream, failure.location)
        with self._lock:
            first, last = self._failing.pop(key, (now, now))
            if now - last > STALE_AFTER_S:
                first = now
            self._failing[key] = (first, now)
            while len(self._failing) > MAX_TRACKED:
                self._failing.popitem(last=False)
        failing_for = now - first
        given_up = self.budget_s > 0 and failing_for >= self.budget_s
        events.object_read_failed(failure.stream, failure.location, failing_for, self.budget_s, given_up)
        return given_up
