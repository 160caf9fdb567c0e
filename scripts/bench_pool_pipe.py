"""What receiving a pool worker's results costs the pipeline process, per document: multiprocessing's reader
against `consumer.pool_pipes.ResultReader`, each on a 64 KiB and a 1 MiB pipe.

    .venv/bin/python scripts/bench_pool_pipe.py [messages]

A child process sends one parsed chunk (1,650 events of the mixed corpus, pickled as a worker sends it) over
and over as fast as it can; this process receives and unpickles each. Prints CPU µs per document of this
process, the best of three runs per setting. Run from the project root.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import sys
import time
from multiprocessing import connection
from multiprocessing.reduction import ForkingPickler

from consumer import corpus
from consumer.bench import stages, workload
from consumer.pool import IndexNaming, WorkerConfig, parse_in_worker
from consumer.pool_pipes import F_SETPIPE_SZ, PIPE_BYTES, ResultReader
from parsers import ParseOptions


def _send(writer: connection.Connection, message: bytes, count: int) -> None:
    for _ in range(count):
        writer.send_bytes(message)
    writer.close()


def receive(message: bytes, count: int, pipe_bytes: int, ours: bool) -> float:
    """CPU seconds this process spent receiving and unpickling `count` copies of `message`."""
    reader, writer = multiprocessing.Pipe(duplex=False)
    if pipe_bytes:
        fcntl.fcntl(reader.fileno(), F_SETPIPE_SZ, pipe_bytes)
    if ours:
        plain, reader = reader, ResultReader(os.dup(reader.fileno()), writable=False)
        plain.close()
    sender = multiprocessing.get_context("fork").Process(target=_send, args=(writer, message, count))
    sender.start()
    writer.close()
    started = time.process_time()
    for _ in range(count):
        reader.recv()
    spent = time.process_time() - started
    sender.join()
    reader.close()
    return spent


def main(count: int) -> None:
    config = WorkerConfig({stages.STREAM: corpus.stream_parsing(stages.STREAM)}, ParseOptions(), IndexNaming())
    load = workload.build("mixed", 1_650, 1, corpus.BENCH_MIX)
    parsed = parse_in_worker(stages.STREAM, "shardId-000000000000", load.wire, config)
    documents = parsed.run_documents + len(parsed.items)
    message = bytes(ForkingPickler.dumps(parsed))
    print(f"one chunk: {documents:,} documents, {len(message):,} bytes pickled; {count} messages per run")
    for ours in (False, True):
        for pipe_bytes in (0, PIPE_BYTES):
            best = min(receive(message, count, pipe_bytes, ours) for _ in range(3))
            print(f"{'ResultReader' if ours else 'multiprocessing'} on a {pipe_bytes or 65536:>8,}-byte pipe: "
                  f"{best / (count * documents) * 1e6:.2f} µs per document")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
