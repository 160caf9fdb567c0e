"""The Terraform module (deploy/terraform/modules/secstash-archive) parses with python-hcl2, and the archive
bucket it declares is immutable and private: Object Lock COMPLIANCE with a default retention, versioning,
SSE-KMS with the module's key, every public-access block, and a bucket policy that refuses plain HTTP.
(`terraform validate` needs the AWS provider, which cannot be downloaded here; `terraform fmt` runs when
the terraform binary is on PATH.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[3]
TERRAFORM = ROOT / "deploy" / "terraform"
MODULE = TERRAFORM / "modules" / "secstash-archive"
OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


def load(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f, serialization_options=OPTIONS)


@pytest.fixture(scope="module")
def module() -> dict[str, list[dict[str, Any]]]:
    """Every top-level block of the module's files, merged by block type."""
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        for block_type, blocks in load(path).items():
            merged.setdefault(block_type, []).extend(blocks)
    return merged


def resource(module: dict[str, Any], kind: str, name: str = "archive") -> dict[str, Any]:
    found = [block[kind][name] for block in module["resource"] if kind in block and name in block[kind]]
    assert len(found) == 1, f"expected one {kind}.{name}"
    return found[0]


def data(module: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    (found,) = [block[kind][name] for block in module["data"] if kind in block and name in block[kind]]
    return found


def test_every_terraform_file_parses() -> None:
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) >= 5
    for path in files:
        assert load(path), f"{path} parsed to nothing"


def test_bucket_has_object_lock_in_compliance_mode_with_a_default_retention(module: dict[str, Any]) -> None:
    assert resource(module, "aws_s3_bucket")["object_lock_enabled"] is True
    lock = resource(module, "aws_s3_bucket_object_lock_configuration")
    assert lock["bucket"] == "${aws_s3_bucket.archive.id}"
    (rule,) = lock["rule"]
    (retention,) = rule["default_retention"]
    assert retention["mode"] == "COMPLIANCE"
    assert retention["days"] == "${var.retention_days}"
    (variable,) = [v["retention_days"] for v in module["variable"] if "retention_days" in v]
    assert variable["default"] >= 1


def test_bucket_versioning_is_enabled(module: dict[str, Any]) -> None:
    versioning = resource(module, "aws_s3_bucket_versioning")
    assert versioning["bucket"] == "${aws_s3_bucket.archive.id}"
    assert versioning["versioning_configuration"] == [{"status": "Enabled"}]


def test_bucket_encrypts_with_sse_kms_and_the_modules_key(module: dict[str, Any]) -> None:
    sse = resource(module, "aws_s3_bucket_server_side_encryption_configuration")
    (rule,) = sse["rule"]
    (default,) = rule["apply_server_side_encryption_by_default"]
    assert default == {"sse_algorithm": "aws:kms", "kms_master_key_id": "${aws_kms_key.archive.arn}"}
    key = resource(module, "aws_kms_key")
    assert key["enable_key_rotation"] is True
    assert key["key_usage"] == "ENCRYPT_DECRYPT"


def test_all_four_public_access_blocks_are_on(module: dict[str, Any]) -> None:
    block = resource(module, "aws_s3_bucket_public_access_block")
    assert block["bucket"] == "${aws_s3_bucket.archive.id}"
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert block[flag] is True, flag
    ownership = resource(module, "aws_s3_bucket_ownership_controls")
    assert ownership["rule"] == [{"object_ownership": "BucketOwnerEnforced"}]


def test_bucket_policy_denies_every_request_without_tls(module: dict[str, Any]) -> None:
    policy = resource(module, "aws_s3_bucket_policy")
    assert policy["policy"] == "${data.aws_iam_policy_document.archive_bucket.json}"
    statements = data(module, "aws_iam_policy_document", "archive_bucket")["statement"]
    denies_plain_http = [
        s for s in statements
        if s["effect"] == "Deny" and s["actions"] == ["s3:*"]
        and set(s["resources"]) == {"${aws_s3_bucket.archive.arn}", "${aws_s3_bucket.archive.arn}/*"}
        and s["principals"] == [{"type": "*", "identifiers": ["*"]}]
        and s["condition"] == [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]
    ]
    assert len(denies_plain_http) == 1
    assert not [s for s in statements if s["effect"] == "Allow"], "the bucket policy only denies"


def test_bucket_policy_refuses_puts_encrypted_with_any_other_key(module: dict[str, Any]) -> None:
    statements = {s["sid"]: s for s in data(module, "aws_iam_policy_document", "archive_bucket")["statement"]}
    other_key = statements["DenyOtherKmsKey"]
    assert other_key["effect"] == "Deny" and other_key["actions"] == ["s3:PutObject"]
    assert other_key["condition"] == [{"test": "StringNotEqualsIfExists",
                                       "variable": "s3:x-amz-server-side-encryption-aws-kms-key-id",
                                       "values": ["${aws_kms_key.archive.arn}"]}]
    # aws:kms with no key id would get the AWS managed key aws/s3.
    no_key = statements["DenyKmsWithoutKeyId"]
    assert no_key["effect"] == "Deny"
    assert {"test": "Null", "variable": "s3:x-amz-server-side-encryption-aws-kms-key-id",
            "values": ["true"]} in no_key["condition"]


def test_bucket_is_never_force_destroyed(module: dict[str, Any]) -> None:
    assert resource(module, "aws_s3_bucket")["force_destroy"] is False


def test_stream_is_encrypted_and_its_retention_is_bounded(module: dict[str, Any]) -> None:
    stream = resource(module, "aws_kinesis_stream", "logs")
    assert stream["encryption_type"] == "KMS"
    assert stream["retention_period"] == "${var.stream_retention_hours}"


def test_outputs_give_what_secstash_settings_need(module: dict[str, Any]) -> None:
    outputs = {name for block in module["output"] for name in block}
    assert {"bucket_name", "kms_key_arn", "signing_key_arn", "stream_name", "stream_arn", "region"} <= outputs


def test_example_root_uses_the_module() -> None:
    example = load(TERRAFORM / "examples" / "complete" / "main.tf")
    (call,) = [block["secstash_archive"] for block in example["module"]]
    assert call["source"] == "../../modules/secstash-archive"
    assert call["retention_days"] < call["expire_after_days"]


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform binary on PATH")
def test_terraform_files_are_formatted() -> None:
    done = subprocess.run(["terraform", "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# ---------------------------------------------------------------- the archive's keys cannot be shredded (review #7)


def variable(module: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [v[name] for v in module["variable"] if name in v]
    return found


@pytest.mark.parametrize("kind, name", [("aws_s3_bucket", "archive"), ("aws_kms_key", "archive"),
                                        ("aws_kms_key", "signing")])
def test_the_bucket_and_both_keys_are_protected_from_destroy(module: dict[str, Any], kind: str, name: str) -> None:
    assert resource(module, kind, name).get("lifecycle") == [{"prevent_destroy": True}]


def test_key_policy_denies_disabling_and_deleting_the_keys_to_all_but_the_break_glass_role(
        module: dict[str, Any]) -> None:
    for name in ("archive", "signing"):
        assert resource(module, "aws_kms_key", name)["policy"] == "${data.aws_iam_policy_document.archive_key.json}"
    statements = data(module, "aws_iam_policy_document", "archive_key")["statement"]
    (deny,) = [s for s in statements if s["effect"] == "Deny"]
    assert set(deny["actions"]) == {"kms:ScheduleKeyDeletion", "kms:DisableKey"}
    assert deny["resources"] == ["*"]
    assert deny["principals"] == [{"type": "AWS", "identifiers": ["*"]}]
    assert "condition" not in deny, "an unconditional exception would let everyone through"
    (dynamic,) = deny["dynamic"]
    condition = dynamic["condition"]
    assert "var.kms_break_glass_role_arn == null ? []" in condition["for_each"]
    assert condition["content"] == [{"test": "ArnNotEquals", "variable": "aws:PrincipalArn",
                                     "values": ["${condition.value}"]}]
    # KMS's lock-out safety check: the account root must still be allowed kms:PutKeyPolicy, and no Deny
    # may take it away.
    (admin,) = [s for s in statements if s["effect"] == "Allow"]
    assert admin["actions"] == ["kms:*"]
    assert admin["principals"] == [{"type": "AWS",
                                    "identifiers": ["arn:${local.partition}:iam::${local.account_id}:root"]}]
    assert not {"kms:PutKeyPolicy", "kms:*"} & set(deny["actions"])
    break_glass = variable(module, "kms_break_glass_role_arn")
    assert break_glass["default"] is None, "no break-glass role unless one is named"


def test_key_deletion_window_cannot_be_shortened(module: dict[str, Any]) -> None:
    window = variable(module, "kms_deletion_window_days")
    assert window["default"] == 30
    (validation,) = window["validation"]
    assert "var.kms_deletion_window_days >= 30" in validation["condition"]
