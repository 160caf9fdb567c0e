"""The LocalStack init hook of `docker compose up` (deploy/localstack/init/10-secstash.sh), run for real:
its `awslocal` calls go through the AWS CLI to a moto server (LocalStack's S3 and KMS follow the same API),
and the result is what secstash's demo settings need: the stream, both keys behind their aliases, and a
bucket with COMPLIANCE Object Lock, versioning, SSE-KMS with the archive key and every public-access block.
A second run changes nothing and succeeds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from consumer import settings as settings_module
from consumer.embedded.moto_server import MotoServer
from tests.unit.deploy.tools import install_deploy_tools

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "deploy" / "localstack" / "init" / "10-secstash.sh"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    # A server of its own: the script's aliases and names are fixed, so no other test may share them.
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def awslocal(tmp_path_factory: pytest.TempPathFactory, moto: MotoServer) -> Path:
    """A stand-in for LocalStack's `awslocal`: the AWS CLI pointed at moto."""
    awscli = install_deploy_tools()["awscli_pythonpath"]
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "awslocal"
    shim.write_text(f'#!/bin/bash\nexec env PYTHONPATH="{awscli}" "{sys.executable}" -m awscli '
                    f'--endpoint-url "{moto.endpoint}" "$@"\n')
    shim.chmod(0o755)
    return bin_dir


def run_script(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"),
           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION}
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=300, env=env, check=False)


@pytest.fixture(scope="module")
def initialised(awslocal: Path, moto: MotoServer) -> dict[str, Any]:
    first = run_script(awslocal)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_script(awslocal)
    assert second.returncode == 0, second.stdout + second.stderr
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    return {name: session.client(name, endpoint_url=moto.endpoint) for name in ("kinesis", "kms", "s3")} | {
        "first": first, "second": second}


@pytest.fixture(scope="module")
def demo() -> settings_module.Settings:
    return settings_module.load(ROOT / "deploy" / "compose" / "secstash.yml", environ={})


def aliases(kms: Any) -> dict[str, str]:
    return {a["AliasName"]: a.get("TargetKeyId", "") for a in kms.list_aliases()["Aliases"]}


def test_the_stream_the_demo_reads_exists(initialised: dict[str, Any], demo: settings_module.Settings) -> None:
    summary = initialised["kinesis"].describe_stream_summary(StreamName=demo.streams[0].stream_name)
    assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 2


def test_both_keys_exist_once_behind_the_aliases_the_demo_names(
        initialised: dict[str, Any], demo: settings_module.Settings) -> None:
    kms = initialised["kms"]
    found = aliases(kms)
    archive_alias = (demo.archive.kms_key_id or "").split(":", 5)[-1]
    signing_alias = (demo.archive.signing_key_id or "").split(":", 5)[-1]
    # ENCRYPT_DECRYPT is CreateKey's default, which moto leaves out of the metadata.
    assert kms.describe_key(KeyId=found[archive_alias])["KeyMetadata"].get("KeyUsage", "ENCRYPT_DECRYPT") \
        == "ENCRYPT_DECRYPT"
    assert kms.describe_key(KeyId=found[signing_alias])["KeyMetadata"]["KeyUsage"] == "SIGN_VERIFY"
    assert len(kms.list_keys()["Keys"]) == 2, "the second run created no new keys"


def test_bucket_is_locked_versioned_encrypted_with_the_archive_key_and_private(
        initialised: dict[str, Any], demo: settings_module.Settings) -> None:
    s3, bucket = initialised["s3"], demo.archive.bucket
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", 1)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    default = rule["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    archive_key = aliases(initialised["kms"])["alias/secstash-archive"]
    assert default["KMSMasterKeyID"].endswith(f":key/{archive_key}")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                     "RestrictPublicBuckets": True}


def test_a_second_run_only_confirms(initialised: dict[str, Any]) -> None:
    assert "creating" in initialised["first"].stdout
    assert "creating" not in initialised["second"].stdout
    assert "ready:" in initialised["second"].stdout
