"""`secstash run --config F`: consume every configured stream until SIGTERM/SIGINT, then stop gracefully."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import structlog

from consumer import logs, settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="settings YAML (SECSTASH_* environment variables override it)")


def run(args: argparse.Namespace) -> int:
    try:
        config = settings.load(args.config)
    except settings.SettingsError as exc:
        print(f"secstash: {logs.scrub(str(exc))}", file=sys.stderr)
        return 2
    logs.configure(config.log_level, secrets=logs.secrets_in(config))
    log = structlog.get_logger("secstash")
    from consumer.runtime import App
    from sinks.errors import SinkConfigError

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: stop.set())
    app = App(config)
    try:
        app.start()
    except SinkConfigError as exc:
        log.error("cannot start", error=type(exc).__name__, detail=str(exc))
        print(f"secstash: {logs.scrub(str(exc))}", file=sys.stderr)
        app.stop()
        return 3
    stop.wait()
    log.info("stopping", grace_s=config.pipeline.shutdown_grace_s)
    app.stop()
    return 0
