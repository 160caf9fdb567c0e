"""What parsing one Kinesis record produced: documents, failures and intentional drops, per event."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ParsedDocument:
    dataset: str  # registry name, e.g. "cloudtrail"
    event_dataset: str  # e.g. "aws.cloudtrail": with the namespace, names the data stream
    doc: dict[str, Any]
    ordinal: int  # which event of the record (0-based); with `part`, makes the document id deterministic
    part: int = 0  # which document of that event (parsers rarely emit more than one)


@dataclass(slots=True)
class Failure:
    reason: str  # short and fixed (a metric label): "invalid_json", "payload_too_large", ...
    message: str  # human-readable detail; goes to logs and the dead-letter record, never to labels
    ordinal: int | None  # the event that failed; None when the whole record could not be unwrapped
    dataset: str | None
    raw: str  # the event text (or, for envelope failures, the record bytes as base64), for the dead-letter


@dataclass(slots=True)
class RecordOutcome:
    documents: list[ParsedDocument] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    # Intentional drops by reason ("control_message", "filtered", "header_line", ...): counted, never silent.
    dropped: Counter[str] = field(default_factory=Counter)
    events: int = 0  # log events found in the record (a failed envelope counts as one)
    events_by_dataset: Counter[str] = field(default_factory=Counter)
    # Documents dropped by a filter, by rule name (`filters[<n>]` for an unnamed rule).
    filtered: Counter[str] = field(default_factory=Counter)
    # Set when the caller's `full` stopped the record between two of its log objects: the index of the first
    # pointer not read yet. Parsing the record again with `first_object=` it makes the rest.
    resume_object: int | None = None
    # CloudWatch Logs events of log groups no rule claims, indexed as cloudwatch_logs although their content
    # looks like a security dataset (what `detection_by_content` would have made of them), by that dataset;
    # and the first such dataset of each of their log groups (at most UNCLAIMED_GROUPS groups).
    unclaimed: Counter[str] = field(default_factory=Counter)
    unclaimed_groups: dict[str, str] = field(default_factory=dict)


UNCLAIMED_GROUPS = 100  # log groups named per record, or per chunk of records
