"""Parse one whole Kinesis record: unwrap its envelope, detect each event's dataset, parse, filter.

    parse_record(data, parsing, options, fetch=None, emit=None, *, first_object=0, full=None) -> RecordOutcome

Never raises, but for what `fetch` raises other than `ObjectUnavailable` (a transient S3 error: the caller
fails the batch, and the record is read again). Every event of the record ends in exactly one of: documents (`outcome.documents`, each with
the event's ordinal), an intentional drop counted by reason (`outcome.dropped`: `parser_drop` when the parser
returns no document, `filtered` when a filter drops every document of the event), or a `Failure` (for the
dead-letter path). Per event: unwrap -> detect -> the dataset's guarded parser -> `document.finalize` ->
filters -> `document.ship(namespace, labels)`.

* `outcome.events` counts events; `outcome.events_by_dataset` counts them by detected dataset (registry
  name). Ordinals number the record's own events 0, 1, 2, ... in record order; log objects number theirs
  in ranges of their own (below).
* A record whose envelope cannot be unwrapped (bad gzip, over the decompression cap, a malformed
  CloudWatch Logs or EventBridge envelope) is one failed event: ordinal None, dataset None, raw = the
  record's bytes in base64.
* Parts of a record that are not events are counted drops but not events: CloudWatch Logs control messages
  (`control_message`), empty records (`empty_record`), Security Hub events without findings
  (`no_findings`), CloudTrail files without records (`no_records`).
* A filter drop is also counted per rule name in `outcome.filtered`.
* An event of a CloudWatch log group no rule claims whose content looks like a security dataset is indexed as
  `cloudwatch_logs` and counted in `outcome.unclaimed` by the dataset it looks like, its group named in
  `outcome.unclaimed_groups` (`parsers.detect`: in CloudWatch Logs the log group, not the content, decides;
  an EventBridge event there is not unwrapped, and no S3 object it names is read).
* With `emit`, each event's documents go to `emit` as soon as the event is finished, and
  `outcome.documents` stays empty: a caller that serialises them at once never holds a large log object's
  documents as dicts all together.
* S3 event notifications point at log objects: `fetch(ref)` (I/O, given by the caller) returns an object's
  bytes, whose events are parsed as if they were the record's own, with their dataset from the object's key
  (`detect.dataset_for_key`) and the aws-s3 input's fields (`aws.s3.*`, `log.file.path`). The pointers of a
  record (those nested in its events too) are read after all of its own events, in the order they appear.
  An object that cannot be read (`ObjectUnavailable`) or unwrapped (bad gzip, over the cap, a JSON document
  with a malformed envelope) is one failed event whose raw text is a notification of that object alone
  (itself a record that reads it again). An object's lines are unwrapped one at a time as they are parsed,
  so a line whose envelope is malformed is one failed event (raw: the line), not the whole object. Without
  `fetch` (`secstash parse`, or reading disabled) the notification is an event of its own for the generic
  dataset.
* Each object's events are numbered within the object, from a base its pointer's place in the record gives:
  the first pointer's right after the record's own events (as when objects shared one sequence, so the
  usual one-pointer record keeps its document ids), pointer i >= 1's from i * 2**32. An object that cannot
  be read, or has fewer events than before, never moves another object's documents to new ids.
* What one record expands to is bounded: a record of more than `options.max_events_per_object` events and
  pointers of its own is one `too_many_events` failure of the whole record (ordinal None, raw: the record in
  base64), refused before its events are made; at most `options.max_objects_per_record` pointers are read, the
  rest are one `too_many_objects` failure (raw: a notification of those pointers; ordinal: the first of
  them's base); at most `options.max_events_per_object` events of an object are parsed, the rest are one
  `too_many_events` failure (raw: the object's notification; the message names the first line not parsed).
* `full(outcome)`, when given, is asked before each log object after the first this call reads: True stops
  the record there, with `outcome.resume_object` the pointer to go on from (`first_object=` in a later
  call, which parses that pointer and those after it, and nothing of the record before it).
"""

from __future__ import annotations

import base64
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from parsers import document, registry
from parsers.detect import EVENTBRIDGE, GENERIC, Detector, dataset_for_key
from parsers.envelopes import Item, ObjectRef, Unwrapped, eventbridge, unwrap, unwrap_log_file
from parsers.errors import EnvelopeError, EventError, ParseError
from parsers.event import Event, EventMeta
from parsers.filters import FilterSet
from parsers.options import ParseOptions
from parsers.outcome import UNCLAIMED_GROUPS, Failure, ParsedDocument, RecordOutcome
from parsers.rules import StreamParsing

# Reads one log object in S3: its bytes, or ObjectUnavailable (permanent); anything else it raises is transient.
Fetch = Callable[[ObjectRef], bytes]
# Takes each document as soon as its event is finished, instead of `outcome.documents` collecting them.
Emit = Callable[[ParsedDocument], None]
# Asked between two log objects of a record, with what the record made so far: True stops it there.
Full = Callable[[RecordOutcome], bool]

# Ordinals per log object: pointer i >= 1 of a record numbers its object's events from i * OBJECT_ORDINALS,
# so each object's ids depend on its own place and content only. The first pointer's events come right
# after the record's own, as they always have: most notifications name one object, and their documents keep
# the ids they had before objects had ranges of their own (a later pointer's documents got new ids then,
# once: a replay of older records indexes those again). An object holds far fewer events than this
# (pipeline.max_events_per_object is at most 10^8), and so are a record's own events.
OBJECT_ORDINALS = 1 << 32


def parse_record(data: bytes, parsing: StreamParsing, options: ParseOptions, fetch: Fetch | None = None,
                 emit: Emit | None = None, *, first_object: int = 0, full: Full | None = None) -> RecordOutcome:
    outcome = RecordOutcome()
    try:
        unwrapped = unwrap(data, options.max_decompressed_bytes, options.max_events_per_object)
    except Exception as exc:  # noqa: BLE001 - a bad envelope (or an envelope bug) dead-letters the record
        reason, message = _describe(exc)
        outcome.events = 1
        outcome.failures.append(Failure(reason, message, None, None, base64.b64encode(data).decode("ascii")))
        return outcome
    try:
        _Run(_context(parsing), options, outcome, fetch, emit, full).record(unwrapped, first_object)
    except _FetchFailed as exc:
        raise exc.original from None  # transient: the caller fails the batch, the record is read again
    except Exception as exc:  # noqa: BLE001 - a bug past the per-event guards: dead-letter the record whole
        # What was parsed before it stays (it may have been emitted already); the record's redrive makes
        # the same documents under the same ids again, which the index takes as duplicates.
        reason, message = _describe(exc)
        outcome.events += 1
        outcome.failures.append(Failure(reason, message, None, None, base64.b64encode(data).decode("ascii")))
    return outcome


class _FetchFailed(Exception):
    """What `fetch` raised other than a ParseError, carried past the guards that dead-letter bad input."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


class _Context:
    """What a stream's settings compile to: built once per StreamParsing, reused for every record."""

    __slots__ = ("detector", "filtering", "filters", "labels", "namespace")

    def __init__(self, parsing: StreamParsing) -> None:
        self.detector = Detector(parsing)
        self.filters = FilterSet(parsing.filters)
        self.filtering = bool(self.filters)
        self.namespace = parsing.namespace
        self.labels = dict(parsing.labels)


_CONTEXTS: dict[int, tuple[StreamParsing, _Context]] = {}


def _context(parsing: StreamParsing) -> _Context:
    # Keyed by identity (hashing the nested rules on every record would cost more than the look-up saves);
    # the entry keeps `parsing` alive, so its id cannot be reused while cached.
    entry = _CONTEXTS.get(id(parsing))
    if entry is not None and entry[0] is parsing:
        return entry[1]
    context = _Context(parsing)
    if len(_CONTEXTS) >= 64:
        _CONTEXTS.clear()
    _CONTEXTS[id(parsing)] = (parsing, context)
    return context


class _Run:
    """One record's events through detection, parsing, filters and the shipper's fields."""

    __slots__ = ("context", "emit", "fetch", "full", "options", "ordinal", "outcome", "parsing", "pointers",
                 "reading", "specs")

    def __init__(self, context: _Context, options: ParseOptions, outcome: RecordOutcome,
                 fetch: Fetch | None = None, emit: Emit | None = None, full: Full | None = None) -> None:
        self.context, self.options, self.outcome, self.fetch = context, options, outcome, fetch
        self.emit, self.full = emit, full
        self.ordinal = 0
        self.specs: dict[str, registry.DatasetSpec | None] = {}
        self.reading: ObjectRef | None = None  # the log object whose events these are, if any
        self.pointers: list[ObjectRef] = []  # the record's log objects, read after its own events
        self.parsing = True  # False: only find the record's pointers (a later call for the same record)

    def record(self, unwrapped: Unwrapped, first_object: int) -> None:
        if first_object == 0:
            self.items(unwrapped)
        else:
            # An earlier call parsed the record's own events and the objects before `first_object`: find the
            # pointers again (some may sit in its events: EventBridge inside CloudWatch Logs) without
            # parsing, counting or emitting anything.
            finder = _Run(self.context, self.options, RecordOutcome(), self.fetch)
            finder.parsing = False
            finder.items(unwrapped)
            self.pointers = finder.pointers
        self._objects(first_object)

    def items(self, unwrapped: Unwrapped) -> None:
        self._take(unwrapped.items, unwrapped.dropped, unwrapped.objects)

    def _take(self, items: Iterable[Item], dropped: Counter[str], objects: list[ObjectRef]) -> None:
        """Events, then pointers. A log file's `items` is lazy: its `dropped` and `objects` are complete
        only once the items are taken."""
        detector = self.context.detector
        detect = detector.dataset
        for known, event in items:
            try:
                dataset = detect(event, known)
            except Exception as exc:  # noqa: BLE001 - a detection bug must not lose the record
                detector.withheld = None
                self._fail(exc, None, event)
                continue
            if detector.withheld is not None:
                self._unclaimed(detector.withheld, event)
                detector.withheld = None
            if dataset == EVENTBRIDGE:
                self._eventbridge(event)
            else:
                self._event(dataset, event)
        self.outcome.dropped.update(dropped)
        for ref in objects:
            if self.fetch is None or self.reading is not None:
                # Only a record's own pointers are followed: a log file holds events, not pointers, and one
                # that named itself would loop; any notification inside one (however deeply wrapped) is
                # indexed as it is.
                notification = Event(message=ref.notification, meta=EventMeta(region=ref.region,
                                                                              source_object=self.reading))
                self.items(Unwrapped([(GENERIC, notification)]))
            else:
                self.pointers.append(ref)

    def _unclaimed(self, looks_like: str, event: Event) -> None:
        """An event of an unclaimed log group that content-based detection would have given `looks_like`."""
        if not self.parsing:
            return
        outcome = self.outcome
        outcome.unclaimed[looks_like] += 1
        group = event.meta.log_group
        groups = outcome.unclaimed_groups
        if group is not None and group not in groups and len(groups) < UNCLAIMED_GROUPS:
            groups[group] = looks_like

    def _objects(self, first: int) -> None:
        """The record's log objects from pointer `first` on, at most `max_objects_per_record` in all."""
        pointers, cap = self.pointers, self.options.max_objects_per_record
        for index in range(first, min(len(pointers), cap)):
            if index > first and self.full is not None and self.full(self.outcome):
                self.outcome.resume_object = index
                return
            self._object(index, pointers[index])
        if len(pointers) > cap:
            self._too_many_objects(pointers[cap:], cap)

    def _object(self, index: int, ref: ObjectRef) -> None:
        """The events of one log object in S3, numbered from its pointer's base (see OBJECT_ORDINALS)."""
        if index:
            self.ordinal = index * OBJECT_ORDINALS
        notification = Event(message=ref.notification, meta=EventMeta(region=ref.region))
        by_key = dataset_for_key(ref.key)
        assert self.fetch is not None  # pointers are collected only with a reader
        try:
            data = self.fetch(ref)
        except ParseError as exc:  # ObjectUnavailable
            self._fail(exc, by_key, notification)
            return
        except Exception as exc:
            raise _FetchFailed(exc) from exc
        cap = self.options.max_events_per_object

        def bad_line(exc: Exception, line: str) -> None:
            self._fail(exc, by_key, Event(message=line, meta=EventMeta(region=ref.region, source_object=ref)))

        try:
            content = unwrap_log_file(data, self.options.max_decompressed_bytes, cap, bad_line)
        except Exception as exc:  # noqa: BLE001 - a log file that cannot be unwrapped, or an envelope bug
            self._fail(exc, by_key, notification)
            return
        del data

        def events() -> Iterator[Item]:
            for known, event in content.events:
                meta = event.meta
                meta.source_object = ref
                if meta.region is None:
                    meta.region = ref.region
                yield known or by_key, event

        self.reading = ref
        try:
            self._take(events(), content.dropped, content.objects)
        finally:
            self.reading = None
        if content.truncated is not None:
            where = ("line 1 of its JSON document" if content.truncated.line is None
                     else f"line {content.truncated.line} of the decompressed object")
            self._fail(EnvelopeError(f"{_location(ref)}: more than {cap} events (pipeline.max_events_per_object): "
                                     f"the first {cap} were parsed, the rest, from {where} on, were not",
                                     reason="too_many_events"), by_key, notification)

    def _too_many_objects(self, rest: list[ObjectRef], cap: int) -> None:
        """One failure for the pointers past the cap, whose raw text is a notification of them alone: a
        record that reads them (the first `max_objects_per_record` of them, and so on)."""
        records: list[Any] = []
        for ref in rest:
            records.extend(orjson.loads(ref.notification)["Records"])
        raw = orjson.dumps({"Records": records}).decode()
        message = (f"{len(rest)} log objects past the first {cap} of the record (pipeline.max_objects_per_record) "
                   f"were not read: {_location(rest[0])}" + (f" and {len(rest) - 1} more" if len(rest) > 1 else ""))
        self.outcome.events += 1
        self.outcome.failures.append(Failure("too_many_objects", message, cap * OBJECT_ORDINALS, None, raw))

    def _eventbridge(self, event: Event) -> None:
        """An EventBridge event inside a CloudWatch Logs event (a rule targeting a log group). Its findings
        count toward the record's events: 3.8 KiB of gzip can carry a million empty ones."""
        nested = Unwrapped(max_events=max(0, self.options.max_events_per_object - self.outcome.events))
        try:
            eventbridge.unwrap(event.json_object(), event.message, nested, via=event.meta)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc, None, event)
            return
        self.items(nested)

    def _event(self, dataset: str, event: Event) -> None:
        outcome = self.outcome
        ordinal = self.ordinal
        self.ordinal += 1
        if not self.parsing:
            return
        outcome.events += 1
        outcome.events_by_dataset[dataset] += 1
        try:
            spec = self._spec(dataset)
            if spec is None:
                outcome.failures.append(Failure("unknown_dataset", f"no parser for dataset {dataset!r}", ordinal,
                                                dataset, _raw(event)))
                return
            docs = spec.parse(event, self.options)
            if not docs:
                outcome.dropped["parser_drop"] += 1
                return
            kept = self._finish(docs, spec, event, ordinal)
        except Exception as exc:  # noqa: BLE001 - ParseError from the parser; anything else is our bug
            self._fail(exc, dataset, event, ordinal)
            return
        if not kept:
            outcome.dropped["filtered"] += 1
        elif self.emit is None:
            outcome.documents.extend(kept)
        else:
            for parsed in kept:
                self.emit(parsed)

    def _finish(self, docs: list[dict[str, Any]], spec: registry.DatasetSpec, event: Event,
                ordinal: int) -> list[ParsedDocument]:
        """The event's documents, all or none: a failure half-way leaves no partial output behind."""
        context, options = self.context, self.options
        filters = context.filters if context.filtering else None
        kept = []
        for part, doc in enumerate(docs):
            document.finalize(doc, spec, event, options)
            if filters is not None:
                dropped_by = filters.apply(doc, spec)
                if dropped_by is not None:
                    self.outcome.filtered[dropped_by] += 1
                    continue
            document.ship(doc, spec, context.namespace, context.labels)
            kept.append(ParsedDocument(spec.name, spec.event_dataset, doc, ordinal, part))
        return kept

    def _spec(self, dataset: str) -> registry.DatasetSpec | None:
        try:
            return self.specs[dataset]
        except KeyError:
            pass
        try:
            spec: registry.DatasetSpec | None = registry.get(dataset)
        except KeyError:
            spec = None
        self.specs[dataset] = spec
        return spec

    def _fail(self, exc: Exception, dataset: str | None, event: Event, ordinal: int | None = None) -> None:
        if ordinal is None:  # the event failed before it was counted
            ordinal = self.ordinal
            self.ordinal += 1
            self.outcome.events += 1
        reason, message = _describe(exc)
        self.outcome.failures.append(Failure(reason, message, ordinal, dataset, _raw(event)))


def _location(ref: ObjectRef) -> str:
    return f"s3://{ref.bucket}/{ref.key}" + (f" (version {ref.version_id})" if ref.version_id else "")


def _describe(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ParseError):
        return exc.reason, exc.message
    if isinstance(exc, RecursionError) or (isinstance(exc, TypeError) and str(exc) == "Recursion limit reached"):
        return "too_deep", "input nested too deeply"  # Python's recursion limit, or orjson's (255) when rendering
    return "internal_error", f"{type(exc).__name__}: {exc}"


def _raw(event: Event) -> str:
    """The event's text for the dead-letter record, even when orjson cannot render it (nested past 254)."""
    try:
        return event.text()
    except (EventError, TypeError):  # too deep for orjson
        # orjson reads 1024 levels but writes 254; json's encoder recurses once per level, so give it the
        # room (the depth is bounded by what orjson read) instead of losing the event's text.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 4 * 1024))
        try:
            return json.dumps(event.obj, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            return "(an object nested too deeply to render)"
        finally:
            sys.setrecursionlimit(limit)

