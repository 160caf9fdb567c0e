"""What flows into the sinks: raw Kinesis records with their positions, bulk items, dead letters."""

from __future__ import annotations

import base64
import re
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from sinks.compress import SegmentWriter, inflate_segment


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a record sits in its shard. KPL sub-records share a sequence number and differ by sub-sequence."""

    sequence: int
    sub_sequence: int = 0

    def __str__(self) -> str:
        return f"{self.sequence}.{self.sub_sequence}"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One Kinesis record as the KCL daemon handed it over; `data_b64` is kept as received (base64)."""

    sequence: str
    sub_sequence: int
    arrival_ms: int  # approximateArrivalTimestamp, epoch milliseconds
    partition_key: str
    data_b64: str

    @property
    def position(self) -> Position:
        return Position(int(self.sequence), self.sub_sequence)

    def data(self) -> bytes:
        return base64.b64decode(self.data_b64)


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """Consecutive records of one shard, in order: the unit the KCL processor hands over and checkpoints."""

    stream: str
    shard: str
    records: tuple[RawRecord, ...]

    @property
    def first(self) -> Position:
        return self.records[0].position

    @property
    def last(self) -> Position:
        return self.records[-1].position

    @property
    def raw_bytes(self) -> int:
        """Decoded payload size, computed from the base64 length without decoding."""
        total = 0
        for record in self.records:
            encoded = record.data_b64
            total += len(encoded) * 3 // 4 - encoded.count("=", len(encoded) - 2)
        return total


# Source and BulkItem are made once per document, in a parser worker and again where the pool's results are
# unpickled: not frozen, because a frozen dataclass's __init__ sets each field through object.__setattr__
# (~1 µs an object, five times a plain one's). Treat them as immutable all the same: nothing assigns to them.
@dataclass(slots=True)
class Source:
    """Where a document came from: enough to find the raw record in the archive."""

    stream: str
    shard: str
    sequence: str
    sub_sequence: int
    ordinal: int | None  # event index inside the record; None for a whole-record failure


@dataclass(slots=True)
class BulkItem:
    """One document ready for a `create` bulk action. `body` is the serialised JSON document."""

    index: str  # data stream or index name
    id: str  # deterministic, from the source position
    body: bytes
    dataset: str  # event.dataset, for metrics
    source: Source


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Something that could not become an indexed document, with why, kept whole for `secstash redrive`."""

    stage: Literal["parse", "index"]
    reason: str  # fixed vocabulary (metric label)
    message: str  # detail for humans
    dataset: str | None
    source: Source
    raw: str  # parse stage: the event text (or base64 record); index stage: the document JSON
    index: str | None = None  # index stage: the target the document was refused by
    id: str | None = None  # index stage: the document id, so a redrive stays idempotent


@dataclass(slots=True)
class DocumentRun:
    """The documents of one record, rendered whole by the compiled record path (`consumer.native_path`): its
    bulk lines as one buffer, which crosses the pool's pipe as two bytes objects, not a Python object per
    document, and reaches the search sink that way (`sinks.search`: one slice of the buffer per run in a bulk
    body; BulkItems are made only for documents that need one of their own: a retry, a dead letter, a spill).
    `bounds` holds three little-endian u32 per document: where its action line starts, where its body starts
    and where it ends (its newline). The documents are the record's events `first`, `first + 1`, ... (part 0
    each), all of one dataset and index. A run split to fit a bulk request shares `lines` with its pieces.

    A pool worker whose search sink gzips its bodies sends the lines as a deflate segment instead
    (`deflate`): about a sixth of the bytes through the pipe, and the pipeline process joins segments rather
    than compressing documents. `lines` is then empty until something needs the text (a retry of one
    document, a dead letter, a spill), which inflates it once."""

    index: str
    dataset: str  # registry name
    event_dataset: str  # the compiled path's (`pack`'s runs leave it empty: their counts are taken before)
    stream: str
    shard: str
    sequence: str
    sub_sequence: int
    lines: bytes  # NDJSON bulk lines: an action line and a body per document
    bounds: bytes
    id_offset: int  # where the id starts in an action line (ids are ID_LENGTH characters)
    first: int = 0  # the ordinal (event index in the record) of the first document
    # `ndjson()` as a deflate segment (`sinks.compress`) and its CRC-32, or None; set by `deflate`.
    segment: bytes | None = None
    crc: int = 0

    def __len__(self) -> int:
        return len(self.bounds) // 12

    def __reduce__(self) -> tuple[type[DocumentRun], tuple[object, ...]]:
        # Pickled as a constructor call: a slotted dataclass's default state pickles its slots by name, which
        # cost a pool worker ~1 µs more per run to send and the pipeline ~0.7 µs more to receive.
        return DocumentRun, (self.index, self.dataset, self.event_dataset, self.stream, self.shard, self.sequence,
                             self.sub_sequence, self.lines, self.bounds, self.id_offset, self.first, self.segment,
                             self.crc)

    def deflate(self, writer: SegmentWriter) -> None:
        """Keep only the run's own bulk lines, as a deflate segment (a piece of a split run drops the rest of
        the lines it shared: its bounds are moved to count from its first document)."""
        if self.segment is not None:
            return
        self.segment, self.crc = writer.write(self.ndjson())
        self.drop_lines()

    def drop_lines(self) -> None:
        """Forget `lines`, which a segment holds now, and count the bounds from the run's first document."""
        bounds = memoryview(self.bounds).cast("I")
        if start := bounds[0]:
            self.bounds = array("I", [at - start for at in bounds]).tobytes()
        self.lines = b""

    def text(self) -> bytes:
        """`lines`, inflated from the segment the first time they are asked for."""
        if not self.lines and self.segment is not None:
            self.lines = inflate_segment(self.segment)
        return self.lines

    @property
    def nbytes(self) -> int:
        """Bytes the run adds to a bulk body: as `request_builder.item_bytes` summed over its documents."""
        bounds = memoryview(self.bounds).cast("I")
        return bounds[-1] + 1 - bounds[0]

    def ndjson(self) -> memoryview:
        """The run's bulk lines (action line and body of each document), without a copy (`bytes()` makes one)."""
        bounds = memoryview(self.bounds).cast("I")
        return memoryview(self.text())[bounds[0]:bounds[-1] + 1]

    def split(self, count: int) -> tuple[DocumentRun, DocumentRun]:
        """Its first `count` documents and the others, as two runs (0 < count < len(self)); the segment, which
        holds them all, stays with neither."""
        cut, lines = 12 * count, self.text()
        return (replace(self, lines=lines, bounds=self.bounds[:cut], segment=None, crc=0),
                replace(self, lines=lines, bounds=self.bounds[cut:], first=self.first + count, segment=None, crc=0))

    def items(self) -> list[BulkItem]:
        lines, offset, end = self.text(), self.id_offset, self.id_offset + ID_LENGTH
        stream, shard, sequence, sub_sequence = self.stream, self.shard, self.sequence, self.sub_sequence
        index, dataset = self.index, self.dataset
        bounds = memoryview(self.bounds).cast("I")
        return [BulkItem(index, lines[action + offset:action + end].decode("ascii"), lines[body:body_end], dataset,
                         Source(stream, shard, sequence, sub_sequence, ordinal))
                for ordinal, (action, body, body_end)
                in enumerate(zip(bounds[0::3], bounds[1::3], bounds[2::3]), self.first)]


@dataclass(slots=True)
class RunGroup:
    """Runs of one index and dataset, from several records of a chunk, that a pool worker deflated as one
    segment (`deflated`). A segment per record ended a deflate block per record, whose Huffman codes ISA-L
    builds anew: ~13 µs a block, ~0.8 µs per document of the mixed corpus, and a tenth more bytes. The search
    sink puts a group whole into one request, as it does a run; anything else (a retry of one document, a dead
    letter, a spill) inflates the segment once and takes the runs' documents (`items`)."""

    runs: tuple[DocumentRun, ...]  # their lines empty until `items` inflates the segment, bounds counting from 0
    segment: bytes
    crc: int
    documents: int
    nbytes: int  # bytes the group adds to a bulk body: its runs' lines

    @classmethod
    def deflated(cls, runs: Sequence[DocumentRun], writer: SegmentWriter) -> RunGroup:
        segment, crc, size = writer.write_parts([run.ndjson() for run in runs])
        for run in runs:
            run.drop_lines()
        return cls(tuple(runs), segment, crc, sum(len(run) for run in runs), size)

    def __len__(self) -> int:
        return self.documents

    def __reduce__(self) -> tuple[type[RunGroup], tuple[object, ...]]:
        return RunGroup, (self.runs, self.segment, self.crc, self.documents, self.nbytes)

    @property
    def index(self) -> str:
        return self.runs[0].index

    @property
    def dataset(self) -> str:
        return self.runs[0].dataset

    def ndjson(self) -> bytes:
        return b"".join([run.ndjson() for run in self._inflated()])

    def items(self) -> list[BulkItem]:
        return [item for run in self._inflated() for item in run.items()]

    def _inflated(self) -> tuple[DocumentRun, ...]:
        """The runs, their lines back from the segment (inflated once)."""
        runs = self.runs
        if not runs[0].lines:
            text, at = inflate_segment(self.segment), 0
            for run in runs:
                run.lines, at = text[at:at + run.nbytes], at + run.nbytes
        return runs


# An id of characters JSON writes as they are: its action line is the prefix, the id and `"}}` (request_builder).
plain_id = re.compile(r"[A-Za-z0-9_.:-]+\Z").match


# What the search sink takes: one document, a record's documents rendered whole, or runs deflated together.
Entry = BulkItem | DocumentRun | RunGroup


def documents_in(entry: Entry) -> int:
    return 1 if type(entry) is BulkItem else len(entry)


def as_items(entries: Iterable[Entry]) -> list[BulkItem]:
    """Every document of `entries` as a BulkItem, in order."""
    items: list[BulkItem] = []
    for entry in entries:
        if type(entry) is BulkItem:
            items.append(entry)
        else:
            items.extend(entry.items())
    return items


ID_LENGTH = 20  # characters of a document id (`sinks.documents.document_id`)
