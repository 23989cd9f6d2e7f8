"""Violations planted on the REAL plans of the shipped stacks, one or more per rule (issue 16, item 12).

A case names a shipped stack, the rule, and a mutation of that stack's recorded plan which returns
the resource the finding must point at. The mutations change the values the platforms really
register, at the paths they register them (read off the plans, e.g. `metadataOptions.httpTokens` on
the launch template), so a rule reading a wrong path either flags the clean plan or misses the
planted value, and tests/test_policy_plan.py fails either way. Where the program creates no resource
of a rule's type (a firewall, a network security group, a Key Vault key) the case adds one to the
real plan, next to the resources it would join.

`PENDING_FIXES`: the rules the program does not keep yet (infra.policy_rules.PENDING) fire on
today's plans; planting the fix on the real plan quiets them.

Imports the SDK-free plan types only: built by tests/test_policy_plan.py, replayed in the pack's
virtualenv as plain resources.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.plan.engine import Plan, Resource

Mutation = Callable[[Plan], Resource]


@dataclass(frozen=True)
class PlanCase:
    stack: str
    rule: str
    mutate: Mutation

    @property
    def id(self) -> str:
        return f"{self.stack}:{self.rule}:{getattr(self.mutate, '__name__', '')}"


def one(p: Plan, type_: str, name: str | None = None) -> Resource:
    found = [r for r in p.resources if r.type == type_ and (name is None or r.name == name)]
    assert found, f"{p.stack} has no {type_} {name or ''}: the case no longer matches the plan"
    return found[0]


def setting(type_: str, path: str, value: Any, name: str | None = None) -> Mutation:
    """Set an input that the platform registers (the path must exist already: no invented paths)."""

    def mutate(p: Plan) -> Resource:
        res = one(p, type_, name)
        *parents, last = path.split(".")
        node: Any = res.inputs
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            assert last in node, f"{type_} {res.name} registers no {path}"
            node[last] = value
        return res

    mutate.__name__ = f"{path}={value!r}"[:60]
    return mutate


def dropping(type_: str, at_type: str, at_name: str | None = None) -> Mutation:
    """Remove every resource of `type_`; the finding is on `at_type` (the resource left unguarded)."""

    def mutate(p: Plan) -> Resource:
        assert any(r.type == type_ for r in p.resources), f"{p.stack} has no {type_}"
        p.resources = [r for r in p.resources if r.type != type_]
        return one(p, at_type, at_name)

    mutate.__name__ = f"drop {type_.rsplit(':', 1)[-1]}"
    return mutate


def adding(type_: str, name: str, inputs: dict[str, Any], depends_on: tuple[str, str | None] | None = None) -> Mutation:
    """Add a resource to the real plan (for rule types the program does not create)."""

    def mutate(p: Plan) -> Resource:
        dependencies = [one(p, *depends_on).urn] if depends_on else []
        urn = f"urn:pulumi:{p.stack}::{p.project}::{type_}::{name}"
        res = Resource(urn, type_, name, None, None, True, None, inputs, {}, dependencies, [], False)
        p.resources.append(res)
        return res

    mutate.__name__ = f"add {type_.rsplit(':', 1)[-1]}"
    return mutate


def editing(type_: str, edit: Callable[[dict[str, Any]], None], name: str | None = None, label: str = "") -> Mutation:
    def mutate(p: Plan) -> Resource:
        res = one(p, type_, name)
        edit(res.inputs)
        return res

    mutate.__name__ = label or f"edit {type_.rsplit(':', 1)[-1]}"
    return mutate


def json_edit(key: str, edit: Callable[[Any], None]) -> Callable[[dict[str, Any]], None]:
    def apply(inputs: dict[str, Any]) -> None:
        doc = json.loads(inputs[key])
        edit(doc)
        inputs[key] = json.dumps(doc)

    return apply


def both(*mutations: Mutation) -> Mutation:
    """Several edits; the finding is on the last one's resource."""

    def mutate(p: Plan) -> Resource:
        return [m(p) for m in mutations][-1]

    mutate.__name__ = " + ".join(m.__name__ for m in mutations)
    return mutate


DEPLOYMENT, DAEMONSET = "kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:DaemonSet"
POD = "spec.template.spec"
VLLM = f"{POD}.containers.0"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
AKS = "azure-native:containerservice:ManagedCluster"
ACCOUNT = "azure-native:storage:StorageAccount"


def _wildcard_action(doc: Any) -> None:
    doc["Statement"][0]["Action"] = "s3:*"


def _any_principal(doc: Any) -> None:
    doc["Statement"][0]["Principal"] = {"AWS": "*"}


def _plain_token(inputs: dict[str, Any]) -> None:
    inputs["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "HF_TOKEN", "value": "hf_" + "a" * 34})


def _host_path(inputs: dict[str, Any]) -> None:
    inputs["spec"]["template"]["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})


def _two_replicas_pdb_none_unavailable(p: Plan) -> Resource:
    """Two replicas, and a budget that lets none go (the one-replica plan registers maxUnavailable).
    The replica floor is the HPA's, or KEDA's ScaledObject's where the platform gives a queue scaler."""
    if [r for r in p.resources if r.type == "kubernetes:keda.sh/v1alpha1:ScaledObject"]:
        one(p, "kubernetes:keda.sh/v1alpha1:ScaledObject").inputs["spec"]["minReplicaCount"] = 2
    else:
        one(p, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]["minReplicas"] = 2
    return setting("kubernetes:policy/v1:PodDisruptionBudget", "spec.maxUnavailable", 0)(p)


def _versioning_off(p: Plan) -> Resource:
    """The weights account's blob service stops keeping versions: the finding is on the account."""
    setting("azure-native:storage:BlobServiceProperties", "isVersioningEnabled", False)(p)
    return one(p, "azure-native:storage:StorageAccount", "weights-account")


CASES: list[PlanCase] = [
    PlanCase(
        "azure-dev",
        "azure-blob-versioning",
        _versioning_off,
    ),
    PlanCase(
        "gcp-dev",
        "gcp-gke-control-plane-logs",
        setting(GKE, "loggingConfig.enableComponents", ["SYSTEM_COMPONENTS", "WORKLOADS"]),
    ),
    # --- AWS (aws-dev; its network and flow logs live in aws-dev-bootstrap) ---
    PlanCase(
        "aws-dev",
        "aws-s3-public-access-block",
        setting("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "blockPublicAcls", False),
    ),
    PlanCase(
        "aws-dev",
        "aws-s3-sse-kms-cmk",
        setting(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm",
            "AES256",
        ),
    ),
    PlanCase(
        "aws-dev",
        "aws-s3-versioning",
        setting("aws:s3/bucketVersioning:BucketVersioning", "versioningConfiguration.status", "Suspended"),
    ),
    PlanCase("aws-dev", "aws-s3-tls-only", dropping("aws:s3/bucketPolicy:BucketPolicy", "aws:s3/bucket:Bucket")),
    PlanCase("aws-dev", "aws-eks-public-endpoint", setting(EKS, "vpcConfig.publicAccessCidrs", ["0.0.0.0/0"])),
    PlanCase("aws-dev", "aws-eks-secrets-encryption", setting(EKS, "encryptionConfig.resources", ["configmaps"])),
    PlanCase(
        "aws-dev",
        "aws-iam-no-wildcards",
        editing(
            "aws:iam/rolePolicy:RolePolicy",
            json_edit("policy", _wildcard_action),
            "serving-identity-read-weights",
            "Action s3:*",
        ),
    ),
    PlanCase(
        "aws-dev",
        "aws-node-role-no-s3",
        editing(
            "aws:iam/role:Role",
            lambda i: i.__setitem__("managedPolicyArns", ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]),
            "eks-node",
            "node role + AmazonS3ReadOnlyAccess",
        ),
    ),
    PlanCase("aws-dev", "aws-imdsv2", setting(LT, "metadataOptions.httpTokens", "optional", "gpu-nodes")),
    PlanCase("aws-dev", "aws-imdsv2", setting(LT, "metadataOptions.httpPutResponseHopLimit", 2, "eks-system")),
    PlanCase("aws-dev", "aws-kms-key-rotation", setting("aws:kms/key:Key", "enableKeyRotation", False, "weights-key")),
    PlanCase("aws-dev-bootstrap", "aws-vpc-flow-logs", dropping("aws:ec2/flowLog:FlowLog", "aws:ec2/vpc:Vpc")),
    PlanCase("aws-prod", "aws-vpc-flow-logs", dropping("aws:ec2/flowLog:FlowLog", "aws:ec2/vpc:Vpc")),
    PlanCase("aws-dev", "aws-eks-control-plane-logs", setting(EKS, "enabledClusterLogTypes", ["api", "scheduler"])),
    PlanCase(
        "aws-dev",
        "aws-eks-network-policy",
        both(
            setting("aws:eks/addon:Addon", "configurationValues", '{"enableNetworkPolicy": "false"}', "eks-vpc-cni"),
            lambda p: one(p, EKS),
        ),
    ),
    PlanCase(
        "aws-dev",
        "aws-no-internet-ingress",
        setting(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "cidrIpv4",
            "0.0.0.0/0",
            "endpoints-https-from-vpc",
        ),
    ),
    PlanCase(
        "aws-dev",
        "aws-no-wildcard-trust",
        editing("aws:iam/role:Role", json_edit("assumeRolePolicy", _any_principal), "serving-identity-role", "AWS *"),
    ),
    # --- GCP (gcp-dev) ---
    PlanCase(
        "gcp-dev",
        "gcp-bucket-public-access-prevention",
        setting("gcp:storage/bucket:Bucket", "publicAccessPrevention", "inherited"),
    ),
    PlanCase("gcp-dev", "gcp-bucket-ubla", setting("gcp:storage/bucket:Bucket", "uniformBucketLevelAccess", False)),
    PlanCase("gcp-dev", "gcp-bucket-cmek", setting("gcp:storage/bucket:Bucket", "encryption.defaultKmsKeyName", "")),
    PlanCase("gcp-dev", "gcp-gke-private-nodes", setting(GKE, "privateClusterConfig.enablePrivateNodes", False)),
    PlanCase(
        "gcp-dev",
        "gcp-gke-authorized-networks",
        setting(GKE, "masterAuthorizedNetworksConfig.cidrBlocks.0.cidrBlock", "0.0.0.0/0"),
    ),
    PlanCase(
        "gcp-dev",
        "gcp-gke-authorized-networks",
        setting(GKE, "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled", True),
    ),
    PlanCase(
        "gcp-dev",
        "gcp-gke-workload-identity",
        setting(GKE, "workloadIdentityConfig.workloadPool", "my-llm-project.example"),
    ),
    PlanCase(
        "gcp-dev",
        "gcp-gke-metadata-server",
        setting(POOL, "nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA", "gpu-pool"),
    ),
    PlanCase(
        "gcp-dev",
        "gcp-no-project-storage-grants",
        setting("gcp:projects/iAMMember:IAMMember", "role", "roles/storage.objectViewer"),
    ),
    PlanCase("gcp-dev", "gcp-no-primitive-roles", setting("gcp:projects/iAMMember:IAMMember", "role", "roles/editor")),
    PlanCase(
        "gcp-dev",
        "gcp-gke-legacy-metadata-off",
        setting(POOL, "nodeConfig.metadata.disable-legacy-endpoints", "false", "gke-system"),
    ),
    PlanCase(
        "gcp-dev",
        "gcp-kms-key-rotation",
        editing("gcp:kms/cryptoKey:CryptoKey", lambda i: i.pop("rotationPeriod"), "kms-weights", "no rotationPeriod"),
    ),
    PlanCase("gcp-dev", "gcp-gke-secrets-encryption", setting(GKE, "databaseEncryption.state", "DECRYPTED")),
    PlanCase("gcp-dev", "gcp-bucket-versioning", setting("gcp:storage/bucket:Bucket", "versioning.enabled", False)),
    PlanCase("gcp-dev", "gcp-gke-network-policy", setting(GKE, "datapathProvider", "LEGACY_DATAPATH")),
    PlanCase(
        "gcp-dev",
        "gcp-no-internet-ingress",
        adding(
            "gcp:compute/firewall:Firewall",
            "ssh-from-anywhere",
            {
                "network": "net-vpc",
                "direction": "INGRESS",
                "sourceRanges": ["0.0.0.0/0"],
                "allows": [{"protocol": "tcp", "ports": ["22"]}],
            },
            ("gcp:compute/network:Network", None),
        ),
    ),
    PlanCase(
        "gcp-dev",
        "gcp-no-public-members",
        setting("gcp:storage/bucketIAMMember:BucketIAMMember", "member", "allUsers", "serving-identity-reader"),
    ),
    # --- Azure (azure-dev; its VNet lives in azure-dev-bootstrap) ---
    PlanCase("azure-dev", "azure-storage-no-public-blob", setting(ACCOUNT, "allowBlobPublicAccess", True)),
    PlanCase("azure-dev", "azure-storage-no-shared-key", setting(ACCOUNT, "allowSharedKeyAccess", True)),
    PlanCase("azure-dev", "azure-storage-tls12", setting(ACCOUNT, "minimumTlsVersion", "TLS1_0")),
    PlanCase("azure-dev", "azure-storage-no-public-network", setting(ACCOUNT, "publicNetworkAccess", "Enabled")),
    PlanCase(
        "azure-dev",
        "azure-storage-private-endpoint",
        dropping("azure-native:network:PrivateEndpoint", ACCOUNT),
    ),
    PlanCase("azure-dev", "azure-aks-local-accounts", setting(AKS, "disableLocalAccounts", False)),
    PlanCase(
        "azure-dev", "azure-aks-workload-identity", setting(AKS, "securityProfile.workloadIdentity.enabled", False)
    ),
    PlanCase(
        "azure-dev",
        "azure-aks-api-restricted",
        setting(AKS, "apiServerAccessProfile.authorizedIPRanges", ["0.0.0.0/0"]),
    ),
    PlanCase(
        "azure-dev",
        "azure-role-assignment-scope",
        setting(
            "azure-native:authorization:RoleAssignment",
            "scope",
            "/subscriptions/00000000-0000-0000-0000-000000000000",
            "cluster-deployer-admin",
        ),
    ),
    PlanCase("azure-dev", "azure-storage-https-only", setting(ACCOUNT, "enableHttpsTrafficOnly", False)),
    PlanCase("azure-dev", "azure-storage-default-deny", setting(ACCOUNT, "networkRuleSet.defaultAction", "Allow")),
    PlanCase("azure-dev", "azure-aks-network-policy", setting(AKS, "networkProfile.networkPolicy", "none")),
    PlanCase(
        "azure-dev",
        "azure-no-internet-ingress",
        adding(
            "azure-native:network:NetworkSecurityGroup",
            "nodes-nsg",
            {
                "resourceGroupName": "llz-azure-dev",
                "securityRules": [
                    {
                        "name": "ssh",
                        "direction": "Inbound",
                        "access": "Allow",
                        "protocol": "Tcp",
                        "priority": 100,
                        "sourceAddressPrefix": "Internet",
                        "sourcePortRange": "*",
                        "destinationAddressPrefix": "*",
                        "destinationPortRange": "22",
                    }
                ],
            },
        ),
    ),
    PlanCase(
        "azure-dev",
        "azure-federated-credential-subject",
        setting(
            "azure-native:managedidentity:FederatedIdentityCredential",
            "subject",
            "system:serviceaccount:llm:*",
            "serving-identity-federation",
        ),
    ),
    PlanCase(
        "azure-dev",
        "azure-key-rotation",
        adding(
            "azure-native:keyvault:Key",
            "etcd-key",
            {
                "resourceGroupName": "llz-azure-dev",
                "vaultName": "llz-kv",
                "keyName": "etcd",
                "properties": {"kty": "RSA"},
            },
        ),
    ),
    # --- Kubernetes (aws-dev's serving component, autoscaler and device plugin) ---
    PlanCase(
        "aws-dev",
        "k8s-no-public-loadbalancer",
        setting("kubernetes:core/v1:Service", "spec.type", "LoadBalancer", "llm-svc"),
    ),
    PlanCase(
        "aws-dev",
        "k8s-no-privilege-escalation",
        setting(DEPLOYMENT, f"{VLLM}.securityContext.allowPrivilegeEscalation", True, "llm"),
    ),
    PlanCase(
        "aws-dev",
        "k8s-drop-capabilities",
        setting(DEPLOYMENT, f"{VLLM}.securityContext.capabilities.drop", ["NET_RAW"], "llm"),
    ),
    PlanCase("aws-dev", "k8s-resource-limits", setting(DEPLOYMENT, f"{VLLM}.resources.limits.memory", "", "llm")),
    PlanCase("azure-dev", "k8s-probes", setting(DEPLOYMENT, f"{VLLM}.livenessProbe", None, "llm")),
    PlanCase(
        "aws-dev",
        "k8s-network-policy",
        dropping("kubernetes:networking.k8s.io/v1:NetworkPolicy", DEPLOYMENT, "llm"),
    ),
    PlanCase("aws-dev", "k8s-no-plain-secret-env", editing(DEPLOYMENT, _plain_token, "llm", "env HF_TOKEN=hf_…")),
    PlanCase(
        "aws-dev",
        "k8s-run-as-non-root",
        setting(DEPLOYMENT, f"{VLLM}.securityContext.runAsNonRoot", False, "llm"),
    ),
    PlanCase(
        "aws-dev",
        "k8s-run-as-non-root",
        setting(DEPLOYMENT, f"{POD}.securityContext.runAsNonRoot", False, "cluster-autoscaler"),
    ),
    PlanCase(
        "aws-dev",
        "k8s-read-only-root-filesystem",
        setting(DEPLOYMENT, f"{VLLM}.securityContext.readOnlyRootFilesystem", False, "llm"),
    ),
    PlanCase(
        "gcp-dev",
        "k8s-seccomp-runtime-default",
        setting(DEPLOYMENT, f"{VLLM}.securityContext.seccompProfile.type", "Unconfined", "llm"),
    ),
    PlanCase(
        "aws-dev",
        "k8s-seccomp-runtime-default",
        setting(DEPLOYMENT, f"{POD}.securityContext.seccompProfile.type", "Unconfined", "cluster-autoscaler"),
    ),
    PlanCase("aws-dev", "k8s-host-path-system-only", editing(DEPLOYMENT, _host_path, "llm", "hostPath /")),
    PlanCase(
        "aws-dev",
        "k8s-host-path-system-only",
        setting(DAEMONSET, "metadata.name", "not-the-device-plugin", "gpu-device-plugin"),
    ),
    PlanCase(
        "aws-dev",
        "k8s-no-service-account-token",
        setting(DEPLOYMENT, f"{POD}.automountServiceAccountToken", True, "llm"),
    ),
    PlanCase(
        "azure-dev",
        "k8s-no-service-account-token",
        setting("kubernetes:batch/v1:Job", f"{POD}.automountServiceAccountToken", True, "llm-stage"),
    ),
    PlanCase(
        "aws-dev",
        "k8s-no-wildcard-rbac",
        setting("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "rules.0.verbs", ["*"]),
    ),
    PlanCase("aws-dev", "k8s-pdb-allows-disruption", _two_replicas_pdb_none_unavailable),
]


def _host_network(p: Plan) -> Resource:
    """hostNetwork is not registered by the program (so `setting` refuses it); the pod spec field is
    `hostNetwork` (pulumi_kubernetes core/v1 PodSpecArgs `host_network`)."""
    res = one(p, DEPLOYMENT, "llm")
    res.inputs["spec"]["template"]["spec"]["hostNetwork"] = True
    return res


CASES.append(PlanCase("aws-dev", "k8s-no-host-namespaces", _host_network))


def _digests(p: Plan) -> Resource:
    last = None
    for res in p.resources:
        if res.type in (DEPLOYMENT, DAEMONSET, "kubernetes:batch/v1:Job"):
            spec = res.inputs["spec"]["template"]["spec"]
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                c["image"] = c["image"].split(":")[0] + "@sha256:" + "0" * 64
            last = res
    assert last is not None
    return last


def _diagnostics(p: Plan) -> Resource:
    return adding(
        "azure-native:monitor:DiagnosticSetting",
        "cluster-diagnostics",
        {"resourceUri": "aks-id", "logs": [{"category": "kube-audit-admin", "enabled": True}]},
        (AKS, None),
    )(p)


def _vnet_flow_log(p: Plan) -> Resource:
    return adding(
        "azure-native:network:FlowLog",
        "vnet-flow-log",
        {"targetResourceId": "vnet-id", "storageId": "sa-id", "enabled": True},
        ("azure-native:network:VirtualNetwork", None),
    )(p)


# rule -> (stack whose plan breaks the promise today, the fix planted on it)
PENDING_FIXES: dict[str, tuple[str, Mutation]] = {
    "azure-vnet-flow-logs": ("azure-dev-bootstrap", _vnet_flow_log),
    "k8s-image-digest": ("aws-dev", _digests),
}
