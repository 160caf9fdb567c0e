"""`secstash parse`: events (one per line) to ECS documents (one JSON line each) on stdout.

With a named dataset every input line gives exactly one output line: its document, or `null` when it
yields none (an intentional drop, or a failure reported on stderr with its line number and reason; the exit
status is then 1). Those documents are what Elastic's ingest pipeline for the dataset would write, so they
compare field for field with Elastic's pipeline test cases; the daemon adds the shipper's fields before
indexing (data_stream.*, event.dataset, event.module, labels). With `auto`, each line is a whole record (JSON envelope, plain line, or base64 of gzip)
and every resulting document gets its own line; CloudWatch Logs events get their dataset from their log group
as in the daemon (an unclaimed group's events are cloudwatch_logs unless `--detection-by-content`).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
from collections.abc import Iterator
from typing import IO

import orjson

from parsers import Event, ParseError, ParseOptions, StreamParsing, parse_record
from parsers import document, registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="a dataset name (see --list) or 'auto'")
    parser.add_argument("--keep-original", action="store_true", help="keep event.original")
    parser.add_argument("--geoip-dir", help="folder with MaxMind City/ASN .mmdb files")
    parser.add_argument("--namespace", default="default", help="data stream namespace (auto mode)")
    parser.add_argument("--detection-by-content", action="store_true",
                        help="auto mode: let the content of CloudWatch Logs events of log groups no default rule "
                             "claims pick their dataset (as streams[].detection_by_content does)")
    parser.add_argument("file", nargs="?", default="-", help="input file, or - for stdin")


def _lines(stream: IO[bytes]) -> Iterator[str]:
    for raw in stream:
        yield raw.decode("utf-8", "replace").rstrip("\r\n")


def run(args: argparse.Namespace) -> int:
    options = ParseOptions(keep_original=args.keep_original, geoip_dir=args.geoip_dir)
    source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    out = sys.stdout.buffer
    failed = False
    with source:
        if args.dataset == "auto":
            failed = _auto(_lines(source), options, args.namespace, out, args.detection_by_content)
        else:
            try:
                spec = registry.get(args.dataset)
            except KeyError as exc:
                print(f"secstash parse: {exc.args[0]}", file=sys.stderr)
                return 2
            for number, line in enumerate(_lines(source), start=1):
                event = Event(message=line)
                try:
                    docs = spec.parse(event, options)
                except ParseError as exc:
                    print(f"line {number}: {exc.reason}: {exc.message}", file=sys.stderr)
                    failed = True
                    docs = []
                if not docs:
                    out.write(b"null\n")
                for doc in docs:
                    document.finalize(doc, spec, event, options)
                    out.write(orjson.dumps(doc) + b"\n")
    out.flush()
    return 1 if failed else 0


def _auto(lines: Iterator[str], options: ParseOptions, namespace: str, out: IO[bytes],
          by_content: bool = False) -> bool:
    failed = False
    parsing = StreamParsing(namespace=namespace, detection_by_content=by_content)
    for number, line in enumerate(lines, start=1):
        data = line.encode()
        if line.startswith("H4sI"):  # base64 of gzip: how a CloudWatch Logs subscription record looks in a file
            try:
                data = base64.b64decode(line, validate=True)
            except binascii.Error:
                pass
        outcome = parse_record(data, parsing, options)
        for failure in outcome.failures:
            print(f"line {number}: {failure.reason}: {failure.message}", file=sys.stderr)
            failed = True
        for parsed in outcome.documents:
            out.write(orjson.dumps(parsed.doc) + b"\n")
    return failed
