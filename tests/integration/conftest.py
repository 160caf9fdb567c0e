"""Servers the integration tests share, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from consumer.embedded.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server
