"""structlog configuration: JSON lines on stderr (stdout is the KCL protocol channel in record processors).

One chain, set once per process. Two processors guard the output:
- `redact_secrets` replaces, at any depth, the value of any key that names a secret (password, api_key,
  token, external_id, ...) and any `SecretStr`; in every string (the message, details, tracebacks) it masks a URL's
  userinfo, the value after a secret-named word (`Authorization: Basic ...`, `password=...`; a quoted value up
  to its closing quote) and the secret values the process was configured with (`configure(secrets=...)`, the
  AWS credential variables),
  so a secret passed by mistake, or echoed by a library's error message, still never reaches the logs;
- `RateLimiter` lets a repeated warning or error (same logger, event and error type) through once per
  interval and reports how many were suppressed, so a flapping dependency cannot flood the logs. A line its
  emitter already bounds (one per log group, say) passes `rate_limited=False`: its repeats differ only in
  fields the key does not hold, and would otherwise be lost.
Lines of libraries that log through the standard `logging` module get the same redaction.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

import structlog
from pydantic import BaseModel, SecretStr

# An STS external id is a secret too (settings: masked wherever it shows up): by its key as well, should one be
# logged before the process knows its configured values (a command's own errors, a record processor).
_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|api[_-]?key|authorization|credential|session_key|"
                         r"external[_-]?id)", re.IGNORECASE)
REDACTED = "**********"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# The AWS SDKs' credential variables: their values are masked wherever they show up.
AWS_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
# Shorter configured secrets are not masked inside text: that would garble every line holding those letters.
_MIN_MASKED_LENGTH = 4

# `scheme://user:password@host`: the whole userinfo goes (a lone user part is often a token).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#\"'<>]+@")
# A secret-named word, a separator (`: `, `=`, `': '`), an optional auth scheme, then the value: in quotes,
# everything up to the same quote (or the line's end: a value cut short is masked too), spaces included; bare,
# up to a space or a delimiter (where a bare value ends cannot be told, and a line's rest is worth keeping).
_SECRET_IN_TEXT = re.compile(
    r"(?i)\b([\w-]*(?:passw(?:or)?d|secret|token|api[_-]?key|authorization|credential|external[_-]?id)[\w-]*"
    r"[\"']?\s*[:=]\s*)"
    r"(?:([\"'])((?:(?:basic|bearer|apikey|token|digest)\s+)?).*?(\2|$)"
    r"|((?:(?:basic|bearer|apikey|token|digest)\s+)?)[^\s\"',;&})\]]+)", re.MULTILINE)


def _masked(match: re.Match[str]) -> str:
    name, quote, quoted_scheme, closing, scheme = match.groups()
    if quote is not None:
        return f"{name}{quote}{quoted_scheme}{REDACTED}{closing}"
    return f"{name}{scheme}{REDACTED}"

_known: tuple[str, ...] = ()  # configured secret values, longest first


def scrub(text: str) -> str:
    """`text` with every secret this module can recognise masked."""
    for value in _known:
        if value in text:
            text = text.replace(value, REDACTED)
    text = _URL_USERINFO.sub(r"\1" + REDACTED + "@", text)
    return _SECRET_IN_TEXT.sub(_masked, text)


def _redacted(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, dict):
        return {k: REDACTED if _secret_key(k, v) else _redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redacted(v) for v in value]
    # What the JSON renderer would do (repr), but scrubbed: an exception's text may carry a URL.
    return scrub(repr(value))


def _secret_key(key: Any, value: Any) -> bool:
    return isinstance(key, str) and key != "event" and bool(_SECRET_KEY.search(key)) and bool(value)


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        event_dict[key] = REDACTED if _secret_key(key, value) else _redacted(value)
    return event_dict


def secrets_in(model: BaseModel) -> list[str]:
    """Every `SecretStr` value in a settings model (at any depth), for `configure(secrets=...)`."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(model)
    return found


class RateLimiter:
    """Drop repeats of the same warning/error within `interval` seconds; count what was dropped."""

    def __init__(self, interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._seen: dict[tuple[Any, ...], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, _: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if event_dict.pop("rate_limited", True) is False or method not in ("warning", "error", "exception"):
            return event_dict
        key = (event_dict.get("logger"), event_dict.get("event"), event_dict.get("error"),
               event_dict.get("stream"), event_dict.get("sink"))
        now = self._clock()
        with self._lock:
            last, suppressed = self._seen.get(key, (None, 0))
            if last is not None and now - last < self._interval:
                self._seen[key] = (last, suppressed + 1)
                raise structlog.DropEvent
            self._seen[key] = (now, 0)
            if len(self._seen) > 10000:  # unbounded keys would be a leak; forget the oldest half
                for stale in sorted(self._seen, key=lambda k: self._seen[k][0])[:5000]:
                    del self._seen[stale]
        if suppressed:
            event_dict["suppressed_repeats"] = suppressed
        return event_dict


def configure(level: str = "info", stream: Any = None, secrets: Iterable[str] = ()) -> None:
    """`secrets`: values to mask wherever they appear (see `secrets_in`); the AWS credential variables of
    the environment are added."""
    global _known
    values = {*secrets, *(os.environ.get(name, "") for name in AWS_SECRET_VARIABLES)}
    _known = tuple(sorted((v for v in values if len(v) >= _MIN_MASKED_LENGTH), key=len, reverse=True))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            RateLimiter(),
            structlog.processors.format_exc_info,
            redact_secrets,  # after format_exc_info: a traceback's text is scrubbed too
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries that use the standard logging module (botocore, urllib3, elastic_transport) go to the same
    # stream at WARNING and above, as JSON too.
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_StdlibJson())
    handler.addFilter(_StdlibRateLimit(RateLimiter()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(LEVELS[level], logging.WARNING))


class _StdlibRateLimit(logging.Filter):
    """The same rate limit for library loggers (elastic_transport logs every failed node attempt): repeats
    of a message, digits ignored ("failed for 3 times" and "for 4 times" are one message), pass once per
    interval."""

    _DIGITS = re.compile(r"\d+")

    def __init__(self, limiter: RateLimiter) -> None:
        super().__init__()
        self._limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = {"logger": record.name, "event": self._DIGITS.sub("#", str(record.msg))}
        try:
            self._limiter(None, "warning", key)
        except structlog.DropEvent:
            return False
        return True


class _StdlibJson(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import orjson

        payload = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                   "level": record.levelname.lower(), "logger": record.name, "event": record.getMessage()}
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        redact_secrets(None, "", payload)
        return orjson.dumps(payload).decode()
