"""Options that change how events become documents. Picklable: they travel to the parser pool."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParseOptions:
    keep_original: bool = False  # keep `event.original` (the raw event text) in every document
    geoip_dir: str | None = None  # folder with MaxMind City/ASN databases; None: no geo/as fields
    max_decompressed_bytes: int = 64 * 1024 * 1024  # gzip-bomb cap per record
