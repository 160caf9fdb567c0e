from __future__ import annotations

import pytest
from pydantic import ValidationError

from sinks.archive.config import ArchiveSettings


def test_defaults_are_valid():
    settings = ArchiveSettings(bucket="archive-bucket")
    assert settings.require_object_lock and settings.prefix == "archive"


@pytest.mark.parametrize("changes", [{"manifest_prefix": "archive"}, {"dead_letter_prefix": "archive/dl"},
                                     {"prefix": "/archive"}, {"spill_prefix": "spill/"}])
def test_overlapping_or_malformed_prefixes_are_refused(changes):
    with pytest.raises(ValidationError):
        ArchiveSettings(bucket="archive-bucket", **changes)


def test_unknown_keys_are_refused():
    with pytest.raises(ValidationError, match="max_batch_age_s"):
        ArchiveSettings(bucket="archive-bucket", max_batch_age_s=60)
