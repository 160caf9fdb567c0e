variable "name" {
  description = "Prefix of every resource's name (the stream, the key aliases)."
  type        = string
  default     = "secstash"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,40}$", var.name))
    error_message = "name must be 1-41 lower-case letters, digits or dashes."
  }
}

variable "bucket_name" {
  description = "Name of the archive bucket (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name."
  }
}

variable "create_stream" {
  description = "Create the Kinesis stream secstash reads (false when the stream exists already)."
  type        = bool
  default     = true
}

variable "stream_name" {
  description = "Name of the Kinesis stream; default: <name>-logs."
  type        = string
  default     = null
}

variable "stream_shard_count" {
  description = "Shards of a provisioned stream; null makes the stream on-demand."
  type        = number
  default     = null
}

variable "stream_retention_hours" {
  description = "How long Kinesis keeps records: the most secstash may fall behind before data is lost. secstash exports it beside its lag (secstash_stream_retention_hours)."
  type        = number
  default     = 168

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760
    error_message = "stream_retention_hours must be between 24 and 8760."
  }
}

variable "stream_kms_key_id" {
  description = "Key that encrypts the stream at rest. With a customer managed key, give its ARN to deploy/iam/generate.py --stream-kms-key-arn so the readers may decrypt."
  type        = string
  default     = "alias/aws/kinesis"
}

variable "retention_days" {
  description = "Object Lock default retention (COMPLIANCE mode): no one, root included, can delete or overwrite an archived object version before it ends."
  type        = number
  default     = 365

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 36500
    error_message = "retention_days must be between 1 and 36500."
  }
}

variable "expire_after_days" {
  description = "Delete archived objects this many days after creation (must exceed retention_days); null keeps them."
  type        = number
  default     = null

  validation {
    condition     = var.expire_after_days == null || try(var.expire_after_days > var.retention_days, false)
    error_message = "expire_after_days must be null or greater than retention_days."
  }
}

variable "create_signing_key" {
  description = "Create an asymmetric KMS key for signing the archive's manifests (archive.signing_key_id)."
  type        = bool
  default     = true
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled key deletion takes effect. Must be 30, the longest KMS allows: the archive is unreadable without its key, so the time to notice and cancel a deletion is kept at its maximum."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 30 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be 30 (KMS allows 7-30): a shorter window leaves less time to cancel a deletion that would make the archive unreadable."
  }
}

variable "kms_break_glass_role_arn" {
  description = "The only IAM role that may disable the KMS keys or schedule their deletion (both are denied to every other principal in the key policy). null: nobody, until the key policy is changed."
  type        = string
  default     = null

  validation {
    condition     = var.kms_break_glass_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.kms_break_glass_role_arn))
    error_message = "kms_break_glass_role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>) or null."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
