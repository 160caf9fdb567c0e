"""The parser pool's results pipe: messages read whole into one buffer each, as multiprocessing frames them."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import connection

import pytest

from consumer import pool_pipes
from consumer.pool_pipes import PIPE_BYTES, ResultReader

F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
MESSAGES = [b"", b"x", os.urandom(70_000), os.urandom(3 * PIPE_BYTES + 17), b"last"]


def _send_all(writer: connection.Connection, messages: list[bytes], then: bytes | None) -> None:
    for message in messages:
        writer.send_bytes(message)
    if then is not None:
        os.write(writer.fileno(), then)  # raw bytes past the framing: a writer that died mid-message
    writer.close()


def _pipe(messages: list[bytes], then: bytes | None = None) -> tuple[ResultReader, multiprocessing.Process]:
    reader, writer = multiprocessing.Pipe(duplex=False)
    ours = ResultReader(os.dup(reader.fileno()), writable=False)
    reader.close()
    sender = multiprocessing.get_context("fork").Process(target=_send_all, args=(writer, messages, then))
    sender.start()
    writer.close()
    return ours, sender


def test_messages_of_every_size_arrive_whole_and_in_order_then_eof() -> None:
    reader, sender = _pipe(MESSAGES)
    assert [reader.recv_bytes() for _ in MESSAGES] == MESSAGES
    with pytest.raises(EOFError):
        reader.recv_bytes()
    sender.join(30)


def test_objects_are_unpickled_from_the_buffer() -> None:
    payload = {"lines": os.urandom(2 * PIPE_BYTES), "counts": [1, 2, 3]}
    reader, sender = _pipe([pickle.dumps(payload, protocol=4)])
    assert reader.recv() == payload
    sender.join(30)


def test_a_message_cut_short_by_a_dying_writer_is_an_error_not_a_short_message() -> None:
    reader, sender = _pipe([b"whole"], then=(1000).to_bytes(4, "big") + b"only part")
    assert reader.recv_bytes() == b"whole"
    with pytest.raises(OSError, match="end of file during message"):
        reader.recv_bytes()
    sender.join(30)


def test_a_message_longer_than_asked_for_is_refused() -> None:
    reader, sender = _pipe([b"0123456789"])
    with pytest.raises(OSError, match="bad message length"):
        reader.recv_bytes(maxlength=4)
    sender.join(30)


def _echo_size(data: bytes) -> tuple[int, bytes]:
    return len(data), data[-16:]


def test_a_pool_with_the_reader_installed_has_large_pipes_and_returns_large_results() -> None:
    executor = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver"))
    try:
        assert pool_pipes.install(executor) is True
        assert type(executor._result_queue._reader) is ResultReader  # type: ignore[attr-defined]
        assert fcntl.fcntl(executor._result_queue._reader.fileno(), F_GETPIPE_SZ) == PIPE_BYTES  # type: ignore[attr-defined]
        data = [os.urandom(n) for n in (10, 5 * PIPE_BYTES, 100_000)]
        assert [f.result(60) for f in [executor.submit(_echo_size, d) for d in data]] == \
               [(len(d), d[-16:]) for d in data]
    finally:
        executor.shutdown(wait=True)


def test_a_pool_whose_insides_are_not_the_expected_ones_is_left_as_it_is() -> None:
    class Other:
        _result_queue = None

    assert pool_pipes.install(Other()) is False  # type: ignore[arg-type]
