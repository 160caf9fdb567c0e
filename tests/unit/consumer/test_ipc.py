from __future__ import annotations

import socket
import threading

import pytest

from consumer import ipc


def test_messages_round_trip_whole_even_when_large() -> None:
    left, right = socket.socketpair()
    message = {"op": "batch", "records": [["1", 0, 1, "k", "A" * 1_000_000]]}
    sender = threading.Thread(target=ipc.send, args=(left, message))  # bigger than the socket buffer
    sender.start()
    assert ipc.receive(right) == message
    sender.join(timeout=10)


def test_closed_peer_is_reported() -> None:
    left, right = socket.socketpair()
    left.sendall(b"\x00\x00\x00\x10{")  # promises 16 bytes, sends 1, then goes away
    left.close()
    with pytest.raises(ipc.ConnectionClosed):
        ipc.receive(right)


def test_oversized_frame_is_refused_without_reading_it() -> None:
    left, right = socket.socketpair()
    left.sendall((ipc.MAX_MESSAGE + 1).to_bytes(4, "big"))
    with pytest.raises(ipc.ConnectionClosed, match="exceeds"):
        ipc.receive(right)
