"""`secstash parse --dataset auto` detects as the daemon does: an unclaimed log group's events are generic."""

from __future__ import annotations

import io

import orjson

from consumer.commands.parse import _auto
from parsers import ParseOptions

TRAIL = orjson.dumps({"eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
                      "eventTime": "2024-05-02T10:00:00Z", "awsRegion": "us-east-1"}).decode()


def _record(group: str) -> str:
    return orjson.dumps({"messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": group, "logStream": "s",
                         "subscriptionFilters": ["a"],
                         "logEvents": [{"id": "1", "timestamp": 1714644000000, "message": TRAIL}]}).decode()


def _datasets(by_content: bool) -> list[str]:
    out = io.BytesIO()
    lines = iter([_record("/aws/lambda/app"), _record("aws-cloudtrail-logs-111122223333-x"), TRAIL])
    assert _auto(lines, ParseOptions(), "default", out, by_content) is False
    return [orjson.loads(line)["data_stream"]["dataset"] for line in out.getvalue().splitlines()]


def test_auto_mode_takes_the_dataset_from_the_log_group_unless_told_to_trust_content():
    assert _datasets(False) == ["aws.cloudwatch_logs", "aws.cloudtrail", "aws.cloudtrail"]
    assert _datasets(True) == ["aws.cloudtrail", "aws.cloudtrail", "aws.cloudtrail"]
