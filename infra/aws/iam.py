"""IAM policy documents the AWS platform writes: who may assume a role (trust) and what the weights
reader and the staging Job's writer may do. Pure JSON builders, no SDK: the trust helpers serve the
cluster, node, flow-log, autoscaler and weights roles alike.
"""

from __future__ import annotations

import json

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def _prefix_policy(
    bucket_arn: str,
    prefix: str,
    key_arn: str,
    region: str,
    objects: tuple[str, str | list[str]],
    key: tuple[str, str | list[str]],
) -> str:
    """List inside the prefix, `objects` (sid, actions) on objects under it, `key` (sid, actions) on the
    bucket's KMS key only when S3 calls KMS on the caller's behalf. No wildcard action or resource."""
    prefix = prefix.strip("/")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ListModelPrefix",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
                },
                {"Sid": objects[0], "Effect": "Allow", "Action": objects[1], "Resource": f"{bucket_arn}/{prefix}/*"},
                {
                    "Sid": key[0],
                    "Effect": "Allow",
                    "Action": key[1],
                    "Resource": key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
                },
            ],
        }
    )


def read_prefix_policy(bucket_arn: str, prefix: str, key_arn: str, region: str) -> str:
    """Least privilege for reading one model."""
    return _prefix_policy(
        bucket_arn, prefix, key_arn, region, ("ReadModelObjects", "s3:GetObject"), ("DecryptWeights", "kms:Decrypt")
    )


def write_prefix_policy(bucket_arn: str, prefix: str, key_arn: str, region: str) -> str:
    """The staging Job's rights: read, write and delete objects under the prefix (no other object),
    list only inside it (HeadObject of a missing key is a 404 only with ListBucket), and use the
    bucket's key through S3 for SSE-KMS writes (GenerateDataKey; Decrypt for multipart uploads)."""
    objects = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    key = ["kms:Decrypt", "kms:GenerateDataKey"]
    return _prefix_policy(bucket_arn, prefix, key_arn, region, ("WriteModelObjects", objects), ("EncryptWeights", key))


def service_trust(service: str) -> str:
    """Trust an AWS service principal (EKS, EC2, Pod Identity) with AssumeRole + TagSession."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": ["sts:AssumeRole", "sts:TagSession"]}
            ],
        }
    )


def pod_identity_trust() -> str:
    return service_trust(POD_IDENTITY_PRINCIPAL)


def irsa_trust(provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> str:
    """Condition keys are the issuer WITHOUT https:// (with it they never match)."""
    issuer = issuer_url.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )
