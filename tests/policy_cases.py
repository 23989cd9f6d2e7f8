"""Compliant example programs for the policy tests, and the violations planted on them.

Props are camelCase, as the engine records them (shapes from CLOUD-WIRING.md and the installed SDKs'
input names). A case copies a program, plants one violation with `mutate`, and names the rule that
must fire and the resource it must point at.

`python -m tests.policy_cases` (run by the tests in the pack's own virtualenv, which has
pulumi_policy) prints what the CrossGuard policies report for every case, as JSON.
"""

from __future__ import annotations

import copy
import json
import runpy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.policy_rules import RULES, Finding, Res

PROJECT_URN = "urn:pulumi:test::llm-landing-zone::"

# name -> (type, props, dependency names, parent name)
Program = dict[str, tuple[str, dict[str, Any], list[str], str | None]]


def urn(program: Program, name: str) -> str:
    return f"{PROJECT_URN}{program[name][0]}::{name}"


def resources(program: Program) -> list[Res]:
    return [
        Res(
            type_,
            urn(program, name),
            name,
            copy.deepcopy(props),
            urn(program, parent) if parent else None,
            tuple(urn(program, d) for d in deps),
        )
        for name, (type_, props, deps, parent) in program.items()
    ]


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


BUCKET_ARN = "arn:aws:s3:::llz-aws-dev-weights"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
READ_WEIGHTS = [
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET_ARN},
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET_ARN}/models/m/*"},
    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN},
]


def trust(service: str) -> str:
    return doc({"Effect": "Allow", "Principal": {"Service": service}, "Action": ["sts:AssumeRole", "sts:TagSession"]})


def aws() -> Program:
    return {
        "weights": ("aws:s3/bucket:Bucket", {"bucket": "llz-aws-dev-weights", "forceDestroy": False}, [], None),
        "weights-pab": (
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            {
                "bucket": "llz-aws-dev-weights",
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            ["weights"],
            None,
        ),
        "weights-sse": (
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            {
                "bucket": "llz-aws-dev-weights",
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN},
                        "bucketKeyEnabled": True,
                    }
                ],
            },
            ["weights"],
            None,
        ),
        "weights-versioning": (
            "aws:s3/bucketVersioning:BucketVersioning",
            {"bucket": "llz-aws-dev-weights", "versioningConfiguration": {"status": "Enabled"}},
            ["weights"],
            None,
        ),
        "weights-policy": (
            "aws:s3/bucketPolicy:BucketPolicy",
            {"bucket": "llz-aws-dev-weights", "policy": doc(TLS_DENY)},
            ["weights"],
            None,
        ),
        "eks": (
            "aws:eks/cluster:Cluster",
            {
                "roleArn": "arn:aws:iam::123456789012:role/eks-cluster",
                "version": "1.33",
                "accessConfig": {"authenticationMode": "API"},
                "vpcConfig": {
                    "subnetIds": ["subnet-a", "subnet-b"],
                    "endpointPrivateAccess": True,
                    "endpointPublicAccess": True,
                    "publicAccessCidrs": ["203.0.113.0/24"],
                },
                "encryptionConfig": {"provider": {"keyArn": KEY_ARN}, "resources": ["secrets"]},
                "enabledClusterLogTypes": ["api", "audit", "authenticator"],
            },
            [],
            None,
        ),
        "eks-vpc-cni": (
            "aws:eks/addon:Addon",
            {
                "clusterName": "llz-aws-dev",
                "addonName": "vpc-cni",
                "configurationValues": '{"enableNetworkPolicy": "true"}',
            },
            ["eks"],
            None,
        ),
        "eks-node": ("aws:iam/role:Role", {"assumeRolePolicy": trust("ec2.amazonaws.com")}, [], None),
        "eks-node-worker": (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "eks-node-1a2b3c", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"},
            ["eks-node"],
            None,
        ),
        "eks-node-ecr": (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "eks-node-1a2b3c", "policyArn": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"},
            ["eks-node"],
            None,
        ),
        "serving-role": ("aws:iam/role:Role", {"assumeRolePolicy": trust("pods.eks.amazonaws.com")}, [], None),
        "serving-read": (
            "aws:iam/rolePolicy:RolePolicy",
            {"role": "serving-role-4d5e6f", "policy": doc(*READ_WEIGHTS)},
            ["serving-role"],
            None,
        ),
        # issue 13: weights object access recorded by CloudTrail data events (aws-s3-access-logging)
        "audit-trail": (
            "aws:cloudtrail/trail:Trail",
            {
                "name": "llz-aws-dev-weights",
                "s3BucketName": "llz-aws-dev-audit",
                "advancedEventSelectors": [
                    {
                        "fieldSelectors": [
                            {"field": "eventCategory", "equals": ["Data"]},
                            {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                            {"field": "resources.ARN", "startsWiths": [f"{BUCKET_ARN}/"]},
                        ]
                    }
                ],
            },
            ["weights"],
            None,
        ),
    }


GCP_PRINCIPAL = (
    "principal://iam.googleapis.com/projects/487134576253/locations/global/workloadIdentityPools/"
    "my-llm-project.svc.id.goog/subject/ns/llm/sa/vllm"
)


def gcp() -> Program:
    metadata = {"workloadMetadataConfig": {"mode": "GKE_METADATA"}, "metadata": {"disable-legacy-endpoints": "true"}}
    return {
        "storage-audit-logs": (
            "gcp:projects/iAMAuditConfig:IAMAuditConfig",
            {
                "project": "my-llm-project",
                "service": "storage.googleapis.com",
                "auditLogConfigs": [{"logType": t} for t in ("ADMIN_READ", "DATA_READ", "DATA_WRITE")],
            },
            [],
            None,
        ),
        "weights-bucket": (
            "gcp:storage/bucket:Bucket",
            {
                "name": "my-llm-project-llz-weights",
                "location": "US-CENTRAL1",
                "uniformBucketLevelAccess": True,
                "publicAccessPrevention": "enforced",
                "versioning": {"enabled": True},
                "encryption": {"defaultKmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"},
            },
            [],
            None,
        ),
        "gke": (
            "gcp:container/cluster:Cluster",
            {
                "location": "us-central1",
                "removeDefaultNodePool": True,
                "initialNodeCount": 1,
                "nodeConfig": metadata,
                "workloadIdentityConfig": {"workloadPool": "my-llm-project.svc.id.goog"},
                "loggingConfig": {
                    "enableComponents": ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]
                },
                "datapathProvider": "ADVANCED_DATAPATH",
                "databaseEncryption": {
                    "state": "ENCRYPTED",
                    "keyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/gke",
                },
                "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": False},
                "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]},
            },
            [],
            None,
        ),
        "gpu-pool": (
            "gcp:container/nodePool:NodePool",
            {"cluster": "llz-gcp-dev", "nodeConfig": {"machineType": "g2-standard-8", **metadata}},
            ["gke"],
            None,
        ),
        "nodes-role": (
            "gcp:projects/iAMMember:IAMMember",
            {
                "project": "my-llm-project",
                "role": "roles/container.defaultNodeServiceAccount",
                "member": "serviceAccount:nodes@my-llm-project.iam.gserviceaccount.com",
            },
            [],
            None,
        ),
        "serving-reader": (
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            {"bucket": "my-llm-project-llz-weights", "role": "roles/storage.objectViewer", "member": GCP_PRINCIPAL},
            ["weights-bucket"],
            None,
        ),
    }


AZ_RG = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/llz-azure-dev"
AZ_ACCOUNT = f"{AZ_RG}/providers/Microsoft.Storage/storageAccounts/llzweights"


def azure() -> Program:
    return {
        "weights": (
            "azure-native:storage:StorageAccount",
            {
                "resourceGroupName": "llz-azure-dev",
                "accountName": "llzweights",
                "kind": "StorageV2",
                "sku": {"name": "Standard_LRS"},
                "allowBlobPublicAccess": False,
                "allowSharedKeyAccess": False,
                "minimumTlsVersion": "TLS1_2",
                "publicNetworkAccess": "Disabled",
                "enableHttpsTrafficOnly": True,
                "networkRuleSet": {"defaultAction": "Deny", "bypass": "AzureServices"},
            },
            [],
            None,
        ),
        "weights-blob-service": (
            "azure-native:storage:BlobServiceProperties",
            {"accountName": "llzweights", "blobServicesName": "default", "isVersioningEnabled": True},
            ["weights"],
            None,
        ),
        "weights-container": (
            "azure-native:storage:BlobContainer",
            {"accountName": "llzweights", "containerName": "weights", "publicAccess": "None"},
            ["weights"],
            None,
        ),
        "weights-pe": (
            "azure-native:network:PrivateEndpoint",
            {
                "subnet": {"id": f"{AZ_RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/endpoints"},
                "privateLinkServiceConnections": [
                    {"name": "blob", "privateLinkServiceId": AZ_ACCOUNT, "groupIds": ["blob"]}
                ],
            },
            ["weights"],
            None,
        ),
        "aks": (
            "azure-native:containerservice:ManagedCluster",
            {
                "disableLocalAccounts": True,
                "oidcIssuerProfile": {"enabled": True},
                "securityProfile": {"workloadIdentity": {"enabled": True}},
                "apiServerAccessProfile": {"authorizedIPRanges": ["203.0.113.0/24"]},
                "aadProfile": {"managed": True, "enableAzureRBAC": True},
                "networkProfile": {"networkPlugin": "azure", "networkPolicy": "cilium"},
            },
            [],
            None,
        ),
        "serving-reader": (
            "azure-native:authorization:RoleAssignment",
            {
                "principalId": "ff8f3d84-9a0c-4236-87d4-60d423bdda48",
                "principalType": "ServicePrincipal",
                "roleDefinitionId": "/subscriptions/0/providers/Microsoft.Authorization/roleDefinitions/"
                "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
                "scope": f"{AZ_ACCOUNT}/blobServices/default/containers/weights",
            },
            ["weights"],
            None,
        ),
    }


HARDENED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
}


def kubernetes() -> Program:
    probe = {"httpGet": {"path": "/health", "port": 8000}}
    pod = {
        "serviceAccountName": "vllm",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [
            {
                "name": "weights",
                "image": "ghcr.io/example/llz:1.0",
                "args": ["weights", "pull", "s3://bucket/models/m", "/models/weights"],
                "env": [{"name": "AWS_REGION", "value": "us-east-1"}],
                "securityContext": HARDENED,
                "resources": {"limits": {"memory": "2Gi"}},
            }
        ],
        "containers": [
            {
                "name": "vllm",
                "image": "vllm/vllm-openai:v0.11.0",
                "command": ["vllm", "serve"],
                "args": ["/models/weights", "--api-key", "$(VLLM_API_KEY)"],
                "env": [
                    {"name": "HF_HOME", "value": "/cache"},
                    {"name": "AZURE_FEDERATED_TOKEN_FILE", "value": "/var/run/secrets/token"},
                    {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "llm-api-key", "key": "key"}}},
                ],
                "securityContext": HARDENED,
                "resources": {"limits": {"memory": "48Gi", "nvidia.com/gpu": "1"}},
                "readinessProbe": probe,
                "livenessProbe": probe,
                "startupProbe": {**probe, "failureThreshold": 120},
            }
        ],
    }
    return {
        "llm": ("llz:serving:ModelServing", {}, [], None),
        "llm-ns": ("kubernetes:core/v1:Namespace", {"metadata": {"name": "llm"}}, [], "llm"),
        "llm-deployment": (
            "kubernetes:apps/v1:Deployment",
            {"metadata": {"name": "llm", "namespace": "llm"}, "spec": {"template": {"spec": pod}}},
            ["llm-ns"],
            "llm",
        ),
        "llm-service": (
            "kubernetes:core/v1:Service",
            {
                "metadata": {
                    "name": "llm",
                    "namespace": "llm",
                    "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
                },
                "spec": {"type": "LoadBalancer", "ports": [{"port": 8000}]},
            },
            ["llm-ns"],
            "llm",
        ),
        "llm-netpol": (
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            {"metadata": {"name": "llm", "namespace": "llm"}, "spec": {"podSelector": {}}},
            ["llm-ns"],
            "llm",
        ),
    }


PROGRAMS = {"aws": aws, "gcp": gcp, "azure": azure, "kubernetes": kubernetes}


Mutation = Callable[[Program], None]


@dataclass(frozen=True)
class Case:
    id: str
    program: str  # key of PROGRAMS
    mutate: Mutation
    rule: str
    at: str  # name of the resource the finding must point at


DELETE = object()


def set_path(name: str, path: str, value: Any) -> Mutation:
    """Set (or with value=DELETE remove) a dotted path in a resource's props."""

    def mutate(p: Program) -> None:
        node: Any = p[name][1]
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def remove(name: str) -> Mutation:
    return lambda p: p.pop(name)


def add(name: str, type_: str, values: dict[str, Any], deps: list[str] | None = None, parent: str | None = None):
    return lambda p: p.__setitem__(name, (type_, values, deps or [], parent))


POD = "spec.template.spec"
VLLM = f"{POD}.containers.0"
INIT = f"{POD}.initContainers.0"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"

CASES = [
    # --- AWS: issue 13 (data perimeter, keys, audit logs) ---
    Case(
        "s3-endpoint-without-policy",
        "aws",
        add(
            "endpoint-s3",
            "aws:ec2/vpcEndpoint:VpcEndpoint",
            {"vpcEndpointType": "Gateway", "serviceName": "com.amazonaws.us-east-1.s3"},
        ),
        "aws-s3-endpoint-policy",
        "endpoint-s3",
    ),
    Case(
        "log-group-without-kms",
        "aws",
        add("flow-logs", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 365}),
        "aws-log-group-kms",
        "flow-logs",
    ),
    Case("bucket-without-access-logging", "aws", remove("audit-trail"), "aws-s3-access-logging", "weights"),
    Case(
        "key-with-account-root",
        "aws",
        add(
            "weights-key",
            "aws:kms/key:Key",
            {
                "policy": doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                )
            },
        ),
        "aws-kms-key-policy",
        "weights-key",
    ),
    # --- AWS ---
    Case(
        "pab-flag-off",
        "aws",
        set_path("weights-pab", "blockPublicPolicy", False),
        "aws-s3-public-access-block",
        "weights-pab",
    ),
    Case("pab-missing", "aws", remove("weights-pab"), "aws-s3-public-access-block", "weights"),
    Case(
        "sse-aes256",
        "aws",
        set_path("weights-sse", "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"),
        "aws-s3-sse-kms-cmk",
        "weights-sse",
    ),
    Case(
        "sse-no-key",
        "aws",
        set_path("weights-sse", "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", DELETE),
        "aws-s3-sse-kms-cmk",
        "weights-sse",
    ),
    Case(
        "sse-aws-managed-key",
        "aws",
        set_path("weights-sse", "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", "alias/aws/s3"),
        "aws-s3-sse-kms-cmk",
        "weights-sse",
    ),
    Case("sse-missing", "aws", remove("weights-sse"), "aws-s3-sse-kms-cmk", "weights"),
    Case(
        "versioning-suspended",
        "aws",
        set_path("weights-versioning", "versioningConfiguration.status", "Suspended"),
        "aws-s3-versioning",
        "weights-versioning",
    ),
    Case("versioning-missing", "aws", remove("weights-versioning"), "aws-s3-versioning", "weights"),
    Case(
        "policy-without-tls-deny",
        "aws",
        set_path("weights-policy", "policy", doc({**TLS_DENY, "Condition": {}})),
        "aws-s3-tls-only",
        "weights-policy",
    ),
    Case("bucket-policy-missing", "aws", remove("weights-policy"), "aws-s3-tls-only", "weights"),
    Case(
        "eks-open-cidr",
        "aws",
        set_path("eks", "vpcConfig.publicAccessCidrs", ["0.0.0.0/0"]),
        "aws-eks-public-endpoint",
        "eks",
    ),
    Case(
        "eks-internet-as-two-halves",
        "aws",
        set_path("eks", "vpcConfig.publicAccessCidrs", ["0.0.0.0/1", "128.0.0.0/1"]),
        "aws-eks-public-endpoint",
        "eks",
    ),
    Case(
        "eks-public-no-cidrs",
        "aws",
        set_path("eks", "vpcConfig.publicAccessCidrs", DELETE),
        "aws-eks-public-endpoint",
        "eks",
    ),
    Case("eks-no-encryption", "aws", set_path("eks", "encryptionConfig", DELETE), "aws-eks-secrets-encryption", "eks"),
    Case(
        "eks-encrypts-other",
        "aws",
        set_path("eks", "encryptionConfig.resources", ["configmaps"]),
        "aws-eks-secrets-encryption",
        "eks",
    ),
    Case(
        "iam-star-action",
        "aws",
        set_path("serving-read", "policy", doc({"Effect": "Allow", "Action": "*", "Resource": BUCKET_ARN})),
        "aws-iam-no-wildcards",
        "serving-read",
    ),
    Case(
        "iam-s3-star-resource",
        "aws",
        set_path("serving-read", "policy", doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})),
        "aws-iam-no-wildcards",
        "serving-read",
    ),
    Case(
        "iam-kms-star-resource",
        "aws",
        set_path("serving-read", "policy", doc({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": ["*"]})),
        "aws-iam-no-wildcards",
        "serving-read",
    ),
    Case(
        "iam-s3-star-action",
        "aws",
        set_path("serving-read", "policy", doc({"Effect": "Allow", "Action": "s3:*", "Resource": BUCKET_ARN})),
        "aws-iam-no-wildcards",
        "serving-read",
    ),
    Case(
        "iam-inline-role-policy",
        "aws",
        set_path(
            "serving-role",
            "inlinePolicies",
            [{"name": "x", "policy": doc({"Effect": "Allow", "Action": "*", "Resource": "*"})}],
        ),
        "aws-iam-no-wildcards",
        "serving-role",
    ),
    Case(
        "iam-managed-s3-readonly",
        "aws",
        add(
            "serving-s3ro",
            ATTACHMENT,
            {"role": "serving-role-4d5e6f", "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"},
            ["serving-role"],
        ),
        "aws-iam-no-wildcards",
        "serving-s3ro",
    ),
    Case(
        "node-role-s3-attachment",
        "aws",
        add(
            "eks-node-s3",
            ATTACHMENT,
            {"role": "eks-node-1a2b3c", "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"},
            ["eks-node"],
        ),
        "aws-node-role-no-s3",
        "eks-node-s3",
    ),
    Case(
        "node-role-s3-inline",
        "aws",
        add("eks-node-read", ROLE_POLICY, {"role": "eks-node-1a2b3c", "policy": doc(*READ_WEIGHTS)}, ["eks-node"]),
        "aws-node-role-no-s3",
        "eks-node-read",
    ),
    Case(
        "node-role-s3-by-name",
        "aws",
        lambda p: (
            set_path("eks-node", "name", "llz-nodes")(p),
            add("eks-node-read", ROLE_POLICY, {"role": "llz-nodes", "policy": doc(*READ_WEIGHTS)})(p),
        ),
        "aws-node-role-no-s3",
        "eks-node-read",
    ),
    Case(
        "node-role-managed-arns",
        "aws",
        set_path("eks-node", "managedPolicyArns", ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]),
        "aws-node-role-no-s3",
        "eks-node",
    ),
    # --- GCP ---
    Case(
        "gcs-pap-inherited",
        "gcp",
        set_path("weights-bucket", "publicAccessPrevention", "inherited"),
        "gcp-bucket-public-access-prevention",
        "weights-bucket",
    ),
    Case(
        "gcs-pap-unset",
        "gcp",
        set_path("weights-bucket", "publicAccessPrevention", DELETE),
        "gcp-bucket-public-access-prevention",
        "weights-bucket",
    ),
    Case(
        "gcs-no-ubla",
        "gcp",
        set_path("weights-bucket", "uniformBucketLevelAccess", False),
        "gcp-bucket-ubla",
        "weights-bucket",
    ),
    Case(
        "gcs-google-managed-key",
        "gcp",
        set_path("weights-bucket", "encryption", DELETE),
        "gcp-bucket-cmek",
        "weights-bucket",
    ),
    Case(
        "gke-public-nodes",
        "gcp",
        set_path("gke", "privateClusterConfig.enablePrivateNodes", False),
        "gcp-gke-private-nodes",
        "gke",
    ),
    Case(
        "gke-pool-public-nodes",
        "gcp",
        set_path("gpu-pool", "networkConfig", {"enablePrivateNodes": False}),
        "gcp-gke-private-nodes",
        "gpu-pool",
    ),
    Case(
        "gke-no-authorized-networks",
        "gcp",
        set_path("gke", "masterAuthorizedNetworksConfig", DELETE),
        "gcp-gke-authorized-networks",
        "gke",
    ),
    Case(
        "gke-authorized-everyone",
        "gcp",
        set_path("gke", "masterAuthorizedNetworksConfig.cidrBlocks", [{"cidrBlock": "0.0.0.0/0"}]),
        "gcp-gke-authorized-networks",
        "gke",
    ),
    Case(
        "gke-gcp-public-cidrs",
        "gcp",
        set_path("gke", "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled", True),
        "gcp-gke-authorized-networks",
        "gke",
    ),
    Case(
        "gke-no-workload-identity",
        "gcp",
        set_path("gke", "workloadIdentityConfig", DELETE),
        "gcp-gke-workload-identity",
        "gke",
    ),
    Case(
        "pool-gce-metadata",
        "gcp",
        set_path("gpu-pool", "nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA"),
        "gcp-gke-metadata-server",
        "gpu-pool",
    ),
    Case(
        "pool-metadata-unset",
        "gcp",
        set_path("gpu-pool", "nodeConfig.workloadMetadataConfig", DELETE),
        "gcp-gke-metadata-server",
        "gpu-pool",
    ),
    Case(
        "default-pool-kept-gce-metadata",
        "gcp",
        lambda p: (
            set_path("gke", "removeDefaultNodePool", False)(p),
            set_path("gke", "nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA")(p),
        ),
        "gcp-gke-metadata-server",
        "gke",
    ),
    Case(
        "project-storage-member",
        "gcp",
        set_path("nodes-role", "role", "roles/storage.objectViewer"),
        "gcp-no-project-storage-grants",
        "nodes-role",
    ),
    Case(
        "project-storage-binding",
        "gcp",
        add(
            "admins",
            "gcp:projects/iAMBinding:IAMBinding",
            {"project": "p", "role": "roles/storage.admin", "members": ["group:a@example.com"]},
        ),
        "gcp-no-project-storage-grants",
        "admins",
    ),
    Case(
        "project-storage-policy",
        "gcp",
        add(
            "policy",
            "gcp:projects/iAMPolicy:IAMPolicy",
            {
                "project": "p",
                "policyData": '{"bindings": [{"role": "roles/storage.objectAdmin", "members": ["user:a@example.com"]}]}',
            },
        ),
        "gcp-no-project-storage-grants",
        "policy",
    ),
    Case(
        "project-editor", "gcp", set_path("nodes-role", "role", "roles/editor"), "gcp-no-primitive-roles", "nodes-role"
    ),
    Case(
        "bucket-owner",
        "gcp",
        set_path("serving-reader", "role", "roles/owner"),
        "gcp-no-primitive-roles",
        "serving-reader",
    ),
    # --- Azure ---
    Case(
        "blob-public-allowed",
        "azure",
        set_path("weights", "allowBlobPublicAccess", True),
        "azure-storage-no-public-blob",
        "weights",
    ),
    Case(
        "blob-public-unset",
        "azure",
        set_path("weights", "allowBlobPublicAccess", DELETE),
        "azure-storage-no-public-blob",
        "weights",
    ),
    Case(
        "container-public",
        "azure",
        set_path("weights-container", "publicAccess", "Blob"),
        "azure-storage-no-public-blob",
        "weights-container",
    ),
    Case(
        "shared-key-on",
        "azure",
        set_path("weights", "allowSharedKeyAccess", True),
        "azure-storage-no-shared-key",
        "weights",
    ),
    Case(
        "shared-key-unset",
        "azure",
        set_path("weights", "allowSharedKeyAccess", DELETE),
        "azure-storage-no-shared-key",
        "weights",
    ),
    Case("tls10", "azure", set_path("weights", "minimumTlsVersion", "TLS1_0"), "azure-storage-tls12", "weights"),
    Case(
        "public-network",
        "azure",
        set_path("weights", "publicNetworkAccess", "Enabled"),
        "azure-storage-no-public-network",
        "weights",
    ),
    Case("no-private-endpoint", "azure", remove("weights-pe"), "azure-storage-private-endpoint", "weights"),
    Case(
        "file-endpoint-only",
        "azure",
        set_path("weights-pe", "privateLinkServiceConnections.0.groupIds", ["file"]),
        "azure-storage-private-endpoint",
        "weights",
    ),
    Case(
        "aks-local-accounts", "azure", set_path("aks", "disableLocalAccounts", False), "azure-aks-local-accounts", "aks"
    ),
    Case(
        "aks-no-oidc",
        "azure",
        set_path("aks", "oidcIssuerProfile.enabled", False),
        "azure-aks-workload-identity",
        "aks",
    ),
    Case(
        "aks-no-workload-identity",
        "azure",
        set_path("aks", "securityProfile", DELETE),
        "azure-aks-workload-identity",
        "aks",
    ),
    Case("aks-api-open", "azure", set_path("aks", "apiServerAccessProfile", DELETE), "azure-aks-api-restricted", "aks"),
    Case(
        "aks-api-all-but-private",
        "azure",
        set_path(
            "aks",
            "apiServerAccessProfile.authorizedIPRanges",
            [
                "0.0.0.0/5",
                "8.0.0.0/7",
                "11.0.0.0/8",
                "12.0.0.0/6",
                "16.0.0.0/4",
                "32.0.0.0/3",
                "64.0.0.0/2",
                "128.0.0.0/1",
            ],
        ),
        "azure-aks-api-restricted",
        "aks",
    ),
    Case(
        "aks-api-everyone",
        "azure",
        set_path("aks", "apiServerAccessProfile.authorizedIPRanges", ["0.0.0.0/0"]),
        "azure-aks-api-restricted",
        "aks",
    ),
    Case(
        "role-on-account",
        "azure",
        set_path("serving-reader", "scope", AZ_ACCOUNT),
        "azure-role-assignment-scope",
        "serving-reader",
    ),
    Case(
        "role-on-group",
        "azure",
        set_path("serving-reader", "scope", AZ_RG),
        "azure-role-assignment-scope",
        "serving-reader",
    ),
    Case(
        "role-on-subscription",
        "azure",
        set_path("serving-reader", "scope", "/subscriptions/00000000-0000-0000-0000-000000000000"),
        "azure-role-assignment-scope",
        "serving-reader",
    ),
    # --- Kubernetes ---
    Case(
        "public-lb",
        "kubernetes",
        set_path("llm-service", "metadata.annotations", {}),
        "k8s-no-public-loadbalancer",
        "llm-service",
    ),
    Case(
        "lb-internet-facing",
        "kubernetes",
        set_path(
            "llm-service",
            "metadata.annotations",
            {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"},
        ),
        "k8s-no-public-loadbalancer",
        "llm-service",
    ),
    Case(
        "escalation-allowed",
        "kubernetes",
        set_path("llm-deployment", f"{VLLM}.securityContext", {"capabilities": {"drop": ["ALL"]}}),
        "k8s-no-privilege-escalation",
        "llm-deployment",
    ),
    Case(
        "init-escalation-allowed",
        "kubernetes",
        set_path("llm-deployment", f"{INIT}.securityContext.allowPrivilegeEscalation", True),
        "k8s-no-privilege-escalation",
        "llm-deployment",
    ),
    Case(
        "privileged",
        "kubernetes",
        set_path("llm-deployment", f"{VLLM}.securityContext", {**HARDENED, "privileged": True}),
        "k8s-no-privilege-escalation",
        "llm-deployment",
    ),
    Case(
        "caps-kept",
        "kubernetes",
        set_path("llm-deployment", f"{VLLM}.securityContext", {"allowPrivilegeEscalation": False}),
        "k8s-drop-capabilities",
        "llm-deployment",
    ),
    Case(
        "caps-partial",
        "kubernetes",
        set_path("llm-deployment", f"{INIT}.securityContext", {**HARDENED, "capabilities": {"drop": ["NET_RAW"]}}),
        "k8s-drop-capabilities",
        "llm-deployment",
    ),
    Case(
        "no-memory-limit",
        "kubernetes",
        set_path("llm-deployment", f"{INIT}.resources", {}),
        "k8s-resource-limits",
        "llm-deployment",
    ),
    Case(
        "no-liveness",
        "kubernetes",
        set_path("llm-deployment", f"{VLLM}.livenessProbe", DELETE),
        "k8s-probes",
        "llm-deployment",
    ),
    Case(
        "no-readiness",
        "kubernetes",
        set_path("llm-deployment", f"{VLLM}.readinessProbe", DELETE),
        "k8s-probes",
        "llm-deployment",
    ),
    Case("no-netpol", "kubernetes", remove("llm-netpol"), "k8s-network-policy", "llm-deployment"),
    Case(
        "netpol-elsewhere",
        "kubernetes",
        set_path("llm-netpol", "metadata.namespace", "default"),
        "k8s-network-policy",
        "llm-deployment",
    ),
    Case(
        "plain-token-env",
        "kubernetes",
        set_path("llm-deployment", f"{VLLM}.env.2", {"name": "HF_TOKEN", "value": "x" * 12}),
        "k8s-no-plain-secret-env",
        "llm-deployment",
    ),
    Case(
        "masked-secret-under-a-secret-name",
        "kubernetes",
        set_path("llm-deployment", f"{INIT}.env.0", {"name": "DB_PASSWORD", "value": "[secret]"}),
        "k8s-no-plain-secret-env",
        "llm-deployment",
    ),
    Case(
        "aws-key-shaped-value",
        "kubernetes",
        set_path("llm-deployment", f"{INIT}.env.0", {"name": "AWS_X", "value": "AKIAIOSFODNN7EXAMPLE"}),
        "k8s-no-plain-secret-env",
        "llm-deployment",
    ),
    Case(
        "api-key-literal-arg",
        "kubernetes",
        set_path("llm-deployment", f"{VLLM}.args", ["/models/weights", "--api-key=sk-123"]),
        "k8s-no-plain-secret-env",
        "llm-deployment",
    ),
]

# Variations that stay compliant: the rules must not flag them.
COMPLIANT = [
    (
        "eks-private-only",
        "aws",
        lambda p: p["eks"][1]["vpcConfig"].update(endpointPublicAccess=False, publicAccessCidrs=[]),
    ),
    ("pab-by-name-no-dependency", "aws", lambda p: p.__setitem__("weights-pab", (*p["weights-pab"][:2], [], None))),
    (
        "gke-dns-endpoint-only",
        "gcp",
        lambda p: p["gke"][1].update(
            masterAuthorizedNetworksConfig={}, controlPlaneEndpointsConfig={"ipEndpointsConfig": {"enabled": False}}
        ),
    ),
    ("aks-private-cluster", "azure", set_path("aks", "apiServerAccessProfile", {"enablePrivateCluster": True})),
    ("pe-matched-by-account-name", "azure", lambda p: p.__setitem__("weights-pe", (*p["weights-pe"][:2], [], None))),
    (
        "role-on-subnet",
        "azure",
        set_path("serving-reader", "scope", f"{AZ_RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/nodes"),
    ),
    ("cluster-ip-service", "kubernetes", set_path("llm-service", "spec.type", "ClusterIP")),
    (
        "workload-outside-serving",
        "kubernetes",
        lambda p: (p.pop("llm-netpol"), p.__setitem__("llm-deployment", (*p["llm-deployment"][:3], None))),
    ),
]


def program(name: str, mutate: Mutation | None = None) -> Program:
    built = copy.deepcopy(PROGRAMS[name]())
    if mutate is not None:
        mutate(built)
    return built


def scenarios() -> dict[str, Program]:
    """Every program the CrossGuard report covers, by id: compliant ones, variations, planted cases."""
    out = {f"clean:{name}": program(name) for name in PROGRAMS}
    out.update({f"variation:{cid}": program(p, m) for cid, p, m in COMPLIANT})
    out.update({f"case:{c.id}": program(c.program, c.mutate) for c in CASES})
    unknown = program("aws", set_path("weights-policy", "policy", "04da6b54-80e4-46f7-96ec-b56ff0331ba9"))
    unknown["serving-read"][1]["policy"] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi_policy's unknown string
    out["unknown:preview"] = unknown
    aks = program("azure")
    aks["aks"][1].update(disableLocalAccounts="1c4a061d-8072-4f0a-a4cb-0ff528b18fe7")  # unknown boolean
    aks["weights"][1].update(allowSharedKeyAccess="1c4a061d-8072-4f0a-a4cb-0ff528b18fe7")
    out["unknown:preview-booleans"] = aks
    return out


def crossguard_findings(prog: Program) -> list[Finding]:
    return crossguard_findings_of(resources(prog))


def crossguard_findings_of(views: list[Res]) -> list[Finding]:
    """Run every pack policy the way the analyzer does: ResourceValidationArgs per resource with
    unknown-checking props, StackValidationArgs with PolicyResource parents and dependencies."""
    from pulumi_policy import PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs
    from pulumi_policy.proxy import unknown_checking_proxy

    from infra.policy_rules.crossguard import policies

    by_rule = {r.name: r for r in RULES}
    stack = {
        r.urn: PolicyResource(r.type, unknown_checking_proxy(dict(r.props)), r.urn, r.name, None, None, None, [], {})
        for r in views
    }
    for r in views:
        stack[r.urn].parent = stack.get(r.parent) if r.parent else None
        stack[r.urn].dependencies = [stack[d] for d in r.dependencies if d in stack]
    found: list[Finding] = []
    for policy in policies():
        rule = by_rule[policy.name]

        def report(message: str, urn: str | None = None, at: str = "", rule=rule) -> None:
            found.append(Finding(rule.name, rule.severity, urn or at, message))

        if isinstance(policy, ResourceValidationPolicy):
            for r in views:
                args = ResourceValidationArgs(r.type, unknown_checking_proxy(dict(r.props)), r.urn, r.name, None, None)
                policy.validate(args, lambda message, urn=None, at=r.urn: report(message, urn, at))
        else:
            policy.validate(StackValidationArgs(list(stack.values())), report)
    return found


def pack_entry_point() -> list[dict[str, str]]:
    """Run policy/ the way Pulumi's Python policy host does (runpy on the directory), with PolicyPack
    replaced by a recorder so no gRPC server starts; return the policies it was given."""
    import pulumi_policy

    recorded: dict[str, Any] = {}
    real = pulumi_policy.PolicyPack
    pulumi_policy.PolicyPack = lambda **kwargs: recorded.update(kwargs)
    try:
        runpy.run_path(str(Path(__file__).resolve().parents[1] / "policy"), run_name="__main__")
    finally:
        pulumi_policy.PolicyPack = real
    return [
        {"name": p.name, "kind": type(p).__name__, "level": p.enforcement_level.value} for p in recorded["policies"]
    ] + [{"pack": recorded["name"], "level": recorded["enforcement_level"].value}]


# A Pulumi secret as the engine puts it on the wire to an analyzer (sdk/go/common/resource/
# properties.go; pulumi_policy deserialize.py SPECIAL_SIG_KEY / SPECIAL_SECRET_SIG): the pack's
# Analyze unwraps it to its plaintext, while `llz plan` masks every secret as SECRET.
SECRET_WIRE = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


@dataclass(frozen=True)
class SecretCase:
    id: str
    name: str  # the env var
    value: str  # its plaintext
    secret: bool  # a Pulumi secret (masked by the plan, plaintext to the pack)
    plan: bool  # does k8s-no-plain-secret-env fire in `llz plan`
    pack: bool  # ... and in the CrossGuard pack


SECRET_CASES = [
    SecretCase("secret-token-name", "HF_TOKEN", "hf_" + "a" * 34, True, True, True),
    SecretCase("secret-password-name", "DB_PASSWORD", "correct-horse", True, True, True),
    SecretCase("secret-plain-name", "MODEL_REVISION", "6a6f4aa4", True, False, False),
    # the one difference: the plan cannot see a masked value's shape; the pack sees the plaintext
    SecretCase("secret-credential-shaped-plain-name", "UPSTREAM", "AKIAIOSFODNN7EXAMPLE", True, False, True),
    SecretCase("plain-credential-shaped", "UPSTREAM", "AKIAIOSFODNN7EXAMPLE", False, True, True),
    SecretCase("plain-harmless", "HF_HOME", "/cache", False, False, False),
]


def secret_program(case: SecretCase, wire: bool) -> Program:
    """The Kubernetes program with the case's env var on vLLM: masked as SECRET (the plan's view) or
    as the engine's secret wire object (what the pack's analyzer receives)."""
    from infra.policy_rules import SECRET

    value: Any = case.value
    if case.secret:
        value = {**SECRET_WIRE, "value": case.value} if wire else SECRET
    prog = program("kubernetes")
    prog["llm-deployment"][1]["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": case.name, "value": value}
    )
    return prog


def grpc_report() -> dict[str, Any]:
    """Start the pack as the Pulumi CLI does (`python -m pulumi.policy <engine> <pack dir>`, which
    prints the analyzer's port) and call its gRPC Analyzer as the engine would: GetAnalyzerInfo,
    Analyze for each resource, AnalyzeStack once. The AWS program carries two planted violations: an
    open EKS endpoint (a resource policy) and a public access block flag off (a stack policy)."""
    import subprocess
    import sys

    import grpc
    from google.protobuf import empty_pb2, json_format, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    prog = program("aws", set_path("eks", "vpcConfig.publicAccessCidrs", ["0.0.0.0/0"]))
    set_path("weights-pab", "blockPublicPolicy", False)(prog)
    views = resources(prog)

    def struct(props: dict[str, Any]) -> struct_pb2.Struct:
        return json_format.ParseDict(props, struct_pb2.Struct())

    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "policy"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = server.stdout.readline().strip()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=60)
            analyzed = []
            for r in views:
                request = analyzer_pb2.AnalyzeRequest(
                    type=r.type, properties=struct(dict(r.props)), urn=r.urn, name=r.name
                )
                analyzed += [
                    [d.policyName, r.urn, d.enforcementLevel] for d in stub.Analyze(request, timeout=60).diagnostics
                ]
            stack_request = analyzer_pb2.AnalyzeStackRequest(
                resources=[
                    analyzer_pb2.AnalyzerResource(
                        type=r.type,
                        properties=struct(dict(r.props)),
                        urn=r.urn,
                        name=r.name,
                        parent=r.parent or "",
                        dependencies=list(r.dependencies),
                    )
                    for r in views
                ]
            )
            stacked = [
                [d.policyName, d.urn, d.enforcementLevel]
                for d in stub.AnalyzeStack(stack_request, timeout=60).diagnostics
            ]
            secrets = {}
            for case in SECRET_CASES:  # secrets on the wire, as the engine sends them
                deployment = resources(secret_program(case, wire=True))
                (r,) = [v for v in deployment if v.name == "llm-deployment"]
                request = analyzer_pb2.AnalyzeRequest(
                    type=r.type, properties=struct(dict(r.props)), urn=r.urn, name=r.name
                )
                names = [d.policyName for d in stub.Analyze(request, timeout=60).diagnostics]
                secrets[case.id] = "k8s-no-plain-secret-env" in names
    finally:
        server.kill()
        server.wait()
    return {
        "policies": [[p.name, p.enforcementLevel] for p in info.policies],
        "analyze": analyzed,
        "analyzeStack": stacked,
        "secrets": secrets,
        "urns": {r.name: r.urn for r in views},
        "mandatory": analyzer_pb2.EnforcementLevel.Value("MANDATORY"),
    }


if __name__ == "__main__":
    import sys

    report = {sid: [[f.rule, f.urn, f.message] for f in crossguard_findings(p)] for sid, p in scenarios().items()}
    if len(sys.argv) > 1:  # real-plan scenarios (tests/test_policy_plan.py): {id: [resource dicts]}
        planned = json.loads(Path(sys.argv[1]).read_text())
        for sid, views in planned.items():
            res = [
                Res(v["type"], v["urn"], v["name"], v["props"], v["parent"], tuple(v["dependencies"])) for v in views
            ]
            report[sid] = [[f.rule, f.urn, f.message] for f in crossguard_findings_of(res)]
    print(json.dumps({"findings": report, "pack": pack_entry_point(), "grpc": grpc_report()}))
