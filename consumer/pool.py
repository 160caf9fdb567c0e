"""The parser pool: worker processes that turn raw records into bulk items and dead letters.

Workers receive plain lists (cheap to pickle) and return serialised documents (bytes), so the pipeline
process never holds parsed dicts; they write them into shared memory (`consumer.pool_slots`) where they fit,
else through the results pipe. A batch is cut into chunks so one busy shard still uses every core.
A worker that dies (out of memory, a crash in a C extension) breaks the pool: it is rebuilt, and each chunk
it held is retried once, by itself; if that dies too, the chunk's records are dead-lettered as
`worker_crashed` (halved until only the records that kill a worker by themselves are) rather than retried
forever, so one poison record cannot stall a shard, nor its crash dead-letter other records.

A record that makes a parser spin instead (catastrophic backtracking, a loop that never ends) is stopped by
its own CPU-time limit in the worker (`WorkerConfig.parse_timeout_s`, `pipeline.parse_timeout_s`) and
dead-lettered whole as `parse_timeout`; the worker and the rest of its chunk go on. One that loops or blocks
inside a C call, where that limit cannot interrupt it, is killed from this process once it is well past the
limit in wall time (`consumer.hang_watch`): the record is dead-lettered as `parse_timeout` and the rest of
its chunk parsed again, alone, like the chunks of a crashed worker.
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from functools import lru_cache
from threading import Lock
from typing import Any, cast

from consumer import events, hang_watch, native_path, pool_pipes, pool_slots
from consumer.cpus import usable_cpus
from consumer.object_errors import ObjectReadFailed
from consumer.object_retries import RetryBudget, guarded
from consumer.objects import ObjectAccess, ObjectReader
from parsers import ObjectRef, ParseOptions, RecordOutcome, StreamParsing, parse_record, registry
from parsers.enrich import useragent
from parsers.outcome import UNCLAIMED_GROUPS
from sinks.batch import BulkItem, DeadLetter, DocumentRun, Entry, RawRecord, RunGroup, Source
from sinks.compress import SegmentWriter
from sinks.documents import BulkItemBuilder, dead_letters_for
from sinks.search import request_builder

# A record as it crosses process boundaries: [sequence, sub_sequence, arrival_ms, partition_key, data_b64],
# and, when a round stopped between two of its log objects, the index of the first pointer still to read.
WireRecord = Sequence[Any]
MIN_CHUNK = 64  # below this, the pickling round trip costs more than a second core gains
# A RunGroup holds at most this share of a bulk request's documents and bytes: a request fills up to within
# a group of its bounds, so at most a sixteenth of each is left empty, and a group of ~300 KB of bulk lines
# costs one deflate block where ~10 records' segments cost ten.
GROUP_SHARE = 16
# CPU seconds one record may take to parse (pipeline.parse_timeout_s has the same default). The slowest sound
# record is one whose S3 log object holds pipeline.max_events_per_object (10^6) short lines: about 50 CPU
# seconds at the ~20,000 events per CPU-second a worker parses (`secstash bench`). Six times that keeps a
# slow or throttled core clear of it, and still frees a shard from a spinning record within minutes.
PARSE_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class IndexNaming:
    """Where documents go: data streams `logs-<event.dataset>-<namespace>`, or `search.index_pattern` for plain
    indices, whose {date} is the UTC day of the document's @timestamp (else of its Kinesis arrival), so a
    replay of the archive names the same index as the live pipeline did."""

    pattern: str = "logs-{dataset}-{namespace}"

    def __call__(self, event_dataset: str, namespace: str, timestamp: str | None = None) -> str:
        if "{date}" not in self.pattern:
            return _index_name(self.pattern, event_dataset, namespace, None)
        return _index_name(self.pattern, event_dataset, namespace, (timestamp or "")[:10])


@lru_cache(maxsize=4096)  # called for every document; a handful of datasets, namespaces and days
def _index_name(pattern: str, event_dataset: str, namespace: str, day: str | None) -> str:
    if day is None:
        return pattern.format(dataset=event_dataset, namespace=namespace)
    return pattern.format(dataset=event_dataset, namespace=namespace, date=day.replace("-", ".") or "undated")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    parsing: dict[str, StreamParsing]  # by stream name
    options: ParseOptions
    naming: IndexNaming = IndexNaming()
    objects: dict[str, ObjectAccess] = field(default_factory=dict)  # by stream: how its log-object pointers are read
    # A chunk takes no further record, nor log object of a record, once it holds this many documents and dead
    # letters; the rest come back in `Parsed.deferred` for another round (`Pipeline.deliver`). None: every
    # record, however many documents.
    max_chunk_documents: int | None = None
    # How long a log object may fail transiently before its pointer is dead-lettered (consumer.object_retries);
    # 0: never.
    object_retry_budget_s: float = 0.0
    # CPU seconds a record may take (S3 reads wait for the network and cost next to none); past them it is
    # dead-lettered as `parse_timeout`. None: no limit.
    parse_timeout_s: float | None = PARSE_TIMEOUT_S
    # Records the compiled record path covers are rendered by it (`consumer.native_path`) when it is installed.
    native_records: bool = True
    # The ISA-L level at which the search sink gzips bulk bodies, None if it does not: a worker then sends each
    # record's bulk lines as a deflate segment (`DocumentRun.deflate`), a sixth of their bytes, which the sink
    # joins into bodies. Compressing on every core costs what compressing in the pipeline's one process did,
    # and the pipe and that process carry a sixth of the bytes.
    bulk_compression: int | None = None
    # The search sink's request bounds (bulk_max_docs, bulk_max_bytes): a run larger than a request takes
    # (a log object's documents) is cut into pieces that fit before it is deflated, as the sink would cut it.
    bulk_bounds: tuple[int, int] | None = None


@dataclass(slots=True)
class Parsed:
    items: list[BulkItem] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)  # by dataset
    documents: Counter[str] = field(default_factory=Counter)  # by dataset
    dropped: Counter[str] = field(default_factory=Counter)  # by reason
    failures: Counter[str] = field(default_factory=Counter)  # by reason
    event_count: int = 0
    dropped_events: int = 0  # events with no document: intentional drops
    objects_read: int = 0  # log objects in S3 read for the records' notifications
    object_bytes: int = 0
    # Records not parsed yet (WorkerConfig.max_chunk_documents was reached): parse them in another round. A
    # record stopped between two of its log objects is here with a sixth field, the pointer to go on from.
    deferred: list[WireRecord] = field(default_factory=list)
    # Events of unclaimed CloudWatch log groups that look like a security dataset, by that dataset, and the
    # log groups they came from (group -> dataset, bounded): see `parsers.detect`.
    unclaimed: Counter[str] = field(default_factory=Counter)
    unclaimed_groups: dict[str, str] = field(default_factory=dict)
    # Records the compiled path rendered, each with how many of `items` came before it: they cross the pipe
    # as a few bytes objects each, and reach the search sink whole (`take_entries`) or become items in record
    # order (`expand_runs`) for whoever takes only items.
    runs: list[tuple[int, DocumentRun | RunGroup]] = field(default_factory=list)
    native_records: int = 0  # records the compiled path rendered (the rest took the Python parsers)
    run_documents: int = 0  # documents in `runs`

    def held(self) -> int:
        """Documents and dead letters so far (what `WorkerConfig.max_chunk_documents` bounds)."""
        return len(self.items) + self.run_documents + len(self.dead_letters)

    def take_entries(self) -> list[Entry]:
        """The documents, items and runs, in record order; they are the caller's now (the search sink drops each
        once it is done with it: so must this, or a round waiting for its last document would keep them all)."""
        entries: list[Entry] = []
        taken = 0
        for before, run in self.runs:
            entries.extend(self.items[taken:before])
            taken = before
            entries.append(run)
        entries.extend(self.items[taken:])
        self.items, self.runs, self.run_documents = [], [], 0
        return entries

    def expand_runs(self) -> None:
        """Turn the compiled path's runs into items, in record order."""
        if not self.runs:
            return
        items: list[BulkItem] = []
        taken = 0
        for before, run in self.runs:
            items.extend(self.items[taken:before])
            taken = before
            items.extend(run.items())
        items.extend(self.items[taken:])
        self.items, self.runs, self.run_documents = items, [], 0

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Workers send every Parsed back through a pipe. Pickled as dataclasses, BulkItem and Source cost
        # ~8 µs per document (a Python-level __getstate__/__setstate__ each, on both sides); as one tuple per
        # field (fewer objects for the pickler to track), a few µs, most of it rebuilding the objects here.
        items, sources = self.items, [i.source for i in self.items]
        columns = (tuple(i.index for i in items), tuple(i.id for i in items), tuple(i.body for i in items),
                   tuple(i.dataset for i in items), tuple(s.stream for s in sources),
                   tuple(s.shard for s in sources), tuple(s.sequence for s in sources),
                   tuple(s.sub_sequence for s in sources), tuple(s.ordinal for s in sources))
        return _unpickle_parsed, (columns, self.dead_letters, self.events, self.documents, self.dropped,
                                  self.failures, self.event_count, self.dropped_events, self.objects_read,
                                  self.object_bytes, self.deferred, self.unclaimed, self.unclaimed_groups,
                                  self.runs, self.native_records, self.run_documents)

    def merge(self, other: Parsed) -> None:
        self.runs.extend((before + len(self.items), run) for before, run in other.runs)
        self.items.extend(other.items)
        self.dead_letters.extend(other.dead_letters)
        self.events.update(other.events)
        self.documents.update(other.documents)
        self.dropped.update(other.dropped)
        self.failures.update(other.failures)
        self.event_count += other.event_count
        self.dropped_events += other.dropped_events
        self.objects_read += other.objects_read
        self.object_bytes += other.object_bytes
        self.deferred.extend(other.deferred)
        self.unclaimed.update(other.unclaimed)
        _add_groups(self.unclaimed_groups, other.unclaimed_groups)
        self.native_records += other.native_records
        self.run_documents += other.run_documents


def _add_groups(into: dict[str, str], groups: dict[str, str]) -> None:
    for group, dataset in groups.items():
        if len(into) >= UNCLAIMED_GROUPS:
            return
        into.setdefault(group, dataset)


def _unpickle_parsed(columns: tuple[tuple[Any, ...], ...], *rest: Any) -> Parsed:
    return Parsed([BulkItem(index, id_, body, dataset, Source(stream, shard, sequence, sub_sequence, ordinal))
                   for index, id_, body, dataset, stream, shard, sequence, sub_sequence, ordinal
                   in zip(*columns)], *rest)


# Pools started to find the records that kill a worker in one failed chunk (see ParserPool._bisect).
MAX_ISOLATION_POOLS = 48
# Seconds ParserPool.close gives chunks still parsing before it kills their workers. Runtime.stop closes the
# pool last, with little of pipeline.shutdown_grace_s left; nothing parsed after that could be delivered.
CLOSE_GRACE_S = 2.0


class PoolUnusable(RuntimeError):
    """Workers die on any input: a deployment problem, not bad data. The batch must not be checkpointed."""


_CONFIG: WorkerConfig | None = None
_WATCH: hang_watch.WorkerWatch | None = None  # this worker's slot on the hang watch's board, if any
_SLOTS: pool_slots.WorkerSlots | None = None  # the shared memory this worker returns results through, if any


def _init_worker(config: WorkerConfig, board: hang_watch.Board | None = None,
                 slots: pool_slots.WorkerSlots | None = None) -> None:
    global _CONFIG, _WATCH, _SLOTS
    _CONFIG = config
    _WATCH = hang_watch.watch_worker(board)
    _SLOTS = slots
    useragent.warm()  # compile the user-agent regexes before the first batch, not during it
    registry.names()  # import every parser now, before the freeze below
    tune_gc()


# Collections of the youngest generation, at most one per this many new containers (Python's default: 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """The cyclic garbage collector's settings for a process that parses.

    Parsing one event allocates about a hundred dicts and lists and frees nearly all of them by reference
    counting (documents hold no cycles); with Python's defaults the collector still runs every ~7 events and
    takes ~15 % of a worker's time (`secstash bench`). What stays alive is imported code, frozen here so no
    collection walks it again, and the caches, which a rarer collection walks less often.
    """
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def parse_chunk(stream: str, shard: str, records: Sequence[WireRecord], config: WorkerConfig | None = None,
                give_up: frozenset[str] = frozenset(), *, keep_runs: bool = False) -> Parsed:
    """Parse consecutive records of one shard. Runs in a worker (config from the initializer) or inline.
    `give_up`: log objects (`object_location`) whose pointers are dead-lettered if they fail once more.
    `keep_runs`: leave the compiled path's records in `Parsed.runs` (a worker's result) rather than as items."""
    config = config or _CONFIG
    assert config is not None, "worker not initialised"
    parsing = config.parsing.get(stream) or StreamParsing(stream=stream)
    out = Parsed()
    fetch = _fetcher(config, stream, out, give_up)
    limit = config.max_chunk_documents
    native = config.native_records and native_path.available()
    watch = _chunk_watch(stream, shard, records, config.parse_timeout_s)
    with cpu_deadlines(config.parse_timeout_s) as deadline:
        for position, wire in enumerate(records):
            if limit is not None and out.held() >= limit:
                # S3 notifications can point at far more events than their records' bytes say (a backlog of
                # CloudTrail files): bound what one round holds in memory. Dead letters count too: a log object
                # of bad lines makes one per line.
                out.deferred.extend(records[position:])
                break
            if native and len(wire) == 5:
                with watch.record(position) if watch is not None else _UNWATCHED:
                    run = native_path.render(stream, shard, wire, parsing, config.options, config.naming)
                if run is not None:
                    out.runs.append((len(out.items), run))
                    out.run_documents += len(run)
                    out.native_records += 1
                    out.events[run.dataset] += len(run)
                    out.documents[run.event_dataset] += len(run)
                    out.event_count += len(run)
                    continue
            record = RawRecord(wire[0], wire[1], wire[2], wire[3], wire[4])
            data = native_path.record_data(record.data_b64)
            # Documents are serialised as they are made: a log object's never all exist as dicts at once.
            builder = BulkItemBuilder(stream, shard, record, config.naming)
            full = None if limit is None else _full(limit, out.held(), builder)
            try:
                with watch.record(position) if watch is not None else _UNWATCHED, deadline:
                    outcome = parse_record(data, parsing, config.options, fetch,
                                           builder.add, first_object=wire[5] if len(wire) > 5 else 0, full=full)
            except Overtime:
                # Its documents so far are dropped with it: the dead letter is the whole record, and a redrive
                # (after the parser is fixed) makes them again under the same ids.
                out.dead_letters.append(_timed_out(stream, shard, wire, config.parse_timeout_s))
                out.failures["parse_timeout"] += 1
                out.event_count += 1
                continue
            if outcome.resume_object is not None:
                out.deferred.append([*wire[:5], outcome.resume_object])
            if keep_runs:  # a worker's: documents cross the pipe as bulk lines, few objects per record
                for run in builder.finish():
                    out.runs.append((len(out.items), run))
                out.run_documents += builder.count
            else:
                out.items.extend(builder.items)
            outcome.failures.extend(builder.failures)  # documents JSON cannot represent, dead-lettered with the rest
            _count_outcome(out, outcome, builder)
            if outcome.failures:
                out.dead_letters.extend(dead_letters_for(stream, shard, record, outcome))
    if not keep_runs:
        out.expand_runs()
    elif config.bulk_compression is not None and out.runs:
        out.runs = _deflated(out.runs, config.bulk_compression, config.bulk_bounds)
    return out


def _deflated(runs: list[tuple[int, DocumentRun]], level: int,
              bounds: tuple[int, int] | None) -> list[tuple[int, DocumentRun | RunGroup]]:
    """The runs' lines as deflate segments, each run first cut into pieces a bulk request takes whole: a
    segment is joined into a body as it is, while a run the sink had to cut would be inflated again. Pieces of
    one index and dataset share a segment (`RunGroup`), up to `GROUP_SHARE` of a request's bounds: a segment
    per record cost ~0.8 µs per document more (`SegmentWriter.write_parts`). A group takes the place of its
    first piece; the search sink does not care about the order of a chunk's documents."""
    writer = SegmentWriter(level)
    pieces: list[tuple[int, DocumentRun]] = []
    for before, run in runs:
        cut = (run,) if bounds is None else request_builder.fitted((run,), *bounds)
        pieces.extend((before, piece) for piece in cast(Iterable[DocumentRun], cut))  # fitted cuts a run into runs
    if bounds is None:  # nothing says how large a group may be: a segment each, as before groups
        for _, piece in pieces:
            piece.deflate(writer)
        return list(pieces)
    max_docs, max_bytes = (max(1, bound // GROUP_SHARE) for bound in bounds)
    by_target: dict[tuple[str, str], list[tuple[int, DocumentRun]]] = {}
    for before, piece in pieces:
        by_target.setdefault((piece.index, piece.dataset), []).append((before, piece))
    out: list[tuple[int, DocumentRun | RunGroup]] = []
    for members in by_target.values():
        for group in request_builder.chunks(members, lambda m: m[1].nbytes, max_docs, max_bytes,
                                            lambda m: len(m[1])):
            if len(group) == 1:
                group[0][1].deflate(writer)
                out.append(group[0])
            else:
                out.append((group[0][0], RunGroup.deflated([piece for _, piece in group], writer)))
    out.sort(key=lambda pair: pair[0])  # stable: where each group's first piece was among the items
    return out


def _count_outcome(out: Parsed, outcome: RecordOutcome, builder: BulkItemBuilder) -> None:
    """A Python-parsed record's counts into the chunk's. Counters are added to key by key: Counter.update
    first asks whether its argument is a Mapping (an ABC check), several times per record of one event."""
    _add_counts(out.events, outcome.events_by_dataset)
    if outcome.dropped:
        _add_counts(out.dropped, outcome.dropped)
    if outcome.unclaimed:
        _add_counts(out.unclaimed, outcome.unclaimed)
        _add_groups(out.unclaimed_groups, outcome.unclaimed_groups)
    out.event_count += outcome.events
    failures = outcome.failures
    for failure in failures:
        out.failures[failure.reason] += 1
    documents = out.documents
    for event_dataset in builder.produced:
        documents[event_dataset] += 1
    runs = builder.runs
    # Events with a document: a run's events are distinct, but two runs share one when it made two documents.
    produced = len(runs[0]) if len(runs) == 1 else len(
        {ordinal for run in runs for ordinal in range(run.first, run.first + len(run))})
    failed = len({f.ordinal for f in failures}) if failures else 0
    out.dropped_events += max(0, outcome.events - produced - failed)


def _add_counts(into: Counter[str], counts: dict[str, int]) -> None:
    for key, count in counts.items():
        into[key] += count


def parse_in_worker(stream: str, shard: str, records: Sequence[WireRecord], config: WorkerConfig | None = None,
                    give_up: frozenset[str] = frozenset()) -> Parsed:
    """`parse_chunk` as the pool's workers run it: the compiled path's records cross the pipe as runs."""
    return parse_chunk(stream, shard, records, config, give_up, keep_runs=True)


def parse_into_slot(slot: int, stream: str, shard: str, records: Sequence[WireRecord],
                    config: WorkerConfig | None = None, give_up: frozenset[str] = frozenset()) -> Any:
    """`parse_in_worker`, its results written into the pool's shared-memory slot `slot` (`consumer.pool_slots`):
    a `Stashed` crosses the pipe instead of them, unless they do not fit."""
    parsed = parse_in_worker(stream, shard, records, config, give_up)
    return _SLOTS.stash(slot, parsed) if _SLOTS is not None else parsed


def _chunk_watch(stream: str, shard: str, records: Sequence[WireRecord],
                 seconds: float | None) -> hang_watch.WorkerWatch | None:
    """This worker's slot of the hang watch, naming the chunk, whose records then get their wall-clock deadline
    (`watch.record(position)`); None inline, or without a limit."""
    if _WATCH is None or not seconds or not records:
        return None
    return _WATCH.chunk(hang_watch.chunk_key(stream, shard, records), hang_watch.WALL_FACTOR * seconds)


_UNWATCHED = nullcontext()  # reusable: a record parsed without the hang watch


class Overtime(BaseException):
    """A record's CPU time ran out. A BaseException, so that the parsers' guards (`except Exception`, which
    dead-letter one event and go on) let it through to `parse_chunk`."""


@contextmanager
def cpu_deadlines(seconds: float | None) -> Iterator[AbstractContextManager[None]]:
    """For one chunk: what bounds each of its records' CPU time. `with deadline:` raises Overtime inside the
    block once this process has spent `seconds` (up to a tenth more) of CPU time in it.

    A signal handler's exception interrupts Python code between bytecodes and a regular expression match
    (`re` checks for signals as it backtracks), which is where hostile input makes a parser spin. Signals
    reach only a process's main thread, where a pool worker runs its chunks; elsewhere (a chunk parsed
    inline by another thread) this is a no-op, as it is for None. CPU time rather than wall time: a loaded
    or throttled machine slows a sound record, and the time an S3 read waits is not the parser's.

    The process's CPU-time timer ticks every tenth of `seconds` for the whole chunk, and a record costs two
    attribute writes: setting the timer per record cost two system calls, which in a virtual machine took a
    seventh of a GuardDuty record's parse (py-spy).
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield nullcontext()
        return
    watch = _CpuWatch()
    previous = signal.signal(signal.SIGPROF, watch.tick)
    tick_s = seconds / _TICKS_PER_LIMIT
    signal.setitimer(signal.ITIMER_PROF, tick_s, tick_s)
    try:
        yield watch
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


_TICKS_PER_LIMIT = 10


class _CpuWatch:
    """Counts the CPU-time timer's ticks during each record (`with watch:`): a record seen at more than
    `_TICKS_PER_LIMIT` ticks has run for at least its limit, as its first tick may come right after it began."""

    __slots__ = ("count", "record", "seen", "ticks")

    def __init__(self) -> None:
        self.count = 0  # records begun
        self.record = 0  # the number of the record being parsed; 0 between records
        self.seen = 0  # the record the last tick found
        self.ticks = 0  # ticks that found it

    def __enter__(self) -> None:
        self.count += 1
        self.record = self.count

    def __exit__(self, *_: object) -> None:
        self.record = 0

    def tick(self, signum: int, frame: Any) -> None:
        record = self.record
        if record != self.seen:
            self.seen, self.ticks = record, 1
            return
        self.ticks += 1
        if record and self.ticks > _TICKS_PER_LIMIT:
            self.seen = 0
            raise Overtime


def _timed_out(stream: str, shard: str, wire: WireRecord, seconds: float | None) -> DeadLetter:
    """`seconds`: the CPU limit that stopped it; None: its worker was killed, stuck past its wall deadline."""
    took = (f"more than {seconds:g} s of CPU time" if seconds is not None else
            f"{hang_watch.WALL_FACTOR:g} times its limit in wall time, stuck where the CPU limit cannot stop it, so "
            "its worker was killed")
    return DeadLetter("parse", "parse_timeout", f"parsing the record took {took} (pipeline.parse_timeout_s): input "
                      "that makes a parser backtrack or loop without end", None,
                      Source(stream, shard, wire[0], wire[1], None), wire[4])


def _full(limit: int, held: int, builder: BulkItemBuilder) -> Callable[[RecordOutcome], bool]:
    """Whether the chunk is full, asked between two log objects of one record (`held`: what the chunk held
    before the record): a record of many pointers goes on from the next one in a later round."""

    def full(so_far: RecordOutcome) -> bool:
        return held + builder.count + len(builder.failures) + len(so_far.failures) >= limit

    return full


_READERS: dict[tuple[str, ObjectAccess], ObjectReader] = {}  # one per stream and process: clients are reused


def _fetcher(config: WorkerConfig, stream: str, out: Parsed,
             give_up: frozenset[str] = frozenset()) -> Callable[[ObjectRef], bytes] | None:
    """The stream's log-object reader, counting into `out`; None when the stream does not read objects.
    Its transient failures name their object (`consumer.object_retries`)."""
    access = config.objects.get(stream)
    if access is None:
        return None
    reader = _READERS.get((stream, access))
    if reader is None:
        reader = _READERS[(stream, access)] = ObjectReader(access)

    read = guarded(reader, stream, give_up)

    def fetch(ref: ObjectRef) -> bytes:
        with _WATCH.paused() if _WATCH is not None else nullcontext():  # network time is not the parser's
            data = read(ref)
        out.objects_read += 1
        out.object_bytes += len(data)
        return data

    return fetch


def _hung(stream: str, shard: str, chunk: Sequence[WireRecord]) -> tuple[Parsed, list[WireRecord]]:
    """The chunk's records whose worker the hang watch killed, as `parse_timeout` dead letters, and the rest."""
    watchdog = hang_watch.current()
    positions = set(watchdog.take_hung(stream, shard, chunk)) if watchdog is not None else set()
    out = Parsed()
    if not positions:
        return out, list(chunk)
    for position in sorted(positions):
        out.dead_letters.append(_timed_out(stream, shard, chunk[position], None))
        out.failures["parse_timeout"] += 1
        out.event_count += 1
    return out, [wire for position, wire in enumerate(chunk) if position not in positions]


def _crashed(stream: str, shard: str, records: Sequence[WireRecord], error: BaseException) -> Parsed:
    out = Parsed()
    for wire in records:
        source = Source(stream, shard, wire[0], wire[1], None)
        out.dead_letters.append(DeadLetter("parse", "worker_crashed", "a parser worker died on this record, parsed "
                                           f"without other chunks in its pool: {type(error).__name__}", None, source, wire[4]))
        out.failures["worker_crashed"] += 1
        out.event_count += 1
    return out


class ParserPool:
    """Chunks of a batch parsed on every core. A worker that dies (a crash, the OOM killer) breaks the whole
    executor, and every chunk in it fails, not only the one that killed it: the pool is replaced once, and
    each failed chunk runs again by itself in a pool of one worker of its own, one chunk at a time, where
    no other chunk can break it. A chunk that breaks that pool too holds the poison: it is halved until the
    records that kill a worker by themselves are found, those are dead-lettered (`worker_crashed`), and the
    batch goes on. A worker the hang watch killed breaks the executor the same way; the record it was stuck on
    is known, though: it is dead-lettered as `parse_timeout`, not parsed again, and the rest of its chunk is."""

    def __init__(self, config: WorkerConfig, workers: int | None = None,
                 executor_factory: Callable[[int, WorkerConfig], ProcessPoolExecutor] | None = None,
                 clock: Callable[[], float] = time.monotonic, *, keep_runs: bool = False) -> None:
        """`keep_runs`: results keep the compiled path's records as runs (`Parsed.take_entries`, for the search
        sink), rather than as items for sinks that take only those."""
        if not keep_runs:  # its runs become items here: deflating their lines in the workers would be wasted
            config = replace(config, bulk_compression=None)
        self._config = config
        self._keep_runs = keep_runs
        self._workers = workers or usable_cpus()
        self._factory = executor_factory or _default_executor
        self._lock = Lock()
        self._alone = Lock()  # one failed chunk re-run at a time
        self._closed = False
        self._executor = self._factory(self._workers, config)
        self._retries = RetryBudget(config.object_retry_budget_s, clock)

    @property
    def workers(self) -> int:
        return self._workers

    def parse(self, stream: str, shard: str, records: Sequence[WireRecord]) -> Parsed:
        chunks = _chunks(records, self._workers)
        calls = [(chunk, self._submit(stream, shard, chunk)) for chunk in chunks]
        events.QUEUE.labels("parse_chunks").inc(len(calls))
        result = Parsed()
        try:
            for chunk, call in calls:
                executor = call.executor
                try:
                    part = call.outcome()
                except (BrokenProcessPool, CancelledError) as exc:
                    if self._closed:  # its workers were stopped: the batch is not parsed, nor checkpointed
                        raise RuntimeError("the parser pool was closed while the batch was being parsed") from exc
                    self._replace(executor, exc)
                    part = self._parse_alone(stream, shard, chunk)
                except ObjectReadFailed as failure:
                    part = self._giving_up(stream, shard, chunk, failure)
                result.merge(part)
        finally:
            events.QUEUE.labels("parse_chunks").dec(len(calls))
            for _, call in calls:  # those left unread when the batch failed
                call.abandon()
        if not self._keep_runs:
            result.expand_runs()
        return result

    def _giving_up(self, stream: str, shard: str, chunk: Sequence[WireRecord], failure: ObjectReadFailed) -> Parsed:
        """A chunk one of whose log objects failed transiently: raise (the batch fails and is read again)
        until that object has been failing for the whole retry budget; then parse the chunk again at once
        with the object given up (read once more, else dead-lettered), and so for each further object of
        the chunk whose budget is spent. A chunk holds at most `max_chunk_documents` worth of objects, and
        each round gives one more up, so this ends."""
        give_up: set[str] = set()
        while self._retries.exhausted(failure) and failure.location not in give_up:
            give_up.add(failure.location)
            call = self._submit(stream, shard, chunk, frozenset(give_up))
            try:
                return call.outcome()
            except ObjectReadFailed as again:
                failure = again
            except (BrokenProcessPool, CancelledError) as exc:
                self._replace(call.executor, exc)
                break  # the crash is the chunk's to answer for, in the next read of the batch
        raise failure

    def _parse_alone(self, stream: str, shard: str, chunk: Sequence[WireRecord]) -> Parsed:
        with self._alone:
            return self._bisect(stream, shard, chunk, [MAX_ISOLATION_POOLS])

    def _bisect(self, stream: str, shard: str, chunk: Sequence[WireRecord], pools_left: list[int]) -> Parsed:
        """Parse the chunk in a pool of its own; if it kills that too, halve it until the records that kill
        a worker by themselves are found, and dead-letter only them. One poison record among n costs about
        2·log2(n) short-lived pools; when many records kill workers, what is left once `pools_left` runs out
        is dead-lettered whole rather than stalling the shard for minutes."""
        result, chunk = _hung(stream, shard, chunk)  # a hung record is known: it is not parsed again
        if not chunk:
            return result
        pools_left[0] -= 1
        try:
            result.merge(_run_alone(self._factory, self._config, stream, shard, chunk))
            return result
        except BrokenProcessPool as again:
            timed_out, rest = _hung(stream, shard, chunk)
            if timed_out.dead_letters:  # killed for hanging, not crashed: the rest is parsed again, whole
                result.merge(timed_out)
                result.merge(self._bisect(stream, shard, rest, pools_left))
                return result
            if len(chunk) == 1 or pools_left[0] <= 0:
                self._check_canary(again)
                result.merge(_crashed(stream, shard, chunk, again))
                return result
        middle = len(chunk) // 2
        result.merge(self._bisect(stream, shard, chunk[:middle], pools_left))
        result.merge(self._bisect(stream, shard, chunk[middle:], pools_left))
        return result

    def _check_canary(self, error: BaseException) -> None:
        """Tell a poison chunk from a pool that cannot work at all (a worker start-up or pickling bug): a
        fresh pool must parse an empty chunk. If it cannot, the batch fails and is not checkpointed, rather
        than every record being dead-lettered as `worker_crashed`."""
        try:
            _run_alone(self._factory, self._config, "canary", "canary", (), timeout=120)
        except Exception as exc:  # noqa: BLE001 - any failure of an empty chunk means the pool is unusable
            raise PoolUnusable(f"the parser pool cannot parse even an empty chunk: {type(exc).__name__}: {exc}") from error

    def _submit(self, stream: str, shard: str, chunk: Sequence[WireRecord],
                give_up: frozenset[str] = frozenset()) -> _Call:
        """The chunk's call on the pool's executor, its results to come through a shared-memory slot if one
        is free (`consumer.pool_slots`), else through the pipe."""
        while True:
            with self._lock:
                executor = self._executor
            slots = pool_slots.of(executor)
            slot = slots.claim() if slots is not None else None
            extra = (None, give_up) if give_up else ()  # the usual call stays the plain one
            try:
                if slot is None:
                    future = executor.submit(parse_in_worker, stream, shard, chunk, *extra)
                else:
                    future = executor.submit(parse_into_slot, slot, stream, shard, chunk, *extra)
            except BrokenProcessPool as exc:
                future = Future()
                future.set_exception(exc)  # the call's outcome raises it, and frees the slot as any outcome does
            except RuntimeError:  # shut down by another thread's replacement in between: take the new one
                if slot is not None:
                    slots.release(slot)  # type: ignore[union-attr]
                with self._lock:
                    if self._executor is executor:
                        raise
                continue
            return _Call(executor, future, slots, slot)

    def _replace(self, broken: Any, error: BaseException) -> None:
        """Replace `broken` if it is still the pool in use: every chunk of a broken pool fails, and only the
        first to notice replaces it (replacing again would cancel the new pool's work)."""
        with self._lock:
            if self._executor is not broken or self._closed:
                return
            events.pool_restarted(error)
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._factory(self._workers, self._config)

    def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Stop the workers: chunks still parsing get `grace_s`, then their workers are killed. Waiting for
        them would keep a stopping process for as long as a spinning record has left of parse_timeout_s."""
        with self._lock:
            self._closed = True
            executor = self._executor
        # ProcessPoolExecutor's own table: Python 3.11 has no public way to stop a busy worker (3.14's
        # terminate_workers). Read before shutdown, which forgets it.
        workers = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace_s
        for process in workers:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in workers:
            if process.is_alive():
                process.kill()
                process.join(5)


@dataclass(slots=True)
class _Call:
    """A chunk submitted to an executor (the one to replace, and only it, if it breaks), and the slot its results
    are written into, if any."""

    executor: Any
    future: Future[Any]
    slots: pool_slots.ResultSlots | None = None
    slot: int | None = None

    def outcome(self) -> Parsed:
        """The chunk's results (or the worker's exception); the slot is free again afterwards, whatever came."""
        try:
            part = self.future.result()
            if type(part) is pool_slots.Stashed:
                events.POOL_RESULTS.labels("slot").inc()
                return cast(Parsed, self.slots.read(part))  # type: ignore[union-attr]
            events.POOL_RESULTS.labels("pipe").inc()
            return cast(Parsed, part)
        finally:
            if self.slot is not None:
                self.slots.release(self.slot)  # type: ignore[union-attr]
                self.slot = None

    def abandon(self) -> None:
        """Free the slot of a call whose results will not be read, once its worker is done with the slot."""
        if self.slot is None:
            return
        slots, slot = self.slots, self.slot
        self.slot = None
        self.future.add_done_callback(lambda _: slots.release(slot))  # type: ignore[union-attr]


def _run_alone(factory: Callable[[int, WorkerConfig], Any], config: WorkerConfig, stream: str, shard: str,
               chunk: Sequence[WireRecord], timeout: float | None = None) -> Parsed:
    executor = factory(1, config)
    try:
        return executor.submit(parse_in_worker, stream, shard, chunk).result(timeout=timeout)  # type: ignore[no-any-return]
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def _chunk_size(records: int, workers: int) -> int:
    return max(MIN_CHUNK, -(-records // workers))


def _chunks(records: Sequence[WireRecord], workers: int) -> list[Sequence[WireRecord]]:
    if not records:
        return []
    size = _chunk_size(len(records), workers)
    return [records[i:i + size] for i in range(0, len(records), size)]


def chunk_count(records: int, workers: int) -> int:
    """How many chunks `ParserPool.parse` cuts `records` records into (`_chunks`): at most `workers`."""
    return -(-records // _chunk_size(records, workers)) if records > 0 else 0


def _default_executor(workers: int, config: WorkerConfig) -> ProcessPoolExecutor:
    # forkserver: the pipeline process runs threads, and forking a threaded process can deadlock a child.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["parsers", "parsers.registry", "sinks.documents"])
    board = hang_watch.watchdog(context).board if config.parse_timeout_s else None
    # Enough slots for every worker's chunk, the one queued behind each, and results not yet read.
    slots = pool_slots.create(2 * workers + 2)
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                   initargs=(config, board, slots))
    pool_pipes.install(executor)
    if slots is not None:
        pool_slots.attach(executor, slots)
    return executor
