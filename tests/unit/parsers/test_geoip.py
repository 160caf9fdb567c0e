"""GeoIP/ASN fields as Elasticsearch's geoip processor writes them, checked on MaxMind's test databases."""

from __future__ import annotations

import ipaddress
import shutil
import sys
from pathlib import Path

import maxminddb
import pytest

from parsers.enrich import geoip

DATABASES = Path(__file__).resolve().parents[4] / "shared" / "reference" / "geoip"
pytestmark = pytest.mark.skipif(not (DATABASES / "GeoIP2-City-Test.mmdb").is_file(),
                                reason="MaxMind test databases not found")
FOLDER = str(DATABASES)


@pytest.fixture(autouse=True)
def _empty_caches():
    geoip._networks.clear()
    geoip._by_address.cache_clear()
    yield
    geoip._networks.clear()
    geoip._by_address.cache_clear()


def test_region_is_the_most_specific_subdivision() -> None:
    # The test database has [England, West Berkshire]; ES's CityResponse.getMostSpecificSubdivision is the last.
    geo = geoip.geo("2.125.160.216", FOLDER)
    assert geo["region_iso_code"] == "GB-WBK" and geo["region_name"] == "West Berkshire"
    assert geo["city_name"] == "Boxford" and geo["country_iso_code"] == "GB"


def test_city_and_as_fields_have_elastic_shapes() -> None:
    target: dict = {}
    geoip.enrich(target, "89.160.20.128", FOLDER)
    assert target["geo"] == {"continent_name": "Europe", "country_iso_code": "SE", "country_name": "Sweden",
                             "region_iso_code": "SE-E", "region_name": "Östergötland County",
                             "city_name": "Linköping", "location": {"lat": 58.4167, "lon": 15.6167}}
    assert target["as"] == {"number": 29518, "organization": {"name": "Bredband2 AB"}}


def test_an_ipv6_scope_id_is_ignored_as_elasticsearch_does() -> None:
    assert geoip.geo("2001:218::1%eth0", FOLDER) == geoip.geo("2001:218::1", FOLDER) is not None


@pytest.mark.parametrize("text", ["2001:218::1%", "not-an-ip", "89.160.20.128/24", "[2001:218::1]"])
def test_text_that_is_no_address_gets_nothing(text: str) -> None:
    assert geoip.lookup(text, FOLDER) == (None, None)


@pytest.mark.parametrize("text", ["2001:218::1%" + "z" * 65536, "x" * 65536])
def test_long_text_is_not_kept_alive_by_the_caches(text: str) -> None:
    # A 64 KiB scope id was the per-address cache's key: 16,384 of them would pin a GiB per worker.
    before = sys.getrefcount(text)
    geoip.lookup(text, FOLDER)
    assert sys.getrefcount(text) == before


def test_private_and_reserved_addresses_get_nothing() -> None:
    for ip in ("10.1.2.3", "192.168.0.1", "127.0.0.1", "::1", "fe80::1", "100.64.0.1"):
        assert geoip.lookup(ip, FOLDER) == (None, None)


def test_a_folder_without_the_asn_database_still_gives_geo(tmp_path: Path) -> None:
    shutil.copy(DATABASES / "GeoIP2-City-Test.mmdb", tmp_path)
    target: dict = {}
    geoip.enrich(target, "89.160.20.128", str(tmp_path))
    assert target["geo"]["city_name"] == "Linköping" and "as" not in target


def test_a_folder_without_the_city_database_still_gives_as(tmp_path: Path) -> None:
    shutil.copy(DATABASES / "GeoLite2-ASN-Test.mmdb", tmp_path)
    target: dict = {}
    geoip.enrich(target, "89.160.20.128", str(tmp_path))
    assert target["as"]["number"] == 29518 and "geo" not in target


def _boundary_addresses() -> list[str]:
    """First, second and last address of every network in both databases, and the addresses just outside."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for name in ("GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb"):
        with maxminddb.open_database(str(DATABASES / name)) as reader:
            for network, _ in reader:
                for address in (network.network_address, network.network_address + 1, network.broadcast_address):
                    for step in (-1, 0, 1):
                        try:
                            found.add(address + step)
                        except ipaddress.AddressValueError:
                            pass
    return [str(a) for a in sorted(found, key=lambda a: (a.version, int(a)))]


@pytest.mark.parametrize("reverse", [False, True])
def test_the_network_cache_never_answers_for_another_network(reverse: bool) -> None:
    addresses = _boundary_addresses()
    if reverse:
        addresses.reverse()
    wrong = [ip for ip in addresses if geoip.lookup(ip, FOLDER) != geoip._answer(ip, FOLDER)[0]]
    assert wrong == []


def test_a_folder_whose_databases_open_has_no_problem() -> None:
    assert geoip.problem(FOLDER) is None


def test_a_database_that_does_not_open_is_named(tmp_path: Path) -> None:
    (tmp_path / "GeoLite2-City.mmdb").write_bytes(b"truncated")
    assert "GeoLite2-City.mmdb does not open" in geoip.problem(str(tmp_path))
    assert "holds none of" in geoip.problem(str(tmp_path / "..") + "/")  # a folder without any database
    assert "is not a directory" in geoip.problem(str(tmp_path / "missing"))
