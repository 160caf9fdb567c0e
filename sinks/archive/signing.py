"""Manifest signatures with an asymmetric KMS key (KeyUsage SIGN_VERIFY): Sign when writing, Verify when
checking. The private key never leaves KMS; `verify` checks signatures locally with the key's public half
(one GetPublicKey per key) and asks KMS Verify only when the local check fails, so a clean archive costs no
KMS call per entry and a failing signature is confirmed by KMS itself before it is reported.

A signature names its key, and anyone with a key of their own can sign a forged entry naming it; so when the
archive's signing key is known, `verify` pins it: a signature must name that key and is checked with it alone.
Keys are compared by ARN (one DescribeKey each), as the key may be configured by id, ARN or alias.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import load_der_public_key

from sinks.archive.manifest import ManifestEntry, Signature, choose_algorithm, signing_message
from sinks.errors import SinkConfigError, SinkError

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


class ManifestSigner:
    def __init__(self, kms: Any, key_id: str, algorithm: str | None = None) -> None:
        self._kms = kms
        self.key_id = key_id
        self._wanted = algorithm
        self.algorithm: str | None = None

    def start(self) -> None:
        """Check the key can sign and settle the algorithm (a bad key refuses start, not the first batch)."""
        try:
            metadata = self._kms.describe_key(KeyId=self.key_id)["KeyMetadata"]
        except (ClientError, BotoCoreError) as exc:
            raise SinkConfigError(f"archive.signing_key_id {self.key_id!r}: cannot describe the key: {exc}") from exc
        if metadata.get("KeyUsage") != "SIGN_VERIFY":
            raise SinkConfigError(f"archive.signing_key_id {self.key_id!r} is not an asymmetric signing key "
                                  f"(KeyUsage {metadata.get('KeyUsage')}, need SIGN_VERIFY)")
        try:
            self.algorithm = choose_algorithm(list(metadata.get("SigningAlgorithms") or []), self._wanted)
        except ValueError as exc:
            raise SinkConfigError(f"archive.signing_algorithm: {exc}") from None

    def sign(self, entry: ManifestEntry) -> ManifestEntry:
        if self.algorithm is None:
            self.start()
        assert self.algorithm is not None
        message, message_type = signing_message(entry)
        try:
            reply = self._kms.sign(KeyId=self.key_id, Message=message, MessageType=message_type,
                                   SigningAlgorithm=self.algorithm)
        except (ClientError, BotoCoreError) as exc:
            raise SinkError(f"KMS Sign with {self.key_id} failed: {exc}") from exc
        signature = Signature(reply.get("KeyId") or self.key_id, self.algorithm, message_type,
                              base64.b64encode(reply["Signature"]).decode())
        return replace(entry, signature=signature)


class SignatureVerifier:
    """Checks entry signatures. With `expected_key` (id, ARN or alias; call `start()` first) only signatures by
    that key are good; without, each signature is checked with whichever key it names."""

    def __init__(self, kms: Any, expected_key: str | None = None) -> None:
        self._kms = kms
        self._expected_key = expected_key
        self.expected_arn: str | None = None
        self._public: dict[str, Any] = {}
        self._arns: dict[str, str | None] = {}

    def start(self) -> None:
        """Resolve the expected key to its ARN; a key that cannot be described refuses the check."""
        if self._expected_key is None:
            return
        try:
            self.expected_arn = self._kms.describe_key(KeyId=self._expected_key)["KeyMetadata"]["Arn"]
        except (ClientError, BotoCoreError) as exc:
            raise SinkConfigError(f"signing key {self._expected_key!r}: cannot describe the key: {exc}") from exc
        self._arns[self._expected_key] = self._arns[self.expected_arn] = self.expected_arn

    def is_expected_key(self, key_id: str) -> bool:
        """Whether a signature naming `key_id` is by the expected key (always, when none is expected)."""
        return self.expected_arn is None or self._arn(key_id) == self.expected_arn

    def valid(self, entry: ManifestEntry) -> bool:
        """Whether the entry's signature is good. Unsigned entries are the caller's business."""
        assert entry.signature is not None
        sig = entry.signature
        if not self.is_expected_key(sig.key_id):
            return False
        key_id = self.expected_arn or sig.key_id
        message, message_type = signing_message(entry)
        if message_type != sig.message_type:
            return False
        try:
            raw = base64.b64decode(sig.value, validate=True)
        except ValueError:
            return False
        if self._valid_locally(key_id, sig, raw, message):
            return True
        try:
            reply = self._kms.verify(KeyId=key_id, Message=message, MessageType=message_type, Signature=raw,
                                     SigningAlgorithm=sig.algorithm)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("KMSInvalidSignatureException", "ValidationException"):
                return False
            raise
        return bool(reply.get("SignatureValid"))

    def _arn(self, key_id: str) -> str | None:
        if key_id not in self._arns:
            try:
                self._arns[key_id] = self._kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
            except (ClientError, BotoCoreError):
                self._arns[key_id] = None  # a key this account cannot see is not the archive's key
        return self._arns[key_id]

    def _valid_locally(self, key_id: str, sig: Signature, raw: bytes, message: bytes) -> bool:
        key = self._public_key(key_id)
        digest_name = sig.algorithm.rsplit("_", 1)[-1]
        if key is None or digest_name not in _HASHES:
            return False
        algorithm = _HASHES[digest_name]()
        chosen: Any = utils.Prehashed(algorithm) if sig.message_type == "DIGEST" else algorithm
        if sig.message_type == "DIGEST" and len(message) != algorithm.digest_size:
            return False
        try:
            if isinstance(key, ec.EllipticCurvePublicKey) and sig.algorithm.startswith("ECDSA_"):
                key.verify(raw, message, ec.ECDSA(chosen))
            elif isinstance(key, rsa.RSAPublicKey) and sig.algorithm.startswith("RSASSA_PSS_"):
                key.verify(raw, message, padding.PSS(padding.MGF1(algorithm), padding.PSS.AUTO), chosen)
            elif isinstance(key, rsa.RSAPublicKey) and sig.algorithm.startswith("RSASSA_PKCS1_V1_5_"):
                key.verify(raw, message, padding.PKCS1v15(), chosen)
            else:
                return False
        except (InvalidSignature, UnsupportedAlgorithm, ValueError):
            return False
        return True

    def _public_key(self, key_id: str) -> Any:
        if key_id not in self._public:
            try:
                der = self._kms.get_public_key(KeyId=key_id)["PublicKey"]
                self._public[key_id] = load_der_public_key(der)
            except (ClientError, BotoCoreError, ValueError, UnsupportedAlgorithm):
                self._public[key_id] = None  # no local check: every signature goes to KMS Verify
        return self._public[key_id]

