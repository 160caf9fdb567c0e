from __future__ import annotations

import gzip
import itertools

import orjson
import pytest

from sinks.archive import encode
from sinks.batch import Position
from tests.unit.sinks.archive.helpers import BASE_SEQUENCE, SHARD, T0, record


def test_line_carries_every_field_in_a_fixed_order_with_the_bytes_as_received():
    rec = record(1)
    line = encode.encode_line("logs", SHARD, rec)
    assert line.endswith(b"\n")
    assert list(orjson.loads(line)) == ["stream", "shard", "sequence", "sub_sequence", "arrival_ms",
                                        "partition_key", "data"]
    assert orjson.loads(line)["data"] == rec.data_b64
    assert orjson.loads(line)["sequence"] == rec.sequence  # a string: sequence numbers exceed 2**64


def test_same_records_give_the_same_key_and_the_same_bytes():
    records = [record(i) for i in range(5)]
    first = encode.plan_objects("archive", "logs", SHARD, records, 1 << 20)
    again = encode.plan_objects("archive", "logs", SHARD, list(records), 1 << 20)
    assert [(o.key, o.body) for o in first] == [(o.key, o.body) for o in again]
    assert first[0].body[4:8] == b"\0\0\0\0"  # gzip MTIME is zero


def test_key_names_stream_hour_of_first_arrival_shard_and_positions():
    records = [record(0), record(1, sub=2)]
    (obj,) = encode.plan_objects("archive", "logs", SHARD, records, 1 << 20)
    assert obj.key == (f"archive/stream=logs/dt=2023-11-14/hour=22/{SHARD}/"
                       f"{BASE_SEQUENCE}.0-{BASE_SEQUENCE + 10}.2.ndjson.gz")
    parsed = encode.parse_archive_key("archive", obj.key)
    assert parsed == encode.ArchiveKey("logs", "2023-11-14", "22", SHARD, Position(BASE_SEQUENCE, 0),
                                       Position(BASE_SEQUENCE + 10, 2))


@pytest.mark.parametrize("key", ["archive/other/file.txt", "archive/stream=x/dt=2023-11-14/hour=22/s/1.0.ndjson.gz",
                                 "elsewhere/stream=x/dt=2023-11-14/hour=22/s/1.0-2.0.ndjson.gz",
                                 "archive/stream=x/dt=2023-11-14/hour=24/s/1.0-2.0.ndjson.gz",
                                 "archive/stream=x/dt=2023-11-14/hour=99/s/1.0-2.0.ndjson.gz"])
def test_keys_the_archive_does_not_write_do_not_parse(key):
    assert encode.parse_archive_key("archive", key) is None


def test_big_batches_split_by_uncompressed_size_and_a_huge_record_stands_alone():
    records = [record(i, payload=b"x" * 300) for i in range(10)] + [record(10, payload=b"y" * 5000)]
    objects = encode.plan_objects("archive", "logs", SHARD, records, 2000)
    assert sum(len(o.records) for o in objects) == 11
    assert all(o.ndjson_bytes <= 2000 for o in objects[:-1])
    assert objects[-1].records == (records[10],)
    assert [r for o in objects for r in o.records] == records
    for earlier, later in itertools.pairwise(objects):
        assert earlier.last < later.first


def test_decode_gives_back_every_record_exactly():
    records = [record(i, payload=bytes(range(256)) * i) for i in range(4)]
    (obj,) = encode.plan_objects("archive", "logs", SHARD, records, 1 << 20)
    decoded = encode.decode_object(obj.body, 1 << 20)
    assert [d.raw() for d in decoded] == records
    assert [d.data_b64 for d in decoded] == [r.data_b64 for r in records]


def test_decode_refuses_a_gzip_bomb_and_garbage():
    bomb = gzip.compress(b"\n" * 10_000_000)
    with pytest.raises(encode.ArchiveFormatError, match="more than"):
        encode.decode_object(bomb, 1_000_000)
    with pytest.raises(encode.ArchiveFormatError, match="not gzip"):
        encode.decode_object(b"plain text", 1000)
    with pytest.raises(encode.ArchiveFormatError, match="line 1"):
        encode.decode_object(gzip.compress(b'{"stream": "x"}\n'), 1000)


def test_partition_is_utc():
    assert encode.partition(T0) == ("2023-11-14", "22")
    assert encode.partition(0) == ("1970-01-01", "00")
