"""GCP rules: the weights bucket, the private GKE cluster with Workload Identity, and IAM scope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .model import Res, Rule, allowlist, as_list, dig, is_false, is_true, json_doc, known, mapping, mappings, not_true

BUCKET = ("gcp:storage/bucket:Bucket",)
CLUSTER = ("gcp:container/cluster:Cluster",)
NODE_POOL = ("gcp:container/nodePool:NodePool",)
PROJECT_IAM = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding")
PROJECT_IAM_POLICY = ("gcp:projects/iAMPolicy:IAMPolicy",)
PRIMITIVE_ROLES = ("roles/owner", "roles/editor")


def _iam_types(token: str) -> bool:
    """Every gcp *IAMMember / *IAMBinding / *IAMPolicy resource (project, bucket, service account...)."""
    return token.startswith("gcp:") and token.rsplit(":", 1)[-1].endswith(("IAMMember", "IAMBinding", "IAMPolicy"))


def _roles(res: Res) -> list[str]:
    """The roles a member/binding grants, or every role bound in an IAMPolicy's policyData."""
    if "policyData" in res.props:
        return [b.get("role") for b in mappings(dig(json_doc(res.props["policyData"]), "bindings"))]
    return [res.props.get("role")]


# --- bucket --------------------------------------------------------------------------------------


def _public_access_prevention(res: Res) -> Iterator[str]:
    value = res.props.get("publicAccessPrevention")
    if known(value) and value != "enforced":
        yield f"publicAccessPrevention is {value!r}; must be 'enforced'"


def _ubla(res: Res) -> Iterator[str]:
    if not_true(res.props.get("uniformBucketLevelAccess")):
        yield "uniformBucketLevelAccess must be true (no per-object ACLs)"


def _cmek(res: Res) -> Iterator[str]:
    if not res.get("encryption.defaultKmsKeyName"):
        yield "no encryption.defaultKmsKeyName; encrypt with a customer managed Cloud KMS key"


# --- GKE -----------------------------------------------------------------------------------------


def _private_nodes(res: Res) -> Iterator[str]:
    if res.type in CLUSTER and not_true(res.get("privateClusterConfig.enablePrivateNodes")):
        yield "privateClusterConfig.enablePrivateNodes must be true (nodes without public IPs)"
    if res.type in NODE_POOL and is_false(res.get("networkConfig.enablePrivateNodes")):
        yield "networkConfig.enablePrivateNodes is false: this pool's nodes get public IPs"


def _authorized_networks(res: Res) -> Iterator[str]:
    if is_false(res.get("controlPlaneEndpointsConfig.ipEndpointsConfig.enabled")):
        return  # no IP endpoint at all: only the IAM-guarded DNS endpoint remains
    raw = res.get("masterAuthorizedNetworksConfig.cidrBlocks")
    if not known(raw) or not all(known(b) for b in as_list(raw)):
        return  # unknown during preview (issue 16: AttributeError on `.get` of an unknown block)
    blocks = [mapping(b).get("cidrBlock") for b in as_list(raw)]
    yield from allowlist(blocks, "masterAuthorizedNetworksConfig.cidrBlocks")
    if is_true(res.get("masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled")):
        yield "gcpPublicCidrsAccessEnabled lets any Google Cloud VM reach the control plane; turn it off"


def _workload_identity(res: Res) -> Iterator[str]:
    pool = res.get("workloadIdentityConfig.workloadPool")
    if known(pool) and not (isinstance(pool, str) and pool.endswith(".svc.id.goog")):
        yield "workloadIdentityConfig.workloadPool must be '<project>.svc.id.goog' (Workload Identity on)"


def _metadata_mode(node_config: Any) -> Any:
    return dig(node_config, "workloadMetadataConfig.mode")


def _gke_metadata(res: Res) -> Iterator[str]:
    """Without GKE_METADATA, pods reach the node's service account through the metadata server."""
    if res.type in NODE_POOL:
        configs = [("nodeConfig", res.props.get("nodeConfig"))]
    else:
        configs = [
            (f"nodePools[{i}].nodeConfig", dig(p, "nodeConfig"))
            for i, p in enumerate(as_list(res.props.get("nodePools")))
        ]
        if "nodeConfig" in res.props and not is_true(res.props.get("removeDefaultNodePool")):
            configs.append(("nodeConfig", res.props["nodeConfig"]))
    for where, config in configs:
        mode = _metadata_mode(config)
        if known(mode) and mode != "GKE_METADATA":
            now = "not set" if mode is None else repr(mode)
            yield f"{where}.workloadMetadataConfig.mode is {now}; must be 'GKE_METADATA'"


# --- IAM -----------------------------------------------------------------------------------------


def _project_storage(res: Res) -> Iterator[str]:
    for role in _roles(res):
        if isinstance(role, str) and role.startswith("roles/storage."):
            yield f"project-level {role} reaches every bucket in the project; grant it on the bucket (BucketIAMMember)"


def _primitive(res: Res) -> Iterator[str]:
    if not _iam_types(res.type):
        return
    for role in _roles(res):
        if role in PRIMITIVE_ROLES:
            yield f"grants primitive role {role}; use a predefined least-privilege role"


RULES = [
    Rule(
        "gcp-bucket-public-access-prevention",
        "GCS buckets enforce public access prevention.",
        types=BUCKET,
        check=_public_access_prevention,
    ),
    Rule("gcp-bucket-ubla", "GCS buckets use uniform bucket-level access.", types=BUCKET, check=_ubla),
    Rule("gcp-bucket-cmek", "GCS buckets are encrypted with a customer managed key.", types=BUCKET, check=_cmek),
    Rule(
        "gcp-gke-private-nodes",
        "GKE nodes have no public IPs.",
        types=(*CLUSTER, *NODE_POOL),
        check=_private_nodes,
    ),
    Rule(
        "gcp-gke-authorized-networks",
        "The GKE control plane's IP endpoint is limited to authorized networks.",
        types=CLUSTER,
        check=_authorized_networks,
    ),
    Rule("gcp-gke-workload-identity", "GKE has Workload Identity on.", types=CLUSTER, check=_workload_identity),
    Rule(
        "gcp-gke-metadata-server",
        "GKE node pools run the GKE metadata server (workloadMetadataConfig.mode GKE_METADATA).",
        types=(*CLUSTER, *NODE_POOL),
        check=_gke_metadata,
    ),
    Rule(
        "gcp-no-project-storage-grants",
        "No roles/storage.* granted at project level.",
        types=(*PROJECT_IAM, *PROJECT_IAM_POLICY),
        check=_project_storage,
    ),
    # Matched by name pattern (every *IAMMember/*IAMBinding/*IAMPolicy), so `types` is the wildcard.
    Rule("gcp-no-primitive-roles", "No primitive roles (owner, editor).", types=("*",), check=_primitive),
]


# --- issue 14: flow logs, audit logs, GPU boot-disk CMEK, prefix-scoped listing -----------------------
# Enforced (in RULES below); tests/test_policy_gcp_plan.py proves each one: clean on the real gcp-dev
# plan, and it catches a violation planted there.

SUBNETWORK = ("gcp:compute/subnetwork:Subnetwork",)
AUDIT_CONFIG = ("gcp:projects/iAMAuditConfig:IAMAuditConfig",)
BUCKET_IAM = ("gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:storage/bucketIAMBinding:BucketIAMBinding")
_LIST_PREFIX = '"storage.googleapis.com/objectListPrefix", "").startsWith("'


def _flow_logs(res: Res) -> Iterator[str]:
    config = res.props.get("logConfig")
    if known(config) and not config:
        yield "no logConfig: turn on VPC flow logs for the subnet"


def _storage_audit(stack: Any) -> Iterator[tuple[Res, str]]:
    wanted = {"DATA_READ", "DATA_WRITE"}
    logged: set[str] = set()
    for cfg in stack.of_type(*AUDIT_CONFIG):
        service = cfg.props.get("service")
        if not known(service):
            return  # unknown during preview: cannot judge
        if service in ("storage.googleapis.com", "allServices"):
            configs = cfg.props.get("auditLogConfigs")
            if not known(configs) or any(not known(dig(c, "logType")) for c in as_list(configs)):
                return
            logged |= {dig(c, "logType") for c in as_list(configs)}
    for bucket in stack.of_type(*BUCKET):
        if not wanted <= logged:
            missing = ", ".join(sorted(wanted - logged))
            yield bucket, f"no Data Access audit logs ({missing}) for storage.googleapis.com in this program"


def _gpu_boot_disk_cmek(res: Res) -> Iterator[str]:
    node = res.props.get("nodeConfig")
    if not as_list(dig(node, "guestAccelerators")):
        return
    key = dig(node, "bootDiskKmsKey")
    if known(key) and not key:
        yield "GPU nodes hold the decrypted weights on their boot disk: set nodeConfig.bootDiskKmsKey (CMEK)"


def _list_prefix_scoped(res: Res) -> Iterator[str]:
    expression = dig(res.props.get("condition"), "expression")
    if not isinstance(expression, str) or not known(expression) or _LIST_PREFIX not in expression:
        return
    for part in expression.split(_LIST_PREFIX)[1:]:
        listed = part.split('"', 1)[0]
        if not listed.endswith("/"):
            yield f"objectListPrefix startsWith({listed!r}) also lists {listed}-other/...; end the prefix with '/'"


REALITY_RULES = [
    Rule("gcp-subnet-flow-logs", "VPC subnets have flow logs on.", types=SUBNETWORK, check=_flow_logs),
    Rule(
        "gcp-storage-data-access-logs",
        "Programs with a GCS bucket turn on Cloud Storage Data Access audit logs (DATA_READ, DATA_WRITE).",
        types=BUCKET,
        check_stack=_storage_audit,
    ),
    Rule(
        "gcp-gpu-boot-disk-cmek",
        "GPU node pools encrypt their boot disks with a customer managed key.",
        types=NODE_POOL,
        check=_gpu_boot_disk_cmek,
    ),
    Rule(
        "gcp-list-prefix-scoped",
        "Bucket IAM conditions scope objectListPrefix to '<prefix>/'.",
        types=BUCKET_IAM,
        check=_list_prefix_scoped,
    ),
]

RULES += REALITY_RULES
