"""`secstash check-config --config F`: validate the settings and the KCL properties they generate."""

from __future__ import annotations

import argparse
import sys

from consumer import settings
from consumer.kcl import properties


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="settings YAML (SECSTASH_* environment variables override it)")
    parser.add_argument("--show-properties", action="store_true", help="print each stream's KCL properties")


def run(args: argparse.Namespace) -> int:
    try:
        config = settings.load(args.config)
        # External ids masked: this output ends up in terminals, CI logs and tickets.
        rendered = {s.key: properties.render(properties.masked(properties.build(config, s), config))
                    for s in config.streams}
    except (settings.SettingsError, properties.PropertiesError) as exc:
        print(f"secstash: {exc}", file=sys.stderr)
        return 2
    print(f"settings valid: {len(config.streams)} stream(s): " + ", ".join(rendered))
    if args.show_properties:
        for key, text in rendered.items():
            print(f"--- {key}\n{text}")
    return 0
