"""What an error from reading a log object in S3 means for the record that pointed at it.

An allow-list of the transient, because everything else can only repeat: the same request fails the same
way on every re-read of the record, and a record that fails for ever stalls its shard (no later record on it
is read). Transient, raised as they are so the batch fails, nothing is checkpointed and the shard is read
again:
  * throttling (`SlowDown`, `Throttling`, ... and HTTP 429), every 5xx, `RequestTimeout`, and the KMS
    answers S3 passes on when the key service is busy or down;
  * dropped connections, timeouts and interrupted bodies (botocore's and urllib3's, and OS errors), after
    botocore's own retries;
  * faults of secstash's own credentials (`ReaderCredentialsFailed`): clock skew, a rotated or expired key or
    token, an STS AssumeRole of `s3_objects.role_arn` that fails. Not the object's fault: dead-lettering it
    would turn an outage of secstash's identity into a pile of records to replay by hand.
Every other answer of S3 (4xx: missing, denied, archived, malformed version id, SSE-C, key too long, ...) and
every request botocore refuses to build is permanent: `ObjectUnavailable` with the operation, the code and
the HTTP status, so the pointer is dead-lettered and counted and `secstash replay` of the record reads it
again once the cause is mended. Exceptions that are neither botocore's nor the network's are secstash bugs:
they are raised as they are (the batch fails loudly) rather than dead-letter every object.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions as boto
from urllib3.exceptions import HTTPError as Urllib3Error

from parsers import ObjectUnavailable

_THROTTLING = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "ProvisionedThroughputExceededException", "PriorRequestNotComplete", "EC2ThrottledException",
})
_RETRYABLE = _THROTTLING | {
    "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable", "OperationAborted",
    # S3 passes the key service's answers on for SSE-KMS objects: these are KMS being busy or down.
    "KMS.ThrottlingException", "KMS.KMSInternalException", "KMS.DependencyTimeoutException",
    "KMS.KeyUnavailableException",
}
# The request was refused for who sent it or when, not for what it asked: secstash's own identity is at fault.
_CREDENTIAL_CODES = frozenset({
    "RequestTimeTooSkewed", "RequestExpired", "InvalidAccessKeyId", "InvalidClientTokenId",
    "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired", "InvalidToken",
})
# The STS call that gets s3_objects.role_arn's credentials; botocore raises its errors from get_object.
_ASSUME_ROLE = "AssumeRole"
_CREDENTIAL_ERRORS: tuple[type[Exception], ...] = tuple(
    getattr(boto, name) for name in (
        "NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "UnknownCredentialError",
        "RefreshWithMFAUnsupportedError", "MetadataRetrievalError", "TokenRetrievalError", "NoAuthTokenError",
        "SSOError", "LoginError")
    if hasattr(boto, name))
_NETWORK_ERRORS: tuple[type[Exception], ...] = (
    boto.ConnectionError, boto.HTTPClientError, boto.IncompleteReadError, boto.ChecksumError,
    boto.FlexibleChecksumError, boto.CapacityNotAvailableError, Urllib3Error, OSError,
)
# Missing and denied look alike to a reader without s3:ListBucket: S3 answers 403 for a missing key.
MISSING_OR_DENIED = frozenset({"NoSuchKey", "NotFound", "404", "AccessDenied", "403"})


class ReaderCredentialsFailed(Exception):
    """secstash's own credentials could not read a log object: transient, the record is read again.

    Carries only the error's code (or type) and operation, never the service's message: nothing here can
    hold a key, a token or a signature. Crosses the parser pool's process boundary (pickled with its args)."""

    def __init__(self, message: str, code: str, operation: str) -> None:
        super().__init__(message, code, operation)

    def __str__(self) -> str:
        return str(self.args[0])

    @property
    def code(self) -> str:
        return str(self.args[1])

    @property
    def operation(self) -> str:
        return str(self.args[2])


def code_of(exc: BaseException) -> str:
    if isinstance(exc, boto.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def classified(exc: Exception, where: str, decoded: Exception | None = None) -> Exception:
    """What to raise for `exc`, raised reading the object at `where`: the exception itself (transient),
    ObjectUnavailable (permanent) or ReaderCredentialsFailed (transient, secstash's own credentials).
    `decoded`: when `exc` is what the key as the notification wrote it met, what the decoded key met first."""
    if isinstance(exc, boto.ClientError):
        return _client_error(exc, where, decoded)
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return _credentials(type(exc).__name__, "credential retrieval")
    if isinstance(exc, _NETWORK_ERRORS):
        return exc
    if isinstance(exc, boto.StubResponseError):
        return exc  # botocore's Stubber in tests: a request nobody expected must fail the test, not dead-letter
    if isinstance(exc, boto.BotoCoreError):
        # botocore would not build the request (ParamValidationError, an endpoint it cannot resolve...): the
        # same pointer builds the same request on every re-read.
        return ObjectUnavailable(f"{where}: botocore refused the request: {type(exc).__name__}: {str(exc)[:300]}")
    return exc


def _client_error(exc: boto.ClientError, where: str, decoded: Exception | None) -> Exception:
    code, status, operation = code_of(exc), _status(exc), exc.operation_name or "?"
    if operation == _ASSUME_ROLE or code in _CREDENTIAL_CODES:
        return _credentials(code or str(status), operation)
    if code in _RETRYABLE or (isinstance(status, int) and (status >= 500 or status == 429)):
        return exc
    answer = f"{operation} answered {code or '?'} (HTTP {status})"
    if isinstance(decoded, boto.ClientError) and code in MISSING_OR_DENIED and code_of(decoded) in MISSING_OR_DENIED:
        first = f"{decoded.operation_name} answered {code_of(decoded)} (HTTP {_status(decoded)})"
        return ObjectUnavailable(f"{where}: missing or access denied: {first}, and {code} (HTTP {status}) for "
                                 "the key as the notification wrote it")
    if code in ("AccessDenied", "403"):
        # Without s3:ListBucket on the bucket (the generated policies grant none), S3 answers a missing key so.
        return ObjectUnavailable(f"{where}: missing or access denied: {answer}")
    return ObjectUnavailable(f"{where}: {answer}")


def _credentials(code: str, operation: str) -> ReaderCredentialsFailed:
    return ReaderCredentialsFailed(
        f"secstash's own credentials cannot read S3 log objects ({code} from {operation}): the batch is read "
        "again, nothing is dead-lettered; check the host's clock, the credentials, and s3_objects.role_arn "
        "and its trust policy", code, operation)


def _status(exc: boto.ClientError) -> Any:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


class ObjectReadFailed(Exception):
    """A log object failed to read for a transient reason (throttling, a 5xx, a dropped connection), after
    botocore's own retries. It fails the batch as the transient error itself would, and names the object, so
    the parser pool can count how long that object has been failing against
    `pipeline.object_retry_budget_s` (`consumer.object_retries`). Crosses the parser pool's process boundary
    (pickled with its args)."""

    def __init__(self, message: str, stream: str, location: str) -> None:
        super().__init__(message, stream, location)

    def __str__(self) -> str:
        return str(self.args[0])

    @property
    def stream(self) -> str:
        return str(self.args[1])

    @property
    def location(self) -> str:
        return str(self.args[2])


def transient(exc: BaseException) -> bool:
    """Whether `exc`, raised by `ObjectReader`, is an answer or a network fault that a later read may not
    meet again (what `classified` raises as it is). secstash's own credentials failing
    (`ReaderCredentialsFailed`) is not: that is an outage of secstash's identity, never the object's fault,
    and no budget gives up on it. Neither are exceptions of secstash's own code."""
    if isinstance(exc, boto.ClientError):
        return classified(exc, "") is exc
    return isinstance(exc, _NETWORK_ERRORS)
