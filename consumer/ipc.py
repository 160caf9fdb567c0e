"""The wire between a shard's record processor (a child of the KCL daemon) and the pipeline process.

A Unix stream socket; each message is a 4-byte big-endian length followed by an orjson object. The record
processor sends one request and waits for its reply, so there is never more than one batch in flight per
shard: that wait is the backpressure that reaches the KCL daemon and, through it, Kinesis.

    processor -> pipeline  {"op": "batch", "stream", "shard", "lag_ms", "records": [[seq, sub, arrival_ms,
                            partition_key, data_b64], ...]}
                           {"op": "lifecycle", "stream", "shard", "event": "initialize" | "lease_lost" |
                            "shard_ended" | "shutdown_requested" | "checkpointed", "position": "seq.sub"?}
    pipeline -> processor  {"ok": true} | {"ok": false, "error": "..."}
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import orjson

_HEADER = struct.Struct(">I")
MAX_MESSAGE = 256 * 1024 * 1024  # a 10 MB GetRecords batch is ~14 MB as base64 JSON; this is a sanity bound


class ConnectionClosed(Exception):
    pass


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    payload = orjson.dumps(message)
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def receive(sock: socket.socket) -> dict[str, Any]:
    (length,) = _HEADER.unpack(_read_exactly(sock, _HEADER.size))
    if length > MAX_MESSAGE:
        raise ConnectionClosed(f"message of {length} bytes exceeds the {MAX_MESSAGE} limit")
    message = orjson.loads(_read_exactly(sock, length))
    if not isinstance(message, dict):
        raise ConnectionClosed("message is not an object")
    return message


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 4 * 1024 * 1024))
        if not chunk:
            raise ConnectionClosed("peer closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def connect(path: str, timeout: float | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    return sock
