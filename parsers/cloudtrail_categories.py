"""ECS `event.category` / `event.type` per CloudTrail eventName: the params table of Elastic's categorization script.

Names not listed keep the defaults (`event.type: [info]`, no category). The table is the newer one Elastic's
current pipelines carry (the 1.45.3 table plus STS, S3 object, EC2 describe, SSM session, ... actions); both
agree on every action the older one had. An empty type list (Converse, Publish, SendCommand) leaves no
`event.type` at all, as Elastic's final clean-up removes empty lists.
"""

from __future__ import annotations

_IAM = ("iam",)
_FILE = ("file",)
_AUTH = ("authentication",)
_NETWORK = ("network",)
_SESSION = ("session",)
_CONFIG = ("configuration",)
_API = ("api",)
_HOST = ("host",)
_DATABASE = ("database",)

_USER_CHANGE = ("user", "change")
_USER_INFO = ("user", "info")
_GROUP_CHANGE = ("group", "change")
_GROUP_INFO = ("group", "info")

# eventName -> (event.category, event.type)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "AddUserToGroup": (_IAM, _GROUP_CHANGE),
    "AssumeRole": (_AUTH, ("info",)),
    "AttachGroupPolicy": (_IAM, _GROUP_CHANGE),
    "AttachRolePolicy": (_IAM, ("change",)),
    "AttachUserPolicy": (_IAM, _USER_CHANGE),
    "AuthorizeSecurityGroupIngress": (_NETWORK, ("access",)),
    "ChangePassword": (_IAM, _USER_CHANGE),
    "ConsoleLogin": (_AUTH, ("info",)),
    "Converse": (_API, ()),
    "CreateAccessKey": (_IAM, _USER_CHANGE),
    "CreateBucket": (_FILE, ("creation",)),
    "CreateControlChannel": (_SESSION, ("start",)),
    "CreateDataChannel": (_SESSION, ("start",)),
    "CreateDocument": (_FILE, ("creation",)),
    "CreateGroup": (_IAM, ("group", "creation")),
    "CreateKeyPair": (_IAM, ("admin", "creation")),
    "CreatePolicy": (_IAM, ("creation",)),
    "CreateTopic": (_CONFIG, ("creation",)),
    "CreateUser": (_IAM, ("user", "creation")),
    "CreateVirtualMFADevice": (_IAM, _USER_CHANGE),
    "DeactivateMFADevice": (_IAM, _USER_CHANGE),
    "DeleteAccessKey": (_IAM, _USER_CHANGE),
    "DeleteBucket": (_FILE, ("deletion",)),
    "DeleteGroup": (_IAM, ("group", "deletion")),
    "DeleteGroupPolicy": (_IAM, _GROUP_CHANGE),
    "DeleteObject": (_FILE, ("delete",)),
    "DeleteSSHPublicKey": (_IAM, _USER_CHANGE),
    "DeleteTrail": (_CONFIG, ("deletion",)),
    "DeleteUser": (_IAM, ("user", "deletion")),
    "DeleteUserPermissionsBoundary": (_IAM, _USER_CHANGE),
    "DeleteUserPolicy": (_IAM, _USER_CHANGE),
    "DeleteVirtualMFADevice": (_IAM, _USER_CHANGE),
    "DescribeDBInstances": (_DATABASE, ("info",)),
    "DescribeInstances": (_HOST, ("info",)),
    "DescribeLoadBalancers": (_NETWORK, ("info",)),
    "DescribeNetworkAcls": (_NETWORK, ("info",)),
    "DescribeNetworkInterfaces": (_NETWORK, ("info",)),
    "DescribeRegions": (_API, ("info",)),
    "DescribeSecurityGroups": (_NETWORK, ("info",)),
    "DescribeTrails": (_CONFIG, ("info",)),
    "DescribeVolumes": (_HOST, ("info",)),
    "DescribeVpcs": (_NETWORK, ("info",)),
    "DetachGroupPolicy": (_IAM, _GROUP_CHANGE),
    "DetachUserPolicy": (_IAM, _USER_CHANGE),
    "EnableMFADevice": (_IAM, _USER_CHANGE),
    "GetCallerIdentity": (_AUTH, ("info",)),
    "GetGroup": (_IAM, _GROUP_INFO),
    "GetGroupPolicy": (_IAM, _GROUP_INFO),
    "GetObject": (_FILE, ("info",)),
    "GetPolicy": (_IAM, ("info",)),
    "GetUser": (_IAM, _USER_INFO),
    "GetUserPolicy": (_IAM, _USER_INFO),
    "HeadObject": (_FILE, ("info",)),
    "ListAttachedGroupPolicies": (_IAM, _GROUP_INFO),
    "ListAttachedRolePolicies": (_IAM, ("info",)),
    "ListAttachedUserPolicies": (_IAM, _USER_INFO),
    "ListBuckets": (_FILE, ("info",)),
    "ListFunctions": (("package",), ("info",)),
    "ListGroupPolicies": (_IAM, _GROUP_INFO),
    "ListGroups": (_IAM, _GROUP_INFO),
    "ListGroupsForUser": (_IAM, _USER_INFO),
    "ListInstanceAssociations": (_HOST, ("info",)),
    "ListObjects": (_FILE, ("info",)),
    "ListRoles": (_IAM, ("info",)),
    "ListTables": (_DATABASE, ("info",)),
    "ListUserPolicies": (_IAM, _USER_INFO),
    "ListUserTags": (_IAM, _USER_INFO),
    "ListUsers": (_IAM, _USER_INFO),
    "OpenControlChannel": (_SESSION, ("start",)),
    "OpenDataChannel": (_SESSION, ("start",)),
    "Publish": (_API, ()),
    "PutGroupPolicy": (_IAM, _GROUP_CHANGE),
    "PutObject": (_FILE, ("change",)),
    "PutUserPermissionsBoundary": (_IAM, _USER_CHANGE),
    "PutUserPolicy": (_IAM, _USER_CHANGE),
    "RemoveUserFromGroup": (_IAM, _GROUP_CHANGE),
    "SendCommand": (("process",), ()),
    "SetDefaultPolicyVersion": (_IAM, ("admin", "change")),
    "SetSecurityTokenServicePreferences": (_IAM, ("admin", "change")),
    "StartSession": (_SESSION, ("start",)),
    "Subscribe": (_CONFIG, ("change",)),
    "TagUser": (_IAM, _USER_CHANGE),
    "TerminateSession": (_SESSION, ("end",)),
    "UntagUser": (_IAM, _USER_CHANGE),
    "UpdateAccessKey": (_IAM, _USER_CHANGE),
    "UpdateAccountPasswordPolicy": (_IAM, ("admin", "change")),
    "UpdateGroup": (_IAM, _GROUP_CHANGE),
    "UpdateLoginProfile": (_IAM, _USER_CHANGE),
    "UpdateRole": (_IAM, ("admin", "change")),
    "UpdateSSHPublicKey": (_IAM, _USER_CHANGE),
    "UpdateUser": (_IAM, _USER_CHANGE),
}
