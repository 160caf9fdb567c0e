"""Ports for embedded servers are chosen where no outbound connection can take them before the server binds."""

from __future__ import annotations

import socket

import pytest

from consumer.embedded import process
from consumer.embedded.process import free_port


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_free_port_lies_below_the_kernels_ephemeral_range() -> None:
    low, _ = process._ephemeral_range()
    if low <= process._LOWEST_CHOSEN + 1000:
        pytest.skip(f"this host's ephemeral range starts at {low}: no room below it")
    for _ in range(20):
        port = free_port()
        assert process._LOWEST_CHOSEN <= port < low and bindable(port)


def test_a_port_in_use_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = taken.getsockname()[1]
        free = used + 1 if bindable(used + 1) else used + 2
        draws = iter([used, free])
        monkeypatch.setattr(process, "_ephemeral_range", lambda: (65_000, 65_535))
        monkeypatch.setattr(process._random, "randrange", lambda _a, _b: next(draws))
        assert free_port() == free


def test_without_room_below_the_range_the_kernel_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "_ephemeral_range", lambda: (1024, 65_535))
    assert bindable(free_port())


def test_a_port_handed_out_a_moment_ago_is_not_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    first = free_port()
    second_choice = first + 1 if first + 1 < process._ephemeral_range()[0] else first - 1
    draws = iter([first, second_choice])  # the server given `first` may not have bound it yet
    monkeypatch.setattr(process._random, "randrange", lambda _a, _b: next(draws))
    if process._ephemeral_range()[0] <= process._LOWEST_CHOSEN + 1000:
        pytest.skip("no room below this host's ephemeral range")
    assert free_port() == second_choice
