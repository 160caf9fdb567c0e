"""GeoIP and ASN fields as Elasticsearch's `geoip` processor writes them, from MaxMind databases.

The folder is a setting; without it (or without a database in it) the fields are simply absent. Readers are
opened lazily once per process (they are not picklable, and the parser pool forks/spawns workers).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import maxminddb

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


@lru_cache(maxsize=65536)
def _city(folder: str, ip: str) -> dict[str, Any] | None:
    reader = _reader(folder, CITY_DATABASES)
    if reader is None:
        return None
    try:
        record = reader.get(ip)
    except ValueError:
        return None
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
        top = subdivisions[0]
        if country.get("iso_code") and top.get("iso_code"):
            geo["region_iso_code"] = f"{country['iso_code']}-{top['iso_code']}"
        if name := top.get("names", {}).get("en"):
            geo["region_name"] = name
    if name := record.get("city", {}).get("names", {}).get("en"):
        geo["city_name"] = name
    location = record.get("location", {})
    if "latitude" in location and "longitude" in location:
        geo["location"] = {"lat": location["latitude"], "lon": location["longitude"]}
    return geo or None


@lru_cache(maxsize=65536)
def _asn(folder: str, ip: str) -> dict[str, Any] | None:
    reader = _reader(folder, ASN_DATABASES)
    if reader is None:
        return None
    try:
        record = reader.get(ip)
    except ValueError:
        return None
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
    found = _city(folder, ip)
    return _copy(found) if found else None


def asn(ip: str | None, folder: str | None) -> dict[str, Any] | None:
    """`source.as`-shaped object ({number, organization.name}) for an IP, or None."""
    if not ip or not folder:
        return None
    found = _asn(folder, ip)
    return _copy(found) if found else None


def enrich(target: dict[str, Any], ip: str | None, folder: str | None) -> None:
    """Add `geo` and `as` to an ECS endpoint object (`source`, `destination`, `client`, ...)."""
    if not ip or not folder:
        return
    if found := geo(ip, folder):
        target["geo"] = found
    if found := asn(ip, folder):
        target["as"] = found


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    return {k: (_copy(v) if isinstance(v, dict) else v) for k, v in value.items()}
