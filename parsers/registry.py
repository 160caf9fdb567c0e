"""Dataset parsers, registered by Elastic's dataset name (`cloudtrail`, `vpcflow`, `kubernetes.audit_logs`).

A parser is a pure function `(Event, ParseOptions) -> list[dict]`: one event in, zero or more ECS documents
out (zero is an intentional drop, e.g. a CloudFront header line), `parsers.errors.EventError` for input it
cannot parse. It does no I/O beyond reading the GeoIP databases through `parsers.enrich`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parsers.errors import EventError, ParseError
from parsers.event import Event
from parsers.options import ParseOptions

ParseFn = Callable[[Event, ParseOptions], list[dict[str, Any]]]

# Modules that register a dataset when imported. Listed, not discovered, so a typo fails loudly.
PARSER_MODULES = (
    "parsers.cloudtrail",
    "parsers.vpcflow",
    "parsers.elb_logs",
    "parsers.s3access",
    "parsers.cloudfront_logs",
    "parsers.route53_resolver_logs",
    "parsers.route53_public_logs",
    "parsers.guardduty",
    "parsers.securityhub_findings",
    "parsers.config",
    "parsers.waf",
    "parsers.cloudwatch_logs",
    "parsers.kubernetes_audit_logs",
    "parsers.eks_authenticator",
    "parsers.rds",
    "parsers.redshift",
)


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    name: str  # what `secstash parse --dataset` and the settings use, e.g. "cloudtrail"
    event_dataset: str  # event.dataset and data_stream.dataset, e.g. "aws.cloudtrail"
    ecs_version: str
    parse_unguarded: ParseFn  # the parser itself: the fuzz tests call this one to find its bugs
    # Elastic's pipeline keeps event.original whatever the `preserve_original_event` tag says (cloudwatch_logs,
    # config), so the document has it even without ParseOptions.keep_original.
    keeps_original: bool = False

    def parse(self, event: Event, options: ParseOptions) -> list[dict[str, Any]]:
        """The parser behind a safety net: a bug on odd input becomes an EventError, never a crash."""
        try:
            return self.parse_unguarded(event, options)
        except ParseError:
            raise
        except RecursionError:
            raise EventError("input nested too deeply", reason="too_deep") from None
        except TypeError as exc:
            if "Recursion limit" in str(exc):  # orjson's own depth limit (255 levels)
                raise EventError("input nested too deeply", reason="too_deep") from None
            raise EventError(f"parser bug: TypeError: {exc}", reason="parser_bug") from exc
        except Exception as exc:  # noqa: BLE001 - any parser bug: dead-letter the event, keep the worker
            raise EventError(f"parser bug: {type(exc).__name__}: {exc}", reason="parser_bug") from exc

    @property
    def module(self) -> str:
        return self.event_dataset.split(".", 1)[0]


_REGISTRY: dict[str, DatasetSpec] = {}
_loaded = False


def register(name: str, *, event_dataset: str | None = None, ecs_version: str = "8.11.0",
             keeps_original: bool = False) -> Callable[[ParseFn], ParseFn]:
    def decorate(fn: ParseFn) -> ParseFn:
        if name in _REGISTRY:
            raise RuntimeError(f"dataset {name!r} registered twice")
        _REGISTRY[name] = DatasetSpec(name, event_dataset or f"aws.{name}", ecs_version, fn, keeps_original)
        return fn

    return decorate


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in PARSER_MODULES:
            importlib.import_module(module)  # a listed module that is missing is a bug: never skipped
        _loaded = True


def get(name: str) -> DatasetSpec:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY)
