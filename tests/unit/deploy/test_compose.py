"""docker-compose.yml validates against the Compose Specification's JSON schema and wires the demo together:
LocalStack pinned and initialised, Elasticsearch and Kibana, Prometheus, Grafana, secstash and the generator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from consumer import settings as settings_module

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
SETTINGS = ROOT / "deploy" / "compose" / "secstash.yml"
INIT_SCRIPT = ROOT / "deploy" / "localstack" / "init" / "10-secstash.sh"
SERVICES = {"localstack", "elasticsearch", "kibana", "prometheus", "grafana", "secstash", "generator"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def validator(deploy_tools: dict[str, Any]) -> jsonschema.Validator:
    schema = json.loads(Path(deploy_tools["compose_schema"]).read_text())
    # The spec names draft-07 as ".../draft-07/schema" (no "#"), which jsonschema does not recognise.
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def demo_settings() -> settings_module.Settings:
    return settings_module.load(SETTINGS, environ={})


def test_compose_file_validates_against_the_compose_specification(
        compose: dict[str, Any], validator: jsonschema.Validator) -> None:
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def composecheck(tools: dict[str, Any], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tools["composecheck"], str(path)], capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": os.environ.get("PATH", "")})


def test_compose_go_loads_the_file_as_docker_compose_would(deploy_tools: dict[str, Any]) -> None:
    """compose-go (docker compose's loader): schema, merge keys, interpolation, semantic checks."""
    done = composecheck(deploy_tools, COMPOSE)
    assert done.returncode == 0, done.stderr
    project = json.loads(done.stdout)
    assert set(project["services"]) == SERVICES
    secstash = project["services"]["secstash"]
    assert secstash["environment"]["AWS_ACCESS_KEY_ID"] == "test"  # the x-aws-env merge key resolved
    assert secstash["depends_on"]["localstack"]["condition"] == "service_healthy"
    assert secstash["stop_grace_period"] == "45s"


def test_compose_go_refuses_a_dependency_on_an_unknown_service(
        deploy_tools: dict[str, Any], compose: dict[str, Any], tmp_path: Path) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["secstash"]["depends_on"]["search"] = {"condition": "service_healthy"}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    done = composecheck(deploy_tools, path)
    assert done.returncode != 0
    assert "undefined service" in done.stderr


def test_schema_catches_a_misspelt_service_key(compose: dict[str, Any], validator: jsonschema.Validator) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["secstash"]["depends_onn"] = ["localstack"]
    assert list(validator.iter_errors(broken))


def test_every_demo_service_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_localstack_is_pinned_to_the_version_that_starts_without_an_auth_token(compose: dict[str, Any]) -> None:
    localstack = compose["services"]["localstack"]
    assert localstack["image"] == "localstack/localstack:4.14.0"
    assert not any("AUTH_TOKEN" in key for key in localstack.get("environment", {}))


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if "build" in service:
            continue  # secstash's own image, built from this repository
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"


def test_elasticsearch_and_kibana_are_the_same_8x_release_with_security_off(compose: dict[str, Any]) -> None:
    es = compose["services"]["elasticsearch"]
    kibana = compose["services"]["kibana"]
    es_version = es["image"].rsplit(":", 1)[1]
    assert es_version.startswith("8.")
    assert kibana["image"].rsplit(":", 1)[1] == es_version
    assert es["environment"]["xpack.security.enabled"] == "false"
    assert es["environment"]["discovery.type"] == "single-node"


def test_localstack_runs_the_init_script_and_reports_healthy_only_after_it(compose: dict[str, Any]) -> None:
    localstack = compose["services"]["localstack"]
    assert "./deploy/localstack/init:/etc/localstack/init/ready.d:ro" in localstack["volumes"]
    assert "/_localstack/init/ready" in " ".join(localstack["healthcheck"]["test"])
    for service in ("secstash", "generator"):
        assert compose["services"][service]["depends_on"]["localstack"] == {"condition": "service_healthy"}
    assert set(localstack["environment"]["SERVICES"].split(",")) >= {"kinesis", "dynamodb", "s3", "kms"}


def test_init_script_is_executable_valid_bash_and_creates_a_locked_encrypted_bucket() -> None:
    assert os.access(INIT_SCRIPT, os.X_OK), "LocalStack runs only executable init scripts"
    assert INIT_SCRIPT.read_text().startswith("#!/bin/bash\n")
    done = subprocess.run(["bash", "-n", str(INIT_SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    script = INIT_SCRIPT.read_text()
    assert "--object-lock-enabled-for-bucket" in script
    assert '"Mode\\":\\"COMPLIANCE\\"' in script
    assert "put-bucket-versioning" in script and "Status=Enabled" in script
    assert '\\"SSEAlgorithm\\":\\"aws:kms\\"' in script
    for flag in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"):
        assert f"{flag}=true" in script


def test_init_script_creates_what_the_demo_settings_name(demo_settings: settings_module.Settings) -> None:
    script = INIT_SCRIPT.read_text()
    (stream,) = demo_settings.streams
    assert f'STREAM="${{SECSTASH_DEMO_STREAM:-{stream.stream_name}}}"' in script
    assert f'BUCKET="${{SECSTASH_DEMO_BUCKET:-{demo_settings.archive.bucket}}}"' in script
    for key in (demo_settings.archive.kms_key_id, demo_settings.archive.signing_key_id):
        assert key is not None
        alias = key.split(":", 5)[-1]
        assert f"--alias-name {alias} " in script


def test_demo_settings_are_valid_and_point_at_the_compose_services(demo_settings: settings_module.Settings) -> None:
    assert demo_settings.aws.endpoint_url == "http://localstack:4566"
    assert demo_settings.search.hosts == ["http://elasticsearch:9200"]
    assert demo_settings.archive.require_object_lock


def test_secstash_gets_its_settings_and_drains_before_compose_kills_it(
        compose: dict[str, Any], demo_settings: settings_module.Settings) -> None:
    secstash = compose["services"]["secstash"]
    assert "./deploy/compose/secstash.yml:/etc/secstash/secstash.yml:ro" in secstash["volumes"]
    assert secstash["command"] == ["secstash", "run", "--config", "/etc/secstash/secstash.yml"]
    grace = secstash["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) > demo_settings.pipeline.shutdown_grace_s
    assert secstash["read_only"] is True and "/tmp" in secstash["tmpfs"]
    port = demo_settings.metrics.port
    assert f"127.0.0.1:{port}:{port}" in secstash["ports"]


def test_generator_runs_the_demo_event_generator_on_the_demo_stream(
        compose: dict[str, Any], demo_settings: settings_module.Settings) -> None:
    generator = compose["services"]["generator"]
    assert generator["image"] == compose["services"]["secstash"]["image"]
    command = generator["command"]
    assert command[:3] == ["python", "-m", "consumer.demo_events"]
    assert command[command.index("--stream") + 1] == demo_settings.streams[0].stream_name
    assert command[command.index("--endpoint") + 1] == demo_settings.aws.endpoint_url


def test_prometheus_scrapes_secstash_and_loads_the_alert_rules(
        compose: dict[str, Any], demo_settings: settings_module.Settings) -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["static_configs"][0]["targets"] == [f"secstash:{demo_settings.metrics.port}"]
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in compose["services"]["prometheus"]["volumes"]


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "secstash.yml").read_text())["providers"]
    mount = "./deploy/grafana/secstash-dashboard.json:/var/lib/grafana/dashboards/secstash-dashboard.json:ro"
    assert mount in grafana["volumes"]
    assert mount.split(":")[1].startswith(provider["options"]["path"] + "/")


def test_every_bind_mount_exists_in_the_repository(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"


def test_host_ports_are_bound_to_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_generator_module_takes_the_arguments_compose_gives_it(compose: dict[str, Any]) -> None:
    command = compose["services"]["generator"]["command"]
    done = subprocess.run([sys.executable, "-m", command[2], "--help"], capture_output=True, text=True,
                          timeout=60, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    for flag in (a for a in command[3:] if a.startswith("--")):
        assert flag in done.stdout, f"{command[2]} has no {flag} option"
