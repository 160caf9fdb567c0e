#!/bin/bash
# LocalStack "ready" hook (mounted into /etc/localstack/init/ready.d): creates what
# deploy/compose/secstash.yml names. Safe to run again: each step skips what already exists.
#   - the Kinesis stream the generator writes to and secstash reads
#   - a symmetric KMS key (alias/secstash-archive) for SSE-KMS and an asymmetric one
#     (alias/secstash-manifests) that signs the archive's manifests
#   - the archive bucket: Object Lock in COMPLIANCE mode with a default retention, versioning (Object
#     Lock turns it on), default SSE-KMS with the key, every public-access block on
# The compose healthcheck reads LocalStack's /_localstack/init/ready, so secstash starts only after this
# script has finished successfully.
set -euo pipefail

REGION="${AWS_DEFAULT_REGION:-us-east-1}"
STREAM="${SECSTASH_DEMO_STREAM:-secstash-demo}"
SHARDS="${SECSTASH_DEMO_SHARDS:-2}"
BUCKET="${SECSTASH_DEMO_BUCKET:-secstash-archive}"
RETENTION_DAYS="${SECSTASH_DEMO_RETENTION_DAYS:-1}"
SIGNING_KEY_SPEC="${SECSTASH_DEMO_SIGNING_KEY_SPEC:-RSA_2048}"
aws() { awslocal --region "$REGION" "$@"; }
log() { echo "[secstash-init] $*"; }

if ! aws kinesis describe-stream-summary --stream-name "$STREAM" >/dev/null 2>&1; then
  log "creating stream $STREAM ($SHARDS shards)"
  aws kinesis create-stream --stream-name "$STREAM" --shard-count "$SHARDS"
fi
aws kinesis wait stream-exists --stream-name "$STREAM"

key_for_alias() { # alias -> key id, or nothing
  aws kms list-aliases --query "Aliases[?AliasName=='$1'].TargetKeyId | [0]" --output text | grep -v '^None$' || true
}
archive_key="$(key_for_alias alias/secstash-archive)"
if [[ -z "$archive_key" ]]; then
  log "creating the archive key alias/secstash-archive"
  archive_key="$(aws kms create-key --description "secstash archive (SSE-KMS)" \
    --query KeyMetadata.KeyId --output text)"
  aws kms create-alias --alias-name alias/secstash-archive --target-key-id "$archive_key"
fi
archive_key_arn="$(aws kms describe-key --key-id "$archive_key" --query KeyMetadata.Arn --output text)"
if [[ -z "$(key_for_alias alias/secstash-manifests)" ]]; then
  log "creating the manifest signing key alias/secstash-manifests ($SIGNING_KEY_SPEC)"
  signing_key="$(aws kms create-key --description "secstash manifest signing" --key-usage SIGN_VERIFY \
    --key-spec "$SIGNING_KEY_SPEC" --query KeyMetadata.KeyId --output text)"
  aws kms create-alias --alias-name alias/secstash-manifests --target-key-id "$signing_key"
fi

if ! aws s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
  log "creating bucket $BUCKET with Object Lock"
  # us-east-1 takes no LocationConstraint; any other region needs one.
  location=()
  [[ "$REGION" != us-east-1 ]] && location=(--create-bucket-configuration "LocationConstraint=$REGION")
  aws s3api create-bucket --bucket "$BUCKET" --object-lock-enabled-for-bucket "${location[@]}" >/dev/null
fi
aws s3api put-bucket-versioning --bucket "$BUCKET" --versioning-configuration Status=Enabled
aws s3api put-object-lock-configuration --bucket "$BUCKET" --object-lock-configuration \
  "{\"ObjectLockEnabled\":\"Enabled\",\"Rule\":{\"DefaultRetention\":{\"Mode\":\"COMPLIANCE\",\"Days\":$RETENTION_DAYS}}}"
aws s3api put-bucket-encryption --bucket "$BUCKET" --server-side-encryption-configuration \
  "{\"Rules\":[{\"ApplyServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"aws:kms\",\"KMSMasterKeyID\":\"$archive_key_arn\"},\"BucketKeyEnabled\":true}]}"
aws s3api put-public-access-block --bucket "$BUCKET" --public-access-block-configuration \
  BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true

log "ready: stream $STREAM, bucket $BUCKET (COMPLIANCE ${RETENTION_DAYS}d), key $archive_key_arn"
