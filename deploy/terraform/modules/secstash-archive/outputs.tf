output "bucket_name" {
  description = "The archive bucket: archive.bucket in secstash's settings."
  value       = aws_s3_bucket.archive.id
}

output "bucket_arn" {
  description = "ARN of the archive bucket."
  value       = aws_s3_bucket.archive.arn
}

output "kms_key_arn" {
  description = "The archive key: archive.kms_key_id in secstash's settings (and --kms-key-arn of deploy/iam/generate.py)."
  value       = aws_kms_key.archive.arn
}

output "signing_key_arn" {
  description = "The manifest signing key (archive.signing_key_id), or null."
  value       = var.create_signing_key ? aws_kms_key.signing[0].arn : null
}

output "stream_name" {
  description = "Name of the Kinesis stream (streams[].name), or null when not created."
  value       = var.create_stream ? aws_kinesis_stream.logs[0].name : null
}

output "stream_arn" {
  description = "ARN of the Kinesis stream, or null when not created."
  value       = var.create_stream ? aws_kinesis_stream.logs[0].arn : null
}

output "region" {
  description = "Region of every resource (aws.region)."
  value       = data.aws_region.current.name
}
