"""Lookups parsers share: GeoIP/ASN, user agents, Community ID, registered domains. Cached per process."""
