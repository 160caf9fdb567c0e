"""Options that change how events become documents. Picklable: they travel to the parser pool."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParseOptions:
    keep_original: bool = False  # keep `event.original` (the raw event text) in every document
    geoip_dir: str | None = None  # folder with MaxMind City/ASN databases; None: no geo/as fields
    max_decompressed_bytes: int = 64 * 1024 * 1024  # gzip-bomb cap per record
    # What one record's S3 notifications may expand to (pipeline.max_objects_per_record and
    # pipeline.max_events_per_object): log objects read per record, the rest dead-lettered `too_many_objects`;
    # events parsed per object, the rest dead-lettered `too_many_events`.
    max_objects_per_record: int = 100
    max_events_per_object: int = 1_000_000
