"""`parsers.ecs.ip_version`: what counts as an IP address, and that its cache keeps no long text alive."""

from __future__ import annotations

import sys

import pytest

from parsers import ecs


@pytest.mark.parametrize(("text", "version"), [
    ("10.0.0.1", 4), ("2001:db8::1", 6), ("::ffff:1.2.3.4", 6), ("fe80::1%eth0", 6),
    ("ssm.amazonaws.com", None), ("01.2.3.4", None), ("", None), ("1.2.3.4 ", None),
])
def test_addresses_and_not(text: str, version: int | None) -> None:
    assert ecs.ip_version(text) == version
    assert ecs.ip_version(text) == version  # and again, from the cache where it is kept


@pytest.mark.parametrize("text", ["x" * 65536, "fe80::1%" + "z" * 65536])
def test_long_text_is_answered_but_not_kept_alive_by_the_cache(text: str) -> None:
    # A CloudTrail sourceIPAddress of 64 KiB was the cache's key: 65,536 of them would pin ~4 GiB per worker.
    before = sys.getrefcount(text)
    assert ecs.ip_version(text) == (6 if text.startswith("fe80") else None)
    assert sys.getrefcount(text) == before
