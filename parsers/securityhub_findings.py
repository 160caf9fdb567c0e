"""AWS Security Hub findings (`aws.securityhub_findings`): one ASFF finding per event.

Reproduces Elastic's aws 1.45.3 `securityhub_findings` pipeline (ECS 8.2.0): the finding's fields go to
`aws.securityhub_findings.*` under the pipeline's snake_case names (anything it does not name is dropped), then
ECS fields are derived: network endpoints, process, URL parts of `SourceUrl`, threat indicator, vulnerability.
Where a list feeds a single ECS field (threat indicators, vulnerabilities) the last item wins, as the pipeline's
`foreach` + `set` does. The `aws.*` copies of fields mapped to ECS are kept (`preserve_duplicate_custom_fields`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from parsers import ecs
from parsers._findings import (
    DROP,
    Move,
    Spec,
    add,
    compile_spec,
    date_iso,
    error_fields,
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
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register

_API = "action.aws_api_call"
_NET = "action.network_connection"


def _remote_ip(prefix: str) -> dict[str, Any]:
    return {
        "City": {"CityName": f"{prefix}.remote_ip.city.name"},
        "Country": {"CountryCode": f"{prefix}.remote_ip.country.code",
                    "CountryName": f"{prefix}.remote_ip.country.name"},
        "GeoLocation": {"Lat": Move(f"{prefix}.remote_ip.geolocation.latitude", to_double),
                        "Lon": Move(f"{prefix}.remote_ip.geolocation.longitude", to_double)},
        "IpAddressV4": Move(f"{prefix}.remote_ip.ip.address_v4", to_ip),
        "Organization": {"Asn": Move(f"{prefix}.remote_ip.organization.asn", to_string),
                         "AsnOrg": f"{prefix}.remote_ip.organization.asn_organization",
                         "Isp": f"{prefix}.remote_ip.organization.internet_service_provider",
                         "Org": f"{prefix}.remote_ip.organization.internet_provider"},
    }


_PORT_RANGES = items(("Begin", "begin", to_long), ("End", "end", to_long))
_RELATED_FINDING = ops(("Id", "id", None), ("ProductArn", "product.arn", None))

SPEC: Spec = compile_spec({
    "Action": {
        "ActionType": "action.type",
        "AwsApiCallAction": {
            "AffectedResources": f"{_API}.affected_resources",
            "Api": f"{_API}.api",
            "CallerType": f"{_API}.caller.type",
            "DomainDetails": {"Domain": f"{_API}.domain_details.domain"},
            "FirstSeen": Move(f"{_API}.first_seen", date_iso),
            "LastSeen": Move(f"{_API}.last_seen", date_iso),
            "RemoteIpDetails": _remote_ip(_API),
            "ServiceName": f"{_API}.service.name",
        },
        "DnsRequestAction": {
            "Blocked": Move("action.dns_request.blocked", to_boolean),
            "Domain": "action.dns_request.domain",
            "Protocol": "action.dns_request.protocol",
        },
        "NetworkConnectionAction": {
            "Blocked": Move(f"{_NET}.blocked", to_boolean),
            "ConnectionDirection": f"{_NET}.direction",
            "LocalPortDetails": {"Port": Move(f"{_NET}.local.port.number", to_long),
                                 "PortName": f"{_NET}.local.port.name"},
            "Protocol": f"{_NET}.protocol",
            "RemoteIpDetails": _remote_ip(_NET),
            "RemotePortDetails": {"Port": Move(f"{_NET}.remote.port.number", to_long),
                                  "PortName": f"{_NET}.remote.port.name"},
        },
        "PortProbeAction": {
            "Blocked": Move("action.port_probe.blocked", to_boolean),
            # The pipeline removes the three source objects afterwards, whatever they still hold.
            "PortProbeDetails": Move("action.port_probe.details", items=ops(
                ("LocalIpDetails.IpAddressV4", "local.ip.address_v4", to_ip),
                ("LocalPortDetails.Port", "local.port.number", to_long),
                ("LocalPortDetails.PortName", "local.port.name", None),
                ("RemoteIpDetails.City.CityName", "remote_ip.city.name", None),
                ("RemoteIpDetails.Country.CountryCode", "remote_ip.country.code", None),
                ("RemoteIpDetails.Country.CountryName", "remote_ip.country.name", None),
                ("RemoteIpDetails.GeoLocation.Lat", "remote_ip.geolocation.latitude", to_double),
                ("RemoteIpDetails.GeoLocation.Lon", "remote_ip.geolocation.longitude", to_double),
                ("RemoteIpDetails.IpAddressV4", "remote_ip.ip.address_v4", to_ip),
                ("RemoteIpDetails.Organization.Asn", "remote_ip.organization.asn", to_string),
                ("RemoteIpDetails.Organization.AsnOrg", "remote_ip.organization.asn_organization", None),
                ("RemoteIpDetails.Organization.Isp", "remote_ip.organization.internet_service_provider", None),
                ("RemoteIpDetails.Organization.Org", "remote_ip.organization.internet_provider", None),
                ("LocalIpDetails", "", DROP),
                ("LocalPortDetails", "", DROP),
                ("RemoteIpDetails", "", DROP),
            )),
        },
    },
    "AwsAccountId": "aws_account_id",
    "CompanyName": "company.name",
    "Compliance": {
        "RelatedRequirements": "compliance.related_requirements",
        "Status": "compliance.status",
        "StatusReasons": Move("compliance.status_reasons", items=ops(
            ("Description", "description", None), ("ReasonCode", "reason_code", None))),
    },
    "Confidence": Move("confidence", to_long),
    "CreatedAt": Move("created_at", date_iso),
    "Criticality": Move("criticality", to_long),
    "Description": "description",
    "FindingProviderFields": {
        "Confidence": Move("provider_fields.confidence", to_long),
        "Criticality": Move("provider_fields.criticality", to_long),
        "RelatedFindings": Move("provider_fields.related_findings", items=_RELATED_FINDING),
        "Severity": {
            "Label": "provider_fields.severity.label",
            "Original": "provider_fields.severity.original",
            "Normalized": Move("provider_fields.severity.normalized", to_string),
            "Product": Move("provider_fields.severity.product", to_string),
        },
        "Types": "provider_fields.types",
    },
    "FirstObservedAt": Move("first_observed_at", date_iso),
    "GeneratorId": "generator.id",
    "Id": "id",
    "LastObservedAt": Move("last_observed_at", date_iso),
    "Malware": Move("malware", items=ops(
        ("Name", "name", None), ("Path", "path", None), ("State", "state", None), ("Type", "type", None))),
    "Network": {
        "DestinationDomain": "network.destination.domain",
        "DestinationIpV4": Move("network.destination.ip.v4", to_ip),
        "DestinationIpV6": Move("network.destination.ip.v6", to_ip),
        "DestinationPort": Move("network.destination.port", to_long),
        "Direction": "network.direction",
        "OpenPortRange": {"Begin": Move("network.open_port_range.begin", to_long),
                          "End": Move("network.open_port_range.end", to_long)},
        "Protocol": "network.protocol",
        "SourceDomain": "network.source.domain",
        "SourceIpV4": Move("network.source.ip.v4", to_ip),
        "SourceIpV6": Move("network.source.ip.v6", to_ip),
        "SourceMac": "network.source.mac",
        "SourcePort": Move("network.source.port", to_long),
    },
    "NetworkPath": Move("network_path", items=ops(
        ("ComponentId", "component.id", None),
        ("ComponentType", "component.type", None),
        ("Egress.Destination.Address", "egress.destination.address", None),
        ("Egress.Destination.PortRanges", "egress.destination.port_ranges", _PORT_RANGES),
        ("Egress.Protocol", "egress.protocol", None),
        ("Egress.Source.Address", "egress.source.address", None),
        ("Egress.Source.PortRanges", "egress.source.port_ranges", _PORT_RANGES),
        ("Ingress.Destination.Address", "ingress.destination.address", None),
        ("Ingress.Destination.PortRanges", "ingress.destination.port_ranges", _PORT_RANGES),
        ("Ingress.Protocol", "ingress.protocol", None),
        ("Ingress.Source.Address", "ingress.source.address", None),
        ("Ingress.Source.PortRanges", "ingress.source.port_ranges", _PORT_RANGES),
    )),
    "Note": {
        "Text": "note.text",
        "UpdatedAt": Move("note.updated_at", date_iso),
        "UpdatedBy": "note.updated_by",
    },
    "PatchSummary": {
        "FailedCount": Move("patch_summary.failed.count", to_long),
        "Id": "patch_summary.id",
        "InstalledCount": Move("patch_summary.installed.count", to_long),
        "InstalledOtherCount": Move("patch_summary.installed.other.count", to_long),
        "InstalledPendingReboot": Move("patch_summary.installed.pending_reboot", to_long),
        "InstalledRejectedCount": Move("patch_summary.installed.rejected.count", to_long),
        "MissingCount": Move("patch_summary.missing.count", to_long),
        "Operation": "patch_summary.operation.type",
        "OperationEndTime": Move("patch_summary.operation.end_time", date_iso),
        "OperationStartTime": Move("patch_summary.operation.start_time", date_iso),
        "RebootOption": "patch_summary.reboot_option",
    },
    "Process": {
        "LaunchedAt": Move("process.launched_at", date_iso),
        "Name": "process.name",
        "ParentPid": Move("process.parent.pid", to_long),
        "Path": "process.path",
        "Pid": Move("process.pid", to_long),
        "TerminatedAt": Move("process.terminated_at", date_iso),
    },
    "ProductArn": "product.arn",
    "ProductFields": "product.fields",
    "ProductName": "product.name",
    "RecordState": "record_state",
    "Region": "region",
    "RelatedFindings": Move("related_findings", items=_RELATED_FINDING),
    "Remediation": {"Recommendation": {"Text": "remediation.recommendation.text",
                                       "Url": "remediation.recommendation.url"}},
    "Resources": "resources",
    "Sample": Move("sample", to_boolean),
    "SchemaVersion": "schema.version",
    "Severity": {
        "Label": "severity.label",
        "Normalized": Move("severity.normalized", to_string),
        "Original": "severity.original",
        "Product": Move("severity.product", to_string),
    },
    "SourceUrl": "source_url",
    "ThreatIntelIndicators": Move("threat_intel_indicators", items=ops(
        ("Category", "category", None),
        ("LastObservedAt", "last_observed_at", quiet(date_iso)),
        ("Source", "source", None),
        ("SourceUrl", "source_url", None),
        ("Value", "value", None),
        ("Type", "type", None),
    )),
    "Title": "title",
    "Types": "types",
    "UpdatedAt": Move("updated_at", date_iso),
    "UserDefinedFields": "user_defined_fields",
    "VerificationState": "verification_state",
    "Vulnerabilities": Move("vulnerabilities", items=ops(
        ("Cvss", "cvss", items(
            ("Adjustments", "adjustments", items(("Metric", "metric", None), ("Reason", "reason", None))),
            ("BaseScore", "base_score", to_double),
            ("BaseVector", "base_vector", None),
            ("Source", "source", None),
            ("Version", "version", None),
        )),
        ("Id", "id", None),
        ("ReferenceUrls", "reference_urls", None),
        ("RelatedVulnerabilities", "related_vulnerabilities", None),
        ("Vendor.Name", "vendor.name", None),
        ("Vendor.Url", "vendor.url", None),
        ("Vendor.VendorCreatedAt", "vendor.created_at", quiet(date_iso)),
        ("Vendor.VendorSeverity", "vendor.severity", None),
        ("Vendor.VendorUpdatedAt", "vendor.updated_at", quiet(date_iso)),
        ("VulnerablePackages", "vulnerable_packages", items(
            ("Category", "category", None),
            ("Architecture", "architecture", None),
            ("Epoch", "epoch", None),
            ("FilePath", "file_path", None),
            ("Name", "name", None),
            ("PackageManager", "package_manager", None),
            ("Release", "release", None),
            ("Version", "version", None),
        )),
    )),
    "Workflow": {"Status": "workflow.status"},
    "WorkflowState": "workflow.state",
})

_MAC_SEPARATORS = re.compile(r"[-:.]")


@register("securityhub_findings", ecs_version="8.2.0")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    original = event.text()
    finding = event.json_object()
    errors: list[str] = []
    sh: dict[str, Any] = {}
    walk(SPEC, finding, sh, errors)
    doc: dict[str, Any] = {"event": {"kind": "event", "type": ["info"], "original": original},
                           "aws": {"securityhub_findings": sh}}
    _ecs(doc, sh, errors)
    error_fields(doc, errors)
    return [doc]


# The derivations read `sh` as the walk left it, which saves them most checks: it holds no None nor "", and
# an object the spec only writes *into* (`network`, `process`, `action`, `company`, ...: no rule's destination
# ends there) is a dict whenever it is present. Whole groups of ECS fields are skipped when their object is
# absent, as it is in most findings (Security Hub's controls carry no network, process nor threat data).


def _ecs(doc: dict[str, Any], sh: dict[str, Any], errors: list[str]) -> None:
    event = doc["event"]
    action = sh.get("action")
    if action is not None:
        action_type = action.get("type")
        if isinstance(action_type, str):
            event["action"] = action_type.lower()
    account = sh.get("aws_account_id")
    if account is not None:
        doc["cloud"] = {"account": {"id": account}}
    company = sh.get("company")
    if company is not None:
        doc["organization"] = {"name": company["name"]}
    created = sh.get("created_at")
    if created is not None:
        doc["@timestamp"] = created
    finding_id = sh.get("id")
    if finding_id is not None:
        event["id"] = finding_id
    network = sh.get("network")
    addresses = _network(doc, network) if network is not None else []
    process = sh.get("process")
    if process is not None:
        _process(doc, process)
    _url(doc, sh.get("source_url"), errors)
    if "threat_intel_indicators" in sh:
        indicators = _objects(sh["threat_intel_indicators"])
        ecs.put(doc, "threat.indicator.last_seen", _last(indicators, "last_observed_at"))
        ecs.put(doc, "threat.indicator.type", _last(indicators, "type"))
    if "vulnerabilities" in sh:
        _vulnerability(doc, _objects(sh["vulnerabilities"]))
    related: list[str] = []
    if action is not None:
        get = ecs.get
        probes = _objects(get(action, "port_probe.details"))
        add(related, get(action, "aws_api_call.remote_ip.ip.address_v4"),
            get(action, "network_connection.remote_ip.ip.address_v4"),
            *(get(p, "local.ip.address_v4") for p in probes), *(get(p, "remote_ip.ip.address_v4") for p in probes))
    add(related, *addresses)
    if related:
        doc["related"] = {"ip": related}


def _network(doc: dict[str, Any], network: dict[str, Any]) -> list[str]:
    """destination.*, network.* and source.* (in that order) from `network`; returns the destination's then
    the source's addresses, for related.ip."""
    destination_ips: list[str] = []
    source_ips: list[str] = []
    remote = network.get("destination")
    if remote is not None:
        destination: dict[str, Any] = {}
        _copy(remote, "domain", destination, "domain")
        ips = remote.get("ip")
        if ips is not None:
            add(destination_ips, ips.get("v4"), ips.get("v6"))
            if destination_ips:
                destination["ip"] = destination_ips
        _copy(remote, "port", destination, "port")
        if destination:
            doc["destination"] = destination
    fields: dict[str, Any] = {}
    _copy(network, "direction", fields, "direction")
    protocol = network.get("protocol")
    if protocol is not None:
        fields["protocol"] = protocol.lower() if isinstance(protocol, str) else protocol
    if fields:
        doc["network"] = fields
    local = network.get("source")
    if local is not None:
        mac = local.get("mac")
        if isinstance(mac, str):
            mac = local["mac"] = _MAC_SEPARATORS.sub("-", mac).upper()  # aws.* gets the normalised form too
        source: dict[str, Any] = {}
        _copy(local, "domain", source, "domain")
        ips = local.get("ip")
        if ips is not None:
            add(source_ips, ips.get("v4"), ips.get("v6"))
            if source_ips:
                source["ip"] = source_ips
        if mac is not None:
            source["mac"] = mac
        _copy(local, "port", source, "port")
        if source:
            doc["source"] = source
    return destination_ips + source_ips


def _process(doc: dict[str, Any], process: dict[str, Any]) -> None:
    fields: dict[str, Any] = {}
    _copy(process, "launched_at", fields, "start")
    _copy(process, "name", fields, "name")
    parent = process.get("parent")
    if parent is not None:
        fields["parent"] = {"pid": parent["pid"]}
    _copy(process, "path", fields, "executable")
    _copy(process, "pid", fields, "pid")
    _copy(process, "terminated_at", fields, "end")
    if fields:
        doc["process"] = fields


def _vulnerability(doc: dict[str, Any], vulnerabilities: list[dict[str, Any]]) -> None:
    cvss = [c for v in vulnerabilities for c in _objects(v.get("cvss"))]
    ecs.put(doc, "vulnerability.score.base", _last(cvss, "base_score"))
    ecs.put(doc, "vulnerability.score.version", _last(cvss, "version"))
    ecs.put(doc, "vulnerability.id", _last(vulnerabilities, "id"))
    ecs.put(doc, "vulnerability.reference", _last(vulnerabilities, "reference_urls"))
    ecs.put(doc, "vulnerability.scanner.vendor", _last([v["vendor"] for v in vulnerabilities
                                                       if isinstance(v.get("vendor"), dict)], "name"))


def _copy(source: dict[str, Any], key: str, target: dict[str, Any], name: str) -> None:
    value = source.get(key)
    if value is not None:
        target[name] = value


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _last(objects: list[dict[str, Any]], key: str) -> Any:
    """`foreach` + `set copy_from`: each item holding the key overwrites the previous value."""
    value = None
    for obj in objects:
        if key in obj:
            value = obj[key]
    return value


def _url(doc: dict[str, Any], url: Any, errors: list[str]) -> None:
    """The `uri_parts` processor on `source_url`, then `url.full` from `url.original`."""
    if not isinstance(url, str) or not url:
        return
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        errors.append(f"unable to parse URI [{url}]: {exc}")
        return
    fields: dict[str, Any] = {"original": url, "scheme": parts.scheme, "domain": parts.hostname,
                              "port": port, "path": parts.path, "query": parts.query, "fragment": parts.fragment}
    if "." in parts.path:
        # As Elasticsearch does: everything after the path's last dot, even across a slash.
        fields["extension"] = parts.path[parts.path.rindex(".") + 1:]
    if parts.username is not None:
        fields["username"] = parts.username
        fields["password"] = parts.password
        fields["user_info"] = parts.netloc.rpartition("@")[0]
    fields["full"] = url
    doc["url"] = {key: value for key, value in fields.items() if value not in (None, "")}
