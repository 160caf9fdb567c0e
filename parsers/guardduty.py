"""Amazon GuardDuty findings (`aws.guardduty`): one finding (the GetFindings / EventBridge `detail` shape) per event.

Reproduces Elastic's aws 1.45.3 `guardduty` pipeline (ECS 8.2.0): the finding's fields go to `aws.guardduty.*`
under the pipeline's snake_case names (anything it does not name is dropped), then ECS fields are derived from
them. GuardDuty's own remote-IP enrichment becomes `source.*` (arrays, one entry per action), not GeoIP.

The `aws.guardduty.*` copies of fields also mapped to ECS are kept, as with the integration's
`preserve_duplicate_custom_fields` tag, which every Elastic test case sets. No `_id` here: the shipper
derives a deterministic one from the Kinesis position.
"""

from __future__ import annotations

import re
from typing import Any

from parsers import ecs
from parsers._findings import (
    Move,
    Spec,
    add,
    compile_spec,
    date_iso_or_unix,
    error_fields,
    ip_elements,
    items,
    ops,
    quiet,
    to_boolean,
    to_double,
    to_ip,
    to_long,
    to_string,
    walk,
)
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register

_DATE = date_iso_or_unix

_REMOTE_IP = {
    "city": {"cityName": "city.name"},
    "country": {"countryCode": "country.code", "countryName": "country.name"},
    "geoLocation": "geo_location",
    "ipAddressV4": Move("ip_address_v4", to_ip),
    "organization": {"asn": "organization.asn", "asnOrg": "organization.asnorg", "isp": "organization.isp",
                     "org": "organization.org"},
}


def _remote_ip(prefix: str) -> dict[str, Any]:
    """`remoteIpDetails` of an action, under `<prefix>.remote_ip_details`."""
    return _prefixed(_REMOTE_IP, f"{prefix}.remote_ip_details.")


def _prefixed(spec: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, rule in spec.items():
        if isinstance(rule, dict):
            out[key] = _prefixed(rule, prefix)
        elif isinstance(rule, str):
            out[key] = prefix + rule
        else:
            out[key] = rule._replace(dst=prefix + rule.dst)
    return out


_CONTAINER = ops(
    ("containerRuntime", "container_runtime", None),
    ("image", "image.value", None),
    ("imagePrefix", "image.prefix", None),
    ("securityContext.privileged", "security_context.privileged", to_boolean),
    ("volumeMounts", "volume_mounts", items(("mountPath", "mount_path", None))),
)
_VOLUME = ops(
    ("deviceName", "device_name", None),
    ("encryptionType", "encryption_type", None),
    ("kmsKeyArn", "kmskey_arn", None),
    ("snapshotArn", "snapshot_arn", None),
    ("volumeArn", "volume.arn", None),
    ("volumeSizeInGB", "volume.size_in_gb", to_long),
    ("volumeType", "volume.type", None),
)
_NETWORK_INTERFACE = ops(
    ("ipv6Addresses", "ipv6_addresses", ip_elements),
    ("networkInterfaceId", "network_interface_id", None),
    ("privateDnsName", "private.dns_name", None),
    ("privateIpAddress", "private.ip_address", to_ip),
    ("privateIpAddresses", "private.ip_addresses", items(
        ("privateIpAddress", "private.ip_address", to_ip),
        ("privateDnsName", "private.dns_name", None),
    )),
    ("publicDnsName", "public.dns_name", None),
    ("publicIp", "public.ip", to_ip),
    ("securityGroups", "security_groups", items(("groupId", "group.id", None), ("groupName", "group.name", None))),
    ("subnetId", "subnet_id", None),
    ("vpcId", "vpc_id", None),
)
_S3_BUCKET = ops(
    ("createdAt", "created_at", quiet(_DATE)),
    ("defaultServerSideEncryption.encryptionType", "default_server_side_encryption.encryption_type", None),
    ("defaultServerSideEncryption.kmsMasterKeyArn", "default_server_side_encryption.kms_masterkey_arn", None),
    ("publicAccess", "public_access", None),
)
_PORT_PROBE = ops(
    ("localIpDetails.ipAddressV4", "local_ip_details.ip_address_v4", to_ip),
    ("localPortDetails.port", "local_port_details.port.value", to_long),
    ("localPortDetails.portName", "local_port_details.port.name", None),
    ("remoteIpDetails.city.cityName", "remote_ip_details.city.name", None),
    ("remoteIpDetails.country.countryCode", "remote_ip_details.country.code", None),
    ("remoteIpDetails.country.countryName", "remote_ip_details.country.name", None),
    ("remoteIpDetails.geoLocation", "remote_ip_details.geo_location", None),
    ("remoteIpDetails.ipAddressV4", "remote_ip_details.ip_address_v4", to_ip),
    ("remoteIpDetails.organization.isp", "remote_ip_details.organization.isp", None),
    ("remoteIpDetails.organization.org", "remote_ip_details.organization.org", None),
    ("remoteIpDetails.organization.asn", "remote_ip_details.organization.asn", None),
    ("remoteIpDetails.organization.asnOrg", "remote_ip_details.organization.asnorg", None),
)
_THREAT_NAME = ops(
    ("filePaths", "file_paths", items(
        ("fileName", "file.name", None),
        ("filePath", "file.path", None),
        ("volumeArn", "volume_arn", None),
    )),
    ("itemCount", "item_count", to_long),
)

_API = "service.action.aws_api_call_action"
_K8S = "service.action.kubernetes_api_call_action"
_NET = "service.action.network_connection_action"
_RDS = "service.action.rds_login_attempt_action"
_SCAN = "service.ebs_volume_scan_details.scan"

SPEC: Spec = compile_spec({
    "accountId": "account_id",
    "arn": "arn",
    "confidence": "confidence",
    "createdAt": Move("created_at", _DATE),
    "description": "description",
    "id": "id",
    "partition": "partition",
    "region": "region",
    "resource": {
        "accessKeyDetails": {
            "accessKeyId": "resource.access_key_details.accesskey_id",
            "userType": "resource.access_key_details.user.type",
            "principalId": "resource.access_key_details.principal_id",
            "userName": "resource.access_key_details.user.name",
        },
        "containerDetails": {
            "containerRuntime": "resource.container_details.container_runtime",
            "id": "resource.container_details.id",
            "image": "resource.container_details.image.value",
            "imagePrefix": "resource.container_details.image.prefix",
            "name": "resource.container_details.name",
            "securityContext": {
                "privileged": Move("resource.container_details.security_context.privileged", to_boolean),
            },
            "volumeMounts": Move("resource.container_details.volume_mounts",
                                 items=ops(("mountPath", "mount_path", None))),
        },
        "ebsVolumeDetails": {
            "scannedVolumeDetails": Move("resource.ebs_volume_details.scanned_volume_details", items=_VOLUME),
            "skippedVolumeDetails": Move("resource.ebs_volume_details.skipped_volume_details", items=_VOLUME),
        },
        "ecsClusterDetails": {
            "activeServicesCount": Move("resource.ecs_cluster_details.active_services_count", to_long),
            "arn": "resource.ecs_cluster_details.arn",
            "name": "resource.ecs_cluster_details.name",
            "registeredContainerInstancesCount": Move(
                "resource.ecs_cluster_details.registered_container_instances_count", to_long),
            "runningTasksCount": Move("resource.ecs_cluster_details.running_tasks_count", to_long),
            "status": "resource.ecs_cluster_details.status",
            "tags": "resource.ecs_cluster_details.tags",
            "taskDetails": {
                "arn": "resource.ecs_cluster_details.task_details.arn",
                "containers": Move("resource.ecs_cluster_details.task_details.containers", items=_CONTAINER),
                "definitionArn": "resource.ecs_cluster_details.task_details.definitionarn",
                "group": "resource.ecs_cluster_details.task_details.group",
                "startedAt": Move("resource.ecs_cluster_details.task_details.started_at", _DATE),
                "startedBy": "resource.ecs_cluster_details.task_details.started_by",
                "tags": "resource.ecs_cluster_details.task_details.tags",
                "createdAt": Move("resource.ecs_cluster_details.task_details.created_at", _DATE),
                "version": "resource.ecs_cluster_details.task_details.version",
                "volumes": Move("resource.ecs_cluster_details.task_details.volumes",
                                items=ops(("hostPath", "host_path", None))),
            },
        },
        "eksClusterDetails": {
            "arn": "resource.eks_cluster_details.arn",
            "createdAt": Move("resource.eks_cluster_details.created_at", _DATE),
            "name": "resource.eks_cluster_details.name",
            "status": "resource.eks_cluster_details.status",
            "tags": "resource.eks_cluster_details.tags",
            "vpcId": "resource.eks_cluster_details.vpcid",
        },
        "instanceDetails": {
            "availabilityZone": "resource.instance_details.availability_zone",
            "iamInstanceProfile": "resource.instance_details.iaminstance_profile",
            "imageDescription": "resource.instance_details.image.description",
            "imageId": "resource.instance_details.image.id",
            "instanceId": "resource.instance_details.instance.id",
            "instanceState": "resource.instance_details.instance.state",
            "instanceType": "resource.instance_details.instance.type",
            "launchTime": Move("resource.instance_details.launch_time", _DATE),
            "networkInterfaces": Move("resource.instance_details.network_interfaces", items=_NETWORK_INTERFACE),
            "outpostArn": "resource.instance_details.outpost_arn",
            "platform": "resource.instance_details.platform",
            "productCodes": Move("resource.instance_details.product_codes", items=ops(
                ("productCodeId", "product_code.id", None), ("productCodeType", "product_code.type", None))),
            "tags": "resource.instance_details.tags",
        },
        "kubernetesDetails": {
            "kubernetesUserDetails": {
                "uid": "resource.kubernetes_details.kubernetes_user_details.uid",
                "username": "resource.kubernetes_details.kubernetes_user_details.user_name",
                "groups": "resource.kubernetes_details.kubernetes_user_details.groups",
            },
            "kubernetesWorkloadDetails": {
                "containers": Move("resource.kubernetes_details.kubernetes_workload_details.containers",
                                   items=_CONTAINER),
                "hostNetwork": Move("resource.kubernetes_details.kubernetes_workload_details.host_network",
                                    to_boolean),
                "name": "resource.kubernetes_details.kubernetes_workload_details.name",
                "namespace": "resource.kubernetes_details.kubernetes_workload_details.name_space",
                "type": "resource.kubernetes_details.kubernetes_workload_details.type",
                "uid": "resource.kubernetes_details.kubernetes_workload_details.uid",
                "volumes": Move("resource.kubernetes_details.kubernetes_workload_details.volumes",
                                items=ops(("hostPath", "host_path", None))),
            },
        },
        "rdsDbInstanceDetails": {
            "dbInstanceIdentifier": "resource.rdsdb_instance_details.instance_identifier",
            "engine": "resource.rdsdb_instance_details.engine",
            "engineVersion": Move("resource.rdsdb_instance_details.engine_version", to_string),
            "dbClusterIdentifier": "resource.rdsdb_instance_details.cluster_identifier",
            "dbInstanceArn": "resource.rdsdb_instance_details.instance_arn",
        },
        "rdsDbUserDetails": {
            "user": "resource.rdsdb_user_details.user",
            "application": "resource.rdsdb_user_details.application",
            "database": "resource.rdsdb_user_details.database",
            "ssl": "resource.rdsdb_user_details.ssl",
            "authMethod": "resource.rdsdb_user_details.auth_method",
        },
        "resourceType": "resource.type",
        "s3BucketDetails": Move("resource.s3_bucket_details", items=_S3_BUCKET),
    },
    "schemaVersion": Move("schema_version", to_string),
    "service": {
        "action": {
            "actionType": "service.action.type",
            "awsApiCallAction": {
                "affectedResources": f"{_API}.affected_resources",
                "api": f"{_API}.api",
                "callerType": f"{_API}.caller_type",
                "domainDetails": {"domain": f"{_API}.domain_details.domain"},
                "errorCode": f"{_API}.error_code",
                "remoteAccountDetails": {
                    "accountId": f"{_API}.remote_account_details.account_id",
                    "affiliated": Move(f"{_API}.remote_account_details.affiliated", to_boolean),
                },
                "remoteIpDetails": _remote_ip(_API),
                "serviceName": f"{_API}.service_name",
                "userAgent": f"{_API}.user_agent",
            },
            "dnsRequestAction": {
                "blocked": Move("service.action.dns_request_action.blocked", to_boolean),
                "domain": "service.action.dns_request_action.domain",
                "protocol": "service.action.dns_request_action.protocol",
            },
            "kubernetesApiCallAction": {
                "parameters": f"{_K8S}.parameters",
                "remoteIpDetails": _remote_ip(_K8S),
                "requestUri": f"{_K8S}.request_uri",
                "sourceIPs": Move(f"{_K8S}.source_ips", ip_elements),
                "statusCode": Move(f"{_K8S}.status_code", to_long),
                "userAgent": f"{_K8S}.user_agent",
                "verb": f"{_K8S}.verb",
            },
            "networkConnectionAction": {
                "blocked": Move(f"{_NET}.blocked", to_boolean),
                "connectionDirection": f"{_NET}.connection_direction",
                "localIpDetails": {"ipAddressV4": Move(f"{_NET}.local_ip_details.ip_address_v4", to_ip)},
                "localPortDetails": {
                    "port": Move(f"{_NET}.local_port_details.port.value", to_long),
                    "portName": f"{_NET}.local_port_details.port.name",
                },
                "protocol": f"{_NET}.transport",
                "remoteIpDetails": _remote_ip(_NET),
                "remotePortDetails": {
                    "port": Move(f"{_NET}.remote_port_details.port.value", to_long),
                    "portName": f"{_NET}.remote_port_details.port.name",
                },
            },
            "portProbeAction": {
                "blocked": Move("service.action.port_probe_action.blocked", to_boolean),
                "portProbeDetails": Move("service.action.port_probe_action.port_probe_details", items=_PORT_PROBE),
            },
            "rdsLoginAttemptAction": {"remoteIpDetails": _remote_ip(_RDS)},
        },
        "additionalInfo": "service.additional_info",
        "archived": Move("service.archived", to_boolean),
        "count": Move("service.count", to_long),
        "detectorId": "service.detector_id",
        "ebsVolumeScanDetails": {
            "scanCompletedAt": Move(f"{_SCAN}.completed_at", _DATE),
            "scanDetections": {
                "highestSeverityThreatDetails": {
                    "count": Move(f"{_SCAN}.detections.highest_severity_threat_details.count", to_long),
                    "severity": f"{_SCAN}.detections.highest_severity_threat_details.severity",
                    "threatName": f"{_SCAN}.detections.highest_severity_threat_details.threat_name",
                },
                "scannedItemCount": {
                    "files": Move(f"{_SCAN}.detections.scanned_item_count.files", to_long),
                    "totalGb": Move(f"{_SCAN}.detections.scanned_item_count.total_gb", to_long),
                    "volumes": Move(f"{_SCAN}.detections.scanned_item_count.volumes", to_long),
                },
                "threatDetectedByName": {
                    "itemCount": Move(f"{_SCAN}.detections.threat_detected_by_name.item_count", to_long),
                    "shortened": Move(f"{_SCAN}.detections.threat_detected_by_name.shortened", to_boolean),
                    "threatNames": Move(f"{_SCAN}.detections.threat_detected_by_name.threat_names",
                                        items=_THREAT_NAME),
                    "uniqueThreatNameCount": Move(
                        f"{_SCAN}.detections.threat_detected_by_name.unique_threat_name_count", to_long),
                },
                "threatsDetectedItemCount": {
                    "files": Move(f"{_SCAN}.detections.threats_detected_item_count.files", to_long),
                },
            },
            "scanId": f"{_SCAN}.id",
            "scanStartedAt": Move(f"{_SCAN}.started_at", _DATE),
            "sources": "service.ebs_volume_scan_details.sources",
            "triggerFindingId": "service.ebs_volume_scan_details.trigger_finding_id",
        },
        "eventFirstSeen": Move("service.event.first_seen", _DATE),
        "eventLastSeen": Move("service.event.last_seen", _DATE),
        "evidence": {
            "threatIntelligenceDetails": Move("service.evidence.threat_intelligence_details", items=ops(
                ("threatListName", "threat.list_name", None), ("threatNames", "threat.names", None))),
        },
        "featureName": "service.feature_name",
        "resourceRole": "service.resource_role",
        "serviceName": "service.service_name",
        "userFeedback": "service.user_feedback",
    },
    "severity": Move("severity.code", to_double),
    "title": "title",
    "type": "type",
    "updatedAt": Move("updated_at", _DATE),
})

_RULESET = re.compile(r"\b(\w+):\w+\b")
_NOTHING: dict[str, Any] = {}


def _obj(parent: Any, *keys: str) -> dict[str, Any]:
    """The object at `keys` below `parent`, or an empty one: lets the derivations read paths without checks."""
    node = parent
    for key in keys:
        node = node.get(key) if type(node) is dict else None
    return node if type(node) is dict else _NOTHING


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if type(v) is dict] if type(value) is list else []


@register("guardduty", ecs_version="8.2.0")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    finding = event.json_object()
    findings = finding.get("findings")
    if isinstance(findings, (list, dict, str)) and not findings:
        return []  # an empty page of the GuardDuty API: nothing to index
    if isinstance(findings, list) and len(finding) == 1:
        # A page of the GetFindings API: a document per finding, as Elastic's input splits it.
        if not all(isinstance(item, dict) for item in findings):
            raise EventError("a page of GuardDuty findings holds something other than findings",
                             reason="bad_findings_page")
        return [doc for item in findings for doc in parse(Event(obj=item, meta=event.meta), options)]
    original = event.text()
    errors: list[str] = []
    gd: dict[str, Any] = {}
    walk(SPEC, finding, gd, errors)
    doc: dict[str, Any] = {"event": {"kind": ["event"], "type": ["info"], "original": original}}
    _severity(doc, gd, finding.get("severity"), errors)
    _derive(doc, gd, errors)
    doc["aws"] = {"guardduty": gd}
    error_fields(doc, errors)
    if errors:
        doc["event"]["kind"].append("pipeline_error")
    return [doc]


# The derivations read `gd` as the walk left it, which saves them most checks: it holds no None nor "", and
# an object the spec only writes *into* (`resource`, `service.action`, `*_action`, `remote_ip_details`, ...: no
# rule's destination ends there) is a dict whenever it is present, so `.get(key, _NOTHING)` reaches it. Objects
# inside lists (probes, network interfaces, containers) keep whatever keys the finding gave them: those are
# read with `_obj`. The ECS fields are written in the order the pipeline sets them, which is the order of the
# document's keys.


def _severity(doc: dict[str, Any], gd: dict[str, Any], raw: Any, errors: list[str]) -> None:
    severity = gd.get("severity")
    code = severity.get("code") if severity is not None else None
    if type(code) is float:
        # The pipeline's bands leave gaps (6.95 has no label); kept as they are.
        label = ("High" if 7.0 <= code <= 8.9 else "Medium" if 4.0 <= code <= 6.9
                 else "Low" if 1.0 <= code <= 3.9 else None)
        if label:
            severity["value"] = label
    if raw is not None and raw != "":
        try:
            doc["event"]["severity"] = to_long(raw)
        except ValueError as exc:
            errors.append(str(exc))


class _Finding:
    """The parts of the moved finding the ECS derivations read."""

    __slots__ = ("access_key", "action", "api", "buckets", "dns", "file_paths", "instance", "k8s", "k8s_user",
                 "net", "probes", "rds_user", "remotes", "service", "task_containers", "workload")

    def __init__(self, gd: dict[str, Any]) -> None:
        resource = gd.get("resource", _NOTHING)
        self.access_key = resource.get("access_key_details", _NOTHING)
        self.instance = resource.get("instance_details", _NOTHING)
        kubernetes = resource.get("kubernetes_details", _NOTHING)
        self.k8s_user = kubernetes.get("kubernetes_user_details", _NOTHING)
        self.workload = kubernetes.get("kubernetes_workload_details", _NOTHING)
        self.rds_user = resource.get("rdsdb_user_details", _NOTHING)
        task = resource.get("ecs_cluster_details", _NOTHING).get("task_details", _NOTHING)
        self.task_containers = _objects(task.get("containers"))
        self.buckets = _objects(resource.get("s3_bucket_details"))
        service = self.service = gd.get("service", _NOTHING)
        action = self.action = service.get("action", _NOTHING)
        self.api = action.get("aws_api_call_action", _NOTHING)
        self.dns = action.get("dns_request_action", _NOTHING)
        self.k8s = action.get("kubernetes_api_call_action", _NOTHING)
        self.net = action.get("network_connection_action", _NOTHING)
        self.probes = _objects(action.get("port_probe_action", _NOTHING).get("port_probe_details"))
        rds = action.get("rds_login_attempt_action", _NOTHING)
        scan = service.get("ebs_volume_scan_details", _NOTHING).get("scan", _NOTHING)
        threats = scan.get("detections", _NOTHING).get("threat_detected_by_name", _NOTHING).get("threat_names")
        self.file_paths = [path for threat in _objects(threats) for path in _objects(threat.get("file_paths"))]
        # Remote-IP details in the order the pipeline reads them into source.*.
        self.remotes = [self.api.get("remote_ip_details", _NOTHING), self.k8s.get("remote_ip_details", _NOTHING),
                        self.net.get("remote_ip_details", _NOTHING),
                        *(_obj(p, "remote_ip_details") for p in self.probes), rds.get("remote_ip_details", _NOTHING)]


def _set(node: dict[str, Any], key: str, value: Any) -> None:
    """`ecs.put` of one key: nothing is written for None and ""."""
    if value is not None and value != "":
        node[key] = value


def _derive(doc: dict[str, Any], gd: dict[str, Any], errors: list[str]) -> None:
    f = _Finding(gd)
    _set(doc, "@timestamp", gd.get("updated_at"))
    _set(doc, "message", gd.get("description"))
    cloud: dict[str, Any] = {}
    account = gd.get("account_id")
    if account is not None:
        cloud["account"] = {"id": account}
    _set(cloud, "provider", gd.get("partition"))
    _set(cloud, "region", gd.get("region"))
    service_name = f.service.get("service_name")
    if service_name is not None:
        cloud["service"] = {"name": service_name}
    if cloud:
        doc["cloud"] = cloud
    if f.task_containers:
        _containers(doc, f.task_containers)
    _source_and_destination(doc, f, errors)
    domain = f.dns.get("domain")
    if domain is not None:
        doc["dns"] = {"question": {"name": domain}}
    event = doc["event"]
    seen = f.service.get("event", _NOTHING)
    _set(event, "action", f.action.get("type"))
    _set(event, "created", gd.get("created_at"))
    _set(event, "end", seen.get("last_seen"))
    _set(event, "id", gd.get("id"))
    _set(event, "provider", f.api.get("service_name"))
    _set(event, "start", seen.get("first_seen"))
    if f.file_paths:
        _files(doc, f.file_paths)
    if f.instance:
        _host(doc, f.instance)
    _network(doc, f)
    if f.workload:
        _orchestrator(doc, f.workload)
    _rule(doc, gd.get("type"))
    _user(doc, f)
    _related(doc, f)


def _containers(doc: dict[str, Any], containers: list[dict[str, Any]]) -> None:
    for field, key in (("id", "id"), ("name", "name"), ("runtime", "container_runtime")):
        values: list[str] = []
        add(values, *(c.get(key) for c in containers))
        ecs.put(doc, f"container.{field}", values or None)


def _files(doc: dict[str, Any], file_paths: list[dict[str, Any]]) -> None:
    for field, value_of in (("hash.sha256", lambda p: p.get("hash")), ("name", lambda p: _obj(p, "file").get("name")),
                            ("path", lambda p: _obj(p, "file").get("path"))):
        values: list[str] = []
        add(values, *(value_of(p) for p in file_paths))
        ecs.put(doc, f"file.{field}", values or None)


def _host(doc: dict[str, Any], details: dict[str, Any]) -> None:
    """cloud.instance.id, host.id, host.os.platform, cloud.machine.type, host.type: in this order, as each
    creates `cloud` or `host` when it is the first of them."""
    instance = details.get("instance", _NOTHING)
    instance_id = instance.get("id")
    if instance_id is not None:
        doc.setdefault("cloud", {})["instance"] = {"id": instance_id}
        doc.setdefault("host", {})["id"] = instance_id
    platform = details.get("platform")
    if platform is not None:
        doc.setdefault("host", {})["os"] = {"platform": platform}
    machine = instance.get("type")
    if machine is not None:
        doc.setdefault("cloud", {})["machine"] = {"type": machine}
        doc.setdefault("host", {})["type"] = machine


def _network(doc: dict[str, Any], f: _Finding) -> None:
    network: dict[str, Any] = {}
    direction = f.net.get("connection_direction")
    if type(direction) is str:
        network["direction"] = direction.lower()
    transports: list[str] = []
    add(transports, f.net.get("transport"), f.dns.get("protocol"))
    if transports:
        network["transport"] = [t.lower() for t in transports]
    if network:
        doc["network"] = network


def _orchestrator(doc: dict[str, Any], workload: dict[str, Any]) -> None:
    orchestrator: dict[str, Any] = {}
    _set(orchestrator, "namespace", workload.get("name_space"))
    resource: dict[str, Any] = {}
    _set(resource, "name", workload.get("name"))
    _set(resource, "type", workload.get("type"))
    if resource:
        orchestrator["resource"] = resource
    if orchestrator:
        doc["orchestrator"] = orchestrator


def _source_and_destination(doc: dict[str, Any], f: _Finding, errors: list[str]) -> None:
    direction = f.net.get("connection_direction")
    direction = direction.lower() if type(direction) is str else None
    remotes = f.remotes
    net_remote = remotes[2].get("ip_address_v4")
    net_local = f.net.get("local_ip_details", _NOTHING).get("ip_address_v4")
    addresses: list[str] = []
    destinations: list[str] = []
    if remotes[0] or remotes[1]:
        add(addresses, remotes[0].get("ip_address_v4"), remotes[1].get("ip_address_v4"))
    if direction == "inbound":
        add(addresses, net_remote)
        add(destinations, net_local)
    elif direction == "outbound":
        add(destinations, net_remote)
        add(addresses, net_local)
    if f.probes:
        add(addresses, *(r.get("ip_address_v4") for r in remotes[3:]))
        add(addresses, *(_obj(p, "local_ip_details").get("ip_address_v4") for p in f.probes))
    elif remotes[-1]:
        add(addresses, remotes[-1].get("ip_address_v4"))
    source: dict[str, Any] = {}
    if addresses:
        source["address"] = addresses
    present = [r for r in remotes if r]  # most findings have one; the empty ones add nothing
    if present:
        _remote_fields(source, present, errors)
    sources = f.k8s.get("source_ips")
    if type(sources) is list:
        ips: list[str] = []
        add(ips, *sources)
        if ips:
            source["ip"] = ips
    ports: list[str] = []
    add(ports, f.net.get("local_port_details", _NOTHING).get("port", _NOTHING).get("value"),
        *(_obj(p, "local_port_details", "port").get("value") for p in f.probes))
    if ports:
        source["port"] = [_port(p) for p in ports]
    if source:
        doc["source"] = source
    if destinations:
        doc["destination"] = {"address": destinations}


def _remote_fields(source: dict[str, Any], remotes: list[dict[str, Any]], errors: list[str]) -> None:
    """source.as and source.geo from the remote-IP details present (a probe's may hold anything: `_obj`)."""
    numbers: list[str] = []
    organizations: list[str] = []
    cities: list[str] = []
    codes: list[str] = []
    countries: list[str] = []
    locations = []
    for remote in remotes:
        organization = _obj(remote, "organization")
        if organization:
            add(numbers, organization.get("asn"))
            add(organizations, organization.get("asnorg"))
        add(cities, _obj(remote, "city").get("name"))
        country = _obj(remote, "country")
        if country:
            add(codes, country.get("code"))
            add(countries, country.get("name"))
        if remote.get("geo_location") is not None:
            locations.append(remote["geo_location"])
    as_numbers = []
    for number in numbers:
        try:
            as_numbers.append(to_long(number))
        except ValueError as exc:
            errors.append(str(exc))
    if as_numbers or organizations:
        source["as"] = {}
        if as_numbers:
            source["as"]["number"] = as_numbers
        if organizations:
            source["as"]["organization"] = {"name": organizations}
    geo: dict[str, Any] = {}
    for field, values in (("city_name", cities), ("country_iso_code", codes), ("country_name", countries),
                          ("location", locations)):
        if values:
            geo[field] = values
    if geo:
        source["geo"] = geo


def _port(text: str) -> Any:
    try:
        return to_long(text)
    except ValueError:
        return text  # `ignore_failure`: the text stays


def _rule(doc: dict[str, Any], finding_type: Any) -> None:
    if type(finding_type) is not str or not finding_type:
        return
    rule = doc["rule"] = {"name": finding_type}
    match = _RULESET.search(finding_type)
    if match:
        rule["ruleset"] = match.group(0)
        rule["category"] = match.group(1)


def _user(doc: dict[str, Any], f: _Finding) -> None:
    if not (f.access_key or f.k8s_user or f.rds_user):
        return  # a finding about an instance, a bucket...: no user
    access_user = f.access_key.get("user", _NOTHING)
    ids: list[str] = []
    add(ids, f.access_key.get("principal_id"), f.k8s_user.get("uid"))
    names: list[str] = []
    add(names, access_user.get("name"), f.k8s_user.get("user_name"), f.rds_user.get("user"))
    user: dict[str, Any] = {}
    if ids:
        user["id"] = ids
    if names:
        user["name"] = names
    groups = f.k8s_user.get("groups")
    if groups is not None:
        user["roles"] = groups
    if user:
        doc["user"] = user


def _related(doc: dict[str, Any], f: _Finding) -> None:
    related: dict[str, Any] = {}
    if f.access_key or f.k8s_user or f.rds_user or f.buckets:
        users: list[str] = []
        add(users, f.access_key.get("principal_id"), f.access_key.get("user", _NOTHING).get("name"),
            f.k8s_user.get("uid"), f.k8s_user.get("user_name"), f.rds_user.get("user"),
            *(_obj(b, "owner").get("id") for b in f.buckets))
        if users:
            related["user"] = users
    if f.api or f.dns:
        hosts: list[str] = []
        add(hosts, f.api.get("domain_details", _NOTHING).get("domain"), f.dns.get("domain"))
        if hosts:
            related["hosts"] = hosts
    ips: list[str] = []
    for nic in _objects(f.instance.get("network_interfaces")):
        ipv6 = nic.get("ipv6_addresses")
        private = _obj(nic, "private")
        add(ips, *(ipv6 if type(ipv6) is list else ()), private.get("ip_address"),
            *(_obj(p, "private").get("ip_address") for p in _objects(private.get("ip_addresses"))),
            _obj(nic, "public").get("ip"))
    sources = f.k8s.get("source_ips")
    remotes = f.remotes
    add(ips, remotes[0].get("ip_address_v4"), remotes[1].get("ip_address_v4"),
        *(sources if type(sources) is list else ()), f.net.get("local_ip_details", _NOTHING).get("ip_address_v4"),
        remotes[2].get("ip_address_v4"))
    for probe in f.probes:
        add(ips, _obj(probe, "local_ip_details").get("ip_address_v4"),
            _obj(probe, "remote_ip_details").get("ip_address_v4"))
    add(ips, remotes[-1].get("ip_address_v4"))
    if ips:
        related["ip"] = ips
    if f.file_paths:
        hashes: list[str] = []
        add(hashes, *(p.get("hash") for p in f.file_paths))
        if hashes:
            related["hash"] = hashes
    if related:
        doc["related"] = related
