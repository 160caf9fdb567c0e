"""boto3 clients with the timeouts and retry mode every sink uses; endpoints for local emulators; sessions of
assumed roles whose credentials refresh themselves."""

from __future__ import annotations

import re
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=10,
    read_timeout=60,
    # Checksums only where we ask for them (we always send SHA-256 on archive PUTs ourselves).
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)

# STS: RoleSessionName is 2-64 of [\w+=,.@-].
_SESSION_CHARS = re.compile(r"[^\w+=,.@-]")
_SESSION_MAX, _WORKER_MAX = 64, 32


def client(service: str, region: str, endpoint_url: str | None = None, session: boto3.Session | None = None) -> Any:
    return (session or boto3.Session()).client(service, region_name=region, endpoint_url=endpoint_url,
                                                config=_CONFIG)


def role_session_name(purpose: str, stream: str, worker: str) -> str:
    """`secstash-<purpose>-<stream>@<worker>`, cut to STS's 64 characters: the role's account sees it in
    CloudTrail, so it says which instance read which stream, and what for. The worker's tail (a pod's or
    task's unique suffix) is kept, the stream cut first."""
    worker = _SESSION_CHARS.sub("-", worker)[-_WORKER_MAX:]
    head = _SESSION_CHARS.sub("-", f"secstash-{purpose}-{stream}")[:_SESSION_MAX - len(worker) - 1]
    return f"{head}@{worker}"


def assumed_role_session(role_arn: str, region: str, *, session_name: str, external_id: str | None = None,
                         sts_endpoint: str | None = None) -> boto3.Session:
    """A session signing with `role_arn`'s credentials, assumed with the process's own through the regional
    STS endpoint of `region`, and assumed again before they expire (botocore refreshes 15 minutes ahead):
    the processes that use it live far longer than the 1-hour default session."""
    import botocore.session
    from botocore.credentials import DeferredRefreshableCredentials

    sts = client("sts", region, sts_endpoint)
    request = {"RoleArn": role_arn, "RoleSessionName": session_name}
    if external_id is not None:
        request["ExternalId"] = external_id

    def assume() -> dict[str, str]:
        credentials = sts.assume_role(**request)["Credentials"]
        return {"access_key": credentials["AccessKeyId"], "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"], "expiry_time": credentials["Expiration"].isoformat()}

    core = botocore.session.get_session()
    # botocore has no public setter for credentials that refresh themselves; this is how its own
    # assume-role provider installs them.
    core._credentials = DeferredRefreshableCredentials(refresh_using=assume, method="sts-assume-role")
    return boto3.Session(botocore_session=core)
