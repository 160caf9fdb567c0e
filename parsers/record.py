"""Parse one whole Kinesis record: unwrap its envelope, detect each event's dataset, parse, filter.

    parse_record(data, parsing, options, fetch=None) -> RecordOutcome

Never raises, but for what `fetch` raises other than `ObjectUnavailable` (a transient S3 error: the caller
fails the batch, and the record is read again). Every event of the record ends in exactly one of: documents (`outcome.documents`, each with
the event's ordinal), an intentional drop counted by reason (`outcome.dropped`: `parser_drop` when the parser
returns no document, `filtered` when a filter drops every document of the event), or a `Failure` (for the
dead-letter path). Per event: unwrap -> detect -> the dataset's guarded parser -> `document.finalize` ->
filters -> `document.ship(namespace, labels)`.

* `outcome.events` counts events; `outcome.events_by_dataset` counts them by detected dataset (registry
  name). Ordinals number the events of the record 0, 1, 2, ... in record order.
* A record whose envelope cannot be unwrapped (bad gzip, over the decompression cap, a malformed
  CloudWatch Logs or EventBridge envelope) is one failed event: ordinal None, dataset None, raw = the
  record's bytes in base64.
* Parts of a record that are not events are counted drops but not events: CloudWatch Logs control messages
  (`control_message`), empty records (`empty_record`), Security Hub events without findings
  (`no_findings`), CloudTrail files without records (`no_records`).
* A filter drop is also counted per rule name in `outcome.filtered`.
* With `emit`, each event's documents go to `emit` as soon as the event is finished, and
  `outcome.documents` stays empty: a caller that serialises them at once never holds a large log object's
  documents as dicts all together.
* S3 event notifications point at log objects: `fetch(ref)` (I/O, given by the caller) returns an object's
  bytes, whose events are parsed as if they were the record's own, numbered after them, with their dataset
  from the object's key (`detect.dataset_for_key`) and the aws-s3 input's fields (`aws.s3.*`,
  `log.file.path`). An object that cannot be read (`ObjectUnavailable`) or unwrapped is one failed event
  whose raw text is a notification of that object alone (itself a record that reads it again). Without `fetch`
  (`secstash parse`, or reading disabled) the notification is an event of its own for the generic dataset.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from typing import Any

from parsers import document, registry
from parsers.detect import EVENTBRIDGE, GENERIC, Detector, dataset_for_key
from parsers.envelopes import ObjectRef, Unwrapped, eventbridge, unwrap
from parsers.errors import EventError, ParseError
from parsers.event import Event, EventMeta
from parsers.filters import FilterSet
from parsers.options import ParseOptions
from parsers.outcome import Failure, ParsedDocument, RecordOutcome
from parsers.rules import StreamParsing

# Reads one log object in S3: its bytes, or ObjectUnavailable (permanent); anything else it raises is transient.
Fetch = Callable[[ObjectRef], bytes]
# Takes each document as soon as its event is finished, instead of `outcome.documents` collecting them.
Emit = Callable[[ParsedDocument], None]


def parse_record(data: bytes, parsing: StreamParsing, options: ParseOptions, fetch: Fetch | None = None,
                 emit: Emit | None = None) -> RecordOutcome:
    outcome = RecordOutcome()
    try:
        unwrapped = unwrap(data, options.max_decompressed_bytes)
    except Exception as exc:  # noqa: BLE001 - a bad envelope (or an envelope bug) dead-letters the record
        reason, message = _describe(exc)
        outcome.events = 1
        outcome.failures.append(Failure(reason, message, None, None, base64.b64encode(data).decode("ascii")))
        return outcome
    try:
        _Run(_context(parsing), options, outcome, fetch, emit).items(unwrapped)
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

    __slots__ = ("context", "emit", "fetch", "options", "ordinal", "outcome", "reading", "specs")

    def __init__(self, context: _Context, options: ParseOptions, outcome: RecordOutcome,
                 fetch: Fetch | None = None, emit: Emit | None = None) -> None:
        self.context, self.options, self.outcome, self.fetch = context, options, outcome, fetch
        self.emit = emit
        self.ordinal = 0
        self.specs: dict[str, registry.DatasetSpec | None] = {}
        self.reading: ObjectRef | None = None  # the log object whose events these are, if any

    def items(self, unwrapped: Unwrapped) -> None:
        self.outcome.dropped.update(unwrapped.dropped)
        detect = self.context.detector.dataset
        for known, event in unwrapped.items:
            try:
                dataset = detect(event, known)
            except Exception as exc:  # noqa: BLE001 - a detection bug must not lose the record
                self._fail(exc, None, event)
                continue
            if dataset == EVENTBRIDGE:
                self._eventbridge(event)
            else:
                self._event(dataset, event)
        for ref in unwrapped.objects:
            self._object(ref)

    def _object(self, ref: ObjectRef) -> None:
        """The events of one log object in S3, after the record's own. Only a record's own pointers are
        followed: a log file holds events, not pointers, and one that named itself would loop; any
        notification inside one (however deeply wrapped) is indexed as it is."""
        notification = Event(message=ref.notification, meta=EventMeta(region=ref.region,
                                                                      source_object=self.reading))
        if self.fetch is None or self.reading is not None:
            self.items(Unwrapped([(GENERIC, notification)]))
            return
        by_key = dataset_for_key(ref.key)
        try:
            data = self.fetch(ref)
        except ParseError as exc:  # ObjectUnavailable
            self._fail(exc, by_key, notification)
            return
        except Exception as exc:
            raise _FetchFailed(exc) from exc
        try:
            content = unwrap(data, self.options.max_decompressed_bytes)
        except Exception as exc:  # noqa: BLE001 - a log file that cannot be unwrapped, or an envelope bug
            self._fail(exc, by_key, notification)
            return
        items = []
        for known, event in content.items:
            meta = event.meta
            meta.source_object = ref
            if meta.region is None:
                meta.region = ref.region
            items.append((known or by_key, event))
        self.reading = ref
        try:
            self.items(Unwrapped(items, content.dropped, content.objects))
        finally:
            self.reading = None

    def _eventbridge(self, event: Event) -> None:
        """An EventBridge event inside a CloudWatch Logs event (a rule targeting a log group)."""
        nested = Unwrapped()
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

