"""GeoIP and ASN fields as Elasticsearch's `geoip` processor writes them, from MaxMind databases.

The folder is a setting; without it (or without a database in it) the fields are simply absent. Readers are
opened lazily once per process (they are not picklable, and the parser pool forks/spawns workers).

Answers are cached per network, not only per address: a database answers the same for every address of the
network that holds it, and `get_with_prefix_len` says how large that network is. When it spans the address's
whole /24 (IPv4) or /48 (IPv6) in both databases, the answer is kept for that /24 or /48, so flow logs, whose
addresses rarely repeat but crowd into a few networks, mostly hit. Smaller networks are cached per address.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import maxminddb

from parsers.ecs import packed_ip

# Production names first; MaxMind's test databases (used by Elastic's expected documents) last.
CITY_DATABASES = ("GeoIP2-City.mmdb", "GeoLite2-City.mmdb", "GeoIP2-City-Test.mmdb", "GeoLite2-City-Test.mmdb")
ASN_DATABASES = ("GeoLite2-ASN.mmdb", "GeoIP2-ISP.mmdb", "GeoLite2-ASN-Test.mmdb")


@lru_cache(maxsize=8)
def _reader(folder: str, candidates: tuple[str, ...]) -> maxminddb.Reader | None:
    for name in candidates:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return maxminddb.open_database(path)
    return None


def problem(folder: str) -> str | None:
    """Why `folder` cannot serve GeoIP answers (not a directory, no database, a database that does not open),
    or None. Checked at start: a database that fails on open fails every lookup, and so every enriched event."""
    if not os.path.isdir(folder):
        return f"{folder} is not a directory"
    found = [os.path.join(folder, name) for name in (*CITY_DATABASES, *ASN_DATABASES)
             if os.path.isfile(os.path.join(folder, name))]
    if not found:
        return f"{folder} holds none of {', '.join((*CITY_DATABASES, *ASN_DATABASES))}"
    for path in found:
        try:
            maxminddb.open_database(path).close()
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            return f"{path} does not open as a MaxMind database: {type(exc).__name__}: {exc}"
    return None


Answer = tuple[dict[str, Any] | None, dict[str, Any] | None]

_NETWORK_BYTES = {4: 3, 16: 6}  # packed address length -> bytes of the cache's network: /24 and /48
_MAX_NETWORKS = 65536
_networks: dict[tuple[str, bytes], Answer] = {}
_NOTHING: Answer = (None, None)


def lookup(ip: str, folder: str) -> Answer:
    """(geo, as) of an address, both looked up once and cached together. Shared: never modify them; the
    functions below hand out copies."""
    packed = packed_ip(ip)
    if packed is None:
        # Elasticsearch's InetAddresses.forString ignores an IPv6 scope id (`fe80::1%eth0`); the parsers take
        # such an address as an IP (ipaddress does), so it is looked up without it. Anything else is no address.
        address, zone, scope = ip.partition("%")
        packed = packed_ip(address) if zone and scope else None
        if packed is None:
            return _NOTHING
        ip = address
    size = _NETWORK_BYTES[len(packed)]
    key = (folder, packed[:size])
    found = _networks.get(key)
    if found is not None:
        return found
    answer, prefix = _answer(ip, folder)
    if prefix > size * 8:  # the address's network is smaller than the cache's: cache the address alone
        return _by_address(ip, folder)
    if len(_networks) >= _MAX_NETWORKS:
        _networks.clear()
    _networks[key] = answer
    return answer


@lru_cache(maxsize=16384)  # keyed by address text inet_pton took: at most 45 characters
def _by_address(ip: str, folder: str) -> Answer:
    return _answer(ip, folder)[0]


def _answer(ip: str, folder: str) -> tuple[Answer, int]:
    """The answer, and the prefix length of the largest network that surely shares it (the longer of the two
    databases' networks; 129 when a database cannot say)."""
    city, city_prefix = _record(_reader(folder, CITY_DATABASES), ip)
    asn, asn_prefix = _record(_reader(folder, ASN_DATABASES), ip)
    return (_city(city), _asn(asn)), max(city_prefix, asn_prefix)


def _record(reader: maxminddb.Reader | None, ip: str) -> tuple[Any, int]:
    if reader is None:
        return None, 0
    try:
        return reader.get_with_prefix_len(ip)
    except ValueError:
        return None, 129


def _city(record: Any) -> dict[str, Any] | None:
    if not isinstance(record, dict):
        return None
    geo: dict[str, Any] = {}
    if name := record.get("continent", {}).get("names", {}).get("en"):
        geo["continent_name"] = name
    country = record.get("country", {})
    if iso := country.get("iso_code"):
        geo["country_iso_code"] = iso
    if name := country.get("names", {}).get("en"):
        geo["country_name"] = name
    subdivisions = record.get("subdivisions") or []
    if subdivisions:
        # CityResponse.getMostSpecificSubdivision: the last one (England, then West Berkshire -> West Berkshire)
        region = subdivisions[-1]
        if country.get("iso_code") and region.get("iso_code"):
            geo["region_iso_code"] = f"{country['iso_code']}-{region['iso_code']}"
        if name := region.get("names", {}).get("en"):
            geo["region_name"] = name
    if name := record.get("city", {}).get("names", {}).get("en"):
        geo["city_name"] = name
    location = record.get("location", {})
    if "latitude" in location and "longitude" in location:
        geo["location"] = {"lat": location["latitude"], "lon": location["longitude"]}
    return geo or None


def _asn(record: Any) -> dict[str, Any] | None:
    if not isinstance(record, dict):
        return None
    out: dict[str, Any] = {}
    if (number := record.get("autonomous_system_number")) is not None:
        out["number"] = number
    if org := record.get("autonomous_system_organization"):
        out["organization"] = {"name": org}
    return out or None


def geo(ip: str | None, folder: str | None) -> dict[str, Any] | None:
    """`source.geo`-shaped object for an IP, or None. Returns a fresh copy (documents get mutated)."""
    if not ip or not folder:
        return None
    found = lookup(ip, folder)[0]
    return copy_geo(found) if found else None


def asn(ip: str | None, folder: str | None) -> dict[str, Any] | None:
    """`source.as`-shaped object ({number, organization.name}) for an IP, or None."""
    if not ip or not folder:
        return None
    found = lookup(ip, folder)[1]
    return copy_as(found) if found else None


def enrich(target: dict[str, Any], ip: str | None, folder: str | None) -> None:
    """Add `geo` and `as` to an ECS endpoint object (`source`, `destination`, `client`, ...)."""
    if not ip or not folder:
        return
    city, as_ = lookup(ip, folder)
    if city:
        target["geo"] = copy_geo(city)
    if as_:
        target["as"] = copy_as(as_)


# The shapes are fixed (built above): one nested object each, so a copy is two dict() calls, not a walk.
def copy_geo(found: dict[str, Any]) -> dict[str, Any]:
    out = dict(found)
    if "location" in out:
        out["location"] = dict(out["location"])
    return out


def copy_as(found: dict[str, Any]) -> dict[str, Any]:
    out = dict(found)
    if "organization" in out:
        out["organization"] = dict(out["organization"])
    return out
