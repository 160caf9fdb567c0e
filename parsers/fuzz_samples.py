"""Built-in sample events per dataset and sample records per envelope: the fuzz corpus when Elastic's fixture
files are not at hand, and realistic inputs for tests. Values are documentation examples, not real data.
"""

from __future__ import annotations

import gzip

import orjson

_CLOUDTRAIL = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "AssumedRole", "principalId": "AROAEXAMPLE:alice", "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice",
        "accountId": "123456789012", "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "userName": "Admin",
                                             "arn": "arn:aws:iam::123456789012:role/Admin", "accountId": "123456789012"},
                           "attributes": {"creationDate": "2024-11-02T00:00:00Z", "mfaAuthenticated": "true"}},
    },
    "eventTime": "2024-11-02T00:20:40Z", "eventSource": "iam.amazonaws.com", "eventName": "AttachUserPolicy",
    "awsRegion": "us-east-1", "sourceIPAddress": "89.160.20.156",
    "userAgent": "aws-cli/2.13.0 Python/3.11.4 Linux/6.1 exe/x86_64.ubuntu.22 prompt/off command/iam.attach-user-policy",
    "requestParameters": {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    "responseElements": None, "requestID": "12ab45a7-ecba-479c-890e-87c5e40cba71",
    "eventID": "b62fe3ff-ae80-496c-a2e9-32abb2a1281d", "readOnly": False, "eventType": "AwsApiCall",
    "managementEvent": True, "recipientAccountId": "123456789012", "eventCategory": "Management",
    "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "iam.amazonaws.com"},
}
_CONSOLE_LOGIN = {
    "eventVersion": "1.05", "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": "123456789012",
                                             "userName": "alice"},
    "eventTime": "2024-11-02T00:20:40Z", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
    "awsRegion": "us-east-1", "sourceIPAddress": "81.2.69.142",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:24.0) Gecko/20100101 Firefox/24.0",
    "requestParameters": None, "responseElements": {"ConsoleLogin": "Failure"}, "errorMessage": "Failed authentication",
    "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/", "MobileVersion": "No", "MFAUsed": "No"},
    "eventID": "0b7a3b53-4f6d-4e7b-9c1b-5d6a1a2b3c4d", "eventType": "AwsConsoleSignIn", "recipientAccountId": "123456789012",
}
_DIGEST = {
    "awsAccountId": "123456789012", "digestStartTime": "2020-09-11T18:36:49Z", "digestEndTime": "2020-09-11T19:36:49Z",
    "digestS3Bucket": "trail-bucket",
    "digestS3Object": "AWSLogs/123456789012/CloudTrail-Digest/us-west-2/2020/09/11/x.json.gz",
    "digestPublicKeyFingerprint": "47aaa19f7eec22e9bd0b5e58cfade8cb", "digestSignatureAlgorithm": "SHA256withRSA",
    "newestEventTime": "2020-09-11T19:26:24Z", "oldestEventTime": "2020-09-11T18:32:04Z",
    "previousDigestSignature": "0a1b2c3d", "previousDigestHashAlgorithm": "SHA-256", "logFiles": [],
}
_GUARDDUTY = {
    "schemaVersion": "2.0", "accountId": "123456789012", "region": "us-east-1", "partition": "aws",
    "id": "d6012345678912345678912349f831b8f",
    "arn": "arn:aws:guardduty:us-east-1:123456789012:detector/d60123/finding/d6012345678912345678912349f831b8f",
    "type": "Recon:EC2/PortProbeUnprotectedPort",
    "resource": {"resourceType": "Instance", "instanceDetails": {
        "instanceId": "i-99999999", "instanceType": "m3.xlarge", "platform": None,
        "networkInterfaces": [{"privateIpAddress": "10.0.0.1", "publicIp": "198.51.100.0", "subnetId": "subnet-1",
                               "vpcId": "vpc-1", "securityGroups": [{"groupName": "sg", "groupId": "sg-1"}]}],
        "tags": [{"key": "Name", "value": "web"}]}},
    "service": {"serviceName": "guardduty", "detectorId": "d60123", "archived": False, "count": 3,
                "eventFirstSeen": "2024-01-01T00:00:00.000Z", "eventLastSeen": "2024-01-02T00:00:00.000Z",
                "resourceRole": "TARGET",
                "action": {"actionType": "PORT_PROBE", "portProbeAction": {"blocked": False, "portProbeDetails": [{
                    "localPortDetails": {"port": 80, "portName": "HTTP"},
                    "remoteIpDetails": {"ipAddressV4": "175.16.199.1", "country": {"countryName": "China"},
                                        "organization": {"asn": "4837", "asnOrg": "CHINA UNICOM"},
                                        "geoLocation": {"lat": 43.88, "lon": 125.32}}}]}}},
    "severity": 2, "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-02T00:00:00.000Z",
    "title": "Unprotected port on EC2 instance i-99999999 is being probed.",
    "description": "EC2 instance has an unprotected port which is being probed by a known malicious host.",
}
_SECURITYHUB = {
    "SchemaVersion": "2018-10-08", "Id": "arn:aws:securityhub:us-east-1:123456789012:finding/1",
    "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub", "ProductName": "Security Hub",
    "CompanyName": "AWS", "Region": "us-east-1", "GeneratorId": "aws-foundational-security-best-practices/v/1.0.0/S3.1",
    "AwsAccountId": "123456789012", "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
    "FirstObservedAt": "2024-01-01T00:00:00.000Z", "LastObservedAt": "2024-01-02T00:00:00.000Z",
    "CreatedAt": "2024-01-01T00:00:00.000Z", "UpdatedAt": "2024-01-02T00:00:00.000Z",
    "Severity": {"Label": "MEDIUM", "Normalized": 40, "Original": "MEDIUM"},
    "Title": "S3 Block Public Access setting should be enabled", "Description": "This control checks ...",
    "Remediation": {"Recommendation": {"Text": "See the documentation", "Url": "https://docs.aws.amazon.com/"}},
    "Resources": [{"Type": "AwsAccount", "Id": "AWS::::Account:123456789012", "Partition": "aws", "Region": "us-east-1"}],
    "Compliance": {"Status": "FAILED"}, "WorkflowState": "NEW", "Workflow": {"Status": "NEW"}, "RecordState": "ACTIVE",
    "Network": {"Direction": "IN", "Protocol": "TCP", "SourceIpV4": "89.160.20.156", "SourcePort": 42, "DestinationPort": 22},
}
_CONFIG = {
    "ComplianceType": "NON_COMPLIANT", "ConfigRuleInvokedTime": 1742799479.852,
    "EvaluationResultIdentifier": {"EvaluationResultQualifier": {
        "ConfigRuleName": "required-tags", "EvaluationMode": "DETECTIVE", "ResourceId": "i-0a4468fbfafee6a8f",
        "ResourceType": "AWS::EC2::Instance"}, "OrderingTimestamp": 1742541951.883},
    "ResultRecordedTime": 1742799480.061, "Annotation": "missing tag: owner",
    "ConfigRuleInfo": {"ConfigRuleArn": "arn:aws:config:us-east-1:123456789012:config-rule/config-rule-rwpvuz",
                       "ConfigRuleId": "config-rule-rwpvuz", "ConfigRuleName": "required-tags",
                       "InputParameters": "{\"tag1Key\":\"owner\"}", "Source": {"Owner": "AWS", "SourceIdentifier": "REQUIRED_TAGS"}},
}
_WAF = {
    "timestamp": 1576280412771, "formatVersion": 1,
    "webaclId": "arn:aws:wafv2:ap-southeast-2:123456789012:regional/webacl/STMTest/1EXAMPLE",
    "terminatingRuleId": "STMTest_SQLi_XSS", "terminatingRuleType": "REGULAR", "action": "BLOCK",
    "terminatingRuleMatchDetails": [{"conditionType": "SQL_INJECTION", "location": "HEADER", "matchedData": ["10", "AND", "1"]}],
    "httpSourceName": "ALB", "httpSourceId": "123456789012-app/alb/1", "ruleGroupList": [], "rateBasedRuleList": [],
    "nonTerminatingMatchingRules": [],
    "httpRequest": {"clientIp": "89.160.20.156", "country": "SE",
                    "headers": [{"name": "Host", "value": "example.com"}, {"name": "User-Agent", "value": "curl/7.61.1"}],
                    "uri": "/foo", "args": "a=1", "httpVersion": "HTTP/1.1", "httpMethod": "GET", "requestId": "rid"},
}
_RESOLVER = {
    "version": "1.100000", "account_id": "123456789012", "region": "us-east-1", "vpc_id": "vpc-01e31a7c",
    "query_timestamp": "2021-12-11T22:46:23Z", "query_name": "www.example.com.", "query_type": "A", "query_class": "IN",
    "rcode": "NOERROR", "answers": [{"Rdata": "93.184.216.34", "Type": "A", "Class": "IN"}],
    "srcaddr": "172.31.86.159", "srcport": "48701", "transport": "UDP", "srcids": {"instance": "i-0d15cd0d3a0d5f0a5"},
}
_K8S_AUDIT = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "abcde12345",
    "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/default/pods", "verb": "get",
    "user": {"username": "system:serviceaccount:default:default", "uid": "12345678", "groups": ["system:authenticated"]},
    "sourceIPs": ["67.43.156.1"], "userAgent": "kubectl/v1.26.1",
    "objectRef": {"resource": "pods", "namespace": "default", "name": "my-pod", "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 200}, "requestReceivedTimestamp": "2025-03-04T06:22:18.819232Z",
    "stageTimestamp": "2025-03-04T06:22:18.822532Z",
    "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
}


def _json(obj: object) -> str:
    return orjson.dumps(obj).decode()


# dataset -> sample events (the text Elastic's integration sees as `message`)
EVENTS: dict[str, list[str]] = {
    "cloudtrail": [_json(_CLOUDTRAIL), _json(_CONSOLE_LOGIN), _json(_DIGEST)],
    "vpcflow": [
        "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
        "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
        "2 123456789010 eni-1235b8ca123456789 2001:db8::1 2001:db8::2 34892 22 6 54 8855 1477913708 1477913820 REJECT OK",
        ("5 123456789010 eni-069b7a490 89.160.20.156 10.200.0.80 50041 33004 17 52 1 1640000066 1640000297 REJECT OK "
         "vpc-0967 subnet-02d6 i-0ad77 1 IPv4 89.160.20.156 10.200.0.80 us-east-1 use1-az5 - - AMAZON - ingress 1"),
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
    ],
    "elb_logs": [
        ('http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 '
         '0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - '
         'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
         '"Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" '
         '"10.0.0.1:80" "200" "-" "-"'),
        ('tls 2.0 2018-12-20T02:59:40 net/my-network-loadbalancer/c6e77e28c25b2234 g3d4b5e8bb8464cd '
         '72.21.218.154:51341 172.100.100.185:443 5 2 98 246 - '
         'arn:aws:acm:us-east-2:671290407336:certificate/2a108f19-aded-46b0-8493-c63eb1ef4a99 - '
         'ECDHE-RSA-AES128-SHA tlsv12 - my-network-loadbalancer-c6e77e28c25b2234.elb.us-east-2.amazonaws.com'),
        ('2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 '
         '200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -'),
    ],
    "s3access": [
        ('79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 '
         '[06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be '
         '3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /awsexamplebucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" '
         '"S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 '
         'ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2 - -'),
    ],
    "cloudfront_logs": [
        "#Version: 1.0",
        ("2019-12-04\t21:02:31\tLAX1\t392\t89.160.20.112\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\t"
         "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\t"
         "d111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t"
         "0.001\tHit\ttext/html\t78\t-\t-"),
    ],
    "route53_resolver_logs": [_json(_RESOLVER)],
    "route53_public_logs": [
        "1.0 2017-12-13T08:16:02.130Z Z123412341234 example.com A NOERROR UDP FRA6 89.160.20.112 -",
        "1.0 2017-12-13T08:16:03.983Z Z123412341234 example.com AAAA NOERROR TCP FRA6 2001:db8::1 2001:db8:abcd::/48",
    ],
    "guardduty": [_json(_GUARDDUTY), '{"findings":[]}'],
    "securityhub_findings": [_json(_SECURITYHUB)],
    "config": [_json(_CONFIG)],
    "waf": [_json(_WAF)],
    "cloudwatch_logs": ["2020-02-20T07:01:01.000Z Feb 20 07:01:01 ip-172-31-81-156 systemd: Stopping User Slice of root."],
    "kubernetes.audit_logs": [_json(_K8S_AUDIT)],
    "eks_authenticator": [
        ('time="2024-01-01T12:00:00Z" level=info msg="access granted" arn="arn:aws:iam::123456789012:role/admin" '
         'client="127.0.0.1:52338" groups="[system:masters]" method=POST path=/authenticate '
         'uid="aws-iam-authenticator:123456789012:AROAEXAMPLE" username="kubernetes-admin"'),
    ],
    "rds": [
        "2024-01-01 12:00:00 UTC:10.0.0.1(5432):postgres@appdb:[1234]:LOG:  connection authorized: user=postgres database=appdb",
        "20240101 12:00:00,ip-10-0-0-1,admin,10.0.0.2,12,345,QUERY,appdb,'SELECT 1',0",
        "2024-01-01T12:00:00.123456Z 15 [Note] Access denied for user 'root'@'10.0.0.3' (using password: YES)",
    ],
    "redshift": [
        "'2024-01-01T12:00:00Z UTC [ db=dev user=rdsdb pid=123 userid=1 xid=456 ]' LOG: select 1;",
        ("authenticated |Mon, 01 Jan 2024 12:00:00:000|::ffff:10.0.0.1 |40412 |12345|dev |admin "
         "|password |0|TLSv1.2 |ECDHE-RSA-AES256-GCM-SHA384 |0| | | |0| | | |"),
    ],
}


def cloudwatch_message(group: str, stream: str, messages: list[str], owner: str = "123456789012") -> dict:
    return {
        "messageType": "DATA_MESSAGE", "owner": owner, "logGroup": group, "logStream": stream,
        "subscriptionFilters": ["to-kinesis"],
        "logEvents": [{"id": str(36000000000000000000000000000000000000000000000000000000 + n), "timestamp": 1700000000000 + n,
                       "message": m} for n, m in enumerate(messages)],
    }


def eventbridge_event(source: str, detail_type: str, detail: object) -> dict:
    return {"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": detail_type, "source": source,
            "account": "123456789012", "time": "2024-01-02T03:04:05Z", "region": "us-east-1", "resources": [],
            "detail": detail}


CONFIG_CHANGE = {
    "resourceId": "i-0a4468fbfafee6a8f", "awsRegion": "us-east-1", "awsAccountId": "123456789012",
    "configRuleName": "required-tags", "recordVersion": "1.0",
    "configRuleARN": "arn:aws:config:us-east-1:123456789012:config-rule/config-rule-rwpvuz",
    "messageType": "ComplianceChangeNotification",
    "newEvaluationResult": {
        "evaluationResultIdentifier": {"evaluationResultQualifier": {
            "configRuleName": "required-tags", "resourceType": "AWS::EC2::Instance", "resourceId": "i-0a4468fbfafee6a8f",
            "evaluationMode": "DETECTIVE"}, "orderingTimestamp": "2025-03-21T07:25:51.883Z"},
        "complianceType": "NON_COMPLIANT", "resultRecordedTime": "2025-03-24T06:58:00.061Z",
        "configRuleInvokedTime": "2025-03-24T06:57:59.852Z", "annotation": "missing tag: owner"},
    "notificationCreationTime": "2025-03-24T06:58:01.000Z", "resourceType": "AWS::EC2::Instance",
}


def _s3_created(key: str, name: str = "ObjectCreated:Put") -> dict:
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": name,
            "s3": {"bucket": {"name": "logs", "arn": "arn:aws:s3:::logs"}, "object": {"key": key, "size": 120}}}


def _records() -> dict[str, list[bytes]]:
    cw = cloudwatch_message
    eb = eventbridge_event
    return {
        "cloudwatch_logs": [
            gzip.compress(orjson.dumps(cw("/aws/eks/prod/cluster", "kube-apiserver-audit-0a1b2c", EVENTS["kubernetes.audit_logs"]))),
            gzip.compress(orjson.dumps(cw("/aws/vpc/flowlogs", "eni-1235b8ca123456789-all", EVENTS["vpcflow"][:3]))),
            orjson.dumps(cw("aws-waf-logs-prod", "us-east-1_prod_0", EVENTS["waf"])),
            orjson.dumps(cw("/aws/route53/example.com", "Z123412341234/FRA6", EVENTS["route53_public_logs"])),
            orjson.dumps(cw("/aws/lambda/app", "2024/01/01/[$LATEST]abc", EVENTS["cloudwatch_logs"] * 2)),
            orjson.dumps(cw("/aws/events/guardduty", "x", [_json(eb("aws.guardduty", "GuardDuty Finding", _GUARDDUTY))])),
            orjson.dumps({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
                          "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 1700000000000,
                          "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}),
        ],
        "eventbridge": [
            orjson.dumps(eb("aws.guardduty", "GuardDuty Finding", _GUARDDUTY)),
            orjson.dumps(eb("aws.securityhub", "Security Hub Findings - Imported", {"findings": [_SECURITYHUB, _SECURITYHUB]})),
            orjson.dumps(eb("aws.config", "Config Rules Compliance Change", CONFIG_CHANGE)),
            orjson.dumps(eb("aws.iam", "AWS API Call via CloudTrail", _CLOUDTRAIL)),
            orjson.dumps(eb("aws.ec2", "EC2 Instance State-change Notification", {"instance-id": "i-1", "state": "running"})),
        ],
        "cloudtrail_file": [
            orjson.dumps({"Records": [_CLOUDTRAIL, _CONSOLE_LOGIN]}),
            gzip.compress(orjson.dumps({"Records": [_CLOUDTRAIL]})),
            orjson.dumps(_DIGEST),
        ],
        "s3_notification": [
            orjson.dumps({"Records": [_s3_created("AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/01/01/a.log.gz"),
                                      _s3_created("cdn/E2EXAMPLE1234AB.2024-05-01-10.a1b2c3d4.gz", "ObjectRemoved:Delete")]}),
            orjson.dumps(eb("aws.s3", "Object Created", {"version": "0", "bucket": {"name": "logs"},
                                                         "object": {"key": "access/2024-05-01-10-11-12-0A1B2C3D4E5F6789",
                                                                    "size": 120, "version-id": "v1"}})),
            orjson.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-05-01T00:00:00Z",
                          "Bucket": "logs"}),
            # S3 -> SNS -> SQS -> EventBridge Pipe: both wrappers around the notification
            orjson.dumps({"eventSource": "aws:sqs", "messageId": "m1", "body": _json({
                "Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:logs",
                "Message": _json({"Records": [_s3_created("AWSLogs/123456789012/vpcflowlogs/us-east-1/x.log.gz")]})})}),
        ],
        "lines": [
            "\n".join(EVENTS["elb_logs"]).encode(),
            "\n".join(EVENTS["s3access"] * 2).encode(),
            "\r\n".join(EVENTS["cloudfront_logs"]).encode(),
            "\n".join(EVENTS["vpcflow"]).encode(),
            ("\n".join(EVENTS["waf"] * 2) + "\n").encode(),
            EVENTS["cloudwatch_logs"][0].encode(),
        ],
    }


RECORDS: dict[str, list[bytes]] = _records()  # envelope -> sample Kinesis record payloads
