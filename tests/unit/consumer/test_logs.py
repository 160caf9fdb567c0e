"""Our structlog chain never writes a secret, however it is handed to a logger; and it rate-limits repeats.

Every test configures the real chain (`logs.configure`) onto a buffer and reads the rendered JSON lines, so
what is checked is what would reach stderr.
"""

from __future__ import annotations

import argparse
import io
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog
import yaml
from pydantic import SecretStr

from consumer import logs
from consumer.settings import Settings

SECRET = "hunter2-s3cr3t-9f8e7d"
API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeUFrR0dGdHlRZw=="
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class Output:
    def __init__(self) -> None:
        self.buffer = io.StringIO()

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    @property
    def lines(self) -> list[dict]:
        return [orjson.loads(line) for line in self.text.splitlines() if line.strip()]

    def assert_clean(self, *secrets: str) -> None:
        assert self.text, "nothing was logged: the test proves nothing"
        for secret in secrets or (SECRET,):
            assert secret not in self.text, f"{secret!r} leaked into:\n{self.text}"


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> Iterator[Output]:
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    made = Output()
    logs.configure("debug", stream=made.buffer, secrets=[SECRET, API_KEY])
    try:
        yield made
    finally:
        structlog.configure(**saved_config)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        logs._known = ()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


# --- secrets handed over as values -----------------------------------------------------------------------


def test_a_secretstr_is_masked_at_any_depth(output: Output) -> None:
    secret = SecretStr(SECRET)
    log = structlog.get_logger("test")
    log.info("top level", value=secret)
    log.info("nested", config={"search": {"credentials": [secret]}, "hosts": ("http://h:9200",)})
    output.assert_clean()
    assert output.lines[1]["config"]["hosts"] == ["http://h:9200"], "ordinary values survive"


def test_values_of_secret_named_keys_are_masked_at_any_depth(output: Output) -> None:
    log = structlog.get_logger("test")
    log.info("keys", password="not-known-1", api_key="not-known-2", aws_secret_access_key="not-known-3",
             session_token="not-known-4")
    log.info("nested", search={"username": "elastic", "password": "not-known-5"},
             headers=[{"Authorization": "Basic not-known-6"}], Bearer_Token="not-known-7")
    log.info("sts", external_id="not-known-8", role={"ExternalId": "not-known-9"})
    output.assert_clean(*(f"not-known-{n}" for n in range(1, 10)))
    assert output.lines[1]["search"]["username"] == "elastic"


def test_settings_dumped_into_a_log_line_keep_their_secrets_masked(output: Output) -> None:
    settings = Settings(streams=[{"name": "logs"}], archive={"bucket": "archive-bucket"},
                        search={"hosts": ["http://127.0.0.1:9200"], "username": "elastic", "password": SECRET})
    log = structlog.get_logger("test")
    log.info("python dump", settings=settings.model_dump())
    log.info("json dump", settings=settings.model_dump(mode="json"))
    log.info("object", settings=settings)
    output.assert_clean()


def test_secrets_in_finds_every_secretstr_of_the_settings() -> None:
    basic = Settings(streams=[{"name": "logs"}], archive={"bucket": "archive-bucket"},
                     search={"hosts": ["http://h:9200"], "username": "elastic", "password": SECRET})
    keyed = Settings(streams=[{"name": "logs"}], archive={"bucket": "archive-bucket"},
                     search={"hosts": ["http://h:9200"], "api_key": API_KEY})
    assert logs.secrets_in(basic) == [SECRET]
    assert logs.secrets_in(keyed) == [API_KEY]


# --- secrets inside text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    f"POST http://elastic:{SECRET}@10.0.0.5:9200/_bulk failed",
    f"connection to https://{SECRET}@search.internal/ refused",
    f"Authorization: Basic {SECRET}",
    f"{{'authorization': 'ApiKey {SECRET}', 'accept': 'application/json'}}",
    f"headers={{\"X-Api-Key\": \"{SECRET}\"}}",
    f"dsn host=db user=app password={SECRET} sslmode=require",
    f"aws_secret_access_key = {SECRET}",
    f"AwsCredentialsProvider = KclStsAssumeRoleCredentialsProvider|arn:aws:iam::1:role/r|s|externalId={SECRET}",
    f"AssumeRole(RoleArn=r, ExternalId='{SECRET}') refused",
])
def test_secrets_inside_free_text_are_masked_even_when_not_configured(text: str) -> None:
    logs._known = ()
    assert SECRET not in logs.scrub(text)
    assert logs.REDACTED in logs.scrub(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("password='my very secret pass' user=bob", "password='**********' user=bob"),
    ('{"password": "it\'s a secret", "user": "bob"}', '{"password": "**********", "user": "bob"}'),
    ('"Authorization": "Basic dXNl cjpw", "accept": "json"', '"Authorization": "Basic **********", "accept": "json"'),
    ("token='cut short, with spaces", "token='**********"),
    ("api_key: 'k1 k2'\nnext line 'kept'", "api_key: '**********'\nnext line 'kept'"),
    ("password=hunter2 (attempt 3)", "password=********** (attempt 3)"),
])
def test_a_quoted_secret_is_masked_to_its_closing_quote_spaces_and_all(text: str, expected: str) -> None:
    logs._known = ()
    assert logs.scrub(text) == expected


def test_ordinary_text_is_left_alone() -> None:
    for text in ("search documents retried", "Unable to locate credentials", "token bucket: 5 tokens left",
                 "checkpointed position=49590338271490256608559692538361571095921575989136588898.0",
                 "kcl daemon exited, restarting", "http://127.0.0.1:9200/_bulk"):
        assert logs.scrub(text) == text


def test_configured_secrets_are_masked_in_the_message_and_every_field(output: Output) -> None:
    log = structlog.get_logger("test")
    log.warning(f"login with {SECRET} refused")  # an f-string message: a mistake the chain still catches
    log.warning("refused", detail=f"server said: bad key {API_KEY}", reply={"echo": [f"x{SECRET}x"]})
    output.assert_clean(SECRET, API_KEY)


def test_aws_credentials_of_the_environment_are_masked(monkeypatch: pytest.MonkeyPatch, output: Output) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    logs.configure("debug", stream=output.buffer)
    structlog.get_logger("test").error("signing failed", detail=f"secret was {AWS_SECRET}")
    output.assert_clean(AWS_SECRET)


# --- secrets inside exceptions ---------------------------------------------------------------------------


def test_a_password_in_an_exception_message_is_masked_in_the_traceback_and_the_detail(output: Output) -> None:
    log = structlog.get_logger("test")
    try:
        raise ConnectionError(f"cannot reach http://elastic:{SECRET}@10.1.2.3:9200/_bulk")
    except ConnectionError as exc:
        log.exception("send failed", detail=str(exc), error=exc)
    output.assert_clean()
    line = output.lines[0]
    assert "Traceback" in line["exception"] and "10.1.2.3:9200" in line["exception"]


def test_a_search_client_failing_with_basic_credentials_logs_no_secret(output: Output) -> None:
    from sinks.search import client
    from sinks.search.config import SearchSettings

    # Settings refuse credentials in a host URL; the client builds its basic-auth header from these.
    settings = SearchSettings(hosts=[f"http://127.0.0.1:{closed_port()}"], username="elastic", password=SECRET,
                              request_timeout_s=2)
    es = client.build(settings, 8)
    log = structlog.get_logger("test")
    with pytest.raises(client.Unreachable) as caught:
        es.request("POST", "/_bulk", body={"a": 1})
    log.warning("search cluster unreachable", detail=caught.value.detail, exc_info=caught.value)
    # The raw library exception, as a careless caller would log it, with its __context__ chain.
    try:
        es.raw.perform_request("GET", "/_cluster/health")
    except Exception as exc:  # any library exception will do
        log.error("raw client failed", error=exc, exc_info=exc)
    output.assert_clean()
    assert len(output.lines) >= 2


def test_an_api_key_client_failing_logs_no_key(output: Output) -> None:
    from sinks.search import client
    from sinks.search.config import SearchSettings

    es = client.build(SearchSettings(hosts=[f"http://127.0.0.1:{closed_port()}"], api_key=API_KEY,
                                     request_timeout_s=2), 8)
    try:
        es.raw.perform_request("GET", "/", headers={"accept": "application/json"})
    except Exception as exc:  # noqa: BLE001
        structlog.get_logger("test").error("raw client failed", error=exc, client=repr(es.raw), exc_info=exc)
    output.assert_clean(API_KEY)


# --- standard-library loggers (botocore, urllib3, elastic_transport) -------------------------------------


def test_stdlib_log_lines_are_redacted_message_and_traceback(output: Output) -> None:
    library = logging.getLogger("elastic_transport.transport")
    library.warning("Retrying %s after failure", f"http://elastic:{SECRET}@h:9200")
    library.warning("request headers %r", {"authorization": f"ApiKey {API_KEY}"})
    try:
        raise OSError(f"refused: https://u:{SECRET}@h/")
    except OSError:
        library.error("Connection failed", exc_info=True)
    logging.getLogger("botocore.credentials").warning("Found credentials: secret=%s", SECRET)
    output.assert_clean(SECRET, API_KEY)
    assert [line["logger"] for line in output.lines][:2] == ["elastic_transport.transport"] * 2
    assert "exception" in output.lines[2]


def test_a_settings_error_never_echoes_credentials_of_a_host_url(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from consumer.commands import run

    config = tmp_path / "secstash.yml"
    config.write_text(yaml.safe_dump({
        "streams": [{"name": "logs"}], "archive": {"bucket": "archive-bucket"},
        "search": {"hosts": [f"http://elastic:{SECRET}@h:9200/with-a-path"]}}))
    assert run.run(argparse.Namespace(config=str(config))) == 2
    err = capsys.readouterr().err
    assert "search.hosts" in err and SECRET not in err


# --- rate limiting ---------------------------------------------------------------------------------------


def test_a_repeated_error_passes_once_per_interval_and_counts_what_it_dropped() -> None:
    now = [0.0]
    limiter = logs.RateLimiter(interval=30, clock=lambda: now[0])

    def emit(method: str = "error") -> dict | None:
        try:
            return dict(limiter(None, method, {"event": "search cluster unreachable", "error": "ConnectionError"}))
        except structlog.DropEvent:
            return None

    assert emit() is not None
    assert emit() is None and emit() is None
    assert emit("info") is not None, "info lines are never limited"
    now[0] = 31.0
    assert emit() == {"event": "search cluster unreachable", "error": "ConnectionError", "suppressed_repeats": 2}


def test_a_line_its_emitter_bounds_is_never_rate_limited_and_says_nothing_of_it() -> None:
    limiter = logs.RateLimiter(interval=30, clock=lambda: 0.0)
    line = {"event": "unclaimed log group", "rate_limited": False}
    assert [dict(limiter(None, "warning", {**line, "log_group": group})) for group in ("a", "b")] == [
        {"event": "unclaimed log group", "log_group": "a"}, {"event": "unclaimed log group", "log_group": "b"}]


def test_every_unclaimed_log_group_is_named_even_several_within_the_rate_limit(
        output: Output, monkeypatch: pytest.MonkeyPatch) -> None:
    from consumer import events

    monkeypatch.setattr(events, "_unclaimed_seen", set())
    # A logger of its own: the chain caches a logger on first use, which would keep this buffer for later tests.
    monkeypatch.setattr(events, "log", structlog.get_logger("secstash"))
    events.unclaimed_log_groups("org-logs", {"/aws/lambda/a": "cloudtrail"})
    events.unclaimed_log_groups("org-logs", {"/app/flows": "vpcflow", "/aws/lambda/a": "cloudtrail"})
    events.unclaimed_log_groups("org-logs", {"/app/flows": "vpcflow"})
    assert [(line["log_group"], line["looks_like"]) for line in output.lines] == [
        ("/aws/lambda/a", "cloudtrail"), ("/app/flows", "vpcflow")]


def test_a_library_repeating_one_warning_with_other_numbers_is_rate_limited(output: Output) -> None:
    node_pool = logging.getLogger("elastic_transport.node_pool")
    for failures in range(1, 6):
        node_pool.warning("Node %s has failed for %d times in a row", "http://127.0.0.1:9200", failures)
    node_pool.warning("Node %s has been marked alive", "http://127.0.0.1:9200")
    events = [line["event"] for line in output.lines]
    assert events == ["Node http://127.0.0.1:9200 has failed for 1 times in a row",
                      "Node http://127.0.0.1:9200 has been marked alive"]


def test_a_kcl_daemon_line_logged_again_keeps_no_secret(output: Output, monkeypatch: pytest.MonkeyPatch) -> None:
    """KCL logs every stderr line of a record processor, and the SDK's errors: the re-logged line is scrubbed
    in its message and its exception, like every other line."""
    import json

    from consumer import events
    from consumer.kcl.daemon import parse_line

    monkeypatch.setattr(events, "_kcl_log", structlog.get_logger("secstash.kcl"))  # bound to this test's chain
    line = json.dumps({"level": "ERROR", "loggerName": "software.amazon.kinesis.multilang.DrainChildSTDERRTask",
                       "threadName": "t", "message": f"Received error line from subprocess [POST "
                                                     f"https://elastic:{SECRET}@es:9200/_bulk failed]",
                       "throwable": {"className": "E", "message": f"api_key={API_KEY}", "stepArray": []}})
    events.daemon_logged("logs", *parse_line(line))
    output.assert_clean(SECRET, API_KEY)
    [logged] = output.lines
    assert (logged["level"], logged["logger"], logged["stream"], logged["kcl_level"]) == (
        "error", "secstash.kcl", "logs", "ERROR")
    assert logged["event"].startswith("Received error line from subprocess [POST https://")


def test_a_streams_external_id_echoed_by_the_kcl_daemon_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon logs its AwsCredentialsProvider property whole (INFO while reading the file, WARN when the
    provider cannot be built); the external id in it is a secret of the settings, masked when logged again."""
    import json

    from consumer import events, settings
    from consumer.kcl import properties
    from consumer.kcl.daemon import parse_line

    loaded = settings.Settings(streams=[{"name": "org", "role_arn": "arn:aws:iam::444455556666:role/reader",
                                         "external_id": "Ext-1d-7Q9"}],
                               archive={"bucket": "archive-bucket"}, search={"hosts": ["https://es:9200"]})
    value = properties.build(loaded, loaded.streams[0], python="/p", worker_id="w")["AwsCredentialsProvider"]
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    made = Output()
    logs.configure("debug", stream=made.buffer, secrets=logs.secrets_in(loaded))
    try:
        monkeypatch.setattr(events, "_kcl_log", structlog.get_logger("secstash.kcl"))
        line = json.dumps({"level": "WARN", "loggerName": "AwsCredentialsProviderPropertyValueDecoder",
                           "message": f"Unable to construct any provider with name {value}"})
        events.daemon_logged("org", *parse_line(line))
    finally:
        structlog.configure(**saved_config)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        logs._known = ()
    made.assert_clean("Ext-1d-7Q9")
    assert "externalId=**********" in made.lines[0]["event"]
