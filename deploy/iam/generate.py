"""Least-privilege IAM policies for secstash, derived from its settings file.

    python deploy/iam/generate.py --config secstash.yml --account-id 111122223333 --out-dir policies/ \
        [--log-bucket-arn arn:aws:s3:::acme-alb-logs ...] [--log-kms-key-arn ARN ...] \
        [--trusted-role-arn arn:aws:iam::111122223333:role/secstash ...]

writes
  secstash-pipeline-policy.json     the role `secstash run` runs as (IRSA / ECS task role)
  secstash-readonly-policy.json     a separate role for `secstash verify` and `secstash replay --dry-run`:
                                    reads and version listings of the archive and manifest prefixes,
                                    Decrypt through S3, DescribeKey/Verify/GetPublicKey on the signing key,
                                    and the log objects (replay reads them again)
  secstash-replay-policy.json       the role for `secstash replay` (not --dry-run): the read-only grants,
                                    plus what its live sinks write: PutObject/PutObjectRetention under the
                                    dead-letter and spill prefixes, GenerateDataKey through S3, reads and
                                    a listing of the spill prefix (search.redrive_spill), and
                                    GetEncryptionConfiguration when archive.kms_key_id is unset
  secstash-stream-reader-<account>-<role>.json
                                    for each streams[].role_arn: what that role (in the stream's account)
                                    must allow; secstash's own role only gets sts:AssumeRole on it
  secstash-log-reader-<account>-<role>.json
                                    for each streams[].s3_objects.role_arn: what that role must allow on
                                    the log buckets; secstash's own role only gets sts:AssumeRole on it
  secstash-trust-<account>-<role>.json
                                    for each of those roles, its trust policy: sts:AssumeRole by this
                                    account, only with the streams' external_id when they give one, and
                                    only by the --trusted-role-arn roles when given

What is granted, and only when the settings need it:
  - Kinesis reads of the named streams; RegisterStreamConsumer, SubscribeToShard and
    DescribeStreamConsumer only for streams with retrieval_mode: fanout
  - the KCL tables of each stream: the lease table (its application name), <app>-WorkerMetricStats and
    <app>-CoordinatorState, and Query on the lease table's index
  - cloudwatch:PutMetricData, limited to the KCL applications' namespaces, only when kcl.metrics_level
    is not NONE
  - s3:PutObject, s3:PutObjectRetention (and s3:AbortMultipartUpload for large objects) under the
    archive, dead-letter, spill and manifest prefixes; GetBucketObjectLockConfiguration and
    GetBucketVersioning on the bucket, and GetEncryptionConfiguration when archive.kms_key_id is unset (start
    checks the bucket defaults to SSE-KMS); s3:GetObject and a prefix-limited s3:ListBucket on the manifest
    prefix (each shard's chain head) and, with search.redrive_spill, the spill prefix
  - kms:GenerateDataKey and kms:Decrypt on the archive key, through S3 only; kms:Sign (and DescribeKey)
    on the manifest signing key only when archive.signing_key_id is set, with kms:GetPublicKey and
    kms:Verify (a chain head read back from S3 must carry a signature that verifies)
  - sts:AssumeRole on the configured streams[].role_arn only
  - kms:Decrypt through Kinesis on the keys given with --stream-kms-key-arn (streams encrypted with a
    customer managed key), in secstash's own role and in each streams[].role_arn's policy, for the
    readers of a stream in the key's region
  - dynamodb:UpdateContinuousBackups on the lease tables only when kcl.extra_properties sets
    leaseTablePitrEnabled (KCL then turns on point-in-time recovery when it creates the table)
  - s3:GetObject and s3:GetObjectVersion on the log buckets listed in streams[].s3_objects.buckets or
    given with --log-bucket-arn (where the log objects that S3 event notifications on the streams point
    at are), and kms:Decrypt through S3 on the keys given with --log-kms-key-arn (SSE-KMS log buckets):
    in secstash's own role (and the read-only role: replay reads the objects again) when a stream reads objects with its own credentials
    (s3_objects.read, the default, without s3_objects.role_arn), and in each s3_objects.role_arn's policy.
    No buckets listed or given: no such grant
  - sts:AssumeRole on the configured streams[].s3_objects.role_arn only (in the read-only role too)
  - es:ESHttp* on the domain (or aoss:APIAccessAll on the collection) only when search.aws_sigv4 is on

A pattern in s3_objects.buckets (`acme-*-alb-logs`) must name its owner (the settings refuse one without), and
its grant holds only for buckets that account owns (aws:ResourceAccount): anyone can create a bucket whose
name matches.

IAM cannot name a KMS key by alias, so when archive.kms_key_id (or signing_key_id) is an alias or a bare
id, or unset (the bucket's default key), pass the key's ARN with --kms-key-arn (--signing-key-arn). Log
buckets come from streams[].s3_objects.buckets (each reader gets the buckets of the streams it reads for;
a glob's [...] widens to ?, as IAM has no character classes) and from --log-bucket-arn (every reader gets
those).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(?:[0-9a-f-]{36}|mrk-[0-9a-f]{32})$")
_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(.+)$")
_CHAR_CLASS = re.compile(r"\[[^\]]*\]")
_BUCKET_ARN = re.compile(r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

Policy = dict[str, Any]


class PolicyError(ValueError):
    """The settings (and arguments) do not give enough to write a policy; the message says what is missing."""


def _document(statements: Iterable[dict[str, Any]]) -> Policy:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _statement(sid: str, actions: list[str], resources: list[str], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions),
                            "Resource": sorted(set(resources)) if len(set(resources)) > 1 else resources[0]}
    if condition:
        stmt["Condition"] = condition
    return stmt


def _key_arn(given: str | None, override: str | None, what: str, flag: str) -> str:
    if override:
        if not _KEY_ARN.match(override):
            raise PolicyError(f"{flag} {override!r} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)")
        return override
    if given and _KEY_ARN.match(given):
        return given
    raise PolicyError(f"{what} is {given!r}, which IAM cannot name: pass the key's ARN with {flag}")


class _Context:
    def __init__(self, settings: Any, account_id: str, partition: str) -> None:
        if not re.fullmatch(r"\d{12}", account_id):
            raise PolicyError(f"--account-id {account_id!r} is not a 12-digit AWS account id")
        self.s = settings
        self.account = account_id
        self.partition = partition

    def stream_arn(self, stream: Any) -> str:
        if stream.arn:
            return str(stream.arn)
        region = self.s.stream_region(stream)
        return f"arn:{self.partition}:kinesis:{region}:{self.account}:stream/{stream.stream_name}"

    def table_arn(self, stream: Any, name: str) -> str:
        # The daemon's DynamoDB client uses the stream's region and secstash's own credentials.
        return f"arn:{self.partition}:dynamodb:{self.s.stream_region(stream)}:{self.account}:table/{name}"

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.s.archive.bucket}"

    def object_arns(self, prefixes: list[str] | None = None) -> list[str]:
        a = self.s.archive
        prefixes = prefixes or [a.prefix, a.dead_letter_prefix, a.spill_prefix, a.manifest_prefix]
        return [f"{self.bucket_arn}/{p.strip('/')}/*" for p in dict.fromkeys(prefixes)]

    @property
    def s3_via(self) -> dict[str, Any]:
        return {"StringEquals": {"kms:ViaService": f"s3.{self.s.aws.region}.amazonaws.com"}}


def _listable(prefixes: list[str]) -> list[str]:
    """s3:prefix values that let ListObjectsV2 walk below each prefix and no further."""
    out: list[str] = []
    for p in dict.fromkeys(p.strip("/") for p in prefixes):
        out += [p, f"{p}/*"]
    return out


def _kinesis_statements(ctx: _Context, streams: list[Any], sid_suffix: str = "") -> list[dict[str, Any]]:
    if not streams:
        return []
    # What KCL 3 calls (ListShards, GetShardIterator, GetRecords) and DescribeStreamSummary (the fan-out
    # consumer's registration, and secstash's retention gauge). Not DescribeStream: nothing calls it since KCL 2.
    out = [_statement(f"ReadStreams{sid_suffix}",
                      ["kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator",
                       "kinesis:ListShards"],
                      [ctx.stream_arn(s) for s in streams])]
    fanout = [s for s in streams if s.retrieval_mode == "fanout"]
    if fanout:
        out.append(_statement(f"RegisterFanOutConsumers{sid_suffix}", ["kinesis:RegisterStreamConsumer"],
                              [ctx.stream_arn(s) for s in fanout]))
        # KCL names its enhanced fan-out consumer after the application (the lease table).
        out.append(_statement(f"SubscribeFanOut{sid_suffix}",
                              ["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"],
                              [f"{ctx.stream_arn(s)}/consumer/{s.lease_table}:*" for s in fanout]))
    return out


# A log bucket a reader may read: its ARN, and for a pattern the account that must own what it matches.
LogBucket = tuple[str, str | None]


def _log_buckets(ctx: _Context, bucket_arns: Sequence[str],
                 key_arns: Sequence[str]) -> tuple[dict[str | None, list[LogBucket]], list[str]]:
    """The log buckets each reader may read (None: secstash's own credentials, else the s3_objects.role_arn):
    the --log-bucket-arn values, and the s3_objects.buckets of the streams it reads for; and the
    --log-kms-key-arn values. Checked against the settings."""
    for arn in bucket_arns:
        if not _BUCKET_ARN.match(arn):
            raise PolicyError(f"--log-bucket-arn {arn!r} is not an S3 bucket ARN (arn:aws:s3:::<bucket>)")
    for arn in key_arns:
        if not _KEY_ARN.match(arn):
            raise PolicyError(f"--log-kms-key-arn {arn!r} is not a KMS key ARN "
                              "(arn:aws:kms:<region>:<account>:key/<id>)")
    reading = [s for s in ctx.s.streams if s.s3_objects.read]
    if key_arns and not bucket_arns and not any(s.s3_objects.buckets for s in reading):
        raise PolicyError("--log-kms-key-arn needs the buckets it encrypts: pass them with --log-bucket-arn "
                          "or list them in streams[].s3_objects.buckets")
    if bucket_arns and not reading:
        raise PolicyError("--log-bucket-arn is given, but every stream has s3_objects.read: false")
    by_reader: dict[str | None, list[LogBucket]] = {}
    for stream in reading:
        listed = by_reader.setdefault(stream.s3_objects.role_arn, [(arn, None) for arn in bucket_arns])
        # IAM matches * and ? but has no character classes: [...] widens to ?, the settings still narrow it.
        # A pattern's owner goes with it (settings require one): anyone may name a bucket to match.
        listed += [(f"arn:{ctx.partition}:s3:::{_CHAR_CLASS.sub('?', b.name)}",
                    b.owner if _is_pattern(b.name) else None) for b in stream.s3_objects.buckets]
    for reader, listed in by_reader.items():
        by_reader[reader] = list(dict.fromkeys(listed))
        if reader and not listed:
            raise PolicyError(f"s3_objects.role_arn {reader} is set: pass the buckets its notifications point at "
                              "with --log-bucket-arn or list them in streams[].s3_objects.buckets")
    return by_reader, list(key_arns)


def _is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")


def _log_object_statements(buckets: list[LogBucket], key_arns: list[str]) -> list[dict[str, Any]]:
    """Reads of the log objects S3 notifications point at (GetObjectVersion: notifications of versioned
    buckets name the version), and Decrypt through S3 on their SSE-KMS keys. Named buckets in one statement;
    patterns in one per owning account, granted only on buckets that account owns (aws:ResourceAccount):
    a bucket an outsider names to match is not readable even when its bucket policy lets the role in."""
    if not buckets:
        return []
    reads = ["s3:GetObject", "s3:GetObjectVersion"]
    named = [f"{arn}/*" for arn, owner in buckets if owner is None]
    out = [_statement("ReadLogObjects", reads, named)] if named else []
    for account in sorted({owner for _, owner in buckets if owner is not None}):
        out.append(_statement(f"ReadLogObjectsOwnedBy{account}", reads,
                              [f"{arn}/*" for arn, owner in buckets if owner == account],
                              {"StringEquals": {"aws:ResourceAccount": account}}))
    if key_arns:
        # A bucket's SSE-KMS key lives in the bucket's region, which need not be aws.region.
        regions = sorted({arn.split(":")[3] for arn in key_arns})
        via = [f"s3.{region}.amazonaws.com" for region in regions]
        out.append(_statement("LogObjectKeys", ["kms:Decrypt"], key_arns,
                              {"StringEquals": {"kms:ViaService": via if len(via) > 1 else via[0]}}))
    return out


def _search_statement(ctx: _Context, domain_arn: str | None) -> list[dict[str, Any]]:
    search = ctx.s.search
    if not search.aws_sigv4:
        return []
    if not domain_arn:
        raise PolicyError("search.aws_sigv4 is on: pass the domain's (or collection's) ARN with --search-arn")
    if search.aws_service == "aoss":
        if ":aoss:" not in domain_arn:
            raise PolicyError(f"--search-arn {domain_arn!r} is not an OpenSearch Serverless collection ARN")
        return [_statement("SearchSigV4", ["aoss:APIAccessAll"], [domain_arn])]
    if ":es:" not in domain_arn or ":domain/" not in domain_arn:
        raise PolicyError(f"--search-arn {domain_arn!r} is not an OpenSearch Service domain ARN")
    return [_statement("SearchSigV4", ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"],
                       [f"{domain_arn.rstrip('/')}/*"])]


def pipeline_policy(settings: Any, account_id: str, *, partition: str = "aws", kms_key_arn: str | None = None,
                    signing_key_arn: str | None = None, search_arn: str | None = None,
                    log_bucket_arns: Sequence[str] = (), log_kms_key_arns: Sequence[str] = (),
                    stream_kms_key_arns: Sequence[str] = ()) -> Policy:
    """The policy of the role `secstash run` runs as."""
    ctx = _Context(settings, account_id, partition)
    stream_keys = _stream_keys(ctx, stream_kms_key_arns)
    buckets, keys = _log_buckets(ctx, log_bucket_arns, log_kms_key_arns)
    own = [s for s in settings.streams if not s.role_arn]
    statements = _kinesis_statements(ctx, own)

    leases = [ctx.table_arn(s, s.lease_table) for s in settings.streams]
    statements.append(_statement("KclLeaseTables",
                                 ["dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
                                  "dynamodb:Scan", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                  "dynamodb:DeleteItem"], leases))
    statements.append(_statement("KclLeaseTableIndexes", ["dynamodb:Query"], [f"{arn}/index/*" for arn in leases]))
    statements.append(_statement(
        "KclMetadataTables",
        ["dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:GetItem",
         "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
        [ctx.table_arn(s, f"{s.lease_table}-{suffix}") for s in settings.streams
         for suffix in ("WorkerMetricStats", "CoordinatorState")]))
    if settings.kcl.metrics_level != "NONE":
        # PutMetricData has no resource; the namespace condition keeps it to the KCL applications'.
        statements.append(_statement("KclCloudWatchMetrics", ["cloudwatch:PutMetricData"], ["*"],
                                     {"StringEquals": {"cloudwatch:namespace":
                                                       sorted({s.lease_table for s in settings.streams})}}))

    statements.append(_statement("ArchiveWrite",
                                 ["s3:PutObject", "s3:PutObjectRetention", "s3:AbortMultipartUpload"],
                                 ctx.object_arns()))
    # The archive reads each shard's hash-chain head back from the manifests when it takes a lease; the
    # search sink re-reads spilled batches to redrive them (search.redrive_spill).
    readable = [settings.archive.manifest_prefix]
    if settings.search.redrive_spill:
        readable.append(settings.archive.spill_prefix)
    statements.append(_statement("ArchiveReadBack", ["s3:GetObject"], ctx.object_arns(readable)))
    statements.append(_statement("ArchiveListBack", ["s3:ListBucket"], [ctx.bucket_arn],
                                 {"StringLike": {"s3:prefix": _listable(readable)}}))
    checks = ["s3:GetBucketObjectLockConfiguration", "s3:GetBucketVersioning"]
    if not settings.archive.kms_key_id:
        checks.append("s3:GetEncryptionConfiguration")  # start refuses a bucket whose default is not SSE-KMS
    statements.append(_statement("ArchiveBucketChecks", checks, [ctx.bucket_arn]))
    key = _key_arn(settings.archive.kms_key_id, kms_key_arn, "archive.kms_key_id", "--kms-key-arn")
    # Decrypt: S3 needs it to complete multipart uploads under SSE-KMS.
    statements.append(_statement("ArchiveKey", ["kms:GenerateDataKey", "kms:Decrypt"], [key], ctx.s3_via))
    if settings.archive.signing_key_id or signing_key_arn:
        signing = _key_arn(settings.archive.signing_key_id, signing_key_arn, "archive.signing_key_id",
                           "--signing-key-arn")
        # DescribeKey: the signer checks the key's usage and algorithms at start. GetPublicKey and Verify: a
        # chain head read back from S3 is used only when its signature verifies with the key.
        statements.append(_statement("SignManifests",
                                     ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign", "kms:Verify"],
                                     [signing]))

    roles = sorted({s.role_arn for s in settings.streams if s.role_arn})
    if roles:
        statements.append(_statement("AssumeStreamRoles", ["sts:AssumeRole"], roles))
    statements += _log_object_access(buckets, keys)
    statements += _search_statement(ctx, search_arn)
    statements += _stream_key_statements(ctx, own, stream_keys)
    statements += _lease_table_pitr_statements(ctx, settings)
    return _document(statements)


def _log_object_access(buckets: dict[str | None, list[LogBucket]], keys: list[str]) -> list[dict[str, Any]]:
    """What secstash's role needs to read log objects: the buckets themselves when a stream reads them with
    secstash's own credentials, AssumeRole on each s3_objects.role_arn (whose policy grants the buckets)."""
    statements = _log_object_statements(buckets.get(None, []), keys)
    roles = sorted(reader for reader in buckets if reader)
    if roles:
        statements.append(_statement("AssumeLogObjectRoles", ["sts:AssumeRole"], roles))
    return statements


def readonly_policy(settings: Any, account_id: str, *, partition: str = "aws", kms_key_arn: str | None = None,
                    signing_key_arn: str | None = None, search_arn: str | None = None,
                    log_bucket_arns: Sequence[str] = (), log_kms_key_arns: Sequence[str] = ()) -> Policy:
    """The policy of the role for `secstash verify` and `secstash replay --dry-run`: reads the archived
    records and their manifests (object versions included: manifests name them), writes nothing to AWS.
    Replay re-parses archived S3 notifications, so it reads the log objects they point at like the daemon
    does. A replay that indexes needs replay_policy (its dead letters and spill are written to S3)."""
    ctx = _Context(settings, account_id, partition)
    buckets, keys = _log_buckets(ctx, log_bucket_arns, log_kms_key_arns)
    a = settings.archive
    readable = [a.prefix, a.manifest_prefix]
    statements = [
        _statement("ArchiveRead", ["s3:GetObject", "s3:GetObjectVersion"], ctx.object_arns(readable)),
        # ListBucketVersions: verify looks for delete markers, which hide objects from ListBucket
        _statement("ArchiveList", ["s3:ListBucket", "s3:ListBucketVersions"], [ctx.bucket_arn],
                   {"StringLike": {"s3:prefix": _listable(readable)}}),
        _statement("ArchiveKeyDecrypt", ["kms:Decrypt"],
                   [_key_arn(a.kms_key_id, kms_key_arn, "archive.kms_key_id", "--kms-key-arn")], ctx.s3_via),
    ]
    if a.signing_key_id or signing_key_arn:
        signing = _key_arn(a.signing_key_id, signing_key_arn, "archive.signing_key_id", "--signing-key-arn")
        # DescribeKey: verify resolves the pinned signing key to its ARN
        statements.append(_statement("VerifyManifests", ["kms:DescribeKey", "kms:GetPublicKey", "kms:Verify"],
                                     [signing]))
    statements += _log_object_access(buckets, keys)
    statements += _search_statement(ctx, search_arn)
    return _document(statements)


def stream_reader_policies(settings: Any, account_id: str, *, partition: str = "aws",
                           stream_kms_key_arns: Sequence[str] = ()) -> dict[str, Policy]:
    """For each streams[].role_arn, the policy that role must carry: read (and fan-out) on its streams, and
    Decrypt on the --stream-kms-key-arn keys of their region."""
    stream_keys = _stream_keys(_Context(settings, account_id, partition), stream_kms_key_arns)
    by_role: dict[str, list[Any]] = {}
    for stream in settings.streams:
        if stream.role_arn:
            by_role.setdefault(stream.role_arn, []).append(stream)
    out = {}
    for role, streams in sorted(by_role.items()):
        match = _ROLE_ARN.match(role)
        assert match is not None  # settings validated the ARN
        role_account, role_name = match.group(2), match.group(3).rsplit("/", 1)[-1]
        # A stream named without an ARN lives in the role's account.
        reader_ctx = _Context(settings, role_account, partition)
        out[f"secstash-stream-reader-{role_account}-{role_name}.json"] = _document(
            _kinesis_statements(reader_ctx, streams) + _stream_key_statements(reader_ctx, streams, stream_keys))
    return out


def log_reader_policies(settings: Any, account_id: str, *, partition: str = "aws",
                        log_bucket_arns: Sequence[str] = (),
                        log_kms_key_arns: Sequence[str] = ()) -> dict[str, Policy]:
    """For each streams[].s3_objects.role_arn, the policy that role must carry: reads of the log buckets
    (and Decrypt on their keys). A bucket or key in another account must also allow the role in its own
    bucket or key policy."""
    buckets, keys = _log_buckets(_Context(settings, account_id, partition), log_bucket_arns, log_kms_key_arns)
    out = {}
    for role in sorted(reader for reader in buckets if reader):
        match = _ROLE_ARN.match(role)
        assert match is not None  # settings validated the ARN
        role_account, role_name = match.group(2), match.group(3).rsplit("/", 1)[-1]
        out[f"secstash-log-reader-{role_account}-{role_name}.json"] = _document(
            _log_object_statements(buckets[role], keys))
    return out


# ------------------------------------------------------------------ trust policies of the assumed roles

def trust_policies(settings: Any, account_id: str, *, partition: str = "aws",
                   trusted_role_arns: Sequence[str] = ()) -> dict[str, Policy]:
    """For each role secstash assumes (streams[].role_arn, and s3_objects.role_arn of streams that read
    objects), the trust policy it needs in its own account: sts:AssumeRole by secstash's account, with the
    ExternalId the settings send (the role's account gives that id to this deployment alone, so another
    tenant of a shared secstash, or anyone else who learns the role's ARN, cannot make it read for them).
    Inside secstash's account only the roles whose generated policy grants sts:AssumeRole on the role can
    use it; --trusted-role-arn narrows the trust to those roles (aws:PrincipalArn) on the other side too."""
    ctx = _Context(settings, account_id, partition)
    for arn in trusted_role_arns:
        match = _ROLE_ARN.match(arn)
        if not match or match.group(2) != ctx.account:
            raise PolicyError(f"--trusted-role-arn {arn!r} is not a role of account {ctx.account}")
    ids: dict[str, set[str | None]] = {}
    for stream in settings.streams:
        if stream.role_arn:
            ids.setdefault(stream.role_arn, set()).add(_secret(stream.external_id))
        if stream.s3_objects.read and stream.s3_objects.role_arn:
            ids.setdefault(stream.s3_objects.role_arn, set()).add(_secret(stream.s3_objects.external_id))
    out = {}
    for role, wanted in sorted(ids.items()):
        if None in wanted and len(wanted) > 1:
            raise PolicyError(f"{role} is assumed with an external_id by some streams and without by others: "
                              "give every use of it the same external_id")
        condition: dict[str, Any] = {}
        if trusted_role_arns:
            condition["ArnEquals"] = {"aws:PrincipalArn": _one_or_list(sorted(set(trusted_role_arns)))}
        if None not in wanted:
            condition["StringEquals"] = {"sts:ExternalId": _one_or_list(sorted(i for i in wanted if i))}
        statement: dict[str, Any] = {"Sid": "SecstashAssumesThisRole", "Effect": "Allow",
                                     "Principal": {"AWS": f"arn:{partition}:iam::{ctx.account}:root"},
                                     "Action": "sts:AssumeRole"}
        if condition:
            statement["Condition"] = condition
        match = _ROLE_ARN.match(role)
        assert match is not None  # settings validated the ARN
        out[f"secstash-trust-{match.group(2)}-{match.group(3).rsplit('/', 1)[-1]}.json"] = _document([statement])
    return out


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def _one_or_list(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


# ------------------------------------------------------------------ stream keys (--stream-kms-key-arn)

def _stream_keys(ctx: _Context, key_arns: Sequence[str]) -> list[str]:
    """The --stream-kms-key-arn values, checked: KMS key ARNs, each in the region of some stream (a stream's
    server-side encryption key lives in the stream's region)."""
    regions = {ctx.s.stream_region(s) for s in ctx.s.streams}
    for arn in key_arns:
        if not _KEY_ARN.match(arn):
            raise PolicyError(f"--stream-kms-key-arn {arn!r} is not a KMS key ARN "
                              "(arn:aws:kms:<region>:<account>:key/<id>)")
        if arn.split(":")[3] not in regions:
            raise PolicyError(f"--stream-kms-key-arn {arn!r}: no stream is in its region "
                              f"({', '.join(sorted(regions))})")
    return list(dict.fromkeys(key_arns))


def _stream_key_statements(ctx: _Context, streams: list[Any], key_arns: list[str]) -> list[dict[str, Any]]:
    """kms:Decrypt through Kinesis on the stream keys of these streams' regions: GetRecords and
    SubscribeToShard on a stream encrypted with a customer managed key fail with KMSAccessDeniedException
    without it."""
    regions = {ctx.s.stream_region(s) for s in streams}
    keys = [arn for arn in key_arns if arn.split(":")[3] in regions]
    if not keys:
        return []
    via = [f"kinesis.{region}.amazonaws.com" for region in sorted({arn.split(":")[3] for arn in keys})]
    return [_statement("StreamKeys", ["kms:Decrypt"], keys,
                       {"StringEquals": {"kms:ViaService": via if len(via) > 1 else via[0]}})]


# ------------------------------------------------------------------ lease table point-in-time recovery

_BEAN_TRUE = frozenset({"true", "yes", "y", "on", "1"})  # what commons-beanutils converts to true


def _lease_table_pitr_statements(ctx: _Context, settings: Any) -> list[dict[str, Any]]:
    """With kcl.extra_properties.leaseTablePitrEnabled, KCL calls UpdateContinuousBackups on the lease
    table it creates (DynamoDBLeaseRefresher); only then is it granted, on the lease tables only."""
    value = str(settings.kcl.extra_properties.get("leaseTablePitrEnabled", "")).strip().lower()
    if value not in _BEAN_TRUE:
        return []
    return [_statement("KclLeaseTablePitr", ["dynamodb:UpdateContinuousBackups"],
                       [ctx.table_arn(s, s.lease_table) for s in settings.streams])]


# ------------------------------------------------------------------ replay role

def replay_policy(settings: Any, account_id: str, *, partition: str = "aws", kms_key_arn: str | None = None,
                  signing_key_arn: str | None = None, search_arn: str | None = None,
                  log_bucket_arns: Sequence[str] = (), log_kms_key_arns: Sequence[str] = ()) -> Policy:
    """The policy of the role for `secstash replay` (not --dry-run). Replay builds the live sinks
    (consumer/commands/replay.py): a LockedObjectStore that checks the bucket's default encryption when
    archive.kms_key_id is unset, a DeadLetterSink (permanent search rejects go to the dead-letter prefix)
    and a SearchSink that spills to the spill prefix during an outage and, with search.redrive_spill,
    lists and reads that prefix to redrive it. An AccessDenied on those PUTs is retried forever, so
    without these grants replay stalls at the first rejected document. Everything else is the read-only
    role's."""
    ctx = _Context(settings, account_id, partition)
    a = settings.archive
    statements = list(readonly_policy(settings, account_id, partition=partition, kms_key_arn=kms_key_arn,
                                      signing_key_arn=signing_key_arn, search_arn=search_arn,
                                      log_bucket_arns=log_bucket_arns,
                                      log_kms_key_arns=log_kms_key_arns)["Statement"])
    writable = [a.dead_letter_prefix, a.spill_prefix]
    statements.append(_statement("ReplayWrite", ["s3:PutObject", "s3:PutObjectRetention", "s3:AbortMultipartUpload"],
                                 ctx.object_arns(writable)))
    key = _key_arn(a.kms_key_id, kms_key_arn, "archive.kms_key_id", "--kms-key-arn")
    # Decrypt is the read-only role's already (ArchiveKeyDecrypt); S3 needs it to complete multipart uploads.
    statements.append(_statement("ReplayWriteKey", ["kms:GenerateDataKey"], [key], ctx.s3_via))
    if settings.search.redrive_spill:
        statements.append(_statement("ReplaySpillRead", ["s3:GetObject"], ctx.object_arns([a.spill_prefix])))
        statements.append(_statement("ReplaySpillList", ["s3:ListBucket"], [ctx.bucket_arn],
                                     {"StringLike": {"s3:prefix": _listable([a.spill_prefix])}}))
    if not a.kms_key_id:
        # check_encryption(): without a key id, replay refuses a bucket whose default is not SSE-KMS.
        statements.append(_statement("ReplayBucketChecks", ["s3:GetEncryptionConfiguration"], [ctx.bucket_arn]))
    return _document(statements)


def render(policy: Policy) -> str:
    return json.dumps(policy, indent=2) + "\n"


def generate(settings: Any, account_id: str, *, trusted_role_arns: Sequence[str] = (),
             **keys: Any) -> dict[str, Policy]:
    """Every policy file for these settings, by file name."""
    stream_keys = keys.pop("stream_kms_key_arns", ())
    files = {
        "secstash-pipeline-policy.json": pipeline_policy(settings, account_id, stream_kms_key_arns=stream_keys,
                                                         **keys),
        "secstash-readonly-policy.json": readonly_policy(settings, account_id, **keys),
        "secstash-replay-policy.json": replay_policy(settings, account_id, **keys),
    }
    files.update(stream_reader_policies(settings, account_id, partition=keys.get("partition", "aws"),
                                        stream_kms_key_arns=stream_keys))
    files.update(log_reader_policies(settings, account_id, partition=keys.get("partition", "aws"),
                                     log_bucket_arns=keys.get("log_bucket_arns", ()),
                                     log_kms_key_arns=keys.get("log_kms_key_arns", ())))
    files.update(trust_policies(settings, account_id, partition=keys.get("partition", "aws"),
                                trusted_role_arns=trusted_role_arns))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="secstash settings YAML")
    parser.add_argument("--account-id", required=True, help="the account secstash runs in (12 digits)")
    parser.add_argument("--partition", default="aws", help="aws, aws-cn or aws-us-gov")
    parser.add_argument("--kms-key-arn", help="archive key ARN, when archive.kms_key_id is not one")
    parser.add_argument("--signing-key-arn", help="manifest signing key ARN, when signing_key_id is not one")
    parser.add_argument("--search-arn", help="OpenSearch domain / collection ARN, when search.aws_sigv4 is on")
    parser.add_argument("--log-bucket-arn", action="append", default=[], metavar="ARN",
                        help="a bucket holding log objects that S3 notifications on the streams point at "
                             "(repeatable; added to streams[].s3_objects.buckets for every reader)")
    parser.add_argument("--log-kms-key-arn", action="append", default=[], metavar="ARN",
                        help="the SSE-KMS key of a log bucket (repeatable; not needed for SSE-S3 or aws/s3)")
    parser.add_argument("--stream-kms-key-arn", action="append", default=[], metavar="ARN",
                        help="the customer managed key a stream is encrypted with (repeatable; not needed for "
                             "alias/aws/kinesis): kms:Decrypt through Kinesis for the readers of streams in "
                             "its region")
    parser.add_argument("--trusted-role-arn", action="append", default=[], metavar="ARN",
                        help="a role of --account-id that assumes the other accounts' roles (the pipeline, "
                             "read-only and replay roles; repeatable): their trust policies then admit only "
                             "these, not every principal of the account that is granted sts:AssumeRole")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)

    from consumer import settings as settings_module

    try:
        settings = settings_module.load(args.config)
        files = generate(settings, args.account_id, partition=args.partition, kms_key_arn=args.kms_key_arn,
                         signing_key_arn=args.signing_key_arn, search_arn=args.search_arn,
                         log_bucket_arns=args.log_bucket_arn, log_kms_key_arns=args.log_kms_key_arn,
                         stream_kms_key_arns=args.stream_kms_key_arn, trusted_role_arns=args.trusted_role_arn)
    except (settings_module.SettingsError, PolicyError) as exc:
        print(f"generate.py: {exc}", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, policy in files.items():
        (args.out_dir / name).write_text(render(policy))
        print(args.out_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
