"""The parser pool's pipes: 1 MiB instead of 64 KiB, and results read straight into one buffer each.

A chunk's results cross from a worker as one pickled message of a few MB (bulk lines: ~1.66 KB per document
of the mixed corpus). multiprocessing reads a message in pieces of at most the pipe's size, each into a new
bytes object that is then copied into a BytesIO growing as it goes. In the pipeline process that cost ~2 µs
per document, most of what the pool costs there beside parsing (`secstash bench`, (c)); a 1 MiB pipe and one
read into a buffer of the message's size cost ~0.8 µs (`scripts/bench_pool_pipe.py`: a process sends a parsed
chunk's results over and over, this one receives them). Larger pipes also mean fewer wake-ups between the
thread feeding the workers, the workers and the thread reading their results.

This reaches into ProcessPoolExecutor's queues, which Python does not document: a pool whose insides are not
what `install` expects (another Python version) is left as it is, and works as before, only slower.
"""

from __future__ import annotations

import fcntl
import os
import struct
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import connection, reduction
from typing import Any

PIPE_BYTES = 1 << 20  # /proc/sys/fs/pipe-max-size's default: what an unprivileged process may ask for
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux; the constant is in fcntl from Python 3.10


class ResultReader(connection.Connection):
    """The read end of the pool's results pipe, reading each message into one buffer of its size.

    The wire format is multiprocessing's: a 4-byte big-endian length (-1, then 8 bytes, past 2 GiB), then the
    pickled object. Pickled for a worker (it is passed to each one with its queue), it becomes a plain
    Connection there: workers only write to it."""

    def recv(self) -> Any:
        self._check_closed()
        self._check_readable()
        return reduction.ForkingPickler.loads(self._message())

    def recv_bytes(self, maxlength: int | None = None) -> bytes:
        self._check_closed()
        self._check_readable()
        message = self._message()
        if maxlength is not None and len(message) > maxlength:
            self.close()  # as multiprocessing does: the rest of the stream can no longer be framed
            raise OSError("bad message length")
        return bytes(message)

    def _message(self) -> bytearray:
        (size,) = struct.unpack("!i", self._exactly(4, first=True))
        if size == -1:
            (size,) = struct.unpack("!Q", self._exactly(8))
        return self._exactly(size)

    def _exactly(self, size: int, *, first: bool = False) -> bytearray:
        buffer = bytearray(size)
        view = memoryview(buffer)
        handle, done = self.fileno(), 0
        while done < size:
            read = os.readv(handle, [view[done:]])
            if read == 0:
                if first and done == 0:
                    raise EOFError
                raise OSError("got end of file during message")
            done += read
        return buffer


reduction.register(ResultReader, connection.reduce_connection)  # type: ignore[attr-defined]


def install(executor: ProcessPoolExecutor) -> bool:
    """Enlarge a new pool's pipes and read its results with a ResultReader. Call it before the pool's first
    submit (which starts its workers and the thread that reads results). False: left as it was."""
    results = getattr(executor, "_result_queue", None)
    calls = getattr(executor, "_call_queue", None)
    reader = getattr(results, "_reader", None)
    writer = getattr(calls, "_writer", None)
    if type(reader) is not connection.Connection or not isinstance(writer, connection.Connection):
        return False
    results._reader = ResultReader(os.dup(reader.fileno()), writable=False)  # type: ignore[union-attr]
    reader.close()
    results._poll = results._reader.poll  # type: ignore[union-attr]
    for end in (results._reader, writer):  # type: ignore[union-attr]
        try:
            fcntl.fcntl(end.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # over the user's pipe quota (fs.pipe-user-pages-soft): the default size still works
            pass
    return True
