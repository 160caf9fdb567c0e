"""`secstash verify --bucket B [--prefix P] [--since T] [--until T]`: check the archive against its manifests.

The archive's signing key (`--signing-key`, or `archive.signing_key_id` from `--config`) is pinned: every entry
must be signed by it. Without one, signatures are checked with whichever key they name.

Exit status: 0 when nothing is wrong (notices such as re-read duplicates may still be listed), 1 when there is
any finding (missing, altered or unlisted objects, chain breaks, bad manifests or signatures), 2 when the
check itself could not run (bad arguments, no access).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from consumer import logs
from sinks import aws
from sinks.archive import reader
from sinks.archive.verify import Report, Verifier
from sinks.errors import SinkConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", help="archive bucket (default: archive.bucket from --config)")
    parser.add_argument("--prefix", help="archive prefix (default: archive.prefix, or 'archive')")
    parser.add_argument("--manifest-prefix", help="manifest prefix (default: archive.manifest_prefix, or 'manifests')")
    parser.add_argument("--stream", help="only this stream: the key its archive is filed under (`id`, or else the "
                                         "stream name); with --config, also a stream name only one configured "
                                         "stream has")
    parser.add_argument("--since", help="from this arrival time, inclusive: ISO 8601 or an age (24h, 7d)")
    parser.add_argument("--until", help="up to this arrival time, exclusive: ISO 8601 or an age")
    parser.add_argument("--require-signatures", action="store_true", help="an unsigned manifest entry is a finding")
    parser.add_argument("--signing-key", help="the archive's signing key (id, ARN or alias; default: "
                                              "archive.signing_key_id from --config): every entry must be signed by it")
    parser.add_argument("--workers", type=int, default=8, help="parallel downloads (default 8)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--config", "-c", help="settings YAML: bucket, prefixes and AWS endpoints from it")
    parser.add_argument("--region", help="AWS region (default: aws.region from --config, or AWS_REGION)")
    parser.add_argument("--endpoint-url", help="S3 and KMS endpoint (local emulators)")


def clients(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(settings or None, s3, kms) from --config, --region and --endpoint-url."""
    from consumer import settings as settings_module

    loaded = settings_module.load(args.config) if args.config else None
    region = args.region or (loaded.aws.region if loaded else None) or os.environ.get("AWS_REGION") \
        or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    s3_endpoint = args.endpoint_url or (loaded.aws.endpoint("s3") if loaded else None)
    kms_endpoint = args.endpoint_url or (loaded.aws.endpoint("kms") if loaded else None)
    return loaded, aws.client("s3", region, s3_endpoint), aws.client("kms", region, kms_endpoint)


def run(args: argparse.Namespace) -> int:
    logs.configure("warning")
    try:
        loaded, s3, kms = clients(args)
        since = reader.parse_time(args.since) if args.since else None
        until = reader.parse_time(args.until) if args.until else None
        stream = loaded.stream_key(args.stream) if loaded is not None and args.stream else args.stream
    except Exception as exc:  # noqa: BLE001 - settings and time errors: say what is wrong, exit 2
        print(f"secstash verify: {exc}", file=sys.stderr)
        return 2
    if loaded is not None:
        logs.configure("warning", secrets=logs.secrets_in(loaded))
    archive = loaded.archive if loaded else None
    bucket = args.bucket or (archive.bucket if archive else None)
    if not bucket:
        print("secstash verify: give --bucket (or --config with archive.bucket)", file=sys.stderr)
        return 2
    verifier = Verifier(s3, bucket, args.prefix or (archive.prefix if archive else "archive"),
                        args.manifest_prefix or (archive.manifest_prefix if archive else "manifests"),
                        kms=kms, require_signatures=args.require_signatures,
                        signing_key=args.signing_key or (archive.signing_key_id if archive else None),
                        workers=args.workers)
    try:
        report = verifier.run(stream, since, until)
    except (ClientError, BotoCoreError) as exc:  # botocore's text names the endpoint URL, userinfo and all
        print(f"secstash verify: cannot read s3://{bucket}: {logs.scrub(str(exc))}", file=sys.stderr)
        return 2
    except SinkConfigError as exc:
        print(f"secstash verify: {logs.scrub(str(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - exit 2 is the contract when the check cannot finish, never a traceback
        print(f"secstash verify: reading s3://{bucket} failed: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 2
    print(render_json(report) if args.json else render_text(report))
    return 0 if report.clean else 1


def _one_line(exc: Exception) -> str:
    return logs.scrub(" ".join(str(exc).split()))


def render_text(report: Report) -> str:
    lines = []
    for finding in report.findings:
        label = "notice " + finding.kind if finding.is_notice else finding.kind.upper()
        lines.append(f"{label:<26} {finding.stream}/{finding.shard}  {finding.key}\n{'':<26} {finding.detail}")
    gib = report.bytes_read / 1024 ** 3
    per_gb = f", {report.seconds / gib:.1f} s/GiB" if gib >= 0.001 else ""
    verdict = "clean" if report.clean else f"{len(report.problems)} finding(s)"
    lines.append(f"verify: {report.manifests} manifest entries ({report.signed} signed), {report.objects} objects, "
                 f"{report.bytes_read / 1024 ** 2:.1f} MiB read in {report.seconds:.1f} s{per_gb}; "
                 f"{report.duplicate_records} duplicate records; {len(report.notices)} notice(s); {verdict}")
    return "\n".join(lines)


def render_json(report: Report) -> str:
    return orjson.dumps({
        "clean": report.clean, "manifests": report.manifests, "objects": report.objects, "signed": report.signed,
        "bytes_read": report.bytes_read, "seconds": round(report.seconds, 3),
        "duplicate_records": report.duplicate_records,
        "findings": [{"kind": f.kind, "notice": f.is_notice, "stream": f.stream, "shard": f.shard, "key": f.key,
                      "detail": f.detail} for f in report.findings],
    }, option=orjson.OPT_INDENT_2).decode()
