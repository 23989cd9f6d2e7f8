"""AWS rules: the weights bucket, the EKS control plane, and IAM least privilege.

Bucket settings live in separate v7 resources (BucketPublicAccessBlock, ...ServerSideEncryption-
Configuration, BucketVersioning, BucketPolicy), so each bucket rule has two halves: the setting
resource must be right, and every bucket must have one (found through its dependency on the bucket).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .model import Res, Rule, Stack, allowlist, as_list, dig, is_false, json_doc, known, mapping, mappings, not_true

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


# --- data perimeter, keys and audit logs (issue 13) -------------------------------------------------

VPC_ENDPOINT = ("aws:ec2/vpcEndpoint:VpcEndpoint",)
LOG_GROUP = ("aws:cloudwatch/logGroup:LogGroup",)
KMS_KEY = ("aws:kms/key:Key",)
KEY_POLICY = ("aws:kms/keyPolicy:KeyPolicy",)
TRAIL = ("aws:cloudtrail/trail:Trail",)
BUCKET_LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
# Conditions that keep an S3 gateway endpoint to one account's or organization's buckets.
PERIMETER_KEYS = ("aws:ResourceAccount", "aws:ResourceOrgID", "aws:ResourceOrgPaths")


def _is_s3_gateway(res: Res) -> bool:
    service = res.props.get("serviceName")
    return res.props.get("vpcEndpointType") == "Gateway" and isinstance(service, str) and service.endswith(".s3")


def _condition_keys(statement: Mapping[str, Any]) -> set[str]:
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return set()
    return {k for block in condition.values() if isinstance(block, Mapping) for k in block}


def _s3_endpoint_policy(res: Res) -> Iterator[str]:
    if not _is_s3_gateway(res):
        return
    policy = res.props.get("policy")
    if policy is None:
        yield (
            "S3 gateway endpoint has no policy: anything in the VPC reaches every bucket in the region "
            "through it; allow s3 only under aws:ResourceAccount (plus ECR's layer bucket)"
        )
        return
    doc = json_doc(policy)
    if doc is None:
        if known(policy):
            yield "S3 gateway endpoint policy is not a readable JSON document"
        return
    for statement in statements(doc):
        if not _allows(statement) or _condition_keys(statement) & set(PERIMETER_KEYS):
            continue
        resources = [r for r in as_list(statement.get("Resource")) if isinstance(r, str)]
        if any(r == "*" or r.startswith("arn:aws:s3:::*") for r in resources):
            yield (
                f"S3 gateway endpoint policy allows {_actions(statement)} on {resources} without "
                f"{' / '.join(PERIMETER_KEYS)}: name the buckets, or condition on this account"
            )


def _log_group_kms(res: Res) -> Iterator[str]:
    if not res.props.get("kmsKeyId"):
        yield "CloudWatch log group is not encrypted with a customer managed key; set kmsKeyId"


def _eks_log_group_first(stack: Stack) -> Iterator[tuple[Res, str]]:
    """A cluster that ships control-plane logs needs its log group created first (else EKS creates it
    unencrypted with unlimited retention)."""
    for cluster in stack.of_type(*EKS_CLUSTER):
        name = cluster.props.get("name")
        if not as_list(cluster.props.get("enabledClusterLogTypes")) or not known(name) or not name:
            continue
        wanted = f"/aws/eks/{name}/cluster"
        if any(not known(g.props.get("name")) for g in stack.of_type(*LOG_GROUP)):
            continue  # a group's name unknown at preview: cannot tell which one it is
        groups = [g for g in stack.of_type(*LOG_GROUP) if g.props.get("name") == wanted]
        if not any(g.urn in cluster.dependencies for g in groups):
            yield cluster, f"control-plane logs on, but no log group {wanted} created before the cluster (dependsOn)"


ECR_TEMPLATE = ("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate",)
AMP_WORKSPACE = ("aws:amp/workspace:Workspace",)
SNS_TOPIC = ("aws:sns/topic:Topic",)


def _monitoring_cmk(res: Res) -> Iterator[str]:
    """Metrics and alert texts name the model, the pods and the nodes: a customer managed key, as for logs."""
    field = "kmsKeyArn" if res.type in AMP_WORKSPACE else "kmsMasterKeyId"
    value = res.props.get(field)
    if known(value) and not value:
        yield f"not encrypted with a customer managed KMS key; set {field}"


IMMUTABLE_TAGS = ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION")


def _ecr_template(res: Res) -> Iterator[str]:
    """A repository creation template (pull-through cache, replication, create on push) makes the
    repositories ECR creates on its own: KMS with a named key, and tags that cannot be moved."""
    configs = res.props.get("encryptionConfigurations")
    if _settled(configs) and not any(
        c.get("encryptionType") == "KMS" and c.get("kmsKey") for c in mappings(configs)
    ):  # an unknown value anywhere in it (preview) cannot be judged
        yield "creation template does not encrypt with a customer managed KMS key (set KMS + kmsKey)"
    mutability = res.props.get("imageTagMutability")
    if known(mutability) and mutability not in IMMUTABLE_TAGS:
        yield f"creation template makes mutable tags ({mutability or 'MUTABLE, the default'}); set IMMUTABLE"


def _settled(node: Any) -> bool:
    """No value anywhere in `node` is unknown (preview): only then can a selector be judged."""
    if isinstance(node, Mapping):
        return all(_settled(v) for v in node.values())
    if isinstance(node, list):
        return all(_settled(v) for v in node)
    return known(node)


def _trail_logs_s3_data(trail: Res) -> bool:
    """True when the trail records S3 object data events, or cannot be judged yet (unknown at preview)."""
    selectors = trail.props.get("advancedEventSelectors")
    if not _settled(selectors):
        return True
    for selector in as_list(selectors):
        fields = {f.get("field"): f for f in as_list(dig(selector, "fieldSelectors")) if isinstance(f, Mapping)}
        category = as_list((fields.get("eventCategory") or {}).get("equals"))
        kinds = as_list((fields.get("resources.type") or {}).get("equals"))
        if "Data" in category and "AWS::S3::Object" in kinds:
            return True
    return False


def _access_logged(stack: Stack) -> Iterator[tuple[Res, str]]:
    """Every bucket's object access is recorded: S3 server access logging, or a CloudTrail trail with
    S3 data events that depends on it (its subject, or its destination: the log bucket itself)."""
    for bucket in stack.of_type(*BUCKET):
        name = bucket.props.get("bucket")
        if stack.attached(bucket, BUCKET_LOGGING, "bucket", name):
            continue
        trails = [t for t in stack.attached(bucket, TRAIL, "s3BucketName", name) if _trail_logs_s3_data(t)]
        if trails:
            continue
        yield (
            bucket,
            (
                "bucket has no access logging: add CloudTrail S3 data events for it (or server access logging "
                "to a separate log bucket)"
            ),
        )


def _principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return [p for p in as_list(principal.get("AWS")) if isinstance(p, str)]
    return []


def _key_policy_findings(doc: Any) -> Iterator[str]:
    for statement in statements(doc):
        if not _allows(statement):
            continue
        actions = _actions(statement)
        who = _principals(statement)
        if "kms:*" in actions or "*" in actions:
            yield f"key policy grants {actions} to {who or statement.get('Principal')}: split administration from use"
        root = [p for p in who if p == "*" or p.endswith(":root") or p.isdigit()]
        if root and not statement.get("Condition"):
            yield (
                f"key policy allows {root} (the account root hands the key to every IAM policy in the "
                "account); name the principals that use it"
            )


def _key_policy(res: Res) -> Iterator[str]:
    policy = res.props.get("policy")
    if policy is None:
        return  # checked with its KeyPolicy resource (stack part)
    doc = json_doc(policy)
    if doc is None:
        if known(policy):
            yield "key policy is not a readable JSON document"
        return
    yield from _key_policy_findings(doc)


def _key_policy_present(stack: Stack) -> Iterator[tuple[Res, str]]:
    for key in stack.of_type(*KMS_KEY):
        if key.props.get("policy") is None and not stack.attached(key, KEY_POLICY, "keyId", None):
            yield key, "KMS key has no explicit key policy (the default hands it to every IAM policy in the account)"


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
    Rule(
        "aws-s3-endpoint-policy",
        "The S3 gateway endpoint has a policy keeping it to this account's buckets (aws:ResourceAccount) "
        "or named buckets.",
        types=VPC_ENDPOINT,
        check=_s3_endpoint_policy,
    ),
    Rule(
        "aws-log-group-kms",
        "CloudWatch log groups are encrypted with a customer managed KMS key; the EKS control-plane "
        "log group exists before the cluster.",
        types=LOG_GROUP,
        check=_log_group_kms,
        check_stack=_eks_log_group_first,
    ),
    Rule(
        "aws-s3-access-logging",
        "Every S3 bucket's object access is logged (CloudTrail S3 data events or server access logging).",
        check_stack=_access_logged,
    ),
    Rule(
        "aws-kms-key-policy",
        "KMS keys have an explicit key policy: no account-root or '*' principal, no kms:* grant.",
        types=(*KMS_KEY, *KEY_POLICY),
        check=_key_policy,
        check_stack=_key_policy_present,
    ),
    Rule(
        "aws-monitoring-cmk",
        "Amazon Managed Prometheus workspaces and SNS topics are encrypted with a customer managed KMS key.",
        types=(*AMP_WORKSPACE, *SNS_TOPIC),
        check=_monitoring_cmk,
    ),
    Rule(
        "aws-ecr-template-kms",
        "ECR repository creation templates encrypt with a customer managed KMS key and make immutable tags.",
        types=ECR_TEMPLATE,
        check=_ecr_template,
    ),
]
