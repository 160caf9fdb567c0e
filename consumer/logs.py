"""structlog configuration: JSON lines on stderr (stdout is the KCL protocol channel in record processors).

One chain, set once per process. Two processors guard the output:
- `redact_secrets` replaces the value of any key that names a secret (password, api_key, token, ...) and
  any `SecretStr`, so a secret passed by mistake still never reaches the logs;
- `RateLimiter` lets a repeated warning or error (same logger, event and error type) through once per
  interval and reports how many were suppressed, so a flapping dependency cannot flood the logs.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog
from pydantic import SecretStr

_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|api[_-]?key|authorization|credential|session_key)", re.I)
REDACTED = "**********"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if isinstance(value, SecretStr) or (key != "event" and _SECRET_KEY.search(key) and value):
            event_dict[key] = REDACTED
    return event_dict


class RateLimiter:
    """Drop repeats of the same warning/error within `interval` seconds; count what was dropped."""

    def __init__(self, interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._seen: dict[tuple[Any, ...], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, _: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if method not in ("warning", "error", "exception"):
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


def configure(level: str = "info", stream: Any = None) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            RateLimiter(),
            structlog.processors.format_exc_info,
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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(LEVELS[level], logging.WARNING))


class _StdlibJson(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import orjson

        payload = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                   "level": record.levelname.lower(), "logger": record.name, "event": record.getMessage()}
        redact_secrets(None, "", payload)
        return orjson.dumps(payload).decode()
