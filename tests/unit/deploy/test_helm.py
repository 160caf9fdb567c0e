"""The Helm chart (deploy/helm/secstash) renders with helm (built from the Go module proxy), every rendered
manifest validates against the Kubernetes schemas kubernetes-validate ships for a pinned version, and the
rendered objects keep the properties the deployment relies on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from consumer import settings as settings_module

# The oldest Kubernetes minor EKS still supports in standard support when this was written.
KUBERNETES_VERSION = "1.33.0"
CHART = Path(__file__).resolve().parents[3] / "deploy" / "helm" / "secstash"
EXAMPLE_VALUES = CHART / "examples" / "values-example.yaml"
# Custom resources the core schemas do not cover; checked by shape below.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def helm(tools: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tools["helm"], *args], capture_output=True, text=True, timeout=120, check=False)


def render(tools: dict[str, Any], *sets: str, values: Path = EXAMPLE_VALUES) -> list[dict[str, Any]]:
    args = ["template", "secstash", str(CHART), "--namespace", "security", "--kube-version", KUBERNETES_VERSION,
            "-f", str(values)]
    for item in sets:
        args += ["--set", item]
    done = helm(tools, *args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def settings_secret(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-settings")]
    return found


def settings_text(docs: list[dict[str, Any]]) -> str:
    return settings_secret(docs)["stringData"]["secstash.yml"]


def env_secrets(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "Secret" and d is not settings_secret(docs)]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["secstash"]
    return containers[0]


@pytest.fixture(scope="module")
def docs(deploy_tools: dict[str, Any]) -> list[dict[str, Any]]:
    return render(deploy_tools)


def test_chart_passes_helm_lint_strict(deploy_tools: dict[str, Any]) -> None:
    done = helm(deploy_tools, "lint", str(CHART), "--strict", "--kube-version", KUBERNETES_VERSION,
                "-f", str(EXAMPLE_VALUES))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("sets", [
    (),
    ("secret.create=true", "secret.env.SECSTASH_SEARCH__PASSWORD=s3cret", "serviceMonitor.enabled=true"),
    ("secret.existingSecret=secstash-credentials", "podDisruptionBudget.enabled=false", "topologySpread.enabled=false",
     "image.digest=sha256:" + "a" * 64),
], ids=["example", "chart-secret-and-servicemonitor", "existing-secret-no-pdb"])
def test_every_rendered_manifest_validates_against_the_kubernetes_schema(
        deploy_tools: dict[str, Any], sets: tuple[str, ...]) -> None:
    rendered = render(deploy_tools, *sets)
    assert {d["kind"] for d in rendered} >= {"Deployment", "Secret", "Service", "ServiceAccount"}
    for doc in rendered:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} is not valid Kubernetes "
                        f"{KUBERNETES_VERSION}: {exc.message} at {list(exc.path)}")


def test_liveness_uses_healthz_and_readiness_uses_readyz_on_the_metrics_port(docs: list[dict[str, Any]]) -> None:
    c = container(docs)
    metrics_port = yaml.safe_load(settings_text(docs))["metrics"]["port"]
    assert c["ports"] == [{"name": "metrics", "containerPort": metrics_port, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    # Readiness only: a search outage must take pods out of rotation, never restart them.
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert "/readyz" not in str(c["livenessProbe"]) + str(c["startupProbe"])


def test_service_selects_the_pods_and_exposes_the_metrics_port(docs: list[dict[str, Any]]) -> None:
    service = one(docs, "Service")
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_pod_disruption_budget_covers_the_pods_and_leaves_room_to_drain(docs: list[dict[str, Any]]) -> None:
    pdb = one(docs, "PodDisruptionBudget")
    deployment = one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert 0 < pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_pod_disruption_budget_lets_unready_pods_be_evicted(docs: list[dict[str, Any]]) -> None:
    # Readiness includes the search sink: in a search outage every pod is unready, and the default
    # IfHealthyBudget would then block every node drain for the length of the outage.
    assert one(docs, "PodDisruptionBudget")["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_chart_refuses_a_disruption_budget_that_blocks_every_drain(deploy_tools: dict[str, Any]) -> None:
    done = helm(deploy_tools, "template", "s", str(CHART), "--kube-version", KUBERNETES_VERSION,
                "-f", str(EXAMPLE_VALUES), "--set", "replicaCount=1")
    assert done.returncode != 0
    assert "minAvailable" in done.stderr


def test_service_account_carries_the_irsa_role_and_the_pods_use_it(docs: list[dict[str, Any]]) -> None:
    role = yaml.safe_load(EXAMPLE_VALUES.read_text())["serviceAccount"]["roleArn"]
    account = one(docs, "ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    # secstash never calls the Kubernetes API; the IRSA webhook mounts its own token.
    assert pod["automountServiceAccountToken"] is False


def test_kcl_finds_the_eks_platform_token_though_the_api_token_is_not_automounted(
        docs: list[dict[str, Any]]) -> None:
    # KCL 3 (EksResource) decides it runs on EKS when this file exists, and only then reads the container's
    # CPU from its cgroup for lease balancing; automount is off, so the chart mounts a projected token there.
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    path = "/var/run/secrets/kubernetes.io/serviceaccount"
    (mount,) = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == path]
    assert mount.get("readOnly") is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    (source,) = volume["projected"]["sources"]
    token = source["serviceAccountToken"]
    assert token["path"] == "token"  # .../serviceaccount/token, EksResource.K8S_TOKEN_PATH
    assert 600 <= token["expirationSeconds"] <= 3600, "short-lived (the API's minimum is 600 s)"
    # Not the API server's audience: the token is there to exist, not to authenticate.
    assert token.get("audience") and "kubernetes" not in token["audience"]
    # And the ServiceAccount it belongs to is granted nothing by the chart.
    assert not [d for d in docs if d["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]


def test_pods_run_as_non_root_with_a_read_only_root_and_no_privileges(docs: list[dict[str, Any]]) -> None:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container(docs)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # The read-only root needs a writable /tmp (KCL properties, the processors' socket, JVM perf data).
    mounts = {m["mountPath"]: m["name"] for m in container(docs)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_container_has_cpu_and_memory_requests_and_a_memory_limit(docs: list[dict[str, Any]]) -> None:
    resources = container(docs)["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]


def test_settings_come_from_a_secret_only_the_pods_group_reads_and_are_valid_secstash_settings(
        docs: list[dict[str, Any]], tmp_path: Path) -> None:
    secret = settings_secret(docs)
    c = container(docs)
    assert c["args"] == ["secstash", "run", "--config", "/etc/secstash/secstash.yml"]
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/secstash")
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert volume["secret"]["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] > 0
    path = tmp_path / "secstash.yml"
    path.write_text(settings_text(docs))
    loaded = settings_module.load(path, environ={})
    assert loaded.streams and loaded.archive.bucket and loaded.search.hosts


def test_no_configmap_carries_the_cross_account_external_ids(docs: list[dict[str, Any]]) -> None:
    example = yaml.safe_load(EXAMPLE_VALUES.read_text())["settings"]
    external_ids = [s["external_id"] for s in example["streams"] if "external_id" in s]
    assert external_ids, "the example shows a stream read with an external id"
    assert not [d for d in docs if d["kind"] == "ConfigMap" and any(i in json.dumps(d) for i in external_ids)]
    assert all(i in settings_text(docs) for i in external_ids)
    for doc in docs:  # nor any other object but the settings Secret
        if doc is not settings_secret(docs):
            assert not any(i in json.dumps(doc) for i in external_ids), f"{doc['kind']} holds an external id"


def test_pods_roll_when_an_external_id_changes(deploy_tools: dict[str, Any]) -> None:
    def checksum(*sets: str) -> str:
        deployment = one(render(deploy_tools, *sets), "Deployment")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum() != checksum("settings.streams[1].external_id=rotated-secstash-9Xz4")


def test_pods_roll_when_the_settings_change(deploy_tools: dict[str, Any]) -> None:
    def checksum(*sets: str) -> str:
        deployment = one(render(deploy_tools, *sets), "Deployment")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum() != checksum("settings.log_level=debug")


def test_chart_created_secret_reaches_the_container_as_environment(deploy_tools: dict[str, Any]) -> None:
    docs = render(deploy_tools, "secret.create=true", "secret.env.SECSTASH_SEARCH__PASSWORD=s3cret")
    (secret,) = env_secrets(docs)
    assert secret["stringData"] == {"SECSTASH_SEARCH__PASSWORD": "s3cret"}
    assert container(docs)["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert "s3cret" not in settings_text(docs)


def test_existing_secret_is_referenced_and_not_created(deploy_tools: dict[str, Any]) -> None:
    docs = render(deploy_tools, "secret.existingSecret=secstash-credentials")
    assert not env_secrets(docs)
    assert container(docs)["envFrom"] == [{"secretRef": {"name": "secstash-credentials"}}]


def test_no_secret_reference_without_a_secret(docs: list[dict[str, Any]]) -> None:
    assert "envFrom" not in container(docs)


def test_termination_grace_outlasts_the_pipeline_shutdown_grace(docs: list[dict[str, Any]]) -> None:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    grace = yaml.safe_load(settings_text(docs))["pipeline"]["shutdown_grace_s"]
    assert pod["terminationGracePeriodSeconds"] > grace


def test_chart_refuses_a_termination_grace_shorter_than_the_drain(deploy_tools: dict[str, Any]) -> None:
    done = helm(deploy_tools, "template", "s", str(CHART), "--kube-version", KUBERNETES_VERSION,
                "-f", str(EXAMPLE_VALUES), "--set", "terminationGracePeriodSeconds=30")
    assert done.returncode != 0
    assert "shutdown_grace_s" in done.stderr


@pytest.mark.parametrize("sets, complaint", [
    (("settings.stream=oops",), "stream"),
    (("settings.streams[0].id=acct/a",), "/settings/streams/0/id"),
    (("replicas=3",), "replicas"),
    (("settings.search.password=inline",), "search"),
    (("settings.search.hosts[0]=https://elastic:inline@es.example.com:9200",), "hosts"),
])
def test_values_schema_rejects_unknown_keys_and_inline_credentials(
        deploy_tools: dict[str, Any], sets: tuple[str, ...], complaint: str) -> None:
    args = ["template", "s", str(CHART), "--kube-version", KUBERNETES_VERSION, "-f", str(EXAMPLE_VALUES)]
    for item in sets:
        args += ["--set", item]
    done = helm(deploy_tools, *args)
    assert done.returncode != 0
    assert complaint in done.stderr


def test_chart_defaults_demand_the_settings_that_have_no_default(deploy_tools: dict[str, Any]) -> None:
    done = helm(deploy_tools, "template", "s", str(CHART), "--kube-version", KUBERNETES_VERSION)
    assert done.returncode != 0
    assert "/settings/streams" in done.stderr


def test_values_schema_knows_exactly_the_settings_sections() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(schema["properties"]["settings"]["properties"]) == set(settings_module.Settings.model_fields)


def test_values_schema_checks_a_stream_id_as_the_settings_do() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    stream = schema["properties"]["settings"]["properties"]["streams"]["items"]
    assert set(stream["properties"]) <= set(settings_module.StreamSettings.model_fields)
    assert stream["properties"]["id"]["pattern"] == settings_module._STREAM_NAME.pattern


def test_service_monitor_scrapes_the_metrics_port(deploy_tools: dict[str, Any]) -> None:
    docs = render(deploy_tools, "serviceMonitor.enabled=true")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= one(docs, "Service")["metadata"]["labels"].items()


def memory_needed_mib(settings: dict[str, Any]) -> int:
    """docs/deploy.md, "Memory": streams x (heap + 150) + 200 + workers x 190 MiB, plus workers x 6 x the
    decompressed-size cap when a stream reads S3 log objects."""
    streams = settings["streams"]
    heap = settings.get("kcl", {}).get("heap_mb", 512)
    pipeline = settings.get("pipeline", {})
    workers = pipeline["workers"]
    objects = any(s.get("s3_objects", {}).get("read", True) for s in streams)
    per_object = -(-6 * pipeline.get("max_decompressed_bytes", 64 * 2**20) // 2**20) if objects else 0
    return len(streams) * (heap + 150) + 200 + workers * (190 + per_object)


def mebibytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]] // 2**20


@pytest.mark.parametrize("values", [EXAMPLE_VALUES, CHART / "values.yaml"], ids=["example", "chart-defaults"])
def test_pods_set_their_parser_workers_to_their_cpu_limit_and_fit_their_memory_limit(
        deploy_tools: dict[str, Any], values: Path) -> None:
    """Unset, the pool would start one worker per CPU of whatever node the pod lands on."""
    sets = ("settings.streams[0].name=logs", "settings.archive.bucket=b", "settings.search.hosts[0]=https://es:9200")
    docs = render(deploy_tools, *(sets if values != EXAMPLE_VALUES else ()), values=values)
    settings = yaml.safe_load(settings_text(docs))
    limits = container(docs)["resources"]["limits"]
    assert settings["pipeline"]["workers"] == int(limits["cpu"])
    assert memory_needed_mib(settings) <= mebibytes(limits["memory"])


@pytest.mark.parametrize("sets, needed", [
    (("settings.pipeline.workers=4",), 2 * 662 + 200 + 4 * (190 + 384)),
    (("settings.pipeline.workers=9", "settings.streams[0].s3_objects.read=false",
      "settings.streams[1].s3_objects.read=false"), 2 * 662 + 200 + 9 * 190),
    (("settings.kcl.heap_mb=1536",), 2 * 1686 + 200 + 2 * (190 + 384)),
    (("resources.limits.memory=2600Mi",), 2 * 662 + 200 + 2 * (190 + 384)),
    (("settings.pipeline.workers=null", "resources.limits.cpu=3500m"), 2 * 662 + 200 + 4 * (190 + 384)),
], ids=["more-workers", "workers-without-s3", "bigger-heap", "smaller-limit", "workers-from-cpu-limit"])
def test_chart_refuses_a_memory_limit_below_what_the_pod_needs(deploy_tools: dict[str, Any], sets: tuple[str, ...],
                                                               needed: int) -> None:
    args = ["template", "s", str(CHART), "--kube-version", KUBERNETES_VERSION, "-f", str(EXAMPLE_VALUES)]
    for item in sets:
        args += ["--set", item]
    done = helm(deploy_tools, *args)
    assert done.returncode != 0
    assert f"is below the {needed} MiB secstash needs" in done.stderr and "resources.limits.memory" in done.stderr


def test_chart_renders_when_the_memory_limit_covers_the_estimate(deploy_tools: dict[str, Any]) -> None:
    needed = 2 * 662 + 200 + 4 * (190 + 384)
    render(deploy_tools, "settings.pipeline.workers=4", f"resources.limits.memory={needed}Mi")
    render(deploy_tools, "settings.pipeline.workers=4", "resources.limits.memory=4100M")  # 3910 MiB: decimal units


def test_chart_refuses_unknown_workers_under_a_memory_limit(deploy_tools: dict[str, Any]) -> None:
    done = helm(deploy_tools, "template", "s", str(CHART), "--kube-version", KUBERNETES_VERSION,
                "-f", str(EXAMPLE_VALUES), "--set", "settings.pipeline.workers=null", "--set", "resources.limits.cpu=null")
    assert done.returncode != 0
    assert "settings.pipeline.workers" in done.stderr
