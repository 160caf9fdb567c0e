# Example root module: the archive bucket, its keys and a provisioned stream in one region.
#   terraform init && terraform apply -var bucket_name=acme-secstash-archive
# Then put the outputs into secstash's settings (archive.bucket, archive.kms_key_id,
# archive.signing_key_id, streams[].name) and generate the IAM policies with deploy/iam/generate.py.

terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.30, < 7.0"
    }
  }
}

variable "region" {
  description = "Region of the stream, the bucket and the keys."
  type        = string
  default     = "us-east-1"
}

variable "bucket_name" {
  description = "Globally unique name of the archive bucket."
  type        = string
}

provider "aws" {
  region = var.region
}

module "secstash_archive" {
  source = "../../modules/secstash-archive"

  name                   = "secstash"
  bucket_name            = var.bucket_name
  stream_shard_count     = 2
  stream_retention_hours = 168
  retention_days         = 400
  expire_after_days      = 730
  tags                   = { "team" = "security" }
}

output "secstash_settings" {
  description = "The settings keys to copy into secstash.yml."
  value = {
    aws_region             = module.secstash_archive.region
    stream_name            = module.secstash_archive.stream_name
    archive_bucket         = module.secstash_archive.bucket_name
    archive_kms_key_id     = module.secstash_archive.kms_key_arn
    archive_signing_key_id = module.secstash_archive.signing_key_arn
  }
}
