"""A seeded generator of realistic AWS security log events, packed into Kinesis records the way AWS packs
them. The demo, the benchmark and the end-to-end tests all use it, so they measure the same mix.

Packing per source:
- CloudWatch Logs subscription (gzip JSON DATA_MESSAGE, many log events per record): CloudTrail (trails
  delivered to CloudWatch Logs), VPC Flow Logs, Route 53 Resolver query logs, Route 53 public DNS query
  logs, EKS audit and authenticator logs, RDS and Redshift logs, and generic application logs;
- EventBridge events (one JSON event per record): GuardDuty, Security Hub and AWS Config;
- plain lines forwarded onto the stream (several newline-separated lines per record): ALB, S3 server
  access, CloudFront and WAF.

CloudWatch Logs sources use log groups a default rule claims (`aws-cloudtrail-logs-<account>-<id>`, the
console's name for a trail's group; `/aws/route53/...`, `/aws/eks/...`, `/aws/rds/...`, `/aws/redshift/...`),
or, for VPC Flow Logs and Resolver query logs, whose groups their owner names, groups that `DETECTION` (the
detection rules a stream carrying the corpus needs) claims: an unclaimed group's events are
`cloudwatch_logs`, whatever they look like (`parsers.detect`).

Values vary (addresses, users, actions, agents, ports, status codes) so caches and parsers see a realistic
spread, never one event repeated. Same seed, same bytes.
"""

from __future__ import annotations

import gzip
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from parsers.rules import DetectionRule, StreamParsing

ACCOUNTS = ["123456789012", "210987654321", "111122223333", "444455556666"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
ROLES = ["Admin", "ReadOnly", "ci-deployer", "lambda-exec", "ec2-instance-role", "security-audit"]
AGENTS = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-18-amd64 exe/x86_64.debian.12 prompt/off command/s3.ls",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213 md/arch#x86_64 lang/python#3.12.2",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
    "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.5",
    "terraform-provider-aws/5.42.0 (+https://registry.terraform.io) aws-sdk-go-v2/1.26.0",
    "console.amazonaws.com", "cloudformation.amazonaws.com", "AWS Internal",
]
CT_ACTIONS = [
    ("s3.amazonaws.com", "GetObject", True), ("s3.amazonaws.com", "PutObject", False),
    ("s3.amazonaws.com", "ListBuckets", True), ("s3.amazonaws.com", "PutBucketPolicy", False),
    ("iam.amazonaws.com", "CreateUser", False), ("iam.amazonaws.com", "AttachUserPolicy", False),
    ("iam.amazonaws.com", "CreateAccessKey", False), ("iam.amazonaws.com", "ListRoles", True),
    ("sts.amazonaws.com", "AssumeRole", True), ("sts.amazonaws.com", "GetCallerIdentity", True),
    ("ec2.amazonaws.com", "DescribeInstances", True), ("ec2.amazonaws.com", "RunInstances", False),
    ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", False), ("kms.amazonaws.com", "Decrypt", True),
    ("kms.amazonaws.com", "GenerateDataKey", True), ("lambda.amazonaws.com", "Invoke", False),
    ("signin.amazonaws.com", "ConsoleLogin", False), ("cloudtrail.amazonaws.com", "StopLogging", False),
    ("guardduty.amazonaws.com", "ListDetectors", True), ("logs.amazonaws.com", "CreateLogStream", False),
]
ERRORS = [("AccessDenied", "User is not authorized to perform this operation"),
          ("NoSuchBucket", "The specified bucket does not exist"), ("ThrottlingException", "Rate exceeded")]
PROTOCOLS = [6, 6, 6, 6, 17, 17, 1]
COMMON_PORTS = [443, 80, 22, 53, 3306, 5432, 8080, 6443, 123, 3389]
DOMAINS = ["example.com", "amazonaws.com", "github.com", "internal.corp", "evil-c2.net", "cdn.example.org"]
HTTP_PATHS = ["/", "/login", "/api/v1/items", "/api/v1/items/42", "/static/app.js", "/health", "/admin",
              "/search?q=shoes", "/cart", "/wp-login.php"]
GD_TYPES = ["Recon:EC2/PortProbeUnprotectedPort", "UnauthorizedAccess:EC2/SSHBruteForce",
            "Trojan:EC2/BlackholeTraffic", "CryptoCurrency:EC2/BitcoinTool.B!DNS",
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"]


def _ip(rng: random.Random, public: bool | None = None) -> str:
    if public is None:
        public = rng.random() < 0.5
    if not public:
        return f"10.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
    if rng.random() < 0.05:
        return f"2600:1f18:{rng.randrange(0, 0xffff):x}:{rng.randrange(0, 0xffff):x}::{rng.randrange(1, 0xffff):x}"
    first = rng.choice([3, 13, 18, 34, 52, 54, 81, 89, 175, 216])
    return f"{first}.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Generator:
    """Makes one event of a dataset at a time; `clock` advances by a few hundred milliseconds per event."""

    seed: int = 1
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 1, tzinfo=UTC))

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.now = self.start

    def tick(self) -> datetime:
        self.now += timedelta(milliseconds=self.rng.randrange(1, 400))
        return self.now

    # --- JSON sources --------------------------------------------------------------------------------------

    def cloudtrail(self) -> dict:
        r, t = self.rng, self.tick()
        source, action, read_only = r.choice(CT_ACTIONS)
        account = r.choice(ACCOUNTS)
        kind = r.choice(["IAMUser", "AssumedRole", "AssumedRole", "Root", "AWSService"])
        user = r.choice(USERS)
        identity: dict = {"type": kind, "accountId": account}
        if kind == "IAMUser":
            identity |= {"principalId": "AIDA" + _hex(r, 16).upper(), "userName": user,
                         "arn": f"arn:aws:iam::{account}:user/{user}", "accessKeyId": "AKIA" + _hex(r, 16).upper()}
        elif kind == "AssumedRole":
            role = r.choice(ROLES)
            principal = "AROA" + _hex(r, 16).upper()
            identity |= {"principalId": f"{principal}:{user}", "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{user}",
                         "accessKeyId": "ASIA" + _hex(r, 16).upper(),
                         "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": principal,
                                                              "arn": f"arn:aws:iam::{account}:role/{role}",
                                                              "accountId": account, "userName": role},
                                            "attributes": {"creationDate": _iso(t - timedelta(minutes=r.randrange(1, 600))),
                                                           "mfaAuthenticated": r.choice(["true", "false"])}}}
        elif kind == "Root":
            identity |= {"principalId": account, "arn": f"arn:aws:iam::{account}:root"}
        else:
            identity = {"type": "AWSService", "invokedBy": r.choice(["ec2.amazonaws.com", "lambda.amazonaws.com"])}
        event: dict = {
            "eventVersion": "1.09", "userIdentity": identity, "eventTime": _iso(t), "eventSource": source,
            "eventName": action, "awsRegion": r.choice(REGIONS),
            "sourceIPAddress": _ip(r, True) if kind != "AWSService" else identity["invokedBy"],
            "userAgent": r.choice(AGENTS), "requestID": _uuid(r), "eventID": _uuid(r), "readOnly": read_only,
            "eventType": "AwsApiCall", "managementEvent": source != "s3.amazonaws.com" or action not in
            ("GetObject", "PutObject"), "recipientAccountId": account,
            "eventCategory": "Management" if action not in ("GetObject", "PutObject", "Invoke") else "Data",
        }
        if action in ("GetObject", "PutObject"):
            bucket = f"bucket-{r.randrange(100)}"
            event["requestParameters"] = {"bucketName": bucket, "key": f"logs/{_hex(r, 8)}.json.gz",
                                          "Host": f"{bucket}.s3.amazonaws.com"}
            event["resources"] = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/logs"},
                                  {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
            event["additionalEventData"] = {"bytesTransferredIn": 0, "bytesTransferredOut": r.randrange(100, 10**7)}
        elif action in ("CreateUser", "AttachUserPolicy", "CreateAccessKey"):
            event["requestParameters"] = {"userName": r.choice(USERS) + str(r.randrange(100))}
            if action == "AttachUserPolicy":
                event["requestParameters"]["policyArn"] = "arn:aws:iam::aws:policy/" + r.choice(
                    ["AdministratorAccess", "ReadOnlyAccess", "AmazonS3FullAccess"])
        elif action == "AssumeRole":
            event["requestParameters"] = {"roleArn": f"arn:aws:iam::{account}:role/{r.choice(ROLES)}",
                                          "roleSessionName": user, "durationSeconds": 3600}
            event["responseElements"] = {"credentials": {"accessKeyId": "ASIA" + _hex(r, 16).upper(),
                                                         "expiration": _iso(t + timedelta(hours=1))}}
        elif action == "AuthorizeSecurityGroupIngress":
            event["requestParameters"] = {"groupId": "sg-" + _hex(r, 17), "ipPermissions": {"items": [
                {"ipProtocol": "tcp", "fromPort": r.choice(COMMON_PORTS), "toPort": r.choice(COMMON_PORTS),
                 "ipRanges": {"items": [{"cidrIp": r.choice(["0.0.0.0/0", "10.0.0.0/8"])}]}}]}}
        elif action == "ConsoleLogin":
            ok = r.random() < 0.8
            event["responseElements"] = {"ConsoleLogin": "Success" if ok else "Failure"}
            event["additionalEventData"] = {"LoginTo": "https://console.aws.amazon.com/console/home",
                                            "MobileVersion": "No", "MFAUsed": r.choice(["Yes", "No"])}
            event["eventType"] = "AwsConsoleSignIn"
        if r.random() < 0.08:
            code, message = r.choice(ERRORS)
            event["errorCode"], event["errorMessage"] = code, message
        if r.random() < 0.5:
            event["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                                   "clientProvidedHostHeader": source}
        return event

    def route53_resolver_logs(self) -> dict:
        r, t = self.rng, self.tick()
        name = f"{r.choice(['www', 'api', 'mail', _hex(r, 6)])}.{r.choice(DOMAINS)}."
        rcode = r.choice(["NOERROR"] * 8 + ["NXDOMAIN", "SERVFAIL"])
        qtype = r.choice(["A", "A", "AAAA", "CNAME", "TXT", "PTR"])
        event = {"version": "1.100000", "account_id": r.choice(ACCOUNTS), "region": r.choice(REGIONS),
                 "vpc_id": "vpc-" + _hex(r, 17), "query_timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "query_name": name, "query_type": qtype, "query_class": "IN", "rcode": rcode,
                 "answers": [], "srcaddr": _ip(r, False), "srcport": str(r.randrange(1024, 65535)),
                 "transport": r.choice(["UDP", "UDP", "TCP"]), "srcids": {"instance": "i-" + _hex(r, 17)}}
        if rcode == "NOERROR" and qtype in ("A", "AAAA"):
            event["answers"] = [{"Rdata": _ip(r, True), "Type": qtype, "Class": "IN"}]
        return event

    def kubernetes_audit(self) -> dict:
        r, t = self.rng, self.tick()
        verb = r.choice(["get", "list", "watch", "create", "update", "patch", "delete"])
        resource = r.choice(["pods", "secrets", "configmaps", "deployments", "serviceaccounts", "nodes"])
        ns = r.choice(["default", "kube-system", "payments", "monitoring"])
        return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": r.choice(["Metadata", "Request"]),
                "auditID": _uuid(r), "stage": "ResponseComplete",
                "requestURI": f"/api/v1/namespaces/{ns}/{resource}", "verb": verb,
                "user": {"username": r.choice(["system:serviceaccount:kube-system:coredns", "kubernetes-admin",
                                               f"arn:aws:sts::{r.choice(ACCOUNTS)}:assumed-role/{r.choice(ROLES)}/x"]),
                         "uid": _uuid(r), "groups": ["system:authenticated"]},
                "sourceIPs": [_ip(r)], "userAgent": f"kubectl/v1.29.{r.randrange(0, 9)} (linux/amd64)",
                "objectRef": {"resource": resource, "namespace": ns, "name": f"obj-{_hex(r, 5)}", "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": r.choice([200, 200, 201, 403, 404])},
                "requestReceivedTimestamp": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "stageTimestamp": (t + timedelta(milliseconds=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "annotations": {"authorization.k8s.io/decision": r.choice(["allow", "allow", "forbid"]),
                                "authorization.k8s.io/reason": ""}}

    def waf(self) -> dict:
        r, t = self.rng, self.tick()
        action = r.choice(["ALLOW", "ALLOW", "BLOCK", "COUNT"])
        return {"timestamp": int(t.timestamp() * 1000), "formatVersion": 1,
                "webaclId": f"arn:aws:wafv2:us-east-1:{r.choice(ACCOUNTS)}:regional/webacl/main/{_uuid(r)}",
                "terminatingRuleId": "Default_Action" if action == "ALLOW" else "AWS-AWSManagedRulesCommonRuleSet",
                "terminatingRuleType": "REGULAR" if action == "ALLOW" else "MANAGED_RULE_GROUP", "action": action,
                "terminatingRuleMatchDetails": [], "httpSourceName": "ALB",
                "httpSourceId": f"{r.choice(ACCOUNTS)}-app/web/{_hex(r, 16)}", "ruleGroupList": [],
                "rateBasedRuleList": [], "nonTerminatingMatchingRules": [],
                "httpRequest": {"clientIp": _ip(r, True), "country": r.choice(["US", "DE", "BR", "CN", "GB"]),
                                "headers": [{"name": "Host", "value": "shop.example.com"},
                                            {"name": "User-Agent", "value": r.choice(AGENTS)}],
                                "uri": r.choice(HTTP_PATHS).split("?")[0], "args": "", "httpVersion": "HTTP/1.1",
                                "httpMethod": r.choice(["GET", "GET", "POST"]), "requestId": _uuid(r)}}

    def guardduty(self) -> dict:
        r, t = self.rng, self.tick()
        account, region = r.choice(ACCOUNTS), r.choice(REGIONS)
        finding_id = _hex(r, 32)
        return {"schemaVersion": "2.0", "accountId": account, "region": region, "partition": "aws",
                "id": finding_id, "arn": f"arn:aws:guardduty:{region}:{account}:detector/{_hex(r, 32)}/finding/{finding_id}",
                "type": r.choice(GD_TYPES), "resource": {"resourceType": "Instance", "instanceDetails": {
                    "instanceId": "i-" + _hex(r, 17), "instanceType": "t3.micro",
                    "networkInterfaces": [{"privateIpAddress": _ip(r, False), "publicIp": _ip(r, True)}]}},
                "service": {"serviceName": "guardduty", "detectorId": _hex(r, 32), "action": {
                    "actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
                        "connectionDirection": "INBOUND", "protocol": "TCP", "blocked": False,
                        "remoteIpDetails": {"ipAddressV4": _ip(r, True), "country": {"countryName": "Example"}},
                        "remotePortDetails": {"port": r.randrange(1024, 65535)},
                        "localPortDetails": {"port": r.choice(COMMON_PORTS)}}},
                    "eventFirstSeen": _iso(t - timedelta(hours=1)), "eventLastSeen": _iso(t), "archived": False,
                    "count": r.randrange(1, 50)},
                "severity": r.choice([2, 5, 5.3, 8]), "createdAt": _iso(t - timedelta(hours=1)),
                "updatedAt": _iso(t), "title": "Unusual traffic", "description": "An EC2 instance shows unusual traffic."}

    def securityhub_findings(self) -> dict:
        r, t = self.rng, self.tick()
        account, region = r.choice(ACCOUNTS), r.choice(REGIONS)
        return {"SchemaVersion": "2018-10-08", "Id": f"arn:aws:securityhub:{region}:{account}:finding/{_uuid(r)}",
                "ProductArn": f"arn:aws:securityhub:{region}::product/aws/securityhub", "GeneratorId": "aws-foundational",
                "AwsAccountId": account, "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
                "CreatedAt": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "UpdatedAt": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "Severity": {"Label": r.choice(["LOW", "MEDIUM", "HIGH", "CRITICAL"])},
                "Title": r.choice(["S3 bucket allows public read", "Root account has no MFA", "Security group open"]),
                "Description": "Finding from a Security Hub control.", "Region": region,
                "Resources": [{"Type": "AwsS3Bucket", "Id": f"arn:aws:s3:::bucket-{r.randrange(100)}",
                               "Partition": "aws", "Region": region}],
                "Compliance": {"Status": r.choice(["PASSED", "FAILED"])},
                "Workflow": {"Status": "NEW"}, "RecordState": "ACTIVE"}

    def config(self) -> dict:
        r, t = self.rng, self.tick()
        account = r.choice(ACCOUNTS)
        return {"ComplianceType": r.choice(["COMPLIANT", "NON_COMPLIANT"]),
                "ConfigRuleInvokedTime": round(t.timestamp(), 3),
                "EvaluationResultIdentifier": {"EvaluationResultQualifier": {
                    "ConfigRuleName": r.choice(["required-tags", "s3-bucket-public-read-prohibited"]),
                    "EvaluationMode": "DETECTIVE", "ResourceId": "i-" + _hex(r, 17), "ResourceType": "AWS::EC2::Instance"},
                    "OrderingTimestamp": round(t.timestamp() - 60, 3)},
                "ResultRecordedTime": round(t.timestamp() + 1, 3),
                "ConfigRuleInfo": {"ConfigRuleName": "required-tags", "ConfigRuleId": "config-rule-" + _hex(r, 6),
                                   "ConfigRuleArn": f"arn:aws:config:us-east-1:{account}:config-rule/config-rule-{_hex(r, 6)}",
                                   "ConfigRuleState": "ACTIVE", "Description": "Checks whether resources carry tags."}}

    # --- line sources ------------------------------------------------------------------------------------

    def vpcflow(self) -> str:
        r, t = self.rng, self.tick()
        proto = r.choice(PROTOCOLS)
        src, dst = _ip(r), _ip(r)
        sport = r.randrange(1024, 65535) if proto != 1 else 0
        dport = r.choice(COMMON_PORTS) if proto != 1 else 0
        end = int(t.timestamp())
        if r.random() < 0.02:
            return f"2 {r.choice(ACCOUNTS)} eni-{_hex(r, 17)} - - - - - - - {end - 60} {end} - NODATA"
        return (f"2 {r.choice(ACCOUNTS)} eni-{_hex(r, 17)} {src} {dst} {sport} {dport} {proto} "
                f"{r.randrange(1, 500)} {r.randrange(40, 10**6)} {end - 60} {end} "
                f"{r.choice(['ACCEPT', 'ACCEPT', 'ACCEPT', 'REJECT'])} OK")

    def elb_logs(self) -> str:
        r, t = self.rng, self.tick()
        status = r.choice([200, 200, 200, 301, 304, 403, 404, 500, 502])
        method, path = r.choice(["GET", "GET", "POST", "PUT"]), r.choice(HTTP_PATHS)
        account = r.choice(ACCOUNTS)
        return (f'https {t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")} app/web-alb/{_hex(r, 16)} {_ip(r, True)}:{r.randrange(1024, 65535)} '
                f'{_ip(r, False)}:80 0.00{r.randrange(0, 9)} 0.0{r.randrange(10, 99)} 0.000 {status} {status} '
                f'{r.randrange(100, 2000)} {r.randrange(200, 50000)} "{method} https://shop.example.com:443{path} HTTP/1.1" '
                f'"{r.choice(AGENTS)}" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
                f'arn:aws:elasticloadbalancing:us-east-1:{account}:targetgroup/web/{_hex(r, 16)} '
                f'"Root=1-{_hex(r, 8)}-{_hex(r, 24)}" "shop.example.com" '
                f'"arn:aws:acm:us-east-1:{account}:certificate/{_uuid(r)}" 0 {t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")} '
                f'"forward" "-" "-" "{_ip(r, False)}:80" "{status}" "-" "-"')

    def s3access(self) -> str:
        r, t = self.rng, self.tick()
        op = r.choice(["REST.GET.OBJECT", "REST.PUT.OBJECT", "REST.HEAD.OBJECT", "REST.GET.BUCKET"])
        status = r.choice([200, 200, 200, 204, 403, 404])
        bucket, key = f"bucket-{r.randrange(100)}", f"data/{_hex(r, 8)}.csv"
        return (f'{_hex(r, 64)} {bucket} [{t.strftime("%d/%b/%Y:%H:%M:%S +0000")}] {_ip(r, True)} '
                f'arn:aws:iam::{r.choice(ACCOUNTS)}:user/{r.choice(USERS)} {_hex(r, 16).upper()} {op} {key} '
                f'"GET /{bucket}/{key} HTTP/1.1" {status} - {r.randrange(0, 10**6)} {r.randrange(0, 10**6)} '
                f'{r.randrange(1, 300)} {r.randrange(1, 100)} "-" "{r.choice(AGENTS)}" - {_hex(r, 40)} SigV4 '
                f'ECDHE-RSA-AES128-GCM-SHA256 AuthHeader {bucket}.s3.us-east-1.amazonaws.com TLSv1.2 - -')

    def cloudfront_logs(self) -> str:
        r, t = self.rng, self.tick()
        status = r.choice([200, 200, 304, 403, 404, 502])
        fields = [t.strftime("%Y-%m-%d"), t.strftime("%H:%M:%S"), r.choice(["IAD89-C1", "FRA56-P5", "GRU3-C2"]),
                  str(r.randrange(200, 10**6)), _ip(r, True), r.choice(["GET", "HEAD"]), "d111111abcdef8.cloudfront.net",
                  r.choice(HTTP_PATHS).split("?")[0], str(status), "-", r.choice(AGENTS).replace(" ", "%20"), "-", "-",
                  r.choice(["Hit", "Miss", "RefreshHit"]), _hex(r, 20) + "==", "cdn.example.org", "https",
                  str(r.randrange(100, 900)), f"0.{r.randrange(1, 999):03d}", "-", "TLSv1.3", "TLS_AES_128_GCM_SHA256",
                  r.choice(["Hit", "Miss"]), "HTTP/2.0", "-", "-", str(r.randrange(1024, 65535)),
                  f"0.{r.randrange(1, 999):03d}", r.choice(["Hit", "Miss"]), "text/html", str(r.randrange(200, 10**6)), "-", "-"]
        return "\t".join(fields)

    def route53_public_logs(self) -> str:
        r, t = self.rng, self.tick()
        return (f"1.0 {t.strftime('%Y-%m-%dT%H:%M:%SZ')} Z{_hex(r, 12).upper()} {r.choice(['www', 'api'])}.example.com "
                f"{r.choice(['A', 'AAAA', 'MX'])} {r.choice(['NOERROR', 'NOERROR', 'NXDOMAIN'])} "
                f"{r.choice(['UDP', 'TCP'])} {r.choice(['IAD12', 'FRA6', 'SYD1'])} {_ip(r, True)} -")

    def eks_authenticator(self) -> str:
        r, t = self.rng, self.tick()
        account, role, user = r.choice(ACCOUNTS), r.choice(ROLES), r.choice(USERS)
        return (f'time="{t.strftime("%Y-%m-%dT%H:%M:%SZ")}" level=info msg="access granted" '
                f'arn="arn:aws:iam::{account}:role/{role}" client="127.0.0.1:{r.randrange(30000, 60000)}" '
                f'groups="[system:masters]" method=POST path=/authenticate sts=sts.us-east-1.amazonaws.com '
                f'uid="aws-iam-authenticator:{account}:AROA{_hex(r, 16).upper()}" username="{user}"')

    def rds(self) -> str:
        r, t = self.rng, self.tick()
        user, db = r.choice(USERS), r.choice(["orders", "users", "postgres"])
        message = r.choice(["LOG:  connection authorized: user={u} database={d}",
                            'FATAL:  password authentication failed for user "{u}"',
                            "LOG:  disconnection: session time: 0:00:01.234 user={u} database={d}"]).format(u=user, d=db)
        return f"{t.strftime('%Y-%m-%d %H:%M:%S UTC')}:{_ip(r, False)}({r.randrange(30000, 60000)}):{user}@{db}:[{r.randrange(1000, 30000)}]:{message}"

    def redshift(self) -> str:
        r, t = self.rng, self.tick()
        return (f"authenticated |{t.strftime('%a, %d %b %Y %H:%M:%S:%f')[:-3]}|::ffff:{_ip(r, False)} |{r.randrange(30000, 60000)} "
                f"|{r.randrange(1000, 60000)} |dev |{r.choice(USERS)} |password |0 |TLSv1.2 |ECDHE-RSA-AES256-GCM-SHA384 "
                f"|0 | | | | | | | | | | ")

    def application(self) -> str:
        r, t = self.rng, self.tick()
        return (f"{t.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {r.choice(['INFO', 'INFO', 'WARN', 'ERROR'])} "
                f"[{r.choice(['checkout', 'auth', 'search'])}] request_id={_uuid(r)} "
                f"{r.choice(['payment accepted', 'user logged in', 'cache miss', 'upstream timeout'])}")


# --- packing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """How one dataset's events are made and packed."""

    dataset: str
    make: Callable[[Generator], object]
    packing: str  # "cwl" | "eventbridge" | "lines"
    log_group: str = ""
    log_stream: str = ""
    detail_type: str = ""
    event_source: str = ""


SOURCES = {
    "cloudtrail": Source("cloudtrail", Generator.cloudtrail, "cwl", "aws-cloudtrail-logs-123456789012-org",
                         "123456789012_CloudTrail_us-east-1"),
    "vpcflow": Source("vpcflow", Generator.vpcflow, "cwl", "/aws/vpc/flowlogs", "eni-0a1b2c3d4e5f-all"),
    "elb_logs": Source("elb_logs", Generator.elb_logs, "lines"),
    "s3access": Source("s3access", Generator.s3access, "lines"),
    "cloudfront_logs": Source("cloudfront_logs", Generator.cloudfront_logs, "lines"),
    "waf": Source("waf", Generator.waf, "lines"),
    "route53_resolver_logs": Source("route53_resolver_logs", Generator.route53_resolver_logs, "cwl",
                                    "/aws/route53resolver/queries", "vpc-0a1b2c3d_query-logs"),
    "route53_public_logs": Source("route53_public_logs", Generator.route53_public_logs, "cwl",
                                  "/aws/route53/example.com", "Z0123456789ABC/IAD12"),
    "kubernetes.audit_logs": Source("kubernetes.audit_logs", Generator.kubernetes_audit, "cwl",
                                    "/aws/eks/prod/cluster", "kube-apiserver-audit-0123456789abcdef"),
    "eks_authenticator": Source("eks_authenticator", Generator.eks_authenticator, "cwl", "/aws/eks/prod/cluster",
                                "authenticator-0123456789abcdef"),
    "rds": Source("rds", Generator.rds, "cwl", "/aws/rds/instance/orders-db/postgresql", "orders-db.0"),
    "redshift": Source("redshift", Generator.redshift, "cwl", "/aws/redshift/cluster/dwh/connectionlog",
                       "dwh"),
    "cloudwatch_logs": Source("cloudwatch_logs", Generator.application, "cwl", "/ecs/checkout-service",
                              "ecs/checkout/0123456789"),
    "guardduty": Source("guardduty", Generator.guardduty, "eventbridge", detail_type="GuardDuty Finding",
                        event_source="aws.guardduty"),
    "securityhub_findings": Source("securityhub_findings", Generator.securityhub_findings, "eventbridge",
                                   detail_type="Security Hub Findings - Imported", event_source="aws.securityhub"),
    "config": Source("config", Generator.config, "eventbridge", detail_type="Config Rules Compliance Change",
                     event_source="aws.config"),
}

# `streams[].detection` rules for the corpus's log groups of the operator's naming, as a deployment claims its
# flow-log and query-log groups (settings form; `stream_parsing` for a parser configured without settings).
DETECTION: tuple[dict[str, str], ...] = (
    {"log_group": "/aws/vpc/flowlogs", "dataset": "vpcflow"},
    {"log_group": "/aws/route53resolver/*", "dataset": "route53_resolver_logs"},
)


def stream_parsing(stream: str, namespace: str = "default") -> StreamParsing:
    """How a stream carrying the corpus is parsed: its settings' `DETECTION` rules."""
    return StreamParsing(stream=stream, namespace=namespace, detection=tuple(
        DetectionRule(rule["dataset"], rule["log_group"]) for rule in DETECTION))


# The benchmark's mix (issue: CloudTrail 50 %, VPC Flow 30 %, ALB 10 %, the other sources 10 %).
BENCH_MIX = {"cloudtrail": 50.0, "vpcflow": 30.0, "elb_logs": 10.0}
_OTHERS = [name for name in SOURCES if name not in BENCH_MIX]
BENCH_MIX |= {name: 10.0 / len(_OTHERS) for name in _OTHERS}
# The demo shows every source in equal measure.
EVEN_MIX = {name: 1.0 for name in SOURCES}


@dataclass(frozen=True)
class KinesisRecord:
    partition_key: str
    data: bytes
    dataset: str
    events: int


def _cwl_record(source: Source, events: list[object], gen: Generator, account: str) -> bytes:
    log_events = []
    for item in events:
        message = item if isinstance(item, str) else orjson.dumps(item).decode()
        log_events.append({"id": str(gen.rng.getrandbits(120)), "timestamp": int(gen.now.timestamp() * 1000),
                           "message": message})
    body = {"messageType": "DATA_MESSAGE", "owner": account, "logGroup": source.log_group,
            "logStream": source.log_stream, "subscriptionFilters": ["secstash"], "logEvents": log_events}
    return gzip.compress(orjson.dumps(body), compresslevel=6, mtime=0)


def _eventbridge_record(source: Source, detail: dict, gen: Generator, account: str) -> bytes:
    if source.dataset == "securityhub_findings":
        detail = {"findings": [detail]}
    event = {"version": "0", "id": _uuid(gen.rng), "detail-type": source.detail_type, "source": source.event_source,
             "account": account, "time": _iso(gen.now), "region": gen.rng.choice(REGIONS), "resources": [],
             "detail": detail}
    return orjson.dumps(event)


def records(total_events: int, seed: int = 1, mix: dict[str, float] | None = None, cwl_batch: int = 50,
            line_batch: int = 10) -> Iterator[KinesisRecord]:
    """Kinesis records holding exactly `total_events` events in the given mix (weights by dataset)."""
    mix = mix or BENCH_MIX
    gen = Generator(seed)
    weights = sorted(mix.items())
    quota = Counter({name: int(total_events * w / sum(mix.values())) for name, w in weights})
    quota[weights[0][0]] += total_events - sum(quota.values())  # rounding remainder
    remaining = +quota  # a source whose share rounds to no events gets none (left at zero, the draw below would find nothing to pick)
    while remaining:
        names = [n for n in remaining if remaining[n] > 0]
        name = gen.rng.choices(names, weights=[mix[n] for n in names])[0]
        source = SOURCES[name]
        account = gen.rng.choice(ACCOUNTS)
        size = {"cwl": cwl_batch, "lines": line_batch, "eventbridge": 1}[source.packing]
        size = min(remaining[name], max(1, gen.rng.randrange(size // 2 + 1, size + 1)))
        batch = [source.make(gen) for _ in range(size)]
        if source.packing == "cwl":
            data = _cwl_record(source, batch, gen, account)
        elif source.packing == "eventbridge":
            data = _eventbridge_record(source, batch[0], gen, account)  # type: ignore[arg-type]
        else:
            data = "\n".join(b if isinstance(b, str) else orjson.dumps(b).decode() for b in batch).encode() + b"\n"
        remaining[name] -= size
        if remaining[name] <= 0:
            del remaining[name]
        yield KinesisRecord(f"{name}-{gen.rng.randrange(1 << 30)}", data, name, size)


def events(dataset: str, count: int, seed: int = 1) -> list[str]:
    """Bare events of one dataset (what `secstash parse --dataset` reads), one string each."""
    gen = Generator(seed)
    make = SOURCES[dataset].make
    return [e if isinstance(e, str) else orjson.dumps(e).decode() for e in (make(gen) for _ in range(count))]
