"""AWS rules: the weights bucket, the EKS control plane, and IAM least privilege.

Bucket settings live in separate v7 resources (BucketPublicAccessBlock, ...ServerSideEncryption-
Configuration, BucketVersioning, BucketPolicy), so each bucket rule has two halves: the setting
resource must be right, and every bucket must have one (found through its dependency on the bucket).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .model import Res, Rule, Stack, allowlist, as_list, dig, is_false, json_doc, known, mapping, not_true

BUCKET = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
EKS_CLUSTER = ("aws:eks/cluster:Cluster",)
ROLE = ("aws:iam/role:Role",)
ROLE_POLICY = ("aws:iam/rolePolicy:RolePolicy",)
POLICY = ("aws:iam/policy:Policy",)
ATTACHMENT = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment",)
IAM_DOCUMENTS = (*POLICY, *ROLE_POLICY, "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy")

PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
# AWS managed policies that grant `*` actions or S3/KMS on every resource.
BROAD_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "AmazonS3FullAccess", "AmazonS3ReadOnlyAccess")
WILDCARD_RESOURCES = ("*", "arn:aws:s3:::*", "arn:aws:kms:*")


def _missing_on_buckets(stack: Stack, types: tuple[str, ...], what: str) -> Iterator[tuple[Res, str]]:
    for bucket in stack.of_type(*BUCKET):
        if not stack.attached(bucket, types, "bucket", bucket.props.get("bucket")):
            yield bucket, f"bucket has no {what}"


# --- public access block -------------------------------------------------------------------------


def _pab(res: Res) -> Iterator[str]:
    off = [flag for flag in PAB_FLAGS if not_true(res.props.get(flag))]
    if off:
        yield f"public access block must set all four flags true; not set: {', '.join(off)}"


def _pab_present(stack: Stack) -> Iterator[tuple[Res, str]]:
    yield from _missing_on_buckets(stack, PUBLIC_ACCESS_BLOCK, "BucketPublicAccessBlock (all four flags true)")


# --- encryption ----------------------------------------------------------------------------------


def _sse(res: Res) -> Iterator[str]:
    rules = as_list(res.props.get("rules"))
    if not rules:
        yield "no encryption rule; set sseAlgorithm aws:kms with kmsMasterKeyId = your KMS key"
    for rule in rules:
        if not known(rule) or not known(dig(rule, "applyServerSideEncryptionByDefault")):
            continue  # unknown during preview
        default = mapping(dig(rule, "applyServerSideEncryptionByDefault"))
        algorithm, key = default.get("sseAlgorithm"), default.get("kmsMasterKeyId")
        if known(algorithm) and algorithm not in ("aws:kms", "aws:kms:dsse"):
            yield f"sseAlgorithm is {algorithm!r}; use aws:kms with a customer managed key"
        elif not key:
            yield "sseAlgorithm aws:kms without kmsMasterKeyId uses the AWS managed key; set your KMS key"
        elif isinstance(key, str) and key.endswith("alias/aws/s3"):
            yield "kmsMasterKeyId is the AWS managed key alias/aws/s3; use a customer managed key"


def _sse_present(stack: Stack) -> Iterator[tuple[Res, str]]:
    yield from _missing_on_buckets(stack, SSE, "ServerSideEncryptionConfiguration (SSE-KMS, customer key)")


# --- versioning ----------------------------------------------------------------------------------


def _versioning(res: Res) -> Iterator[str]:
    status = res.get("versioningConfiguration.status")
    if known(status) and status != "Enabled":
        yield f"versioning status is {status!r}; must be 'Enabled'"


def _versioning_present(stack: Stack) -> Iterator[tuple[Res, str]]:
    yield from _missing_on_buckets(stack, VERSIONING, "BucketVersioning (status Enabled)")


# --- TLS-only bucket policy ----------------------------------------------------------------------


def statements(doc: Any) -> list[Mapping[str, Any]]:
    return [s for s in as_list(dig(doc, "Statement")) if isinstance(s, Mapping)] if doc else []


def _denies_plain_http(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    secure = mapping(dig(statement.get("Condition"), "Bool")).get("aws:SecureTransport")
    principal = statement.get("Principal")
    everyone = principal == "*" or (isinstance(principal, Mapping) and "*" in as_list(principal.get("AWS")))
    return everyone and any(is_false(v) for v in as_list(secure))


def _tls_only(res: Res) -> Iterator[str]:
    policy = res.props.get("policy")
    doc = json_doc(policy)
    if doc is None:
        if known(policy):
            yield "bucket policy is not a readable JSON document"
        return
    if not any(_denies_plain_http(s) for s in statements(doc)):
        yield 'bucket policy lacks a Deny for everyone when {"Bool": {"aws:SecureTransport": "false"}}'


def _tls_only_present(stack: Stack) -> Iterator[tuple[Res, str]]:
    yield from _missing_on_buckets(stack, BUCKET_POLICY, "BucketPolicy denying non-TLS requests")


# --- EKS -----------------------------------------------------------------------------------------


def _eks_endpoint(res: Res) -> Iterator[str]:
    public = res.get("vpcConfig.endpointPublicAccess")
    if is_false(public):
        return
    yield from allowlist(as_list(res.get("vpcConfig.publicAccessCidrs")), "public endpoint's publicAccessCidrs")


def _eks_secrets(res: Res) -> Iterator[str]:
    config = res.props.get("encryptionConfig")
    if not known(config):
        return  # unknown during preview
    if not config:
        yield "no encryptionConfig; encrypt Kubernetes secrets with a KMS key (resources: ['secrets'])"
        return
    resources = as_list(dig(config, "resources"))
    if all(known(r) for r in resources) and "secrets" not in resources:
        yield "encryptionConfig.resources must include 'secrets'"
    if not dig(config, "provider.keyArn"):
        yield "encryptionConfig.provider.keyArn is not set"


# --- IAM -----------------------------------------------------------------------------------------


def _allows(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect", "Allow") != "Deny"


def _actions(statement: Mapping[str, Any]) -> list[str]:
    return [a for a in as_list(statement.get("Action")) if isinstance(a, str)]


def _touches(actions: list[str], service: str) -> bool:
    return any(a == "*" or a.lower().startswith(f"{service}:") for a in actions)


def wildcard_findings(doc: Any) -> Iterator[str]:
    """Allow statements granting `*` (or s3:* / kms:*) actions, or S3/KMS actions on `*`."""
    for statement in statements(doc):
        if not _allows(statement):
            continue
        actions = _actions(statement)
        if "NotAction" in statement:
            yield "Allow with NotAction grants every other action"
        broad = [a for a in actions if a == "*" or a.lower() in ("s3:*", "kms:*")]
        if broad:
            yield f"Allow grants wildcard action {', '.join(broad)}"
        resources = [r for r in as_list(statement.get("Resource")) if isinstance(r, str)]
        services = [s for s in ("s3", "kms") if _touches(actions, s)]
        if services and ("NotResource" in statement or any(r in WILDCARD_RESOURCES for r in resources)):
            yield f"Allow of {'/'.join(services)} actions on resource '*'; name the bucket/prefix or key ARNs"


def _documents(res: Res) -> list[Any]:
    if res.type in ROLE:
        return [json_doc(p.get("policy")) for p in as_list(res.props.get("inlinePolicies")) if isinstance(p, Mapping)]
    return [json_doc(res.props.get("policy"))]


def _broad_managed(arns: list[Any]) -> list[str]:
    return [a for a in arns if isinstance(a, str) and a.rsplit("/", 1)[-1] in BROAD_MANAGED_POLICIES]


def _iam_wildcards(res: Res) -> Iterator[str]:
    for doc in _documents(res):
        yield from wildcard_findings(doc)
    arns = as_list(res.props.get("managedPolicyArns")) + as_list(res.props.get("policyArn"))
    for arn in _broad_managed(arns):
        yield f"attaches {arn}, which grants '*' actions or S3 on every bucket"


def _grants_s3(doc: Any) -> bool:
    return any(_allows(s) and (_touches(_actions(s), "s3") or "NotAction" in s) for s in statements(doc))


def _trusts_ec2(role: Res) -> bool:
    doc = json_doc(role.props.get("assumeRolePolicy"))
    return any("ec2.amazonaws.com" in as_list(dig(s, "Principal.Service")) for s in statements(doc) if _allows(s))


def _node_role_s3(stack: Stack) -> Iterator[tuple[Res, str]]:
    """Pods inherit the node role through IMDS, so it must never reach S3 (only Pod Identity may)."""
    policies = {p.urn: p for p in stack.of_type(*POLICY)}
    for role in filter(_trusts_ec2, stack.of_type(*ROLE)):
        why = "node role (trusts ec2.amazonaws.com) must have no S3 rights; grant them to the pod's role"
        if any(_grants_s3(doc) for doc in _documents(role)):
            yield role, f"inline policy grants S3: {why}"
        for arn in as_list(role.props.get("managedPolicyArns")):
            if isinstance(arn, str) and "S3" in arn.rsplit("/", 1)[-1]:
                yield role, f"attaches {arn}: {why}"
        name = role.props.get("name")
        for policy in stack.attached(role, ROLE_POLICY, "role", name):
            if _grants_s3(json_doc(policy.props.get("policy"))):
                yield policy, f"role policy on the node role grants S3: {why}"
        for attachment in stack.attached(role, ATTACHMENT, "role", name):
            arn = attachment.props.get("policyArn")
            custom = [policies[u] for u in attachment.dependencies if u in policies]
            if (isinstance(arn, str) and "S3" in arn.rsplit("/", 1)[-1]) or any(
                _grants_s3(json_doc(p.props.get("policy"))) for p in custom
            ):
                yield attachment, f"attaches an S3 policy to the node role: {why}"


RULES = [
    Rule(
        "aws-s3-public-access-block",
        "S3 buckets have a public access block with all four flags true.",
        types=PUBLIC_ACCESS_BLOCK,
        check=_pab,
        check_stack=_pab_present,
    ),
    Rule(
        "aws-s3-sse-kms-cmk",
        "S3 buckets are encrypted with SSE-KMS under a customer managed key.",
        types=SSE,
        check=_sse,
        check_stack=_sse_present,
    ),
    Rule(
        "aws-s3-versioning",
        "S3 buckets have versioning enabled.",
        types=VERSIONING,
        check=_versioning,
        check_stack=_versioning_present,
    ),
    Rule(
        "aws-s3-tls-only",
        "S3 bucket policies deny requests without TLS (aws:SecureTransport false).",
        types=BUCKET_POLICY,
        check=_tls_only,
        check_stack=_tls_only_present,
    ),
    Rule(
        "aws-eks-public-endpoint",
        "The EKS public endpoint is off or limited to listed CIDRs, never 0.0.0.0/0.",
        types=EKS_CLUSTER,
        check=_eks_endpoint,
    ),
    Rule(
        "aws-eks-secrets-encryption",
        "EKS encrypts Kubernetes secrets with a KMS key.",
        types=EKS_CLUSTER,
        check=_eks_secrets,
    ),
    Rule(
        "aws-iam-no-wildcards",
        "IAM policies grant no '*' action and no S3/KMS action on resource '*'.",
        types=(*IAM_DOCUMENTS, *ROLE, *ATTACHMENT),
        check=_iam_wildcards,
    ),
    Rule(
        "aws-node-role-no-s3",
        "The EKS node role has no S3 rights (pods would inherit them through IMDS).",
        check_stack=_node_role_s3,
    ),
]
