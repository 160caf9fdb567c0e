"""The Rust entity script (native/src/entity.rs) against `parsers.cloudtrail_entity.entities`, its reference:
actor, targets and related must be the same, in the same order, for every record Rust answers, and Rust must
answer every realistic record (the tests count them, so refusing everything cannot pass).

Records: Elastic's CloudTrail test cases, the benchmark's corpus, hand-picked edge cases, and seeded random
records built, for every service table and special function of the Python module, from the paths it reads:
present, absent, empty, not a string, not an object, lists with misses first, repeated values, non-ASCII and
non-BMP texts (whose Java order differs from Python's).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer import corpus
from parsers import cloudtrail, cloudtrail_entity
from parsers.enrich.javamap import TooDeep

native = pytest.importorskip("secstash_native", reason="secstash_native is not installed")
if not hasattr(native, "_entities"):
    pytest.skip("the installed secstash_native predates the entity port: rebuild native/", allow_module_level=True)

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "elastic-aws" / "cloudtrail"


def python_entities(record: dict[str, Any]) -> tuple[str | None, list[str], list[str]] | None:
    """What parsers.cloudtrail._document gets from the entity script, None when it does not run it."""
    name = record.get("eventName")
    if type(name) is not str:
        name = cloudtrail._clean(name)
    elif not name:
        name = None
    if name is None:
        return None
    found = cloudtrail_entity.entities(record, record.get("eventSource"), name)
    return found.actor, found.targets, found.related


def rust_entities(text: str) -> tuple[str | None, list[str], list[str]] | None:
    found = native._entities(text)
    return None if found is None else (found[0], list(found[1]), list(found[2]))


def compare(texts: list[str]) -> tuple[int, int]:
    """(records Rust answered, records the script ran on); fails on the first difference or refusal."""
    answered = ran = 0
    for text in texts:
        expected = python_entities(orjson.loads(text))
        got = rust_entities(text)
        if expected is not None:
            ran += 1
            assert got is not None, f"Rust refused {text}"
            answered += 1
        assert got == expected, text
    return answered, ran


def fixture_records() -> list[str]:
    """Each test case's records as parsers.cloudtrail.parse passes them on (Splunk exports unwrapped)."""
    texts = []
    for path in sorted(FIXTURES.glob("**/test-*.log")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue  # a blank message: no eventName, no entities
            record = orjson.loads(line)
            if record.get("preview") is not None:
                raw = cloudtrail._third_party_raw(record)
                if raw is None:
                    continue
                line = raw
            texts.append(line)
    return texts


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="no Elastic test cases")
def test_elastic_test_cases() -> None:
    texts = fixture_records()
    answered, ran = compare(texts)
    assert ran == answered >= 30


def test_benchmark_corpus() -> None:
    answered, ran = compare(corpus.events("cloudtrail", 3000))
    assert ran == answered == 3000


def _json(record: dict[str, Any]) -> str:
    return orjson.dumps(record).decode()


EC2, SSM, STS = "ec2.amazonaws.com", "ssm.amazonaws.com", "sts.amazonaws.com"
EDGE_CASES = [
    # A repeated key keeps its last value (orjson and serde_json alike).
    '{"eventName":"x","userIdentity":{"arn":"a","arn":"b","userName":"a"}}',
    # Identity Center: no ARN, the user id is the actor; an ARN that is not a text is no actor, and no fallback.
    _json({"eventName": "x", "userIdentity": {"type": "IdentityCenterUser",
                                              "onBehalfOf": {"userId": "u", "identityStoreArn": "s"}}}),
    _json({"eventName": "x", "userIdentity": {"arn": None, "onBehalfOf": {"userId": "u"}}}),
    _json({"eventName": "x", "userIdentity": {"arn": 5, "onBehalfOf": {"userId": "u"}}}),
    _json({"eventName": "x", "userIdentity": {"arn": "", "onBehalfOf": {"userId": "u"}}}),
    # STS: AssumeRole by a service, by an assumed role; GetCallerIdentity takes the ARN (no Identity Center id).
    _json({"eventSource": STS, "eventName": "AssumeRole",
           "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com", "arn": "a"}}),
    _json({"eventSource": STS, "eventName": "AssumeRole",
           "userIdentity": {"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": "role"}}, "arn": "a"}}),
    _json({"eventSource": STS, "eventName": "GetCallerIdentity", "userIdentity": {"onBehalfOf": {"userId": "u"}}}),
    # A non-string eventName runs the script with no name; one cleaned away does not run it.
    _json({"eventSource": "s3.amazonaws.com", "eventName": 5, "userIdentity": {"arn": "a"},
           "resources": [{"ARN": "r"}]}),
    _json({"eventSource": "s3.amazonaws.com", "eventName": {"a": [""]}, "userIdentity": {"arn": "a"}}),
    _json({"eventSource": "s3.amazonaws.com", "eventName": "", "userIdentity": {"arn": "a"}}),
    _json({"eventSource": "s3.amazonaws.com", "eventName": {"a": "b"}, "userIdentity": {"arn": "a"}}),
    # Java's order: U+E000..U+FFFF after characters beyond U+FFFF (escaped as surrogate pairs here).
    ('{"eventName":"x","resources":[{"ARN":"\\ue000"},{"ARN":"\\ud83d\\ude00"},{"ARN":"\\uffff"},{"ARN":"a"},'
     '{"ARN":"\\ud7ff"},{"ARN":"a\\ud800\\udc00"},{"ARN":"a\\uffffb"}]}'),
    # Rule numbers as Java prints them.
    *(_json({"eventSource": EC2, "eventName": "DeleteNetworkAclEntry", "requestParameters": {"ruleNumber": number}})
      for number in (100, -7, 2**64 - 1, -(2**63), True, "7", "", None)),
    # SendCommand: a lone "*" names the account; the targets' values when there is no instance list.
    _json({"eventSource": SSM, "eventName": "SendCommand", "recipientAccountId": "1",
           "requestParameters": {"instanceIds": ["*"]}}),
    _json({"eventSource": SSM, "eventName": "SendCommand", "recipientAccountId": "1",
           "requestParameters": {"instanceIds": [], "targets": [{"values": ["*"]}, {"values": "i"}, 5]}}),
    _json({"eventSource": SSM, "eventName": "SendCommand",
           "requestParameters": {"targets": [{"values": ["i1", "i2"]}, {"values": [5, "i3"]}]}}),
    # Lambda's versioned action names.
    _json({"eventSource": "lambda.amazonaws.com", "eventName": "AddPermission20150331v2",
           "requestParameters": {"functionName": "f"}}),
    _json({"eventSource": "lambda.amazonaws.com", "eventName": "ListFunctions20150331", "recipientAccountId": "1"}),
    # More members than the scanned lookup takes: the hashed one.
    _json({"eventName": "x", "userIdentity": {**{f"a{i}": i for i in range(20)}, "arn": "z"}}),
]


def test_edge_cases() -> None:
    answered, ran = compare(EDGE_CASES)
    assert answered == ran == len(EDGE_CASES) - 2


# "-0": orjson reads the integer 0, serde_json the float -0.0, which Rust cannot tell from "-0.0" (Java: "-0.0").
@pytest.mark.parametrize("number", ["1.5", "1e2", "-0.0", "-0", "18446744073709551616", "{}", "[1]", '{"a":1}'])
def test_refuses_rule_numbers_java_prints_its_own_way(number: str) -> None:
    text = ('{"eventSource":"ec2.amazonaws.com","eventName":"DeleteNetworkAclEntry",'
            f'"requestParameters":{{"ruleNumber":{number}}}}}')
    assert python_entities(orjson.loads(text)) is not None
    assert native._entities(text) is None


def test_large_sets_keep_java_order() -> None:
    """Past the scanned set's size: hashed membership, the same stops and the same order."""
    rng = random.Random(7)
    pool = [f"arn:{i}" for i in range(60)] + ["\ue001", "\U0001f601", "é", "Z"]
    for _ in range(50):
        resources = [{"ARN": rng.choice(pool)} for _ in range(rng.randrange(10, 80))]
        groups = [{"groupId": rng.choice(pool)} for _ in range(rng.randrange(10, 40))]
        record = {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "resources": resources,
                  "responseElements": {"groupSet": {"items": groups},
                                       "securityGroupRuleSet": {"items": [
                                           {"groupId": rng.choice(pool), "securityGroupRuleId": rng.choice(pool)}
                                           for _ in range(30)]}}}
        assert compare([orjson.dumps(record).decode()]) == (1, 1)


# --- seeded random records -------------------------------------------------------------------------------------

IDENTITY = ["userIdentity.accessKeyId", "userIdentity.arn", "userIdentity.userName", "userIdentity.invokedBy",
            "userIdentity.sessionContext.sessionIssuer.arn", "userIdentity.sessionContext.sessionIssuer.userName",
            "userIdentity.onBehalfOf.identityStoreArn", "userIdentity.onBehalfOf.userId", "userIdentity.type",
            "resources[].ARN"]
# The lists the special functions walk ("[]": a list; its items' paths follow).
WALKED = {
    "ec2.amazonaws.com": [
        "responseElements.securityGroupRuleSet.items[].groupId",
        "responseElements.securityGroupRuleSet.items[].referencedGroupInfo.groupId",
        "responseElements.securityGroupRuleSet.items[].securityGroupRuleId",
        "responseElements.groupSet.items[].groupId", "requestParameters.groupSet.items[].groupId",
        "requestParameters.instancesSet.items[].instanceId",
        "responseElements.instancesSet.items[].subnetId", "responseElements.instancesSet.items[].vpcId",
        "responseElements.instancesSet.items[].instanceId", "responseElements.instancesSet.items[].imageId",
        "responseElements.instancesSet.items[].iamInstanceProfile.arn",
        "responseElements.instancesSet.items[].networkInterfaceSet.items[].networkInterfaceId",
        "responseElements.instancesSet.items[].networkInterfaceSet.items[].vpcId",
        "responseElements.instancesSet.items[].networkInterfaceSet.items[].subnetId",
        "responseElements.instancesSet.items[].networkInterfaceSet.items[].groupSet.items[].groupId",
        "requestParameters.revokedSecurityGroupRuleSet.items[].securityGroupRuleId",
        "requestParameters.revokedSecurityGroupRuleSet.items[].groupId",
        "requestParameters.groupId", "requestParameters.ruleNumber",
    ],
    "lambda.amazonaws.com": ["responseElements.vpcConfig.securityGroupIds[]", "responseElements.vpcConfig.subnetIds[]",
                             "requestParameters.functionName", "recipientAccountId"],
    "rds.amazonaws.com": ["responseElements.dBSubnetGroup.subnets[].subnetIdentifier",
                          "responseElements.vpcSecurityGroups[].vpcSecurityGroupId"],
    "monitoring.amazonaws.com": ["requestParameters.alarmNames[]"],
    "secretsmanager.amazonaws.com": ["requestParameters.secretIdList[]"],
    "ssm.amazonaws.com": ["requestParameters.instanceIds[]", "requestParameters.targets[].values[]",
                          "recipientAccountId"],
}
SPECIAL_NAMES = {
    "ec2.amazonaws.com": ["AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "DeleteNetworkAclEntry"],
    "lambda.amazonaws.com": ["AddPermission20150331v2", "ListFunctions20150331", "AddPermission"],
    "monitoring.amazonaws.com": ["DeleteAlarms"],
    "secretsmanager.amazonaws.com": ["BatchGetSecretValue"],
    "ssm.amazonaws.com": ["SendCommand"],
    "sts.amazonaws.com": ["AssumeRole", "GetCallerIdentity"],
}
KINDS = ["IdentityCenterUser", "AWSService", "AssumedRole", "IAMUser", "Root"]
TEXTS = ["a", "b", "arn:aws:iam::123456789012:user/alice", "123456789012", "*", "é", "\ue000", "\uffff", "\ud7ff",
         "\U0001f600", "z\U00010000", "z\uffff", "I", "i-0abc"]
OTHERS: list[Any] = [None, "", 0, 7, -3, 2**63, True, False, {}, [], {"a": "b"}, ["x"], [""]]
FLOATS: list[Any] = [1.5, -0.0, 1e300]  # only where no Java rendering is needed (not ruleNumber)


def paths_read(source: str, name: str) -> list[str]:
    paths = list(IDENTITY)
    if (trie := cloudtrail_entity._RELATED.get(source)) is not None:
        paths += leaves(trie)
    for path in cloudtrail_entity._TARGETS.get((source, name), ()):
        if path is not cloudtrail_entity._RESOURCE_ARNS:
            paths.append(".".join(path))
    paths += WALKED.get(source, [])
    return paths


def leaves(trie: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, sub in trie.items():
        out += [prefix + key] if sub is None else leaves(sub, f"{prefix}{key}.")
    return out


def leaf(rng: random.Random, path: str) -> Any:
    if path.endswith("userIdentity.type") and rng.random() < 0.8:
        return rng.choice(KINDS)
    r = rng.random()
    if r < 0.6:
        return rng.choice(TEXTS)
    if r < 0.95 or path.endswith("ruleNumber"):
        return rng.choice(OTHERS)
    return rng.choice(FLOATS)


def build(rng: random.Random, paths: list[list[str]], prefix: str = "") -> dict[str, Any]:
    """An object holding (or not, or the wrong way) what the paths read."""
    groups: dict[str, list[list[str]]] = {}
    for path in paths:
        groups.setdefault(path[0], []).append(path[1:])
    keys = list(groups)
    rng.shuffle(keys)
    out: dict[str, Any] = {}
    for key in keys:
        rests = groups[key]
        if rng.random() < 0.15:
            continue  # absent
        if rng.random() < 0.05:
            out[key.removesuffix("[]")] = rng.choice(OTHERS + TEXTS)  # not what the path expects
            continue
        inner = [rest for rest in rests if rest]
        if key.endswith("[]"):
            out[key[:-2]] = [
                (build(rng, inner, prefix + key + ".") if inner and rng.random() < 0.85 else leaf(rng, prefix + key))
                for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 20]))]
            if not inner and len(out[key[:-2]]) == 1 and rng.random() < 0.3:
                out[key[:-2]] = ["*"]
        elif inner and (len(inner) == len(rests) or rng.random() < 0.5):
            out[key] = build(rng, inner, prefix + key + ".")
        else:
            out[key] = leaf(rng, prefix + key)
    if rng.random() < 0.1:  # more members than the scanned lookup takes
        for i in range(9):
            out.setdefault(f"pad{i}", i)
    return out


def targets_table() -> list[tuple[str, str]]:
    pairs = list(cloudtrail_entity._TARGETS)
    for source, names in SPECIAL_NAMES.items():
        pairs += [(source, name) for name in names]
    for source in cloudtrail_entity._RELATED:
        pairs.append((source, "SomethingElse"))
    return pairs


def random_records(seed: int, per_pair: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for source, name in targets_table():
        paths = [p.split(".") for p in paths_read(source, name)]
        for _ in range(per_pair):
            record = build(rng, paths)
            record["eventSource"] = source if rng.random() < 0.95 else rng.choice([5, None, ""])
            record["eventName"] = name if rng.random() < 0.9 else rng.choice([5, {"a": "b"}, ["x"], ""])
            items = list(record.items())
            rng.shuffle(items)
            texts.append(orjson.dumps(dict(items)).decode())
    return texts


def refusable(record: dict[str, Any]) -> bool:
    """The one case Rust leaves to Python: a ruleNumber whose Java rendering it does not make."""
    number = cloudtrail._dig(record, "requestParameters", "ruleNumber")
    return (record.get("eventSource") == "ec2.amazonaws.com" and record.get("eventName") == "DeleteNetworkAclEntry"
            and type(number) in (float, dict, list))


@pytest.mark.parametrize("seed", range(4))
def test_random_records(seed: int) -> None:
    texts = random_records(seed, 40)
    answered = ran = 0
    for text in texts:
        record = orjson.loads(text)
        try:
            expected = python_entities(record)
        except TooDeep:
            continue
        got = rust_entities(text)
        if expected is not None:
            ran += 1
            if got is None:
                assert refusable(record), f"Rust refused {text}"
                continue
            answered += 1
        assert got == expected, text
    assert ran > 0.9 * len(texts) and answered > 0.98 * ran, (answered, ran, len(texts))
