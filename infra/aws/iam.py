"""IAM policy documents the AWS platform writes: who may assume a role (trust) and what the weights
reader may do. Pure JSON builders, no SDK: the trust helpers serve the cluster, node, flow-log,
autoscaler and weights-reader roles alike.
"""

from __future__ import annotations

import json

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def read_prefix_policy(bucket_arn: str, prefix: str, key_arn: str, region: str) -> str:
    """Least privilege for reading one model: no wildcard action, no wildcard resource."""
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
                {
                    "Sid": "ReadModelObjects",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"{bucket_arn}/{prefix}/*",
                },
                {
                    "Sid": "DecryptWeights",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
                },
            ],
        }
    )


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
