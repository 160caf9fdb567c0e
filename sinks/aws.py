"""boto3 clients with the timeouts and retry mode every sink uses; endpoints for local emulators."""

from __future__ import annotations

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


def client(service: str, region: str, endpoint_url: str | None = None, session: boto3.Session | None = None) -> Any:
    return (session or boto3.Session()).client(service, region_name=region, endpoint_url=endpoint_url,
                                                config=_CONFIG)
