"""The client factory against a local HTTP(S) stub: auth headers, TLS with a custom CA, SigV4, version
detection, and the translation of the libraries' exceptions."""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme
from botocore.credentials import Credentials

from consumer.embedded.process import free_port
from sinks.search import client
from sinks.search.config import SearchSettings


class Stub:
    """Answers every request with `status`/`body`; records request lines and headers."""

    def __init__(self, *, tls: trustme.CA | None = None, product: str | None = "Elasticsearch") -> None:
        self.status = 200
        self.body: Any = {"nodes": {"n": {"version": "8.19.21"}}}
        self.root_status = 405
        self.product = product
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                stub.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                  self.rfile.read(length)))
                status = stub.root_status if self.path == "/" else stub.status
                data = json.dumps(stub.body if status < 400 else {"error": {"type": "x", "reason": "no"},
                                                                   "status": status}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                if stub.product:
                    self.send_header("x-elastic-product", stub.product)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.issue_cert("127.0.0.1").configure_cert(context)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.close()


def make(url: str, **overrides: Any) -> SearchSettings:
    return SearchSettings(hosts=[url], request_timeout_s=5, **overrides)


def test_basic_auth_header(stub: Stub) -> None:
    c = client.build(make(stub.url, username="writer", password="pw"))
    c.request("GET", "/_cluster/health")
    assert stub.seen[-1][2]["authorization"] == "Basic d3JpdGVyOnB3"


def test_api_key_header(stub: Stub) -> None:
    client.build(make(stub.url, api_key="aWQ6a2V5")).request("GET", "/_cluster/health")
    assert stub.seen[-1][2]["authorization"] == "ApiKey aWQ6a2V5"


def test_bearer_header_for_both_families(stub: Stub) -> None:
    client.build(make(stub.url, bearer_token="tok")).request("GET", "/_cluster/health")
    assert stub.seen[-1][2]["authorization"] == "Bearer tok"
    client.build(make(stub.url, kind="opensearch", bearer_token="tok2")).request("GET", "/_cluster/health")
    assert stub.seen[-1][2]["authorization"] == "Bearer tok2"


def test_sigv4_signs_the_compressed_body_with_the_given_credentials(stub: Stub) -> None:
    settings = make(stub.url, kind="opensearch", aws_sigv4=True, aws_region="eu-west-1")
    c = client.build(settings, aws_credentials=Credentials("AKIDEXAMPLE", "secret", "session-token"))
    body = b"\x1f\x8b compressed bytes"
    c.request("POST", "/_bulk", body=body, headers={"content-type": "application/x-ndjson",
                                                      "content-encoding": "gzip"})
    _, _, headers, received = stub.seen[-1]
    assert received == body
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/es/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == "session-token"
    assert headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()


def test_custom_ca_is_trusted_and_verification_is_on_by_default(tmp_path: Any) -> None:
    ca = trustme.CA()
    secure = Stub(tls=ca)
    try:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        ok = client.build(make(secure.url, ca_certs=str(ca_file)))
        assert ok.request("GET", "/_cluster/health").status == 200
        with pytest.raises(client.Unreachable) as refused:
            client.build(make(secure.url)).request("GET", "/_cluster/health")
        assert refused.value.reason == "tls"
        insecure = client.build(make(secure.url, verify_certs=False))
        assert insecure.request("GET", "/_cluster/health").status == 200
    finally:
        secure.close()


def test_error_statuses_are_replies_and_no_answer_is_unreachable(stub: Stub) -> None:
    stub.status = 429
    reply = client.build(make(stub.url)).request("POST", "/_bulk", body=b"x",
                                                 headers={"content-type": "application/x-ndjson"})
    assert reply.status == 429 and reply.error_text().startswith("x")
    with pytest.raises(client.Unreachable) as down:
        client.build(make(f"http://127.0.0.1:{free_port()}")).request("GET", "/")
    assert down.value.reason == "connection"


def test_detect_asks_nodes_first_on_elasticsearch(stub: Stub) -> None:
    info = client.detect(client.build(make(stub.url)))
    assert (info.kind, info.version, info.major) == ("elasticsearch", "8.19.21", 8)
    assert [s[1].split("?")[0] for s in stub.seen] == ["/_nodes/_local"]  # never the test build's 405


def test_detect_falls_back_to_get_root_when_nodes_is_refused(stub: Stub) -> None:
    stub.status, stub.root_status = 403, 200
    stub.body = {"version": {"number": "9.1.0"}}
    info = client.detect(client.build(make(stub.url)))
    assert (info.version, info.major) == ("9.1.0", 9)


def test_detect_reads_opensearch_from_get_root() -> None:
    s = Stub(product=None)
    try:
        s.root_status, s.body = 200, {"version": {"distribution": "opensearch", "number": "2.19.6"}}
        info = client.detect(client.build(make(s.url, kind="opensearch")))
        assert (info.kind, info.major) == ("opensearch", 2)
        with pytest.raises(client.WrongProduct):
            client.detect(client.build(make(s.url)))  # kind elasticsearch against OpenSearch
    finally:
        s.close()


def test_detect_reports_refused_credentials(stub: Stub) -> None:
    stub.status = stub.root_status = 401
    with pytest.raises(PermissionError, match="401"):
        client.detect(client.build(make(stub.url)))


def test_elasticsearch_client_major_follows_the_request() -> None:
    assert client.build(make("http://x:9200"), 9).raw.__class__.__module__.startswith("elasticsearch9")
    assert client.build(make("http://x:9200")).raw.__class__.__module__.startswith("elasticsearch8")
    with pytest.raises(ValueError, match="7"):
        client.build(make("http://x:9200"), 7)
