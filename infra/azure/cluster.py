"""AKS: private-access control plane, Entra ID + Azure RBAC only, workload identity, CNI overlay.

The system pool is inline (a cluster needs one to exist); every other pool is a separate
`AgentPool`, because ARM rejects adding pools through the cluster's own profile list. Local
accounts are disabled, so the only way in is an Entra ID token checked against Azure RBAC: the
deployer gets "Azure Kubernetes Service RBAC Cluster Admin" on this cluster so Pulumi's
Kubernetes provider (kubelogin exec) can apply the in-cluster objects. The control plane runs
as a user-assigned identity that holds Network Contributor on the node subnet (what AKS needs to
manage load balancers and NAT in a VNet it does not own), granted before the cluster exists.

API Server VNet Integration (GA in the 2025-09-01 API azure-native 3.29 uses:
`apiServerAccessProfile.enableVnetIntegration` + `subnetId`) puts the API server behind an internal
load balancer in a delegated subnet, so nodes join over the VNet and never from the NAT gateway's
public IP (which a public API server's authorized ranges would otherwise have to list). It is also
what KMS etcd encryption with a private Key Vault needs (learn.microsoft.com/azure/aks/
use-kms-etcd-encryption): Kubernetes secrets are encrypted with the stack's `etcd-kms` key, the
control-plane identity holding Key Vault Crypto User on that key and Key Vault Contributor on the
vault. Both pools encrypt at host (temp disks and caches included; the subscription feature
Microsoft.Compute/EncryptionAtHost must be registered) and the system pool's OS disk is ephemeral
when its size has a local disk. Planned maintenance: the cluster and node-image upgrade channels
only act inside the weekly window from `azure.maintenance`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_azure_native import containerservice, managedidentity

from infra.azure.egress import ADVANCED_NETWORKING
from infra.azure.roles import (
    AKS_RBAC_CLUSTER_ADMIN,
    KEY_VAULT_CONTRIBUTOR,
    KEY_VAULT_CRYPTO_USER,
    NETWORK_CONTRIBUTOR,
    delete_lock,
    grant,
    grant_groups,
)
from infra.azure.settings import DNS_SERVICE_IP, POD_CIDR, SERVICE_CIDR, MaintenanceWindow
from infra.kube import cluster_provider, exec_kubeconfig

# The planned-maintenance configurations the two auto-upgrade channels honour (learn.microsoft.com/azure/
# aks/planned-maintenance; azure-native containerservice.MaintenanceConfiguration config_name).
MAINTENANCE_CONFIGS = ("aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule")
SYSTEM_OS_DISK_GB = 64  # fits the local (temp) disk of every d-size (Standard_D2ds_v5 has 75 GiB)
# A size with a local temp disk carries a `d` among its feature letters (Standard_D4ds_v5, _E8ads_v5).
_LOCAL_DISK = re.compile(r"^Standard_[A-Z]+[0-9]+[a-z]*d[a-z]*_")


def ephemeral_os(vm_size: str) -> bool:
    """Whether the system pool's OS disk can live on the VM's local disk (no managed OS disk)."""
    return bool(_LOCAL_DISK.match(vm_size))


# The Entra ID application every AKS-managed-AAD cluster accepts tokens for (kubelogin --server-id).
AKS_AAD_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"


@dataclass(frozen=True)
class ClusterArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    cluster_name: str
    subscription_id: str
    tenant_id: pulumi.Input[str]
    # Who runs Pulumi, from azure.deployer or (cluster.apiAccess runner) the bootstrap's deploy
    # identity: gets cluster-admin through Azure RBAC.
    deployer_principal_id: pulumi.Input[str]
    deployer_principal_type: str  # ServicePrincipal | User | Group
    admin_group_ids: Sequence[str]  # Entra groups with cluster-admin
    kubelogin_mode: str  # kubelogin --login: azurecli | msi | workloadidentity
    kubernetes_version: str
    node_subnet_id: pulumi.Input[str]
    api_server_subnet_id: pulumi.Input[str]  # delegated to AKS (API Server VNet Integration)
    vault_id: pulumi.Input[str]  # the stack's Key Vault (infra/azure/kms.py)
    etcd_key_id: pulumi.Input[str]  # the KMS key's resource id (the grant's scope)
    etcd_key_uri: pulumi.Input[str]  # its versioned key identifier (KMS keyId)
    maintenance: MaintenanceWindow
    system_vm_size: str
    system_node_count: int
    outbound_type: str  # userAssignedNATGateway | none
    fqdn_policies: bool  # ACNS Cilium FQDN filtering (azure.tokenEgress fqdn)
    authorized_ip_ranges: list[str]
    private_cluster: bool
    upgrade_channel: str
    sla_tier: str  # Free | Standard
    # Container Insights (the omsagent add-on, Entra ID auth) sends container logs to this Log Analytics
    # workspace; managed Prometheus (ama-metrics) and the KEDA add-on are always on (infra/azure/monitoring.py).
    log_workspace_id: pulumi.Input[str]
    lock: bool  # a CanNotDelete lock (deletion protection)
    tags: dict[str, str]
    provider: pulumi.ProviderResource


class Cluster(pulumi.ComponentResource):
    cluster: containerservice.ManagedCluster
    name: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]  # secret
    k8s: k8s.Provider

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        control_plane = managedidentity.UserAssignedIdentity(
            f"{name}-control-plane",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=args.tags,
            opts=child,
        )
        # What the control plane needs before the cluster exists: Network Contributor on the node and API
        # server subnets (load balancers, NAT, the API server's internal endpoint), and for KMS with a
        # private vault the key (Key Vault Crypto User) and the vault's private link (Key Vault Contributor).
        control_plane_grants = [
            grant(
                f"{name}-{resource}",
                subscription_id=args.subscription_id,
                role=role,
                principal_id=control_plane.principal_id,
                scope=scope,
                purpose=(args.cluster_name, purpose),
                opts=child,
            )
            for resource, role, purpose, scope in (
                ("subnet-network-contributor", NETWORK_CONTRIBUTOR, "subnet", args.node_subnet_id),
                (
                    "api-server-subnet-network-contributor",
                    NETWORK_CONTRIBUTOR,
                    "api-server-subnet",
                    args.api_server_subnet_id,
                ),
                ("kms-key", KEY_VAULT_CRYPTO_USER, "kms-key", args.etcd_key_id),
                ("kms-vault", KEY_VAULT_CONTRIBUTOR, "kms-vault", args.vault_id),
            )
        ]
        vnet_integration = {"enable_vnet_integration": True, "subnet_id": args.api_server_subnet_id}
        api_access = vnet_integration | (
            {"enable_private_cluster": True, "private_dns_zone": "system", "enable_private_cluster_public_fqdn": False}
            if args.private_cluster
            else {"authorized_ip_ranges": args.authorized_ip_ranges}
        )
        system_disk = (
            {"os_disk_type": "Ephemeral", "os_disk_size_gb": SYSTEM_OS_DISK_GB}
            if ephemeral_os(args.system_vm_size)
            else {}
        )
        self.cluster = containerservice.ManagedCluster(
            f"{name}-aks",
            resource_group_name=args.resource_group_name,
            resource_name_=args.cluster_name,
            location=args.location,
            dns_prefix=args.cluster_name,
            kubernetes_version=args.kubernetes_version,
            sku={"name": "Base", "tier": args.sla_tier},
            identity={"type": "UserAssigned", "user_assigned_identities": [control_plane.id]},
            agent_pool_profiles=[
                {
                    "name": "system",
                    "mode": "System",
                    "type": "VirtualMachineScaleSets",
                    "vm_size": args.system_vm_size,
                    "count": args.system_node_count,
                    "os_type": "Linux",
                    "os_sku": "AzureLinux",
                    "orchestrator_version": args.kubernetes_version,
                    "vnet_subnet_id": args.node_subnet_id,
                    "enable_node_public_ip": False,
                    "enable_encryption_at_host": True,
                    **system_disk,
                }
            ],
            network_profile={
                "network_plugin": "azure",
                "network_plugin_mode": "overlay",
                "network_dataplane": "cilium",
                "network_policy": "cilium",  # enforces the serving component's NetworkPolicy
                "pod_cidr": str(POD_CIDR),
                "service_cidr": str(SERVICE_CIDR),
                "dns_service_ip": DNS_SERVICE_IP,
                "load_balancer_sku": "standard",
                "outbound_type": args.outbound_type,
                **({"advanced_networking": ADVANCED_NETWORKING} if args.fqdn_policies else {}),
            },
            api_server_access_profile=api_access,
            aad_profile={"managed": True, "enable_azure_rbac": True, "tenant_id": args.tenant_id},
            enable_rbac=True,
            disable_local_accounts=True,
            oidc_issuer_profile={"enabled": True},
            # Azure Monitor managed Prometheus: the ama-metrics collectors and kube-state-metrics (no extra
            # label/annotation allow-lists: the rules read no object labels). AKS turns it on in place
            # (az aks update --enable-azure-monitor-metrics), as it does the KEDA add-on (--enable-keda) and
            # Container Insights (az aks enable-addons -a monitoring).
            azure_monitor_profile={"metrics": {"enabled": True}},
            workload_auto_scaler_profile={"keda": {"enabled": True}},
            addon_profiles={
                "omsagent": {
                    "enabled": True,
                    "config": {"logAnalyticsWorkspaceResourceID": args.log_workspace_id, "useAADAuth": "true"},
                }
            },
            security_profile={
                "workload_identity": {"enabled": True},
                "image_cleaner": {"enabled": True, "interval_hours": 48},
                "azure_key_vault_kms": {
                    "enabled": True,
                    "key_id": args.etcd_key_uri,
                    "key_vault_network_access": "Private",
                    "key_vault_resource_id": args.vault_id,
                },
            },
            auto_upgrade_profile={"upgrade_channel": args.upgrade_channel, "node_os_upgrade_channel": "NodeImage"},
            tags=args.tags,
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=control_plane_grants,
                    # A live system pool keeps its OS disk type, size and host encryption: ARM cannot change
                    # them on an existing pool (the OS disk type "may not be changed after creation").
                    ignore_changes=[f"agentPoolProfiles[0].{p}" for p in _FIXED_AT_CREATION],
                ),
            ),
        )
        for config_name in MAINTENANCE_CONFIGS:
            maintenance_configuration(f"{name}-{config_name}", config_name, args, self.cluster, child)
        if args.lock:
            delete_lock(f"{name}-lock", self.cluster.id, child)
        deployer_admin = grant(
            f"{name}-deployer-admin",
            subscription_id=args.subscription_id,
            role=AKS_RBAC_CLUSTER_ADMIN,
            principal_id=args.deployer_principal_id,
            scope=self.cluster.id,
            purpose=(args.cluster_name, "deployer-admin"),
            principal_type=args.deployer_principal_type,
            opts=child,
        )
        grant_groups(
            f"{name}-admin",
            args.admin_group_ids,
            subscription_id=args.subscription_id,
            role=AKS_RBAC_CLUSTER_ADMIN,
            scope=self.cluster.id,
            purpose=(args.cluster_name, "admin"),
            opts=child,
        )
        self.name = self.cluster.name
        self.oidc_issuer_url = self.cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else None)
        # The kubelet's identity (AKS creates it in the node resource group): the one that pulls images,
        # so the one the registry's AcrPull goes to (identityProfile["kubeletidentity"].objectId).
        self.kubelet_object_id = self.cluster.identity_profile.apply(lambda p: p["kubeletidentity"].object_id)
        self.kubeconfig = _kubeconfig(args, self.cluster, child)
        self.k8s = cluster_provider(
            f"{name}-k8s",
            self.kubeconfig,
            pulumi.ResourceOptions(parent=self, depends_on=[deployer_admin]),
        )
        self.register_outputs({"name": self.name, "oidcIssuerUrl": self.oidc_issuer_url})


_FIXED_AT_CREATION = ("osDiskType", "osDiskSizeGB", "enableEncryptionAtHost")


def maintenance_configuration(
    resource: str,
    config_name: str,
    args: ClusterArgs,
    cluster: containerservice.ManagedCluster,
    opts: pulumi.ResourceOptions,
) -> containerservice.MaintenanceConfiguration:
    """A weekly window (azure.maintenance) for one of the auto-upgrade channels."""
    w = args.maintenance
    return containerservice.MaintenanceConfiguration(
        resource,
        resource_group_name=args.resource_group_name,
        resource_name_=cluster.name,
        config_name=config_name,
        maintenance_window={
            "schedule": {"weekly": {"day_of_week": w.day, "interval_weeks": 1}},
            "duration_hours": w.duration_hours,
            "start_time": w.start_time,
            "utc_offset": w.utc_offset,
        },
        opts=opts,
    )


def _kubeconfig(
    args: ClusterArgs, cluster: containerservice.ManagedCluster, opts: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    """Server and CA from the cluster's user credentials; auth via kubelogin (never a static token)."""
    creds = containerservice.list_managed_cluster_user_credentials_output(
        resource_group_name=args.resource_group_name,
        resource_name=cluster.name,
        format="exec",
        opts=pulumi.InvokeOutputOptions(parent=opts.parent, provider=opts.provider),
    )

    def cluster_entry(result: containerservice.ListManagedClusterUserCredentialsResult) -> dict:
        document = yaml.safe_load(base64.b64decode(result.kubeconfigs[0].value))
        return document["clusters"][0]["cluster"]

    entry = pulumi.Output.secret(creds).apply(cluster_entry)
    return exec_kubeconfig(
        cluster.name,
        entry.apply(lambda c: c["server"]),
        entry.apply(lambda c: c["certificate-authority-data"]),
        "kubelogin",
        ["get-token", "--login", args.kubelogin_mode, "--server-id", AKS_AAD_SERVER_APP_ID],
        f"Install kubelogin (az aks install-cli); login mode {args.kubelogin_mode} (azure.kubeloginMode)",
    )
