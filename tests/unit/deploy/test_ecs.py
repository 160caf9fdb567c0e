"""The ECS task definition and service (deploy/ecs) are valid input for RegisterTaskDefinition and
CreateService (botocore's own service model), configure secstash entirely through SECSTASH_* variables
that make valid settings, and keep the container's health check, shutdown and hardening right."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from consumer import settings as settings_module

ROOT = Path(__file__).resolve().parents[3]
ECS = ROOT / "deploy" / "ecs"


@pytest.fixture(scope="module")
def task() -> dict[str, Any]:
    return json.loads((ECS / "task-definition.json").read_text())


@pytest.fixture(scope="module")
def container(task: dict[str, Any]) -> dict[str, Any]:
    (only,) = task["containerDefinitions"]
    return only


@pytest.mark.parametrize("operation, file_name", [("RegisterTaskDefinition", "task-definition.json"),
                                                  ("CreateService", "service.json")])
def test_file_is_valid_input_for_the_ecs_api(operation: str, file_name: str) -> None:
    model = botocore.session.get_session().get_service_model("ecs")
    report = ParamValidator().validate(json.loads((ECS / file_name).read_text()),
                                       model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def test_environment_makes_valid_settings_with_the_secret_from_secrets_manager(container: dict[str, Any]) -> None:
    env = {e["name"]: e["value"] for e in container["environment"]}
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert container["command"] == ["secstash", "run"], "settings come from the environment only"
    assert not env.keys() & secrets.keys()
    assert all(v.startswith("arn:aws:secretsmanager:") for v in secrets.values())
    loaded = settings_module.load(None, environ={**env, **{name: "from-secrets-manager" for name in secrets}})
    assert loaded.search.password is not None and loaded.search.username == "from-secrets-manager"


def test_environment_carries_no_credential_nor_cross_account_external_id(container: dict[str, Any]) -> None:
    # Plain `environment` values show in DescribeTaskDefinition to anyone who may read task definitions;
    # `secrets` values are fetched by the agent at start and show only as their ARNs.
    env = {e["name"]: e["value"] for e in container["environment"]}
    credential_words = ("PASSWORD", "API_KEY", "TOKEN", "USERNAME", "EXTERNAL_ID")
    assert not [name for name in env if any(w in name for w in credential_words)]
    assert not [name for name, value in env.items() if "external_id" in value], \
        "a stream read with an external id takes SECSTASH_STREAMS from `secrets` (docs/deploy.md, ECS)"


def test_health_check_probes_healthz_on_the_metrics_port(container: dict[str, Any]) -> None:
    env = {e["name"]: e["value"] for e in container["environment"]}
    port = int(env["SECSTASH_METRICS__PORT"])
    assert container["portMappings"] == [{"name": "metrics", "containerPort": port, "protocol": "tcp"}]
    command = " ".join(container["healthCheck"]["command"])
    assert f"http://127.0.0.1:{port}/healthz" in command and "/readyz" not in command


def test_stop_timeout_outlasts_the_pipeline_shutdown_grace(container: dict[str, Any]) -> None:
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert container["stopTimeout"] > float(env["SECSTASH_PIPELINE__SHUTDOWN_GRACE_S"])
    assert container["stopTimeout"] <= 120, "Fargate caps stopTimeout at 120 s"


def test_container_is_hardened(task: dict[str, Any], container: dict[str, Any]) -> None:
    assert container["readonlyRootFilesystem"] is True
    assert container["user"].split(":")[0] not in ("0", "root")
    assert {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False} in container["mountPoints"]
    assert {"name": "tmp"} in task["volumes"]
    assert "privileged" not in container
    assert task["taskRoleArn"] != task["executionRoleArn"], "the app's role is not the agent's"


def test_service_rolls_without_losing_capacity(task: dict[str, Any]) -> None:
    service = json.loads((ECS / "service.json").read_text())
    assert service["taskDefinition"] == task["family"]
    assert service["desiredCount"] >= 2
    deployment = service["deploymentConfiguration"]
    assert deployment["minimumHealthyPercent"] == 100
    assert deployment["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"


def _runtime_stage_text() -> str:
    """The Dockerfile's last stage (the image ECS runs), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages = re.split(r"(?im)^FROM\s", text)
    return stages[-1]


def _dockerfile_volumes(stage: str) -> set[str]:
    volumes: set[str] = set()
    for line in stage.splitlines():
        match = re.match(r"(?i)^\s*VOLUME\s+(.*)$", line)
        if not match:
            continue
        value = match.group(1).strip()
        volumes.update(json.loads(value) if value.startswith("[") else value.split())
    return {v.rstrip("/") or "/" for v in volumes}


def test_every_mount_point_is_a_volume_of_the_image_so_fargate_keeps_its_mode(container: dict[str, Any]) -> None:
    # Fargate creates a bind mount root:root 0755 unless the image declares a VOLUME at that path (then it
    # copies the image directory's owner and mode): uid 10001 under a read-only root could not write /tmp.
    stage = _runtime_stage_text()
    volumes = _dockerfile_volumes(stage)
    for mount in container["mountPoints"]:
        if not mount.get("readOnly"):
            assert mount["containerPath"].rstrip("/") in volumes, \
                f"{mount['containerPath']} is not a VOLUME of the Dockerfile's runtime stage: {sorted(volumes)}"
    # /tmp itself world-writable with the sticky bit, made before it is declared a VOLUME.
    assert re.search(r"install\s+-d\s+-m\s+1777\s+/tmp\b", stage.split("VOLUME", 1)[0]), \
        "the runtime stage must create /tmp with mode 1777 before VOLUME"


def test_parser_workers_match_the_task_cpu_and_fit_its_memory(task: dict[str, Any], container: dict[str, Any]) -> None:
    """Unset, the pool sizes itself from the CPUs it sees; the task's memory is sized for its vCPUs
    (docs/deploy.md, "Memory")."""
    env = {e["name"]: e["value"] for e in container["environment"]}
    loaded = settings_module.load(None, environ={**env, **{s["name"]: "x" for s in container["secrets"]}})
    workers = loaded.pipeline.workers
    assert workers == max(1, int(task["cpu"]) // 1024)
    objects = any(stream.s3_objects.read for stream in loaded.streams)
    per_object = -(-6 * loaded.pipeline.max_decompressed_bytes // 2**20) if objects else 0
    needed = len(loaded.streams) * (loaded.kcl.heap_mb + 150) + 200 + workers * (190 + per_object)
    assert needed <= int(task["memory"])
