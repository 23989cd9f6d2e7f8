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


def service_trust(service: str, condition: dict | None = None) -> str:
    """Trust an AWS service principal (EKS, EC2, Pod Identity, flow logs) with AssumeRole + TagSession,
    under `condition` where the service sets the keys it names."""
    statement: dict = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def source_condition(account_id: str, source_arn: str) -> dict:
    """Confused-deputy guard for a service role (IAM user guide, "The confused deputy problem"): the
    service may assume it only on behalf of this account and of `source_arn` (wildcards allowed)."""
    return {"StringEquals": {"aws:SourceAccount": account_id}, "ArnLike": {"aws:SourceArn": source_arn}}


def pod_identity_trust(cluster_arn: str, namespace: str, service_account: str) -> str:
    """Pod Identity, for one service account of one cluster only: the agent's session tags
    (`eks-cluster-arn`, `kubernetes-namespace`, `kubernetes-service-account`) are request tags of
    the AssumeRole/TagSession call, so the trust can require them (EKS user guide, pod-id-role,
    "Setting Conditions"; the tag list: pod-id-abac). Without them any association in the account
    could take the role."""
    return service_trust(
        POD_IDENTITY_PRINCIPAL,
        {
            "StringEquals": {
                "aws:RequestTag/eks-cluster-arn": cluster_arn,
                "aws:RequestTag/kubernetes-namespace": namespace,
                "aws:RequestTag/kubernetes-service-account": service_account,
            }
        },
    )


# Key administration without use (the AWS console's default "key administrators" statement).
KEY_ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]


def key_policy(admin_arns: list[str], uses: list[dict]) -> str:
    """An explicit KMS key policy: no statement for the account root (which would hand the key to
    every IAM policy in the account), administration by `admin_arns` (the deployer, which must keep
    kms:PutKeyPolicy or KMS refuses the policy, and the admins), then each use statement."""
    admin = {
        "Sid": "KeyAdministration",
        "Effect": "Allow",
        "Principal": {"AWS": sorted(set(admin_arns))},
        "Action": KEY_ADMIN_ACTIONS,
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [admin, *uses]})


def key_use(sid: str, principal: dict, actions: list[str], condition: dict | None = None) -> dict:
    """One use statement of a key policy (`Resource: *` means this key, in a key policy)."""
    statement = {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": actions, "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    return statement


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
