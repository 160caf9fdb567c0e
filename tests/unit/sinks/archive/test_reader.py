from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sinks.archive import reader
from tests.unit.sinks.archive.fakes import FakeS3
from tests.unit.sinks.archive.helpers import SHARD, archive, batch

NOW = datetime(2024, 5, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    ("2024-05-01T13:30:00Z", datetime(2024, 5, 1, 13, 30, tzinfo=UTC)),
    ("2024-05-01T15:30:00+02:00", datetime(2024, 5, 1, 13, 30, tzinfo=UTC)),
    ("24h", datetime(2024, 5, 9, 12, tzinfo=UTC)),
    ("90m", datetime(2024, 5, 10, 10, 30, tzinfo=UTC)),
    ("7d", datetime(2024, 5, 3, 12, tzinfo=UTC)),
])
def test_times_are_iso_8601_or_an_age(text, expected):
    assert reader.parse_time(text, now=NOW) == int(expected.timestamp() * 1000)


def test_a_bad_time_says_what_is_accepted():
    with pytest.raises(ValueError, match="ISO 8601"):
        reader.parse_time("yesterday")


def test_hour_partitions_overlapping_the_range_are_found_by_listing():
    s3 = FakeS3()
    for day, hour in [("2024-05-01", "23"), ("2024-05-02", "00"), ("2024-05-02", "07"), ("2024-05-03", "01")]:
        s3.put_object(Key=f"archive/stream=s/dt={day}/hour={hour}/x", Body=b"")
    since = reader.parse_time("2024-05-01T23:59:00Z")  # inside 23:00: that hour is selected
    until = reader.parse_time("2024-05-02T07:00:00Z")  # exclusive: 07:00 is not
    found = list(reader.hour_partitions(s3, "b", "archive/stream=s/", since, until))
    assert found == ["archive/stream=s/dt=2024-05-01/hour=23/", "archive/stream=s/dt=2024-05-02/hour=00/"]
    assert len(list(reader.hour_partitions(s3, "b", "archive/stream=s/"))) == 4


def test_hours_the_archive_never_writes_are_not_partitions():
    s3 = FakeS3()
    for hour in ("00", "23", "24", "99", "7", "x"):
        s3.put_object(Key=f"archive/stream=s/dt=2024-05-01/hour={hour}/x", Body=b"")
    s3.put_object(Key="archive/stream=s/dt=2024-5-02/hour=01/x", Body=b"")
    found = list(reader.hour_partitions(s3, "b", "archive/stream=s/"))
    assert found == ["archive/stream=s/dt=2024-05-01/hour=00/", "archive/stream=s/dt=2024-05-01/hour=23/"]
    assert list(reader.partitions_before(s3, "b", "archive/stream=s/", reader.parse_time("2024-05-02"))) == \
        found[::-1]


def test_the_chain_head_is_not_looked_for_in_partitions_the_archive_never_writes():
    s3 = FakeS3()
    archive(s3, batch(0, 10))
    (real,) = s3.keys("manifests/")
    s3.put_object(Key=real.replace("hour=22", "hour=99").replace(".0.json", "9.0.json"), Body=b"not an entry")
    found = reader.latest_entry(s3, "tamper-bucket", "manifests", "logs", SHARD)
    assert found is not None and found[0] == real
