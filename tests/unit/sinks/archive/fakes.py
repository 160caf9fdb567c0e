"""An in-memory S3 (the subset the archive uses) and a KMS signer, injected at the boundary of unit tests."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def client_error(code: str, status: int = 400, operation: str = "Op") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


@dataclass
class Version:
    body: bytes
    version_id: str
    params: dict[str, Any]


@dataclass
class FakeS3:
    """Versioned when `versioned`; `lock` is the GetObjectLockConfiguration answer (None: not configured);
    `encryption` the default SSEAlgorithm GetBucketEncryption answers (None: not configured).
    `fail` is called with (operation, params) before each call and may raise."""

    versioned: bool = True
    lock: dict[str, Any] | None = field(default_factory=lambda: {"ObjectLockEnabled": "Enabled"})
    encryption: str | None = "aws:kms"
    fail: Callable[[str, dict[str, Any]], None] | None = None
    objects: dict[str, list[Version]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def _call(self, operation: str, params: dict[str, Any]) -> None:
        self.calls.append((operation, params))
        if self.fail:
            self.fail(operation, params)

    def put_object(self, **params: Any) -> dict[str, Any]:
        self._call("put_object", params)
        key = params["Key"]
        if params.get("IfNoneMatch") == "*" and self.objects.get(key):
            raise client_error("PreconditionFailed", 412, "PutObject")
        return self._store(key, params.pop("Body"), params)

    def _store(self, key: str, body: bytes, params: dict[str, Any]) -> dict[str, Any]:
        version = Version(body, f"v{next(self._ids)}" if self.versioned else "null", params)
        if self.versioned:
            self.objects.setdefault(key, []).append(version)
        else:
            self.objects[key] = [version]
        return {"VersionId": version.version_id if self.versioned else None}

    def create_multipart_upload(self, **params: Any) -> dict[str, Any]:
        self._call("create_multipart_upload", params)
        upload_id = f"u{next(self._ids)}"
        self.uploads[upload_id] = {"params": params, "parts": {}}
        return {"UploadId": upload_id}

    def upload_part(self, **params: Any) -> dict[str, Any]:
        self._call("upload_part", params)
        body = params["Body"]
        assert params["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
        self.uploads[params["UploadId"]]["parts"][params["PartNumber"]] = body
        return {"ETag": hashlib.md5(body).hexdigest()}

    def complete_multipart_upload(self, **params: Any) -> dict[str, Any]:
        self._call("complete_multipart_upload", params)
        upload = self.uploads.pop(params["UploadId"])
        if params.get("IfNoneMatch") == "*" and self.objects.get(params["Key"]):
            raise client_error("PreconditionFailed", 412, "CompleteMultipartUpload")
        body = b"".join(upload["parts"][n] for n in sorted(upload["parts"]))
        return self._store(params["Key"], body, dict(upload["params"], multipart=True))

    def abort_multipart_upload(self, **params: Any) -> dict[str, Any]:
        self._call("abort_multipart_upload", params)
        self.uploads.pop(params["UploadId"], None)
        return {}

    def get_object(self, **params: Any) -> dict[str, Any]:
        self._call("get_object", params)
        versions = self.objects.get(params["Key"])
        if not versions:
            raise client_error("NoSuchKey", 404, "GetObject")
        if "VersionId" in params:
            found = [v for v in versions if v.version_id == params["VersionId"]]
            if not found:
                raise client_error("NoSuchVersion", 404, "GetObject")
            return {"Body": io.BytesIO(found[0].body)}
        return {"Body": io.BytesIO(versions[-1].body), "VersionId": versions[-1].version_id}

    def delete_object(self, **params: Any) -> dict[str, Any]:
        self._call("delete_object", params)
        self.objects.pop(params["Key"], None)
        return {}

    def get_object_lock_configuration(self, **params: Any) -> dict[str, Any]:
        self._call("get_object_lock_configuration", params)
        if self.lock is None:
            raise client_error("ObjectLockConfigurationNotFoundError", 404)
        return {"ObjectLockConfiguration": self.lock}

    def get_bucket_versioning(self, **params: Any) -> dict[str, Any]:
        self._call("get_bucket_versioning", params)
        return {"Status": "Enabled"} if self.versioned else {}

    def get_bucket_encryption(self, **params: Any) -> dict[str, Any]:
        self._call("get_bucket_encryption", params)
        if self.encryption is None:
            raise client_error("ServerSideEncryptionConfigurationNotFoundError", 404)
        return {"ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": self.encryption}}]}}

    def get_paginator(self, name: str) -> Any:
        assert name == "list_objects_v2"
        return _Paginator(self)

    def body(self, key: str) -> bytes:
        return self.objects[key][-1].body

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def list_object_versions(self, **params: Any) -> dict[str, Any]:
        """Every stored version, newest first per key, on one page. No delete markers: `delete_object` here
        removes the key outright (tests of delete markers use moto)."""
        self._call("list_object_versions", params)
        prefix = params.get("Prefix", "")
        versions = [{"Key": key, "VersionId": version.version_id, "IsLatest": newest == 0}
                    for key in sorted(k for k in self.objects if k.startswith(prefix))
                    for newest, version in enumerate(reversed(self.objects[key]))]
        return {"Versions": versions, "DeleteMarkers": [], "IsTruncated": False}


class _Paginator:
    def __init__(self, s3: FakeS3) -> None:
        self._s3 = s3

    def paginate(self, Bucket: str, Prefix: str = "", Delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        self._s3.calls.append(("list_objects_v2", {"Prefix": Prefix, "Delimiter": Delimiter}))
        contents, prefixes = [], set()
        for key in sorted(self._s3.objects):
            if not key.startswith(Prefix):
                continue
            rest = key[len(Prefix):]
            if Delimiter and Delimiter in rest:
                prefixes.add(Prefix + rest.split(Delimiter, 1)[0] + Delimiter)
            else:
                contents.append({"Key": key, "Size": len(self._s3.objects[key][-1].body)})
        yield {"Contents": contents, "CommonPrefixes": [{"Prefix": p} for p in sorted(prefixes)]}


class FakeKms:
    """Sign/Verify/GetPublicKey/DescribeKey with one local P-256 key, as KMS does for ECC_NIST_P256."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.calls: list[str] = []

    def describe_key(self, KeyId: str) -> dict[str, Any]:
        self.calls.append("describe_key")
        return {"KeyMetadata": {"KeyId": KeyId, "KeyUsage": "SIGN_VERIFY", "SigningAlgorithms": ["ECDSA_SHA_256"]}}

    def sign(self, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str) -> dict[str, Any]:
        self.calls.append("sign")
        assert MessageType == "RAW" and SigningAlgorithm == "ECDSA_SHA_256"
        return {"KeyId": KeyId, "Signature": self.key.sign(Message, ec.ECDSA(hashes.SHA256()))}

    def get_public_key(self, KeyId: str) -> dict[str, Any]:
        self.calls.append("get_public_key")
        return {"PublicKey": self.key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)}

    def verify(self, **params: Any) -> dict[str, Any]:
        self.calls.append("verify")
        try:
            self.key.public_key().verify(params["Signature"], params["Message"], ec.ECDSA(hashes.SHA256()))
        except Exception:  # noqa: BLE001 - KMS answers invalid signatures with this error
            raise client_error("KMSInvalidSignatureException") from None
        return {"SignatureValid": True}
