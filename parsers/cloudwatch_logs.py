"""Generic CloudWatch Logs events (`aws.cloudwatch_logs`): whatever no detection rule recognises.

Elastic's pipeline only copies `message` to `event.original` and sets `cloud.provider` and `event.kind`;
the envelope supplies `@timestamp` and `aws.cloudwatch.*`.
"""

from __future__ import annotations

from typing import Any

from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register


@register("cloudwatch_logs", ecs_version="8.0.0", keeps_original=True)  # its pipeline only ever sets it
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    message = event.text()
    return [{"message": message, "cloud": {"provider": "aws"}, "event": {"kind": "event", "original": message}}]
