"""Plain text records: one event per non-empty line.

This is how line-oriented logs (ALB, S3 server access, CloudFront, Route 53 public query logs, VPC Flow Logs
exported to S3) and NDJSON (WAF) arrive when a forwarder puts them onto the stream: one line or a batch of
newline-separated lines per record. Only `\\n` separates lines (`str.splitlines` would also split on
characters such as U+2028 inside a message); a `\\r` before it is dropped; blank lines are no events.
"""

from __future__ import annotations


def split(text: str) -> list[str]:
    if "\n" not in text:
        return [text.removesuffix("\r")] if text and not text.isspace() else []
    return [line.removesuffix("\r") for line in text.split("\n") if line and not line.isspace()]
