"""The HTTP client of the right family: elasticsearch8 / elasticsearch9 (major matched to the server) or
opensearch-py, with authentication (basic, API key, bearer, SigV4) and TLS (custom CA, verification on).

Everything above this module sees one small interface, `SearchClient.request()`, which returns a `Reply`
for every HTTP answer (errors included) and raises `Unreachable` when there is no answer (connection
refused, timeout, TLS failure): the client libraries' exceptions are translated here and nowhere else.
Their own retries are off; the sink retries per item.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sinks.search.config import SearchSettings

Kind = Literal["elasticsearch", "opensearch"]


class Unreachable(Exception):
    """No HTTP answer. `reason` is a metric label: connection, timeout or tls."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class WrongProduct(Exception):
    """The server answered but is not the product the settings name."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or text when the server did not answer JSON

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error_text(self) -> str:
        """The server's error as one string (type and reason), for matching and messages."""
        error = self.body.get("error") if isinstance(self.body, dict) else self.body
        if isinstance(error, dict):
            parts = [str(error.get("type", "")), str(error.get("reason", ""))]
            for cause in error.get("root_cause") or []:
                if isinstance(cause, dict):
                    parts.append(str(cause.get("reason", "")))
            caused = error.get("caused_by")
            if isinstance(caused, dict):
                parts.append(str(caused.get("reason", "")))
            return ": ".join(p for p in parts if p)
        return str(error if error is not None else self.body)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    kind: Kind
    version: str  # e.g. 8.19.21
    major: int

    @property
    def label(self) -> str:
        return f"{self.kind} {self.version}"


class SearchClient:
    """One family's client behind `request()`. Thread-safe (the libraries' connection pools are)."""

    def __init__(self, kind: Kind, major: int, raw: Any) -> None:
        self.kind = kind
        self.major = major
        self.raw = raw  # the library's client, for tests and the rare call that needs it

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Reply:
        """The answer, whatever its status. Raises Unreachable (no answer) or WrongProduct.

        `timeout` overrides `request_timeout_s` for this request (health checks ask for a short one).
        """
        merged = {"accept": "application/json"}
        if body is not None:
            merged["content-type"] = "application/json"
        merged.update({k.lower(): v for k, v in (headers or {}).items()})
        try:
            with _translated(self.kind):
                if self.kind == "opensearch":
                    data = self.raw.transport.perform_request(
                        method, path, params=dict(params or {}) or None, body=body, headers=merged,
                        timeout=timeout)
                    return Reply(200, data)
                raw = self.raw if timeout is None else self.raw.options(request_timeout=timeout)
                response = raw.perform_request(method, path, params=params, body=body, headers=merged)
                return Reply(response.meta.status, response.body)
        except _HttpStatus as status:
            return status.reply

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing idle connections is best effort
            self.raw.close()


@contextmanager
def _translated(kind: Kind) -> Iterator[None]:
    """Translate the libraries' exceptions: an HTTP error status becomes _HttpStatus (request() returns its
    Reply), no answer becomes Unreachable."""
    if kind == "opensearch":
        import opensearchpy

        try:
            yield
        except opensearchpy.ConnectionTimeout as exc:
            raise Unreachable("timeout", _detail(exc)) from None
        except opensearchpy.SSLError as exc:
            raise Unreachable("tls", _detail(exc)) from None
        except opensearchpy.ConnectionError as exc:
            raise Unreachable("connection", _detail(exc)) from None
        except opensearchpy.TransportError as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else 0
            raise _HttpStatus(Reply(status, exc.info if exc.info is not None else exc.error)) from None
        return
    import elastic_transport
    import elasticsearch8
    import elasticsearch9

    try:
        yield
    except (elasticsearch8.UnsupportedProductError, elasticsearch9.UnsupportedProductError) as exc:
        raise WrongProduct(str(exc)) from None
    except (elasticsearch8.ApiError, elasticsearch9.ApiError) as exc:
        raise _HttpStatus(Reply(exc.meta.status, exc.body)) from None
    except elastic_transport.ConnectionTimeout as exc:
        raise Unreachable("timeout", _detail(exc)) from None
    except elastic_transport.TlsError as exc:
        raise Unreachable("tls", _detail(exc)) from None
    except (elastic_transport.ConnectionError, elastic_transport.TransportError) as exc:
        raise Unreachable("connection", _detail(exc)) from None


class _HttpStatus(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _detail(exc: BaseException) -> str:
    text = str(exc)
    # Never echo credentials a URL might carry.
    return re.sub(r"//[^/@\s]+@", "//***@", text)[:500]


# --- construction -----------------------------------------------------------------------------------------


def build(settings: SearchSettings, major: int | None = None, *, aws_credentials: Any = None) -> SearchClient:
    """A client for `settings.kind`; for Elasticsearch, of major version `major` (8 when unknown: an 8.x
    client also talks to a 9.x server through REST compatibility)."""
    if not settings.verify_certs:
        import urllib3

        # urllib3 would warn on every request; the sink logs one warning at start instead.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    if settings.kind == "opensearch":
        return SearchClient("opensearch", major or 2, _opensearch(settings, aws_credentials))
    major = major or settings.server_major or 8
    if major not in (8, 9):
        raise ValueError(f"Elasticsearch {major}.x is not supported (8.x and 9.x are)")
    return SearchClient("elasticsearch", major, _elasticsearch(settings, major))


def _elasticsearch(settings: SearchSettings, major: int) -> Any:
    if major == 9:
        import elasticsearch9 as es
    else:
        import elasticsearch8 as es  # type: ignore[no-redef]
    kwargs: dict[str, Any] = {
        "request_timeout": settings.request_timeout_s,
        "max_retries": 0,
        "retry_on_timeout": False,
        "http_compress": False,  # bodies arrive compressed (request_builder), at our level
        "connections_per_node": settings.concurrent_requests + 2,
        "verify_certs": settings.verify_certs,
        "ssl_show_warn": False,  # we warn once ourselves
    }
    if settings.ca_certs:
        kwargs["ca_certs"] = settings.ca_certs
    if settings.username and settings.password:
        kwargs["basic_auth"] = (settings.username, settings.password.get_secret_value())
    elif settings.api_key:
        kwargs["api_key"] = settings.api_key.get_secret_value()
    elif settings.bearer_token:
        kwargs["bearer_auth"] = settings.bearer_token.get_secret_value()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "verify_certs=False is insecure" is logged by the sink instead
        return es.Elasticsearch([h.rstrip("/") for h in settings.hosts], **kwargs)


def _opensearch(settings: SearchSettings, aws_credentials: Any) -> Any:
    import opensearchpy

    kwargs: dict[str, Any] = {
        "timeout": settings.request_timeout_s,
        "max_retries": 0,
        "retry_on_timeout": False,
        "http_compress": False,
        "verify_certs": settings.verify_certs,
        "ssl_show_warn": False,
        "ssl_assert_hostname": None if settings.verify_certs else False,
        "pool_maxsize": settings.concurrent_requests + 2,
        "connection_class": opensearchpy.Urllib3HttpConnection,
    }
    if settings.ca_certs:
        kwargs["ca_certs"] = settings.ca_certs
    if settings.username and settings.password:
        kwargs["http_auth"] = (settings.username, settings.password.get_secret_value())
    elif settings.bearer_token:
        kwargs["headers"] = {"authorization": f"Bearer {settings.bearer_token.get_secret_value()}"}
    elif settings.aws_sigv4:
        credentials, region = aws_credentials, settings.aws_region
        if credentials is None or region is None:
            import boto3

            session = boto3.Session()
            credentials = credentials or session.get_credentials()  # refreshable: task role rotation
            region = region or session.region_name
        if credentials is None:
            raise ValueError("aws_sigv4 is set but no AWS credentials were found")
        if not region:
            raise ValueError("aws_sigv4 is set but no region: set search.aws_region or AWS_REGION")
        kwargs["http_auth"] = opensearchpy.Urllib3AWSV4SignerAuth(credentials, region, settings.aws_service)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return opensearchpy.OpenSearch([h.rstrip("/") for h in settings.hosts], **kwargs)


_VERSION = re.compile(r"^(\d+)\.(\d+)")


def detect(client: SearchClient) -> ServerInfo:
    """The server's family and version. Elasticsearch test builds lack `GET /` (405), and a writer without
    `monitor` may read neither `GET /` nor `_nodes`: try both. Raises Unreachable, WrongProduct, or
    PermissionError (the answer was 401/403) or LookupError (no version anywhere)."""
    replies = []
    probes: list[tuple[str, dict[str, str] | None]] = [("/", None),
                                                        ("/_nodes/_local", {"filter_path": "nodes.*.version"})]
    if client.kind == "elasticsearch":
        # Ask _nodes first: elastic-transport marks a node dead on the test build's 405 to `GET /`.
        probes.reverse()
    for path, params in probes:
        reply = client.request("GET", path, params=params)
        replies.append(reply)
        if not reply.ok or not isinstance(reply.body, dict):
            continue
        version = None
        distribution = None
        if isinstance(reply.body.get("version"), dict):
            version = reply.body["version"].get("number")
            distribution = reply.body["version"].get("distribution")
        for node in (reply.body.get("nodes") or {}).values():
            version = version or (node.get("version") if isinstance(node, dict) else None)
        if not version or not _VERSION.match(str(version)):
            continue
        kind: Kind = "opensearch" if distribution == "opensearch" or client.kind == "opensearch" else "elasticsearch"
        if distribution == "opensearch" and client.kind != "opensearch":
            raise WrongProduct(f"the server is OpenSearch {version}: set kind: opensearch")
        return ServerInfo(kind, str(version), int(_VERSION.match(str(version)).group(1)))  # type: ignore[union-attr]
    if any(r.status in (401, 403) for r in replies):
        denied = next(r for r in replies if r.status in (401, 403))
        raise PermissionError(f"HTTP {denied.status}: {denied.error_text()[:300]}")
    raise LookupError("the server did not tell its version (GET / and GET /_nodes/_local gave "
                      + ", ".join(str(r.status) for r in replies) + ")")
