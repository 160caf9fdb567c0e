"""Servers the integration tests share, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from consumer.embedded.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
