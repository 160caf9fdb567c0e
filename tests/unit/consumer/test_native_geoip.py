"""The compiled path's GeoIP readers (native/src/geoip.rs) when a database is not one: it refuses to open it, and
the records it would have rendered take the Python path (which reports the database), whatever else is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer import native_path
from parsers.options import ParseOptions

from .test_native_path import GEOIP, both, cwl_record, needs_geoip, parsing, wire

pytestmark = pytest.mark.skipif(not native_path.available(), reason="secstash_native is not installed")

LINE = "2 123456789012 eni-1 89.160.20.128 10.0.0.1 443 49152 6 10 840 1431280876 1431280934 ACCEPT OK"


@pytest.mark.parametrize("content", [b"", b"not a MaxMind database" * 100], ids=["empty", "garbage"])
@pytest.mark.parametrize("which", ["GeoLite2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb"])
def test_a_database_that_does_not_open_is_refused_and_its_records_take_the_python_path(
        tmp_path: Path, content: bytes, which: str) -> None:
    if which != "GeoLite2-City-Test.mmdb" and (GEOIP / "GeoLite2-City-Test.mmdb").is_file():
        (tmp_path / "GeoLite2-City-Test.mmdb").write_bytes((GEOIP / "GeoLite2-City-Test.mmdb").read_bytes())
    (tmp_path / which).write_bytes(content)
    with pytest.raises(ValueError, match=which):
        native_path.secstash_native.VpcflowDocuments(str(tmp_path))
    records = [wire(cwl_record([LINE] * 3), n) for n in range(2)]
    python, native = both(records, parsing(), ParseOptions(geoip_dir=str(tmp_path)))
    assert native.native_records == 0
    assert [i.body for i in native.items] == [i.body for i in python.items]
    assert [d.reason for d in native.dead_letters] == [d.reason for d in python.dead_letters]


@needs_geoip
def test_a_folder_with_only_an_asn_database_renders_as_the_python_path_does(tmp_path: Path) -> None:
    (tmp_path / "GeoLite2-ASN-Test.mmdb").write_bytes((GEOIP / "GeoLite2-ASN-Test.mmdb").read_bytes())
    records = [wire(cwl_record([LINE.replace("89.160.20.128", address)] * 2), n)
               for n, address in enumerate(["89.160.20.128", "1.128.0.1", "2a02:cf40::1", "10.1.2.3"])]
    python, native = both(records, parsing(), ParseOptions(geoip_dir=str(tmp_path)))
    assert native.native_records == len(records)
    assert any(b'"as":' in i.body for i in native.items)
    assert [(i.id, i.body) for i in native.items] == [(i.id, i.body) for i in python.items]
