"""Plain text records: one event per non-empty line.

This is how line-oriented logs (ALB, S3 server access, CloudFront, Route 53 public query logs, VPC Flow Logs
exported to S3) and NDJSON (WAF) arrive when a forwarder puts them onto the stream: one line or a batch of
newline-separated lines per record. Only `\\n` separates lines (`str.splitlines` would also split on
characters such as U+2028 inside a message); a `\\r` before it is dropped; blank lines are no events.
"""

from __future__ import annotations

from collections.abc import Iterator


def split(text: str) -> list[str]:
    if "\n" not in text:
        return [text.removesuffix("\r")] if text and not text.isspace() else []
    return [line.removesuffix("\r") for line in text.split("\n") if line and not line.isspace()]


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """The lines `split` gives, one at a time, each with the offset in `text` where it starts: a caller that
    takes only the first lines of a large log object never holds a list of all of them."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        if stop < 0:
            stop = end
        line = text[start:stop]
        if line and not line.isspace():
            yield start, line.removesuffix("\r")
        start = stop + 1
