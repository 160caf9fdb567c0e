"""`actor.entity.id`, `target.entity.id` and `related.entity` for CloudTrail: the entity script of Elastic's pipeline.

Elastic runs it (with the `actor_target_mapping` tag, which its current integration sets) on the record after
the empty-value clean-up and before any rename. The actor is who made the call (the caller's ARN, with service-
specific exceptions for AssumeRole); targets are what the call was about, per service and action; related holds
the caller's identifiers, per-service resource ids and the targets. Targets and related come out sorted (Elastic
collects them in TreeSets).

Two painless details are kept because they change the output: a value that is not a string is never added
(painless would fail the whole script; here it is skipped), and a list added with `addValues` stops at its first
value that is missing or already present (`addedAll = addedAll && addValue(...)` short-circuits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from parsers.enrich.javamap import scalar

Path = tuple[str, ...]


class Entities(NamedTuple):
    actor: str | None
    targets: list[str]  # sorted; targets are also in related
    related: list[str]  # sorted


def _path(dotted: str) -> Path:
    return tuple(dotted.split("."))


def _at(record: Any, path: Path) -> Any:
    node = record
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _add(entities: set[str], value: Any) -> bool:
    if not isinstance(value, str) or not value or value in entities:
        return False
    entities.add(value)
    return True


def _add_values(entities: set[str], values: Iterable[Any]) -> None:
    for value in values:
        if not _add(entities, value):
            return


Trie = dict[str, "Trie | None"]  # field paths merged by prefix; None marks a leaf


def _trie(*dotted: str) -> Trie:
    root: Trie = {}
    for path in dotted:
        *parents, leaf = path.split(".")
        node = root
        for key in parents:
            node = node.setdefault(key, {})  # type: ignore[assignment]
        node[leaf] = None
    return root


def _add_fields(entities: set[str], node: dict[str, Any], trie: Trie) -> None:
    """Every string at the trie's leaves. A trie, not a path list: one absent object skips all the fields
    under it, and every record runs this for a dozen or more fields. Order does not matter: sets."""
    for key, sub in trie.items():
        value = node.get(key)
        if value is None:
            continue
        if sub is None:
            if type(value) is str and value:
                entities.add(value)
        elif type(value) is dict:
            _add_fields(entities, value, sub)


def _items(record: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """The objects of a list field (`...Set.items`), ignoring anything that is not an object."""
    value = _at(record, path)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _strings(record: dict[str, Any], path: Path) -> list[Any]:
    value = _at(record, path)
    return value if isinstance(value, list) else []


_RESOURCE_ARNS = ("resources", "ARN")  # marker: every resources[].ARN
_ACCOUNT = _path("recipientAccountId")

# eventSource -> fields added to related for every action of that service.
_RELATED: dict[str, Trie] = {
    "cloudtrail.amazonaws.com": _trie(
        "requestParameters.name", "requestParameters.s3BucketName", "responseElements.cloudWatchLogsLogGroupArn",
        "responseElements.cloudWatchLogsRoleArn", "responseElements.kmsKeyId", "responseElements.snsTopicARN",
        "responseElements.trailARN", "responseElements.name"),
    "config.amazonaws.com": _trie("requestParameters.configurationRecorderName"),
    "ec2.amazonaws.com": _trie(
        "requestParameters.groupId", "requestParameters.groupName", "requestParameters.roleName",
        "requestParameters.subnetId", "requestParameters.volumeId", "requestParameters.networkInterfaceId",
        "requestParameters.vpcId", "requestParameters.snapshotId", "responseElements.groupId",
        "responseElements.reservationId", "responseElements.vpc.vpcId", "responseElements.vpc.dhcpOptionsId",
        "responseElements.snapshotId", "responseElements.volumeId"),
    "guardduty.amazonaws.com": _trie("requestParameters.detectorId", "responseElements.detectorId"),
    "iam.amazonaws.com": _trie(
        "requestParameters.userName", "requestParameters.serialNumber", "requestParameters.accessKeyId",
        "requestParameters.policyArn", "requestParameters.roleName", "requestParameters.policyName",
        "responseElements.accessKey.userName", "responseElements.accessKey.accessKeyId",
        "responseElements.user.arn", "responseElements.user.userId", "responseElements.user.userName",
        "responseElements.userId", "responseElements.role.arn", "responseElements.serialNumber"),
    "kms.amazonaws.com": _trie(
        "requestParameters.keyId", "responseElements.keyId", "responseElements.keyMetadata.arn",
        "responseElements.keyMetadata.keyId"),
    "lambda.amazonaws.com": _trie(
        "requestParameters.functionName", "responseElements.functionArn", "responseElements.functionName",
        "responseElements.role"),
    "rds.amazonaws.com": _trie(
        "requestParameters.dBInstanceIdentifier", "requestParameters.dBInstanceArn",
        "responseElements.dBInstanceIdentifier", "responseElements.dbInstanceArn",
        "responseElements.dBSubnetGroup.vpcId", "responseElements.vpcSecurityGroups.vpcSecurityGroupId"),
    "s3.amazonaws.com": _trie("requestParameters.bucketName"),
    "sts.amazonaws.com": _trie(
        "requestParameters.roleArn", "sourceIdentity", "additionalEventData.MFAIdentifier",
        "responseElements.assumedRoleUser.arn", "requestParameters.roleSessionName", "responseElements.accessKeyId"),
    "wafv2.amazonaws.com": _trie("requestParameters.id", "responseElements.summary"),
}


def _targets(source: str, names: str, *dotted: str) -> dict[tuple[str, str], tuple[Path, ...]]:
    paths = tuple(_RESOURCE_ARNS if p == "resources[].ARN" else _path(p) for p in dotted)
    return {(source, name): paths for name in names.split()}


# (eventSource, eventName) -> fields that name the call's targets.
_TARGETS: dict[tuple[str, str], tuple[Path, ...]] = {
    **_targets("cloudformation.amazonaws.com", "CreateStackSet", "responseElements.stackSetId"),
    **_targets("cloudformation.amazonaws.com", "CreateStack", "responseElements.stackId"),
    **_targets("cloudtrail.amazonaws.com", "DeleteTrail StopLogging", "requestParameters.name"),
    **_targets("cloudtrail.amazonaws.com", "DescribeTrails", "recipientAccountId"),
    **_targets("ec2-instance-connect.amazonaws.com", "SendSSHPublicKey SendSerialConsoleSSHPublicKey",
               "requestParameters.instanceId"),
    **_targets("config.amazonaws.com", "StopConfigurationRecorder StartConfigurationRecorder",
               "requestParameters.configurationRecorderName"),
    **_targets("ec2.amazonaws.com", "CreateTrafficMirrorFilter",
               "responseElements.CreateTrafficMirrorFilterResponse.trafficMirrorFilter.trafficMirrorFilterId"),
    **_targets("ec2.amazonaws.com", "CreateTrafficMirrorFilterRule",
               "responseElements.CreateTrafficMirrorFilterRuleResponse.trafficMirrorFilterRule"
               ".trafficMirrorFilterRuleId"),
    **_targets("ec2.amazonaws.com", "CreateTrafficMirrorSession",
               "responseElements.CreateTrafficMirrorSessionResponse.trafficMirrorSession.trafficMirrorSessionId"),
    **_targets("ec2.amazonaws.com", "CreateTrafficMirrorTarget",
               "responseElements.CreateTrafficMirrorTargetResponse.trafficMirrorTarget.trafficMirrorTargetId"),
    **_targets("ec2.amazonaws.com", "DeleteFlowLogs", "requestParameters.DeleteFlowLogsRequest.FlowLogId.content"),
    **_targets("ec2.amazonaws.com", "DeleteNetworkAcl DeleteNetworkAclEntry", "requestParameters.networkAclId"),
    **_targets("ec2.amazonaws.com", "GetPasswordData", "requestParameters.instanceId"),
    **_targets("ec2.amazonaws.com", "ModifyImageAttribute", "requestParameters.imageId"),
    **_targets("ec2.amazonaws.com", "ModifySnapshotAttribute", "requestParameters.snapshotId"),
    **_targets("ec2.amazonaws.com", "DescribeSecurityGroups DescribeNetworkInterfaces DescribeRegions DescribeVpcs "
               "DescribeNetworkAcls DescribeVolumes", "recipientAccountId"),
    **_targets("elasticfilesystem.amazonaws.com", "DeleteFileSystem", "requestParameters.fileSystemId"),
    **_targets("elasticfilesystem.amazonaws.com", "DeleteMountTarget", "requestParameters.mountTargetId"),
    **_targets("events.amazonaws.com", "DeleteRule", "requestParameters.name"),
    **_targets("guardduty.amazonaws.com", "CreateDetector", "responseElements.detectorId"),
    **_targets("guardduty.amazonaws.com", "DeleteDetector", "requestParameters.detectorId"),
    **_targets("iam.amazonaws.com", "AttachGroupPolicy", "requestParameters.groupName"),
    **_targets("iam.amazonaws.com", "AttachRolePolicy ListAttachedRolePolicies UpdateAssumeRolePolicy",
               "requestParameters.roleName"),
    **_targets("iam.amazonaws.com", "AttachUserPolicy", "requestParameters.policyArn", "requestParameters.userName"),
    **_targets("iam.amazonaws.com", "CreateAccessKey", "responseElements.accessKey.accessKeyId",
               "requestParameters.userName"),
    **_targets("iam.amazonaws.com", "CreateUser DeactivateMFADevice", "requestParameters.userName"),
    **_targets("iam.amazonaws.com", "DeleteVirtualMFADevice", "requestParameters.serialNumber"),
    **_targets("iam.amazonaws.com", "GetPolicy", "requestParameters.policyArn"),
    **_targets("iam.amazonaws.com", "CreatePolicy", "responseElements.policy.arn"),
    **_targets("iam.amazonaws.com", "ListRoles ListUsers", "recipientAccountId"),
    **_targets("kms.amazonaws.com", "DisableKey ScheduleKeyDeletion", "resources[].ARN"),
    **_targets("logs.amazonaws.com", "DeleteLogGroup", "requestParameters.logGroupName"),
    **_targets("logs.amazonaws.com", "DeleteLogStream", "requestParameters.logStreamName"),
    **_targets("rds.amazonaws.com", "DeleteDBCluster ModifyDBCluster StopDBCluster", "responseElements.dBClusterArn"),
    **_targets("rds.amazonaws.com", "DeleteDBInstance ModifyDBInstance RestoreDBInstanceFromDBSnapshot "
               "RestoreDBInstanceFromS3 StopDBInstance", "responseElements.dBInstanceArn"),
    **_targets("rds.amazonaws.com", "DeleteGlobalCluster", "responseElements.globalClusterArn"),
    **_targets("rds.amazonaws.com", "ModifyDBClusterSnapshotAttribute", "responseElements.dBClusterSnapshotIdentifier"),
    **_targets("rds.amazonaws.com", "ModifyDBSnapshotAttribute", "responseElements.dBSnapshotIdentifier"),
    **_targets("rds.amazonaws.com", "DescribeDBInstances", "recipientAccountId"),
    **_targets("rolesanywhere.amazonaws.com", "CreateTrustAnchor", "responseElements.trustAnchor.trustAnchorArn"),
    **_targets("route53resolver.amazonaws.com", "DeleteResolverQueryLogConfig",
               "responseElements.resolverQueryLogConfig.arn"),
    **_targets("s3.amazonaws.com", "CopyObject PutBucketLogging PutBucketVersioning PutObject GetBucketPolicy "
               "ListObjects HeadObject GetObject DeleteObject DeleteBucket", "resources[].ARN"),
    **_targets("s3.amazonaws.com", "PutBucketReplication", "resources[].ARN",
               "requestParameters.ReplicationConfiguration.Rule.Destination.Bucket"),
    **_targets("s3.amazonaws.com", "ListBuckets", "recipientAccountId"),
    **_targets("secretsmanager.amazonaws.com", "GetSecretValue", "requestParameters.secretId"),
    **_targets("signin.amazonaws.com", "ConsoleLogin", "recipientAccountId"),
    **_targets("ssm.amazonaws.com", "GetParameter GetParameters CreateControlChannel OpenControlChannel",
               "resources[].ARN"),
    **_targets("ssm.amazonaws.com", "StartSession", "requestParameters.target"),
    **_targets("ssm.amazonaws.com", "CreateDocument", "requestParameters.name"),
    **_targets("ssm.amazonaws.com", "TerminateSession OpenDataChannel", "requestParameters.sessionId"),
    **_targets("ssm.amazonaws.com", "ListInstanceAssociations", "recipientAccountId"),
    **_targets("sts.amazonaws.com", "AssumeRole", "requestParameters.roleArn"),
    **_targets("sts.amazonaws.com", "GetCallerIdentity", "recipientAccountId"),
    **_targets("wafv2.amazonaws.com", "DeleteRuleGroup DeleteWebACL", "requestParameters.id"),
    **_targets("sns.amazonaws.com", "CreateTopic", "responseElements.topicArn"),
    **_targets("sns.amazonaws.com", "Subscribe Publish", "requestParameters.topicArn"),
    **_targets("bedrock.amazonaws.com", "Converse", "requestParameters.modelId"),
    **_targets("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", "recipientAccountId"),
    **_targets("dynamodb.amazonaws.com", "ListTables", "recipientAccountId"),
}

_IDENTITY_RELATED = _trie(  # within userIdentity
    "accessKeyId", "arn", "userName", "sessionContext.sessionIssuer.arn", "sessionContext.sessionIssuer.userName")

_P = _path  # the list walks below read better with short path literals


def _ec2_related(record: dict[str, Any], related: set[str]) -> None:
    for rule in _items(record, _P("responseElements.securityGroupRuleSet.items")):
        _add_values(related, (rule.get("groupId"), _at(rule, _P("referencedGroupInfo.groupId")),
                              rule.get("securityGroupRuleId")))
    for path in ("responseElements.groupSet.items", "requestParameters.groupSet.items"):
        for group in _items(record, _P(path)):
            _add(related, group.get("groupId"))
    for instance in _items(record, _P("requestParameters.instancesSet.items")):
        _add(related, instance.get("instanceId"))
    for instance in _items(record, _P("responseElements.instancesSet.items")):
        _add_values(related, (instance.get("subnetId"), instance.get("vpcId"), instance.get("instanceId"),
                              instance.get("imageId"), _at(instance, _P("iamInstanceProfile.arn"))))
        for interface in _items(instance, _P("networkInterfaceSet.items")):
            _add_values(related, (interface.get("networkInterfaceId"), interface.get("vpcId"),
                                  interface.get("subnetId")))
            for group in _items(interface, _P("groupSet.items")):
                _add(related, group.get("groupId"))
    for rule in _items(record, _P("requestParameters.revokedSecurityGroupRuleSet.items")):
        _add_values(related, (rule.get("securityGroupRuleId"), rule.get("groupId")))


def _lambda_related(record: dict[str, Any], related: set[str]) -> None:
    _add_values(related, _strings(record, _P("responseElements.vpcConfig.securityGroupIds")))
    _add_values(related, _strings(record, _P("responseElements.vpcConfig.subnetIds")))


def _rds_related(record: dict[str, Any], related: set[str]) -> None:
    for subnet in _items(record, _P("responseElements.dBSubnetGroup.subnets")):
        _add(related, subnet.get("subnetIdentifier"))
    for group in _items(record, _P("responseElements.vpcSecurityGroups")):
        _add(related, group.get("vpcSecurityGroupId"))


_RELATED_WALKS: dict[str, Callable[[dict[str, Any], set[str]], None]] = {
    "ec2.amazonaws.com": _ec2_related,
    "lambda.amazonaws.com": _lambda_related,
    "rds.amazonaws.com": _rds_related,
}


def _ec2_targets(record: dict[str, Any], name: str, target: set[str]) -> None:
    if name in ("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"):
        _add(target, _at(record, _P("requestParameters.groupId")))
        for rule in _items(record, _P("responseElements.securityGroupRuleSet.items")):
            _add(target, rule.get("securityGroupRuleId"))
    elif name == "DeleteNetworkAclEntry":
        rule_number = _at(record, _P("requestParameters.ruleNumber"))
        if rule_number is not None:
            _add(target, scalar(rule_number))  # String.valueOf: rule numbers are JSON numbers


def _lambda_targets(record: dict[str, Any], name: str, target: set[str]) -> None:
    # Lambda event names carry an API version (AddPermission20150331v2), hence substring matches.
    if "AddPermission" in name:
        _add(target, _at(record, _P("requestParameters.functionName")))
    elif "ListFunctions" in name:
        _add(target, _at(record, _ACCOUNT))


def _monitoring_targets(record: dict[str, Any], name: str, target: set[str]) -> None:
    if name == "DeleteAlarms":
        _add_values_all(target, _strings(record, _P("requestParameters.alarmNames")))


def _secretsmanager_targets(record: dict[str, Any], name: str, target: set[str]) -> None:
    if name == "BatchGetSecretValue":
        _add_values_all(target, _strings(record, _P("requestParameters.secretIdList")))


def _ssm_targets(record: dict[str, Any], name: str, target: set[str]) -> None:
    if name != "SendCommand":
        return
    instances = _strings(record, _P("requestParameters.instanceIds"))
    if not instances:
        instances = [value for t in _items(record, _P("requestParameters.targets"))
                     for value in (t.get("values") if isinstance(t.get("values"), list) else ())]
    if len(instances) == 1 and instances[0] == "*":
        instances = [_at(record, _ACCOUNT)]  # every instance: the account is the target
    _add_values(target, instances)


# Targets that are not plain fields: lists, a number, substring-matched action names.
_SPECIAL_TARGETS: dict[str, Callable[[dict[str, Any], str, set[str]], None]] = {
    "ec2.amazonaws.com": _ec2_targets,
    "lambda.amazonaws.com": _lambda_targets,
    "monitoring.amazonaws.com": _monitoring_targets,
    "secretsmanager.amazonaws.com": _secretsmanager_targets,
    "ssm.amazonaws.com": _ssm_targets,
}


def _sts_actor(identity: dict[str, Any], name: str) -> Any:
    """STS's caller: for AssumeRole by a service, the service; by an assumed role, the role behind it."""
    if name == "AssumeRole":
        kind = identity.get("type")
        if kind == "AWSService":
            return identity.get("invokedBy")
        if kind == "AssumedRole":
            return _at(identity, _P("sessionContext.sessionIssuer.arn"))
    return identity.get("arn")


def entities(record: dict[str, Any], source: Any, name: Any) -> Entities:
    """Entities of one (already cleaned-up) CloudTrail record with this eventSource and eventName."""
    source = source if type(source) is str else ""
    name = name if type(name) is str else ""
    related: set[str] = set()
    identity = record.get("userIdentity")
    if type(identity) is dict:
        _add_fields(related, identity, _IDENTITY_RELATED)
        if identity.get("type") == "IdentityCenterUser":
            _add(related, _at(identity, _P("onBehalfOf.identityStoreArn")))
    else:
        identity = {}
    resources = record.get("resources")
    arns = [r.get("ARN") for r in resources if type(r) is dict] if type(resources) is list else ()
    _add_values_all(related, arns)
    if (trie := _RELATED.get(source)) is not None:
        _add_fields(related, record, trie)
        if walk := _RELATED_WALKS.get(source):
            walk(record, related)
    target: set[str] = set()
    for path in _TARGETS.get((source, name), ()):
        if path is _RESOURCE_ARNS:
            _add_values_all(target, arns)
        else:
            _add(target, _at(record, path))
    if special := _SPECIAL_TARGETS.get(source):
        special(record, name, target)
    if target:
        related |= target
    if source == "sts.amazonaws.com" and name in ("AssumeRole", "GetCallerIdentity"):
        actor = _sts_actor(identity, name)
    else:
        actor = identity.get("arn")
        if actor is None:  # IAM Identity Center users have no ARN
            actor = _at(identity, _P("onBehalfOf.userId"))
    return Entities(actor if type(actor) is str and actor else None, _java_sorted(target), _java_sorted(related))


def _add_values_all(entities: set[str], values: list[Any]) -> None:
    """`forEach(f -> addValue(set, f))`: every value, no stop at the first miss (unlike addValues)."""
    for value in values:
        if type(value) is str and value:
            entities.add(value)


def _java_sorted(values: set[str]) -> list[str]:
    """TreeSet<String> order: String.compareTo compares UTF-16 code units, not code points."""
    if len(values) < 2:
        return list(values)
    if "".join(values).isascii():
        return sorted(values)
    return sorted(values, key=lambda v: v.encode("utf-16-be", "surrogatepass"))
