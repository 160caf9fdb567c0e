# The AWS resources secstash writes to and reads from: the Kinesis stream, the KMS keys and the
# immutable archive bucket (Object Lock COMPLIANCE with a default retention, versioning, SSE-KMS with the
# module's key, every public-access block, TLS-only access, PUTs only with this module's key). IAM roles are not created here: see
# deploy/iam (policies generated from secstash's settings).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  stream_name = coalesce(var.stream_name, "${var.name}-logs")
  tags        = merge({ "app" = "secstash" }, var.tags)
}

# ------------------------------------------------------------------------------------------ KMS

# Key policy: the account administers the key and delegates its use to IAM policies (the secstash roles
# get GenerateDataKey/Decrypt through S3 only; see deploy/iam).
#
# Object Lock protects the object versions, not the key that decrypts them: a disabled or deleted key makes
# the whole archive unreadable (crypto-shredding). So no principal may schedule the key's deletion or
# disable it, except the optional break-glass role (kms_break_glass_role_arn). The account root keeps
# kms:PutKeyPolicy through the first statement, as KMS's lock-out safety check requires; whoever may
# change the key policy can still remove this Deny on purpose, so restrict kms:PutKeyPolicy too (an SCP)
# where that matters. This guards against accidents and against IAM admins acting through IAM alone.
data "aws_iam_policy_document" "archive_key" {
  statement {
    sid       = "AccountAdministersKeyAndDelegatesToIam"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "DenyKeyDeletionAndDisablingExceptBreakGlass"
    effect    = "Deny"
    actions   = ["kms:DisableKey", "kms:ScheduleKeyDeletion"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    # Without a break-glass role the Deny has no condition: nobody can disable or delete the key until
    # the key policy is changed.
    dynamic "condition" {
      for_each = var.kms_break_glass_role_arn == null ? [] : [var.kms_break_glass_role_arn]
      content {
        test     = "ArnNotEquals"
        variable = "aws:PrincipalArn"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_kms_key" "archive" {
  description             = "${var.name}: SSE-KMS of the archive bucket"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.archive_key.json
  tags                    = local.tags

  # Destroying the key destroys every archived object's readability: never from a plan.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "archive" {
  name          = "alias/${var.name}-archive"
  target_key_id = aws_kms_key.archive.key_id
}

resource "aws_kms_key" "signing" {
  count                    = var.create_signing_key ? 1 : 0
  description              = "${var.name}: signs the archive's manifests"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "RSA_2048"
  deletion_window_in_days  = var.kms_deletion_window_days
  policy                   = data.aws_iam_policy_document.archive_key.json
  tags                     = local.tags

  # Nothing in the module depends on this key, so `terraform destroy` or create_signing_key = false would
  # schedule its deletion, after which no manifest signature could be verified. Both now fail the plan.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "signing" {
  count         = var.create_signing_key ? 1 : 0
  name          = "alias/${var.name}-manifests"
  target_key_id = aws_kms_key.signing[0].key_id
}

# ------------------------------------------------------------------------------------------ Kinesis

resource "aws_kinesis_stream" "logs" {
  count            = var.create_stream ? 1 : 0
  name             = local.stream_name
  shard_count      = var.stream_shard_count
  retention_period = var.stream_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = var.stream_kms_key_id

  stream_mode_details {
    stream_mode = var.stream_shard_count == null ? "ON_DEMAND" : "PROVISIONED"
  }

  tags = local.tags
}

# ------------------------------------------------------------------------------------------ S3 archive

resource "aws_s3_bucket" "archive" {
  bucket              = var.bucket_name
  object_lock_enabled = true
  # Locked objects cannot be deleted anyway; never let `terraform destroy` try.
  force_destroy = false
  tags          = local.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "archive" {
  bucket = aws_s3_bucket.archive.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.retention_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.archive]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.archive.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "archive" {
  bucket                  = aws_s3_bucket.archive.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  # secstash aborts a failed multipart upload itself; this catches the ones a crash leaves behind.
  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  dynamic "rule" {
    for_each = var.expire_after_days == null ? [] : [var.expire_after_days]
    content {
      id     = "expire-after-retention"
      status = "Enabled"

      filter {}

      expiration {
        days = rule.value
      }

      noncurrent_version_expiration {
        noncurrent_days = 1
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.archive]
}

data "aws_iam_policy_document" "archive_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.archive.arn, "${aws_s3_bucket.archive.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyTlsOlderThan12"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.archive.arn, "${aws_s3_bucket.archive.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # A PUT that names an encryption must name SSE-KMS with this module's key. "IfExists": multipart
  # part uploads carry no encryption header and get the bucket default.
  statement {
    sid       = "DenyOtherEncryption"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }

  statement {
    sid       = "DenyOtherKmsKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [aws_kms_key.archive.arn]
    }
  }

  # "aws:kms" without a key id means the AWS managed key aws/s3, not this module's key (the bucket default
  # applies only to PUTs that name no encryption at all).
  statement {
    sid       = "DenyKmsWithoutKeyId"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }

    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = ["true"]
    }
  }
}

resource "aws_s3_bucket_policy" "archive" {
  bucket = aws_s3_bucket.archive.id
  policy = data.aws_iam_policy_document.archive_bucket.json

  # A bucket policy is refused while the public-access block is being applied.
  depends_on = [aws_s3_bucket_public_access_block.archive]
}
