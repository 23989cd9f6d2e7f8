"""Audit logs (issue 13 item 5): who read or wrote the weights, who changed the cluster.

* **Weights access: CloudTrail data events**, not S3 server access logs. Data events name the
  IAM principal and role session of every GetObject/PutObject/DeleteObject (for Pod Identity the
  session carries the cluster, namespace and service account), arrive reliably within minutes, and
  can be written SSE-KMS with our own key; server access logs are best-effort ("not guaranteed",
  S3 user guide, "Logging requests with server access logging"), and their target bucket cannot use
  SSE-KMS default encryption. The trail logs only the weights bucket's object events (an advanced
  event selector on `resources.ARN`), not management events (the account's event history and any
  organization trail keep those; the cluster's own changes are the EKS `audit` log).
* **The log bucket** is separate from the weights: private (all four public-access-block flags,
  BucketOwnerEnforced), SSE-KMS with the logs key, versioned, TLS only, writable by CloudTrail only
  for this trail (`aws:SourceArn`), objects expire after the configured retention.
* **CloudWatch log groups** (the EKS control plane's, created before the cluster so EKS does not
  create it unencrypted with unlimited retention, and the VPC flow logs') are encrypted with a
  customer-managed key whose policy lets only the CloudWatch Logs service of this region use it,
  and only for this account's log groups (CloudWatch Logs user guide, "Encrypt log data in
  CloudWatch Logs using AWS KMS").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.bucket import private_bucket, tls_only
from infra.aws.iam import key_policy, key_use

LOG_SERVICE_ACTIONS = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]


@dataclass(frozen=True)
class Account:
    """Where the stack lives: the facts every ARN and confused-deputy condition here is built from."""

    account_id: str
    region: str
    partition: str


def logs_use(account: Account) -> dict:
    """The CloudWatch Logs service of this region, for this account's log groups only."""
    return key_use(
        "CloudWatchLogsEncrypt",
        {"Service": f"logs.{account.region}.amazonaws.com"},
        LOG_SERVICE_ACTIONS,
        {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": (
                    f"arn:{account.partition}:logs:{account.region}:{account.account_id}:log-group:*"
                )
            }
        },
    )


def logs_key(
    name: str, admin_arns: Sequence[str], account: Account, opts: pulumi.ResourceOptions, extra: Sequence[dict] = ()
) -> aws.kms.Key:
    """A customer-managed key for log data, with an explicit policy (no account-root statement)."""
    return aws.kms.Key(
        name,
        description="llm-landing-zone: encrypts CloudWatch log groups and audit logs",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=key_policy(list(admin_arns), [logs_use(account), *extra]),
        opts=opts,
    )


def trail_arn(account: Account, trail_name: str) -> str:
    return f"arn:{account.partition}:cloudtrail:{account.region}:{account.account_id}:trail/{trail_name}"


def log_bucket_policy(bucket_arn: str, trail: str) -> str:
    """TLS only; CloudTrail may check the ACL and write its files, for this trail only."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                tls_only(bucket_arn),
                {
                    "Sid": "CloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:GetBucketAcl",
                    "Resource": bucket_arn,
                    "Condition": {"StringEquals": {"aws:SourceArn": trail}},
                },
                {
                    "Sid": "CloudTrailWrite",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{bucket_arn}/AWSLogs/*",
                    "Condition": {
                        "StringEquals": {"aws:SourceArn": trail, "s3:x-amz-acl": "bucket-owner-full-control"}
                    },
                },
            ],
        }
    )


@dataclass(frozen=True)
class AuditLogsArgs:
    account: Account
    admin_arns: Sequence[str]  # administer the key; read the audit files
    weights_bucket_arn: pulumi.Input[str]
    trail_name: str
    retention_days: int  # 0: keep for ever
    force_destroy: bool
    name_prefix: str


class AuditLogs(pulumi.ComponentResource):
    key_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    trail: aws.cloudtrail.Trail

    def __init__(self, name: str, args: AuditLogsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:AuditLogs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = args.account
        trail = trail_arn(account, args.trail_name)
        # CloudTrail user guide, "Configure AWS KMS key policies for CloudTrail": encrypt for this trail
        # (the encryption context names the trail), describe the key (no encryption context there).
        cloudtrail = [
            key_use(
                "CloudTrailEncrypt",
                {"Service": "cloudtrail.amazonaws.com"},
                ["kms:GenerateDataKey*"],
                {
                    "StringEquals": {"aws:SourceArn": trail},
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": (
                            f"arn:{account.partition}:cloudtrail:*:{account.account_id}:trail/*"
                        )
                    },
                },
            ),
            key_use(
                "CloudTrailDescribeKey",
                {"Service": "cloudtrail.amazonaws.com"},
                ["kms:DescribeKey"],
                {"StringEquals": {"aws:SourceArn": trail}},
            ),
        ]
        readers = key_use(
            "AdminsReadAuditFiles",
            {"AWS": sorted(set(args.admin_arns))},
            ["kms:Decrypt"],
            {"StringEquals": {"kms:ViaService": f"s3.{account.region}.amazonaws.com"}},
        )
        key = logs_key(f"{name}-key", args.admin_arns, account, child, [*cloudtrail, readers])

        bucket, pab = private_bucket(name, args.name_prefix, args.force_destroy, key.arn, child)
        expiry = {"expiration": {"days": args.retention_days}} if args.retention_days else {}
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-audit-logs",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    **expiry,
                    "noncurrent_version_expiration": {"noncurrent_days": 30},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=child,
        )
        policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: log_bucket_policy(arn, trail)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pab]),
        )
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=args.trail_name,
            s3_bucket_name=bucket.id,
            kms_key_id=key.arn,
            enable_log_file_validation=True,
            include_global_service_events=False,
            is_multi_region_trail=False,
            advanced_event_selectors=[
                {
                    "name": "weights-bucket-object-events",
                    "field_selectors": [
                        {"field": "eventCategory", "equals": ["Data"]},
                        {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                        {
                            "field": "resources.ARN",
                            "starts_withs": [pulumi.Output.concat(args.weights_bucket_arn, "/")],
                        },
                    ],
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),  # CloudTrail checks the policy
        )
        self.key_arn, self.bucket_name = key.arn, bucket.bucket
        self.register_outputs({"keyArn": self.key_arn, "bucketName": self.bucket_name, "trailArn": self.trail.arn})
