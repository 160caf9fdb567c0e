"""IAM policies (deploy/iam): every policy passes parliament (community auditors on) with no finding beyond
the explicit allow-list below, the committed examples are what deploy/iam/generate.py makes of their
settings, and the grants are least-privilege: each optional permission appears only when the settings need
it."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import tempfile
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from consumer import settings as settings_module

ROOT = Path(__file__).resolve().parents[3]
IAM = ROOT / "deploy" / "iam"
ACCOUNT = "111122223333"
FULL_LOG_KEY = "arn:aws:kms:eu-west-1:444455556666:key/77777777-8888-9999-aaaa-bbbbbbbbbbbb"
FULL_STREAM_KEYS = ["arn:aws:kms:us-east-1:111122223333:key/22222222-3333-4444-5555-666666666666",
                    "arn:aws:kms:eu-west-1:444455556666:key/88888888-9999-aaaa-bbbb-cccccccccccc"]
EXAMPLES = {  # committed output dir -> (settings, extra generator arguments)
    "minimal": ("minimal.yml", {}),
    "full": ("full.yml", {"search_arn": "arn:aws:es:us-east-1:111122223333:domain/secstash",
                          "log_bucket_arns": ["arn:aws:s3:::example-alb-logs",
                                              "arn:aws:s3:::example-org-cloudtrail"],
                          "log_kms_key_arns": [FULL_LOG_KEY],
                          "stream_kms_key_arns": FULL_STREAM_KEYS,
                          "trusted_role_arns": [f"arn:aws:iam::{ACCOUNT}:role/secstash{suffix}"
                                                for suffix in ("", "-readonly", "-replay")]}),
}

# (file glob, parliament issue, detail or action it concerns): why the finding is accepted.
ALLOWED_FINDINGS = {
    ("trust-*.json", "MALFORMED", "Statement contains neither Resource nor NotResource"):
        "trust policies are resource policies of the role: they name a Principal, never a Resource; "
        "parliament lints identity policies",
    ("*/secstash-trust-*.json", "MALFORMED", "Statement contains neither Resource nor NotResource"):
        "the generated trust policies of the roles secstash assumes in other accounts: resource policies too",
    ("trust-eks-irsa.json", "UNKNOWN_FEDERATION_SOURCE", "*:oidc-provider/oidc.eks.*"):
        "parliament 1.6.4 recognises SAML providers and a few public web identity providers, not the EKS "
        "cluster's OIDC provider that IRSA federates through",
    ("ecs-execution-role-policy.json", "CREDENTIALS_EXPOSURE", "ecr:getauthorizationtoken"):
        "pulling the image from ECR needs a registry token; that is the execution role's whole job",
    ("*/secstash-pipeline-policy.json", "CREDENTIALS_EXPOSURE", "sts:assumerole"):
        "a stream in another account is read by assuming the role named in streams[].role_arn; the grant "
        "names exactly those roles (test_assume_role_names_exactly_the_configured_roles)",
    ("*/secstash-readonly-policy.json", "CREDENTIALS_EXPOSURE", "sts:assumerole"):
        "replay reads the log objects archived S3 notifications point at through "
        "streams[].s3_objects.role_arn; the grant names exactly those roles "
        "(test_readonly_role_writes_nothing_to_aws)",
    ("*/secstash-replay-policy.json", "CREDENTIALS_EXPOSURE", "sts:assumerole"):
        "the replay role is the read-only role plus replay's sink writes: the same AssumeRole on exactly "
        "streams[].s3_objects.role_arn (test_replay_role_is_the_readonly_role_plus_its_sinks_writes)",
}

WRITE_PREFIXES = ("Put", "Delete", "Create", "Update", "Abort", "Register", "Sign", "Generate", "Restore",
                  "Replicate", "Bypass")


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("secstash_iam_generate", IAM / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generator()


def _parliament() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports pkg_resources, deprecated by setuptools
        import parliament
    community = Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"
    parliament.override_config(str(community))
    return parliament


def policy_files() -> list[Path]:
    return sorted(p for p in IAM.rglob("*.json"))


def settings_for(data: dict[str, Any]) -> settings_module.Settings:
    base: dict[str, Any] = {
        "aws": {"region": "us-east-1"},
        "streams": [{"name": "security-logs"}],
        "archive": {"bucket": "example-secstash-archive",
                    "kms_key_id": "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555"},
        "search": {"hosts": ["https://search.example.internal:9200"]},
    }
    for key, value in data.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and key in base else value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "secstash.yml"
        path.write_text(yaml.safe_dump(base))
        return settings_module.load(path, environ={})  # no SECSTASH_* of the environment leaks in


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]


def listify(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def actions(policy: dict[str, Any]) -> set[str]:
    return {a for s in statements(policy) for a in listify(s.get("Action", []))}


def resources_of(policy: dict[str, Any], action: str) -> set[str]:
    return {r for s in statements(policy) if action in listify(s.get("Action", []))
            for r in listify(s["Resource"])}


def test_there_are_policies_to_check() -> None:
    names = {p.relative_to(IAM).as_posix() for p in policy_files()}
    assert {"minimal/secstash-pipeline-policy.json", "minimal/secstash-readonly-policy.json",
            "full/secstash-pipeline-policy.json", "full/secstash-readonly-policy.json",
            "minimal/secstash-replay-policy.json", "full/secstash-replay-policy.json",
            "ecs-execution-role-policy.json", "trust-eks-irsa.json", "trust-ecs-tasks.json"} <= names


@pytest.mark.parametrize("path", policy_files(), ids=lambda p: p.relative_to(IAM).as_posix())
def test_policy_passes_parliament(path: Path) -> None:
    parliament = _parliament()
    analyzed = parliament.analyze_policy_string(path.read_text(), filepath=str(path),
                                                include_community_auditors=True)
    relative = path.relative_to(IAM).as_posix()
    unexpected = []
    for finding in analyzed.findings:
        finding = parliament.enhance_finding(finding)
        subjects = [str(finding.detail)] + [str(a) for a in (finding.location or {}).get("actions", [])]
        allowed = any(fnmatch.fnmatch(relative, pattern) and issue == finding.issue
                      and any(fnmatch.fnmatch(s, subject) for s in subjects)
                      for pattern, issue, subject in ALLOWED_FINDINGS)
        if not allowed:
            unexpected.append(f"{finding.severity} {finding.issue}: {finding.detail} {finding.location}")
    assert not unexpected, "\n".join(unexpected)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_committed_examples_are_what_the_generator_makes_of_their_settings(name: str) -> None:
    config, extra = EXAMPLES[name]
    settings = settings_module.load(IAM / "examples" / config, environ={})
    files = generate.generate(settings, ACCOUNT, **extra)
    committed = {p.name for p in (IAM / name).glob("*.json")}
    assert committed == set(files), f"regenerate deploy/iam/{name} (see deploy/iam/examples/{config})"
    for file_name, policy in files.items():
        assert (IAM / name / file_name).read_text() == generate.render(policy), \
            f"deploy/iam/{name}/{file_name} is stale: regenerate it (see deploy/iam/examples/{config})"


@pytest.mark.parametrize("path", policy_files(), ids=lambda p: p.relative_to(IAM).as_posix())
def test_no_wildcard_actions_and_no_wildcard_resources_where_a_resource_can_be_named(path: Path) -> None:
    policy = json.loads(path.read_text())
    # Actions that have no resource-level permissions: "*" is the only resource they accept.
    resourceless = {"cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"}
    for statement in statements(policy):
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in listify(statement["Action"]):
            assert "*" not in action, f"{path.name}: wildcard action {action}"
        if "Resource" in statement and "*" in listify(statement["Resource"]):
            assert set(listify(statement["Action"])) <= resourceless, f"{path.name}: Resource * for {statement}"


def test_fan_out_permissions_appear_only_for_fan_out_streams() -> None:
    polling = generate.pipeline_policy(settings_for({}), ACCOUNT)
    fanout = generate.pipeline_policy(settings_for({"streams": [
        {"name": "security-logs"}, {"name": "flows", "retrieval_mode": "fanout"}]}), ACCOUNT)
    assert not {"kinesis:RegisterStreamConsumer", "kinesis:SubscribeToShard"} & actions(polling)
    assert resources_of(fanout, "kinesis:RegisterStreamConsumer") == {
        "arn:aws:kinesis:us-east-1:111122223333:stream/flows"}
    assert resources_of(fanout, "kinesis:SubscribeToShard") == {
        "arn:aws:kinesis:us-east-1:111122223333:stream/flows/consumer/secstash-flows:*"}


def test_manifest_signing_permission_appears_only_when_manifests_are_signed() -> None:
    signing_key = "arn:aws:kms:us-east-1:111122223333:key/66666666-7777-8888-9999-000000000000"
    unsigned = settings_for({})
    signed = settings_for({"archive": {"signing_key_id": signing_key}})
    assert "kms:Sign" not in actions(generate.pipeline_policy(unsigned, ACCOUNT))
    assert resources_of(generate.pipeline_policy(signed, ACCOUNT), "kms:Sign") == {signing_key}
    assert "kms:Verify" not in actions(generate.readonly_policy(unsigned, ACCOUNT))
    assert resources_of(generate.readonly_policy(signed, ACCOUNT), "kms:Verify") == {signing_key}
    assert resources_of(generate.readonly_policy(signed, ACCOUNT), "kms:DescribeKey") == {signing_key}


def test_cloudwatch_metrics_only_when_kcl_metrics_are_on_and_only_to_the_kcl_namespaces() -> None:
    off = generate.pipeline_policy(settings_for({}), ACCOUNT)
    on = generate.pipeline_policy(settings_for({"kcl": {"metrics_level": "SUMMARY"}}), ACCOUNT)
    assert "cloudwatch:PutMetricData" not in actions(off)
    (statement,) = [s for s in statements(on) if "cloudwatch:PutMetricData" in listify(s["Action"])]
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": ["secstash-security-logs"]}}


def test_kcl_tables_are_the_lease_worker_metrics_and_coordinator_tables_of_each_stream() -> None:
    policy = generate.pipeline_policy(settings_for({"streams": [
        {"name": "security-logs"}, {"name": "flows", "application_name": "flows-app"}]}), ACCOUNT)
    table = "arn:aws:dynamodb:us-east-1:111122223333:table/"
    assert resources_of(policy, "dynamodb:UpdateTable") == {table + "secstash-security-logs", table + "flows-app"}
    assert resources_of(policy, "dynamodb:PutItem") == {
        table + name for name in ("secstash-security-logs", "flows-app",
                                  "secstash-security-logs-WorkerMetricStats", "secstash-security-logs-CoordinatorState",
                                  "flows-app-WorkerMetricStats", "flows-app-CoordinatorState")}
    assert resources_of(policy, "dynamodb:Query") == {table + "secstash-security-logs/index/*",
                                                      table + "flows-app/index/*"}
    assert not {a for a in actions(policy) if a.startswith("dynamodb:") and a.endswith("Table")} - {
        "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable"}


def test_archive_writes_are_limited_to_the_four_prefixes() -> None:
    policy = generate.pipeline_policy(settings_for({"archive": {"prefix": "logs", "dead_letter_prefix": "dlq"}}),
                                      ACCOUNT)
    bucket = "arn:aws:s3:::example-secstash-archive"
    expected = {f"{bucket}/{p}/*" for p in ("logs", "dlq", "spill", "manifests")}
    for action in ("s3:PutObject", "s3:PutObjectRetention"):
        assert resources_of(policy, action) == expected
    assert resources_of(policy, "s3:GetBucketObjectLockConfiguration") == {bucket}
    assert resources_of(policy, "s3:GetBucketVersioning") == {bucket}
    assert not {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutBucketPolicy", "s3:PutObjectLegalHold",
                "s3:BypassGovernanceRetention", "s3:PutLifecycleConfiguration"} & actions(policy)


def test_archive_key_is_used_through_s3_only() -> None:
    policy = generate.pipeline_policy(settings_for({}), ACCOUNT)
    (statement,) = [s for s in statements(policy) if "kms:GenerateDataKey" in listify(s["Action"])]
    assert set(listify(statement["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def test_assume_role_names_exactly_the_configured_roles() -> None:
    role = "arn:aws:iam::444455556666:role/secstash-stream-reader"
    without = generate.pipeline_policy(settings_for({}), ACCOUNT)
    with_role = settings_for({"streams": [{"name": "security-logs"},
                                          {"arn": "arn:aws:kinesis:eu-west-1:444455556666:stream/org-trail",
                                           "role_arn": role}]})
    policy = generate.pipeline_policy(with_role, ACCOUNT)
    assert "sts:AssumeRole" not in actions(without)
    assert resources_of(policy, "sts:AssumeRole") == {role}
    # The stream read through the role is granted in the role's policy, not secstash's.
    assert "arn:aws:kinesis:eu-west-1:444455556666:stream/org-trail" not in resources_of(policy, "kinesis:GetRecords")
    (reader,) = generate.stream_reader_policies(with_role, ACCOUNT).values()
    assert resources_of(reader, "kinesis:GetRecords") == {"arn:aws:kinesis:eu-west-1:444455556666:stream/org-trail"}


def test_stream_reads_are_what_kcl_3_calls_and_no_more() -> None:
    policy = generate.pipeline_policy(settings_for({}), ACCOUNT)
    assert {a for a in actions(policy) if a.startswith("kinesis:")} == {
        "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"}


ORG_TRAIL = "arn:aws:kinesis:eu-west-1:444455556666:stream/org-trail"
STREAM_READER = "arn:aws:iam::444455556666:role/secstash-stream-reader"
LOG_READER = "arn:aws:iam::444455556666:role/secstash-log-reader"


def test_each_assumed_role_trusts_this_account_only_with_the_external_id_the_settings_send() -> None:
    settings = settings_for({"streams": [
        {"name": "security-logs"},
        {"arn": ORG_TRAIL, "role_arn": STREAM_READER, "external_id": "Ext-stream-1",
         "s3_objects": {"role_arn": LOG_READER, "external_id": "Ext-objects-2"}}]})
    trusts = generate.trust_policies(settings, ACCOUNT)
    assert set(trusts) == {"secstash-trust-444455556666-secstash-stream-reader.json",
                           "secstash-trust-444455556666-secstash-log-reader.json"}
    (stream_trust,) = statements(trusts["secstash-trust-444455556666-secstash-stream-reader.json"])
    assert stream_trust["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert stream_trust["Action"] == "sts:AssumeRole"
    assert stream_trust["Condition"] == {"StringEquals": {"sts:ExternalId": "Ext-stream-1"}}
    (log_trust,) = statements(trusts["secstash-trust-444455556666-secstash-log-reader.json"])
    assert log_trust["Condition"] == {"StringEquals": {"sts:ExternalId": "Ext-objects-2"}}
    narrowed = generate.trust_policies(settings, ACCOUNT, trusted_role_arns=[f"arn:aws:iam::{ACCOUNT}:role/secstash"])
    (statement,) = statements(narrowed["secstash-trust-444455556666-secstash-stream-reader.json"])
    assert statement["Condition"]["ArnEquals"] == {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/secstash"}


def test_a_role_assumed_with_and_without_an_external_id_is_refused() -> None:
    settings = settings_for({"streams": [
        {"arn": ORG_TRAIL, "role_arn": STREAM_READER, "external_id": "Ext-stream-1"},
        {"arn": "arn:aws:kinesis:eu-west-1:444455556666:stream/flows", "role_arn": STREAM_READER}]})
    with pytest.raises(generate.PolicyError, match="with an external_id by some streams and without by others"):
        generate.trust_policies(settings, ACCOUNT)
    with pytest.raises(generate.PolicyError, match="--trusted-role-arn"):
        generate.trust_policies(settings_for({}), ACCOUNT, trusted_role_arns=["arn:aws:iam::999988887777:role/x"])


@pytest.mark.parametrize("path", sorted(IAM.glob("*/secstash-readonly-policy.json")),
                         ids=lambda p: p.parent.name)
def test_readonly_role_writes_nothing_to_aws(path: Path) -> None:
    policy = json.loads(path.read_text())
    for action in actions(policy):
        service, name = action.split(":")
        if service in ("es", "aoss"):
            continue  # replay indexes into the search cluster; only with SigV4 is that an IAM grant
        assert not name.startswith(WRITE_PREFIXES), f"read-only role may {action}"
    assert not {a for a in actions(policy) if a.startswith(("kinesis:", "dynamodb:"))}
    # Only the roles replay reads log objects through (streams[].s3_objects.role_arn), not the stream roles.
    assert {a for a in actions(policy) if a.startswith("sts:")} <= {"sts:AssumeRole"}
    config = EXAMPLES[path.parent.name][0]
    settings = settings_module.load(IAM / "examples" / config, environ={})
    assert resources_of(policy, "sts:AssumeRole") == {
        s.s3_objects.role_arn for s in settings.streams if s.s3_objects.read and s.s3_objects.role_arn}


def test_generator_refuses_a_key_alias_iam_cannot_name() -> None:
    aliased = settings_for({"archive": {"kms_key_id": "alias/secstash-archive"}})
    with pytest.raises(generate.PolicyError, match="--kms-key-arn"):
        generate.pipeline_policy(aliased, ACCOUNT)
    key = "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555"
    assert resources_of(generate.pipeline_policy(aliased, ACCOUNT, kms_key_arn=key), "kms:Decrypt") == {key}


def test_sigv4_search_needs_the_domain_and_grants_http_on_it_only() -> None:
    sigv4 = settings_for({"search": {"kind": "opensearch", "hosts": ["https://search-x.us-east-1.es.amazonaws.com"],
                                     "aws_sigv4": True}})
    with pytest.raises(generate.PolicyError, match="--search-arn"):
        generate.pipeline_policy(sigv4, ACCOUNT)
    domain = "arn:aws:es:us-east-1:111122223333:domain/secstash"
    policy = generate.pipeline_policy(sigv4, ACCOUNT, search_arn=domain)
    assert resources_of(policy, "es:ESHttpPost") == {domain + "/*"}
    assert "es:ESHttpDelete" not in actions(policy)
    assert not {a for a in actions(generate.pipeline_policy(settings_for({}), ACCOUNT)) if a.startswith("es:")}


def test_generator_cli_writes_the_policies(tmp_path: Path) -> None:
    config = tmp_path / "secstash.yml"
    config.write_text(yaml.safe_dump({
        "streams": [{"name": "s"}], "search": {"hosts": ["http://localhost:9200"]},
        "archive": {"bucket": "b-archive",
                    "kms_key_id": "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555"}}))
    assert generate.main(["--config", str(config), "--account-id", ACCOUNT, "--out-dir", str(tmp_path / "out")]) == 0
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"secstash-pipeline-policy.json",
                                                              "secstash-readonly-policy.json",
                                                              "secstash-replay-policy.json"}
    assert generate.main(["--config", str(config), "--account-id", "12", "--out-dir", str(tmp_path / "x")]) == 2


def test_readonly_role_reads_only_the_archived_records_and_their_manifests() -> None:
    policy = generate.readonly_policy(settings_for({"archive": {"prefix": "logs"}}), ACCOUNT)
    bucket = "arn:aws:s3:::example-secstash-archive"
    assert resources_of(policy, "s3:GetObject") == {f"{bucket}/logs/*", f"{bucket}/manifests/*"}
    (listing,) = [s for s in statements(policy) if "s3:ListBucket" in listify(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["logs", "logs/*", "manifests", "manifests/*"]}}
    assert "s3:ListBucketVersions" in listify(listing["Action"])  # verify looks for delete markers


LOG_BUCKETS = ["arn:aws:s3:::example-alb-logs", "arn:aws:s3:::example-waf-logs"]
LOG_KEY = "arn:aws:kms:eu-west-1:111122223333:key/77777777-8888-9999-aaaa-bbbbbbbbbbbb"
LOG_ROLE = "arn:aws:iam::444455556666:role/secstash-log-reader"


def test_log_objects_are_read_only_from_the_given_buckets_and_not_at_all_without_them() -> None:
    settings = settings_for({})  # s3_objects.read defaults to true
    log_sids = {"ReadLogObjects", "LogObjectKeys", "AssumeLogObjectRoles"}
    for make in (generate.pipeline_policy, generate.readonly_policy):
        assert not {s["Sid"] for s in statements(make(settings, ACCOUNT))} & log_sids
        policy = make(settings, ACCOUNT, log_bucket_arns=LOG_BUCKETS, log_kms_key_arns=[LOG_KEY])
        (reads,) = [s for s in statements(policy) if s.get("Sid") == "ReadLogObjects"]
        assert reads["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
        assert reads["Resource"] == [f"{b}/*" for b in LOG_BUCKETS]
        (statement,) = [s for s in statements(policy) if s.get("Sid") == "LogObjectKeys"]
        assert statement["Action"] == ["kms:Decrypt"] and statement["Resource"] == LOG_KEY
        # The key's (and so the bucket's) region, not aws.region.
        assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    assert "s3:GetObjectVersion" not in actions(generate.pipeline_policy(settings, ACCOUNT))
    assert generate.log_reader_policies(settings, ACCOUNT, log_bucket_arns=LOG_BUCKETS) == {}


def test_log_objects_read_through_a_role_are_granted_in_its_policy_not_secstashs() -> None:
    settings = settings_for({"streams": [{"name": "security-logs", "s3_objects": {"role_arn": LOG_ROLE}}]})
    policy = generate.pipeline_policy(settings, ACCOUNT, log_bucket_arns=LOG_BUCKETS)
    assert resources_of(policy, "sts:AssumeRole") == {LOG_ROLE}
    assert "s3:GetObjectVersion" not in actions(policy)
    (name, reader), = generate.log_reader_policies(settings, ACCOUNT, log_bucket_arns=LOG_BUCKETS).items()
    assert name == "secstash-log-reader-444455556666-secstash-log-reader.json"
    assert actions(reader) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert resources_of(reader, "s3:GetObject") == {f"{b}/*" for b in LOG_BUCKETS}
    assert resources_of(generate.readonly_policy(settings, ACCOUNT, log_bucket_arns=LOG_BUCKETS),
                        "sts:AssumeRole") == {LOG_ROLE}
    with pytest.raises(generate.PolicyError, match="--log-bucket-arn"):
        generate.pipeline_policy(settings, ACCOUNT)


def test_each_reader_gets_the_buckets_its_streams_list_and_the_given_ones() -> None:
    settings = settings_for({"streams": [
        {"name": "alb", "s3_objects": {"buckets": [{"name": "acme-alb-[ab]-logs", "owner": ACCOUNT},
                                                   {"name": "acme-waf", "owner": ACCOUNT}]}},
        {"name": "org", "s3_objects": {"role_arn": LOG_ROLE, "buckets": ["org-trail"]}},
    ]})
    own = {"arn:aws:s3:::acme-alb-?-logs/*", "arn:aws:s3:::acme-waf/*"}  # IAM has no [...]: it widens to ?
    assert resources_of(generate.pipeline_policy(settings, ACCOUNT), "s3:GetObject") >= own
    assert "arn:aws:s3:::org-trail/*" not in resources_of(generate.pipeline_policy(settings, ACCOUNT), "s3:GetObject")
    (reader,) = generate.log_reader_policies(settings, ACCOUNT, log_bucket_arns=LOG_BUCKETS[:1]).values()
    assert resources_of(reader, "s3:GetObject") == {"arn:aws:s3:::org-trail/*", f"{LOG_BUCKETS[0]}/*"}
    policy = generate.readonly_policy(settings, ACCOUNT, log_bucket_arns=LOG_BUCKETS[:1])
    (reads,) = [s for s in statements(policy) if s.get("Sid") == "ReadLogObjects"]
    assert set(reads["Resource"]) == {"arn:aws:s3:::acme-waf/*", f"{LOG_BUCKETS[0]}/*"}


def test_a_bucket_pattern_is_granted_only_on_buckets_its_owner_owns() -> None:
    # Anyone can create `acme-evil-alb-logs` and let secstash's role in: the grant must not cover it.
    other = "444455556666"
    settings = settings_for({"streams": [
        {"name": "alb", "s3_objects": {"buckets": [{"name": "acme-*-alb-logs", "owner": ACCOUNT},
                                                   {"name": "partner-*-logs", "owner": other},
                                                   {"name": "acme-waf", "owner": ACCOUNT}]}},
        {"name": "org", "s3_objects": {"role_arn": LOG_ROLE, "buckets": [{"name": "org-trail-*", "owner": other}]}},
    ]})
    for policy in (generate.pipeline_policy(settings, ACCOUNT), generate.readonly_policy(settings, ACCOUNT),
                   *generate.log_reader_policies(settings, ACCOUNT).values()):
        for statement in statements(policy):
            patterns = [r for r in listify(statement["Resource"])
                        if r.startswith("arn:aws:s3:::") and "*" in r.removesuffix("/*")]
            if patterns:  # every grant on a bucket pattern holds only for its owner's buckets
                assert statement["Condition"]["StringEquals"]["aws:ResourceAccount"] in (ACCOUNT, other), statement
    by_sid = {s["Sid"]: s for s in statements(generate.pipeline_policy(settings, ACCOUNT))}
    assert by_sid["ReadLogObjects"]["Resource"] == "arn:aws:s3:::acme-waf/*"
    assert by_sid[f"ReadLogObjectsOwnedBy{ACCOUNT}"]["Resource"] == "arn:aws:s3:::acme-*-alb-logs/*"
    assert by_sid[f"ReadLogObjectsOwnedBy{ACCOUNT}"]["Condition"] == {
        "StringEquals": {"aws:ResourceAccount": ACCOUNT}}
    assert by_sid[f"ReadLogObjectsOwnedBy{other}"]["Resource"] == "arn:aws:s3:::partner-*-logs/*"
    (reader,) = generate.log_reader_policies(settings, ACCOUNT).values()
    (grant,) = statements(reader)
    assert grant["Resource"] == "arn:aws:s3:::org-trail-*/*"
    assert grant["Condition"] == {"StringEquals": {"aws:ResourceAccount": other}}


def test_log_object_grants_follow_s3_objects_read() -> None:
    off = settings_for({"streams": [{"name": "security-logs",
                                     "s3_objects": {"read": False, "role_arn": LOG_ROLE}}]})
    assert "sts:AssumeRole" not in actions(generate.pipeline_policy(off, ACCOUNT))
    with pytest.raises(generate.PolicyError, match="s3_objects.read: false"):
        generate.pipeline_policy(off, ACCOUNT, log_bucket_arns=LOG_BUCKETS)


def test_generator_refuses_log_arguments_that_are_not_arns() -> None:
    settings = settings_for({})
    with pytest.raises(generate.PolicyError, match="--log-bucket-arn"):
        generate.pipeline_policy(settings, ACCOUNT, log_bucket_arns=["arn:aws:s3:::*"])
    with pytest.raises(generate.PolicyError, match="--log-kms-key-arn"):
        generate.pipeline_policy(settings, ACCOUNT, log_bucket_arns=LOG_BUCKETS,
                                 log_kms_key_arns=["alias/logs"])
    with pytest.raises(generate.PolicyError, match="--log-bucket-arn"):
        generate.pipeline_policy(settings, ACCOUNT, log_kms_key_arns=[LOG_KEY])


# ---------------------------------------------------------------- replay role (review #3)


def _allows(policy: dict[str, Any], action: str, resource: str, s3_prefix: str | None = None) -> bool:
    for statement in statements(policy):
        if statement["Effect"] != "Allow" or action not in listify(statement["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in listify(statement["Resource"])):
            continue
        if s3_prefix is not None:
            allowed = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix", [])
            if not any(fnmatch.fnmatchcase(s3_prefix, p) for p in listify(allowed)):
                continue
        return True
    return False


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_committed_replay_role_allows_every_call_replays_live_sinks_make(name: str) -> None:
    """consumer/commands/replay.py builds a LockedObjectStore, a DeadLetterSink and a SearchSink: dead
    letters and spilled batches are PUT (SSE-KMS) under their prefixes, and the spill is redriven."""
    settings = settings_module.load(IAM / "examples" / EXAMPLES[name][0], environ={})
    a = settings.archive
    policy = json.loads((IAM / name / "secstash-replay-policy.json").read_text())
    bucket = f"arn:aws:s3:::{a.bucket}"
    for prefix in (a.dead_letter_prefix, a.spill_prefix):
        for action in ("s3:PutObject", "s3:PutObjectRetention"):
            assert _allows(policy, action, f"{bucket}/{prefix}/2024/01/01/x.ndjson.gz"), (action, prefix)
    assert _allows(policy, "kms:GenerateDataKey", a.kms_key_id)
    assert _allows(policy, "kms:Decrypt", a.kms_key_id)
    assert settings.search.redrive_spill
    assert _allows(policy, "s3:ListBucket", bucket, f"{a.spill_prefix}/data/")
    assert _allows(policy, "s3:GetObject", f"{bucket}/{a.spill_prefix}/data/x")
    # Nothing the archive or the manifests hold is writable.
    for prefix in (a.prefix, a.manifest_prefix):
        assert not _allows(policy, "s3:PutObject", f"{bucket}/{prefix}/x")


def test_replay_role_is_the_readonly_role_plus_its_sinks_writes() -> None:
    settings = settings_for({"archive": {"prefix": "logs", "dead_letter_prefix": "dlq"}})
    readonly = generate.readonly_policy(settings, ACCOUNT)
    replay = generate.replay_policy(settings, ACCOUNT)
    assert statements(replay)[:len(statements(readonly))] == statements(readonly)
    added = statements(replay)[len(statements(readonly)):]
    bucket = "arn:aws:s3:::example-secstash-archive"
    assert resources_of({"Statement": added}, "s3:PutObject") == {f"{bucket}/dlq/*", f"{bucket}/spill/*"}
    (key,) = [s for s in added if "kms:GenerateDataKey" in listify(s["Action"])]
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    assert not {a for a in actions(replay) if a.startswith(("kinesis:", "dynamodb:", "cloudwatch:"))}
    assert not {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention",
                "s3:PutObjectLegalHold", "kms:Sign"} & actions(replay)
    # The spill is read back only when it is redriven; the bucket's encryption only read without a key id.
    no_redrive = generate.replay_policy(settings_for({"search": {"redrive_spill": False}}), ACCOUNT)
    assert f"{bucket}/spill/*" not in resources_of(no_redrive, "s3:GetObject")
    assert "s3:GetEncryptionConfiguration" not in actions(replay)
    keyless = settings_for({"archive": {"kms_key_id": None}})
    key_arn = "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555"
    assert resources_of(generate.replay_policy(keyless, ACCOUNT, kms_key_arn=key_arn),
                        "s3:GetEncryptionConfiguration") == {bucket}
    assert "s3:GetEncryptionConfiguration" not in actions(generate.readonly_policy(keyless, ACCOUNT,
                                                                                   kms_key_arn=key_arn))


def test_docs_no_longer_say_replay_writes_nothing_to_aws() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    assert "secstash-replay-policy.json" in text
    assert "`secstash verify` and `secstash replay`:" not in text


# ---------------------------------------------------------------- stream keys and lease-table PITR (review #11)

STREAM_KEY = "arn:aws:kms:us-east-1:111122223333:key/22222222-3333-4444-5555-666666666666"
REMOTE_STREAM_KEY = "arn:aws:kms:eu-west-1:444455556666:key/88888888-9999-aaaa-bbbb-cccccccccccc"


def test_stream_keys_are_decryptable_through_kinesis_by_the_readers_of_their_region() -> None:
    role = "arn:aws:iam::444455556666:role/secstash-stream-reader"
    settings = settings_for({"streams": [{"name": "security-logs"},
                                         {"arn": "arn:aws:kinesis:eu-west-1:444455556666:stream/org-trail",
                                          "role_arn": role}]})
    assert "kms:Decrypt" not in {a for s in statements(generate.pipeline_policy(settings, ACCOUNT))
                                 if s["Sid"] == "StreamKeys" for a in listify(s["Action"])}
    keys = [STREAM_KEY, REMOTE_STREAM_KEY]
    policy = generate.pipeline_policy(settings, ACCOUNT, stream_kms_key_arns=keys)
    (own,) = [s for s in statements(policy) if s["Sid"] == "StreamKeys"]
    assert own["Action"] == ["kms:Decrypt"] and own["Resource"] == STREAM_KEY
    assert own["Condition"] == {"StringEquals": {"kms:ViaService": "kinesis.us-east-1.amazonaws.com"}}
    (reader,) = generate.stream_reader_policies(settings, ACCOUNT, stream_kms_key_arns=keys).values()
    (remote,) = [s for s in statements(reader) if s["Sid"] == "StreamKeys"]
    assert remote["Resource"] == REMOTE_STREAM_KEY
    assert remote["Condition"] == {"StringEquals": {"kms:ViaService": "kinesis.eu-west-1.amazonaws.com"}}
    # Neither the read-only nor the replay role reads a stream.
    assert "kms:Decrypt" not in {a for s in statements(generate.readonly_policy(settings, ACCOUNT))
                                 if "kinesis" in json.dumps(s) for a in listify(s["Action"])}


def test_generator_refuses_stream_keys_that_are_not_arns_or_match_no_stream() -> None:
    settings = settings_for({})
    with pytest.raises(generate.PolicyError, match="--stream-kms-key-arn"):
        generate.pipeline_policy(settings, ACCOUNT, stream_kms_key_arns=["alias/aws/kinesis"])
    with pytest.raises(generate.PolicyError, match="no stream is in its region"):
        generate.pipeline_policy(settings, ACCOUNT, stream_kms_key_arns=[REMOTE_STREAM_KEY])


def test_generator_cli_takes_stream_keys(tmp_path: Path) -> None:
    config = tmp_path / "secstash.yml"
    config.write_text(yaml.safe_dump({
        "streams": [{"name": "s"}], "search": {"hosts": ["http://localhost:9200"]},
        "archive": {"bucket": "b-archive",
                    "kms_key_id": "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555"}}))
    assert generate.main(["--config", str(config), "--account-id", ACCOUNT, "--out-dir", str(tmp_path / "out"),
                          "--stream-kms-key-arn", STREAM_KEY]) == 0
    policy = json.loads((tmp_path / "out" / "secstash-pipeline-policy.json").read_text())
    assert resources_of(policy, "kms:Decrypt") >= {STREAM_KEY}


@pytest.mark.parametrize("value, granted", [("true", True), ("TRUE", True), ("false", False), (None, False)])
def test_lease_table_pitr_is_granted_only_when_kcl_is_told_to_enable_it(value: str | None, granted: bool) -> None:
    kcl = {"extra_properties": {"leaseTablePitrEnabled": value}} if value is not None else {}
    settings = settings_for({"kcl": kcl, "streams": [{"name": "security-logs"}, {"name": "flows"}]})
    policy = generate.pipeline_policy(settings, ACCOUNT)
    table = "arn:aws:dynamodb:us-east-1:111122223333:table/"
    expected = {table + "secstash-security-logs", table + "secstash-flows"} if granted else set()
    assert resources_of(policy, "dynamodb:UpdateContinuousBackups") == expected


def test_committed_full_example_grants_pitr_and_stream_keys() -> None:
    pipeline = json.loads((IAM / "full" / "secstash-pipeline-policy.json").read_text())
    assert "dynamodb:UpdateContinuousBackups" in actions(pipeline)
    assert FULL_STREAM_KEYS[0] in resources_of(pipeline, "kms:Decrypt")
    reader = json.loads((IAM / "full" / "secstash-stream-reader-444455556666-secstash-stream-reader.json").read_text())
    assert resources_of(reader, "kms:Decrypt") == {FULL_STREAM_KEYS[1]}

