"""The `secstash` command: one sub-command per module in `consumer.commands`, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command -> (module, one-line help). Modules expose add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("consumer.commands.run", "consume the configured Kinesis streams (the daemon)"),
    "parse": ("consumer.commands.parse", "parse events from a file or stdin into ECS documents"),
    "demo": ("consumer.commands.demo", "run the whole pipeline on local emulators and print a summary"),
    "check-config": ("consumer.commands.check_config", "validate a settings file and print the result"),
    "verify": ("consumer.commands.verify", "verify the S3 archive's manifests, objects and hash chains"),
    "replay": ("consumer.commands.replay", "re-parse archived records into Elasticsearch/OpenSearch"),
    "redrive": ("consumer.commands.redrive", "re-send dead-lettered or spilled documents"),
    "bench": ("consumer.commands.bench", "measure parse and pipeline throughput against the floor"),
    "fuzz": ("consumer.commands.fuzz", "fuzz every envelope and parser with generated inputs"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="secstash", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        if name in sys.argv[1:2]:  # only the chosen command's module is imported (some are heavy)
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in COMMANDS:
        sys.argv = [sys.argv[0], *argv]
    args = build_parser().parse_args(argv)
    return importlib.import_module(args._module).run(args)


if __name__ == "__main__":
    sys.exit(main())
