"""The private weights bucket: no public access, no ACLs, SSE-KMS with our own key, versioned, TLS only.

Old object versions expire after 30 days (weights are large; versioning is for undoing a bad
push, not an archive).

Optionally (default on) reads of data are denied unless they arrive through the VPC's S3
gateway endpoint. That deny names only the read actions and exempts the deployer and the
configured admins by `aws:PrincipalArn`, so it cannot lock Pulumi, the console or CI out of the
bucket (a bucket-wide `Deny * unless aws:SourceVpce` would).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket")
NONCURRENT_DAYS = 30  # how long a replaced weights file can be restored


@dataclass(frozen=True)
class WeightsBucketArgs:
    s3_endpoint_id: pulumi.Input[str]
    restrict_reads_to_vpc_endpoint: bool
    exempt_principal_arns: Sequence[str]  # deployer + admins: may read from outside the VPC
    force_destroy: bool
    name_prefix: str  # S3 adds a unique suffix; bucket names are global


def tls_only(bucket_arn: str) -> dict:
    """Deny every request to the bucket and its objects that does not use TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(bucket_arn: str, endpoint_id: str, restrict_reads: bool, exempt_principal_arns: Sequence[str]) -> str:
    """Deny plain HTTP for everything; deny reads from outside the gateway endpoint (except admins)."""
    resources = [bucket_arn, f"{bucket_arn}/*"]
    statements = [tls_only(bucket_arn)]
    if restrict_reads:
        statements.append(
            {
                "Sid": "DenyReadsOutsideVpcEndpoint",
                "Effect": "Deny",
                "Principal": "*",
                "Action": list(READ_ACTIONS),
                "Resource": resources,
                "Condition": {
                    "StringNotEquals": {"aws:SourceVpce": endpoint_id},
                    "ArnNotLike": {"aws:PrincipalArn": sorted(exempt_principal_arns)},
                },
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def private_bucket(
    name: str, prefix: str, force_destroy: bool, key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> tuple[aws.s3.Bucket, aws.s3.BucketPublicAccessBlock]:
    """A bucket with all four public-access-block flags, no ACLs (BucketOwnerEnforced), SSE-KMS with
    `key_arn` and a bucket key, versioning on: the weights bucket and the audit log bucket alike."""
    bucket = aws.s3.Bucket(name, bucket_prefix=prefix, force_destroy=force_destroy, opts=opts)
    pab = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-sse",
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key_arn},
                "bucket_key_enabled": True,  # one KMS call per object, not per request
            }
        ],
        opts=opts,
    )
    aws.s3.BucketVersioning(
        f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts
    )
    return bucket, pab


class WeightsBucket(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    key_id: pulumi.Output[str]  # its policy is set once the reader and writers exist (platform.py)

    def __init__(self, name: str, args: WeightsBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:WeightsBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        key = aws.kms.Key(
            f"{name}-key",
            description="llm-landing-zone: encrypts the model weights bucket",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=child,
        )
        bucket, pab = private_bucket(name, args.name_prefix, args.force_destroy, key.arn, child)
        # Versioning keeps overwritten weights; drop old versions and failed multipart uploads.
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-old-versions-and-failed-uploads",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_DAYS},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, args.s3_endpoint_id).apply(
                lambda v: bucket_policy(v[0], v[1], args.restrict_reads_to_vpc_endpoint, args.exempt_principal_arns)
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pab]),  # PAB first, as S3 evaluates it
        )
        self.bucket_name, self.bucket_arn, self.key_arn, self.key_id = bucket.bucket, bucket.arn, key.arn, key.key_id
        self.register_outputs({"bucketName": self.bucket_name, "bucketArn": self.bucket_arn, "keyArn": self.key_arn})
