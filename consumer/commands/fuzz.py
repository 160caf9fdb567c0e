"""`secstash fuzz`: generated and mutated inputs for every envelope and parser (see `parsers.fuzz`).

Prints one row per target (inputs run, cleanly rejected, too deep, findings, seconds), then each finding
with what reproduces it: `parsers.fuzz.generate(target, seed, index)`. Exit status 1 on any finding.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from parsers import fuzz

_MAX_SHOWN = 5  # findings printed per target; the count says how many there were


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--iterations", type=int, default=10_000, help="inputs per target (default 10000)")
    parser.add_argument("--target", nargs="+", action="extend", metavar="NAME",
                        help="targets or globs (envelope:*, record, cloudtrail, ...); default: all")
    parser.add_argument("--seed", type=int, help="makes the run reproducible (default: random, printed)")
    parser.add_argument("--timeout", type=float, default=fuzz.TIMEOUT_S, help="seconds per input before a hang "
                        f"is reported (default {fuzz.TIMEOUT_S})")
    parser.add_argument("--jobs", type=int, help="child processes at a time (default: one per core)")
    parser.add_argument("--fixtures", type=Path, default=fuzz.DEFAULT_FIXTURES,
                        help="Elastic's fixture folder for seeds, if present (default %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")


def run(args: argparse.Namespace) -> int:
    try:
        names = fuzz.select(args.target, args.fixtures)
    except ValueError as exc:
        print(f"secstash fuzz: {exc}", file=sys.stderr)
        return 2
    if args.list:
        print("\n".join(names))
        return 0
    if args.iterations < 1:
        print("secstash fuzz: --iterations must be at least 1", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"seed {seed}, {args.iterations} inputs per target, {len(names)} targets", flush=True)
    width = max(len(name) for name in names)
    print(f"{'target':<{width}}  {'inputs':>8}  {'rejected':>8}  {'too_deep':>8}  {'findings':>8}  {'seconds':>8}")

    def row(report: fuzz.Report) -> None:
        print(f"{report.target:<{width}}  {report.inputs:>8}  {report.rejected:>8}  {report.too_deep:>8}  "
              f"{len(report.findings):>8}  {report.seconds:>8.1f}", flush=True)

    reports = fuzz.run(names, args.iterations, seed, timeout=args.timeout, jobs=args.jobs, root=args.fixtures,
                       on_done=row)
    findings = [f for report in reports for f in report.findings]
    for report in reports:
        for finding in sorted(report.findings, key=lambda f: f.index)[:_MAX_SHOWN]:
            print(f"\n{finding.target} #{finding.index} {finding.kind}: {finding.detail}\n    input: {finding.input}")
        if len(report.findings) > _MAX_SHOWN:
            print(f"\n{report.target}: {len(report.findings) - _MAX_SHOWN} more findings")
    print(f"\n{len(findings)} findings" + (f"; reproduce an input with parsers.fuzz.generate(target, {seed}, index)"
                                            if findings else ""))
    return 1 if findings else 0
