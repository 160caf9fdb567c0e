"""Parse one whole Kinesis record: unwrap its envelope, detect each event's dataset, parse, filter.

Placeholder until the envelope work lands (owned by the envelopes helper): handles bare events only.
"""

from __future__ import annotations

from parsers.errors import ParseError
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.outcome import Failure, ParsedDocument, RecordOutcome
from parsers.rules import StreamParsing


def parse_record(data: bytes, parsing: StreamParsing, options: ParseOptions) -> RecordOutcome:
    from parsers import document, registry

    outcome = RecordOutcome(events=1)
    dataset = parsing.dataset or "cloudwatch_logs"
    spec = registry.get(dataset)
    event = Event(message=data.decode("utf-8", "replace"))
    try:
        docs = spec.parse(event, options)
    except ParseError as exc:
        outcome.failures.append(Failure(exc.reason, exc.message, 0, dataset, event.text()))
        return outcome
    for part, doc in enumerate(docs):
        document.finalize(doc, spec, event, options)
        document.ship(doc, spec, parsing.namespace, dict(parsing.labels))
        outcome.documents.append(ParsedDocument(spec.name, spec.event_dataset, doc, 0, part))
    if not docs:
        outcome.dropped["parser_drop"] += 1
    return outcome
