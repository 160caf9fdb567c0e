//! The entity script's per-service tables (`_RELATED`, `_TARGETS` and the special functions of
//! parsers/cloudtrail_entity.py), indexed once per process by eventSource and eventName.

use super::record::Record;
use super::set::Set;
use super::walks;
use rustc_hash::FxHashMap;
use std::sync::OnceLock;

// eventSource -> fields added to related for every action of that service.
const RELATED: &[(&str, &[&str])] = &[
    (
        "cloudtrail.amazonaws.com",
        &[
            "requestParameters.name",
            "requestParameters.s3BucketName",
            "responseElements.cloudWatchLogsLogGroupArn",
            "responseElements.cloudWatchLogsRoleArn",
            "responseElements.kmsKeyId",
            "responseElements.snsTopicARN",
            "responseElements.trailARN",
            "responseElements.name",
        ],
    ),
    ("config.amazonaws.com", &["requestParameters.configurationRecorderName"]),
    (
        "ec2.amazonaws.com",
        &[
            "requestParameters.groupId",
            "requestParameters.groupName",
            "requestParameters.roleName",
            "requestParameters.subnetId",
            "requestParameters.volumeId",
            "requestParameters.networkInterfaceId",
            "requestParameters.vpcId",
            "requestParameters.snapshotId",
            "responseElements.groupId",
            "responseElements.reservationId",
            "responseElements.vpc.vpcId",
            "responseElements.vpc.dhcpOptionsId",
            "responseElements.snapshotId",
            "responseElements.volumeId",
        ],
    ),
    ("guardduty.amazonaws.com", &["requestParameters.detectorId", "responseElements.detectorId"]),
    (
        "iam.amazonaws.com",
        &[
            "requestParameters.userName",
            "requestParameters.serialNumber",
            "requestParameters.accessKeyId",
            "requestParameters.policyArn",
            "requestParameters.roleName",
            "requestParameters.policyName",
            "responseElements.accessKey.userName",
            "responseElements.accessKey.accessKeyId",
            "responseElements.user.arn",
            "responseElements.user.userId",
            "responseElements.user.userName",
            "responseElements.userId",
            "responseElements.role.arn",
            "responseElements.serialNumber",
        ],
    ),
    (
        "kms.amazonaws.com",
        &[
            "requestParameters.keyId",
            "responseElements.keyId",
            "responseElements.keyMetadata.arn",
            "responseElements.keyMetadata.keyId",
        ],
    ),
    (
        "lambda.amazonaws.com",
        &[
            "requestParameters.functionName",
            "responseElements.functionArn",
            "responseElements.functionName",
            "responseElements.role",
        ],
    ),
    (
        "rds.amazonaws.com",
        &[
            "requestParameters.dBInstanceIdentifier",
            "requestParameters.dBInstanceArn",
            "responseElements.dBInstanceIdentifier",
            "responseElements.dbInstanceArn",
            "responseElements.dBSubnetGroup.vpcId",
            "responseElements.vpcSecurityGroups.vpcSecurityGroupId",
        ],
    ),
    ("s3.amazonaws.com", &["requestParameters.bucketName"]),
    (
        "sts.amazonaws.com",
        &[
            "requestParameters.roleArn",
            "requestParameters.roleSessionName",
            "sourceIdentity",
            "additionalEventData.MFAIdentifier",
            "responseElements.assumedRoleUser.arn",
            "responseElements.accessKeyId",
        ],
    ),
    ("wafv2.amazonaws.com", &["requestParameters.id", "responseElements.summary"]),
];

/// Stands for every `resources[].ARN` among a call's target fields.
const RESOURCE_ARNS: &str = "resources[].ARN";

// (eventSource, eventNames, fields that name the call's targets).
const TARGETS: &[(&str, &str, &[&str])] = &[
    ("cloudformation.amazonaws.com", "CreateStackSet", &["responseElements.stackSetId"]),
    ("cloudformation.amazonaws.com", "CreateStack", &["responseElements.stackId"]),
    ("cloudtrail.amazonaws.com", "DeleteTrail StopLogging", &["requestParameters.name"]),
    ("cloudtrail.amazonaws.com", "DescribeTrails", &["recipientAccountId"]),
    ("ec2-instance-connect.amazonaws.com", "SendSSHPublicKey SendSerialConsoleSSHPublicKey", &["requestParameters.instanceId"]),
    ("config.amazonaws.com", "StopConfigurationRecorder StartConfigurationRecorder", &["requestParameters.configurationRecorderName"]),
    ("ec2.amazonaws.com", "CreateTrafficMirrorFilter", &["responseElements.CreateTrafficMirrorFilterResponse.trafficMirrorFilter.trafficMirrorFilterId"]),
    ("ec2.amazonaws.com", "CreateTrafficMirrorFilterRule", &["responseElements.CreateTrafficMirrorFilterRuleResponse.trafficMirrorFilterRule.trafficMirrorFilterRuleId"]),
    ("ec2.amazonaws.com", "CreateTrafficMirrorSession", &["responseElements.CreateTrafficMirrorSessionResponse.trafficMirrorSession.trafficMirrorSessionId"]),
    ("ec2.amazonaws.com", "CreateTrafficMirrorTarget", &["responseElements.CreateTrafficMirrorTargetResponse.trafficMirrorTarget.trafficMirrorTargetId"]),
    ("ec2.amazonaws.com", "DeleteFlowLogs", &["requestParameters.DeleteFlowLogsRequest.FlowLogId.content"]),
    ("ec2.amazonaws.com", "DeleteNetworkAcl DeleteNetworkAclEntry", &["requestParameters.networkAclId"]),
    ("ec2.amazonaws.com", "GetPasswordData", &["requestParameters.instanceId"]),
    ("ec2.amazonaws.com", "ModifyImageAttribute", &["requestParameters.imageId"]),
    ("ec2.amazonaws.com", "ModifySnapshotAttribute", &["requestParameters.snapshotId"]),
    ("ec2.amazonaws.com", "DescribeSecurityGroups DescribeNetworkInterfaces DescribeRegions DescribeVpcs DescribeNetworkAcls DescribeVolumes", &["recipientAccountId"]),
    ("elasticfilesystem.amazonaws.com", "DeleteFileSystem", &["requestParameters.fileSystemId"]),
    ("elasticfilesystem.amazonaws.com", "DeleteMountTarget", &["requestParameters.mountTargetId"]),
    ("events.amazonaws.com", "DeleteRule", &["requestParameters.name"]),
    ("guardduty.amazonaws.com", "CreateDetector", &["responseElements.detectorId"]),
    ("guardduty.amazonaws.com", "DeleteDetector", &["requestParameters.detectorId"]),
    ("iam.amazonaws.com", "AttachGroupPolicy", &["requestParameters.groupName"]),
    ("iam.amazonaws.com", "AttachRolePolicy ListAttachedRolePolicies UpdateAssumeRolePolicy", &["requestParameters.roleName"]),
    ("iam.amazonaws.com", "AttachUserPolicy", &["requestParameters.policyArn", "requestParameters.userName"]),
    ("iam.amazonaws.com", "CreateAccessKey", &["responseElements.accessKey.accessKeyId", "requestParameters.userName"]),
    ("iam.amazonaws.com", "CreateUser DeactivateMFADevice", &["requestParameters.userName"]),
    ("iam.amazonaws.com", "DeleteVirtualMFADevice", &["requestParameters.serialNumber"]),
    ("iam.amazonaws.com", "GetPolicy", &["requestParameters.policyArn"]),
    ("iam.amazonaws.com", "CreatePolicy", &["responseElements.policy.arn"]),
    ("iam.amazonaws.com", "ListRoles ListUsers", &["recipientAccountId"]),
    ("kms.amazonaws.com", "DisableKey ScheduleKeyDeletion", &["resources[].ARN"]),
    ("logs.amazonaws.com", "DeleteLogGroup", &["requestParameters.logGroupName"]),
    ("logs.amazonaws.com", "DeleteLogStream", &["requestParameters.logStreamName"]),
    ("rds.amazonaws.com", "DeleteDBCluster ModifyDBCluster StopDBCluster", &["responseElements.dBClusterArn"]),
    ("rds.amazonaws.com", "DeleteDBInstance ModifyDBInstance RestoreDBInstanceFromDBSnapshot RestoreDBInstanceFromS3 StopDBInstance", &["responseElements.dBInstanceArn"]),
    ("rds.amazonaws.com", "DeleteGlobalCluster", &["responseElements.globalClusterArn"]),
    ("rds.amazonaws.com", "ModifyDBClusterSnapshotAttribute", &["responseElements.dBClusterSnapshotIdentifier"]),
    ("rds.amazonaws.com", "ModifyDBSnapshotAttribute", &["responseElements.dBSnapshotIdentifier"]),
    ("rds.amazonaws.com", "DescribeDBInstances", &["recipientAccountId"]),
    ("rolesanywhere.amazonaws.com", "CreateTrustAnchor", &["responseElements.trustAnchor.trustAnchorArn"]),
    ("route53resolver.amazonaws.com", "DeleteResolverQueryLogConfig", &["responseElements.resolverQueryLogConfig.arn"]),
    ("s3.amazonaws.com", "CopyObject PutBucketLogging PutBucketVersioning PutObject GetBucketPolicy ListObjects HeadObject GetObject DeleteObject DeleteBucket", &["resources[].ARN"]),
    ("s3.amazonaws.com", "PutBucketReplication", &["resources[].ARN", "requestParameters.ReplicationConfiguration.Rule.Destination.Bucket"]),
    ("s3.amazonaws.com", "ListBuckets", &["recipientAccountId"]),
    ("secretsmanager.amazonaws.com", "GetSecretValue", &["requestParameters.secretId"]),
    ("signin.amazonaws.com", "ConsoleLogin", &["recipientAccountId"]),
    ("ssm.amazonaws.com", "GetParameter GetParameters CreateControlChannel OpenControlChannel", &["resources[].ARN"]),
    ("ssm.amazonaws.com", "StartSession", &["requestParameters.target"]),
    ("ssm.amazonaws.com", "CreateDocument", &["requestParameters.name"]),
    ("ssm.amazonaws.com", "TerminateSession OpenDataChannel", &["requestParameters.sessionId"]),
    ("ssm.amazonaws.com", "ListInstanceAssociations", &["recipientAccountId"]),
    ("sts.amazonaws.com", "AssumeRole", &["requestParameters.roleArn"]),
    ("sts.amazonaws.com", "GetCallerIdentity", &["recipientAccountId"]),
    ("wafv2.amazonaws.com", "DeleteRuleGroup DeleteWebACL", &["requestParameters.id"]),
    ("sns.amazonaws.com", "CreateTopic", &["responseElements.topicArn"]),
    ("sns.amazonaws.com", "Subscribe Publish", &["requestParameters.topicArn"]),
    ("bedrock.amazonaws.com", "Converse", &["requestParameters.modelId"]),
    ("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", &["recipientAccountId"]),
    ("dynamodb.amazonaws.com", "ListTables", &["recipientAccountId"]),
];

/// Field paths merged by prefix: one absent object skips every field under it.
#[derive(Default)]
pub struct Trie {
    pub children: Vec<(&'static str, Option<Trie>)>, // None marks a leaf
}

impl Trie {
    pub fn from_paths(paths: &[&'static str]) -> Self {
        let mut root = Trie::default();
        for path in paths {
            let mut keys = path.split('.').peekable();
            let mut node = &mut root;
            while let Some(key) = keys.next() {
                if keys.peek().is_none() {
                    node.children.push((key, None));
                    break;
                }
                let at = match node.children.iter().position(|(k, sub)| *k == key && sub.is_some()) {
                    Some(at) => at,
                    None => {
                        node.children.push((key, Some(Trie::default())));
                        node.children.len() - 1
                    }
                };
                node = node.children[at].1.as_mut().expect("an inner node");
            }
        }
        root
    }
}

pub enum Target {
    /// Every `resources[].ARN`, none skipped or stopping the others.
    ResourceArns,
    Path(Vec<&'static str>),
}

/// Adds related entities found by walking lists of the record.
pub type Walk = for<'a> fn(&Record<'a>, &mut Set<'a>);
/// Adds targets found in lists, numbers, or for action names matched by substring.
pub type Special = for<'a> fn(&Record<'a>, &str, &mut Set<'a>) -> Result<(), ()>;

#[derive(Default)]
pub struct Service {
    pub related: Option<Trie>,
    pub walk: Option<Walk>,
    pub special: Option<Special>,
    pub targets: FxHashMap<&'static str, Vec<Target>>,
}

/// The service of an eventSource, if the script knows it.
pub fn service(source: &str) -> Option<&'static Service> {
    static SERVICES: OnceLock<FxHashMap<&'static str, Service>> = OnceLock::new();
    SERVICES.get_or_init(services).get(source)
}

fn services() -> FxHashMap<&'static str, Service> {
    let mut services: FxHashMap<&'static str, Service> = FxHashMap::default();
    for (source, paths) in RELATED {
        services.entry(source).or_default().related = Some(Trie::from_paths(paths));
    }
    for (source, names, paths) in TARGETS {
        let service = services.entry(source).or_default();
        for name in names.split(' ') {
            let targets = paths
                .iter()
                .map(|path| match *path {
                    RESOURCE_ARNS => Target::ResourceArns,
                    path => Target::Path(path.split('.').collect()),
                })
                .collect();
            service.targets.insert(name, targets);
        }
    }
    let walks: [(&str, Walk); 3] = [
        ("ec2.amazonaws.com", walks::ec2_related),
        ("lambda.amazonaws.com", walks::lambda_related),
        ("rds.amazonaws.com", walks::rds_related),
    ];
    for (source, walk) in walks {
        services.entry(source).or_default().walk = Some(walk);
    }
    let specials: [(&str, Special); 5] = [
        ("ec2.amazonaws.com", walks::ec2_targets),
        ("lambda.amazonaws.com", walks::lambda_targets),
        ("monitoring.amazonaws.com", walks::monitoring_targets),
        ("secretsmanager.amazonaws.com", walks::secretsmanager_targets),
        ("ssm.amazonaws.com", walks::ssm_targets),
    ];
    for (source, special) in specials {
        services.entry(source).or_default().special = Some(special);
    }
    services
}
