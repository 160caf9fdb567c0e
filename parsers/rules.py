"""Rules from the settings that steer parsing: dataset detection overrides and event filters.

Plain frozen dataclasses (picklable, no validation here): `consumer.settings` validates the YAML and builds
them; `parsers.detect` and `parsers.filters` apply them (their docstrings give the exact semantics).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class DetectionRule:
    """Events whose CloudWatch log group (and optionally log stream) match these globs get `dataset`.

    Globs are `fnmatch` patterns, case-sensitive, `*` crossing `/`. Only CloudWatch Logs events have a log
    group, so a rule never applies to EventBridge events, CloudTrail files or plain lines. `dataset` may also be
    `eventbridge`: the group's EventBridge events are unwrapped (their S3 pointers read), other lines generic.
    """

    dataset: str
    log_group: str = "*"
    log_stream: str = "*"
    vpcflow_format: str | None = None  # a custom VPC Flow Logs format string, `${version} ${srcaddr} ...`


@dataclass(frozen=True, slots=True)
class Condition:
    """`field` (dotted) compared with `equals` (any of the values) or `matches` (a regular expression,
    searched anywhere in the value). With neither, the condition tests that the field exists."""

    field: str
    equals: tuple[str | int | float | bool, ...] = ()
    matches: str | None = None
    negate: bool = False


@dataclass(frozen=True, slots=True)
class FilterRule:
    """Applied to documents after parsing. `drop` removes the document (counted); `remove` deletes `fields`;
    `mask` replaces the values of `fields` with `mask_with` (only the parts matching `mask_pattern`, when it is
    given). All conditions must hold (an empty list: always)."""

    action: Literal["drop", "remove", "mask"]
    datasets: tuple[str, ...] = ()  # empty: every dataset
    conditions: tuple[Condition, ...] = ()
    fields: tuple[str, ...] = ()
    mask_with: str = "[REDACTED]"
    name: str = ""
    mask_pattern: str | None = None  # a regular expression: mask only the matching parts of string values


@dataclass(frozen=True, slots=True)
class StreamParsing:
    """Everything parsing needs to know about the stream a record came from."""

    stream: str = "local"
    namespace: str = "default"
    dataset: str | None = None  # forces one dataset for every event of the stream
    detection: tuple[DetectionRule, ...] = ()
    filters: tuple[FilterRule, ...] = ()
    labels: tuple[tuple[str, str], ...] = field(default=())
    vpcflow_format: str | None = None  # the stream's custom VPC Flow format, for vpcflow events no rule gave one
    # Content and stream names decide the dataset in log groups no rule claims: trusts every writer of them.
    detection_by_content: bool = False
