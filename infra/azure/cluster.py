"""AKS: private-access control plane, Entra ID + Azure RBAC only, workload identity, CNI overlay.

The system pool is inline (a cluster needs one to exist); every other pool is a separate
`AgentPool`, because ARM rejects adding pools through the cluster's own profile list. Local
accounts are disabled, so the only way in is an Entra ID token checked against Azure RBAC: the
deployer gets "Azure Kubernetes Service RBAC Cluster Admin" on this cluster so Pulumi's
Kubernetes provider (kubelogin exec) can apply the in-cluster objects. The control plane runs
as a user-assigned identity that holds Network Contributor on the node subnet (what AKS needs to
manage load balancers and NAT in a VNet it does not own), granted before the cluster exists.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_azure_native import containerservice, managedidentity

from infra.azure.roles import AKS_RBAC_CLUSTER_ADMIN, NETWORK_CONTRIBUTOR, delete_lock, grant
from infra.azure.settings import DNS_SERVICE_IP, POD_CIDR, SERVICE_CIDR
from infra.kube import cluster_provider, exec_kubeconfig

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
    system_vm_size: str
    system_node_count: int
    outbound_type: str  # userAssignedNATGateway | none
    authorized_ip_ranges: list[str]
    private_cluster: bool
    upgrade_channel: str
    sla_tier: str  # Free | Standard
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
        subnet_grant = grant(
            f"{name}-subnet-network-contributor",
            subscription_id=args.subscription_id,
            role=NETWORK_CONTRIBUTOR,
            principal_id=control_plane.principal_id,
            scope=args.node_subnet_id,
            purpose=(args.cluster_name, "subnet"),
            opts=child,
        )
        api_access = (
            {"enable_private_cluster": True, "private_dns_zone": "system", "enable_private_cluster_public_fqdn": False}
            if args.private_cluster
            else {"authorized_ip_ranges": args.authorized_ip_ranges}
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
            },
            api_server_access_profile=api_access,
            aad_profile={"managed": True, "enable_azure_rbac": True, "tenant_id": args.tenant_id},
            enable_rbac=True,
            disable_local_accounts=True,
            oidc_issuer_profile={"enabled": True},
            security_profile={
                "workload_identity": {"enabled": True},
                "image_cleaner": {"enabled": True, "interval_hours": 48},
            },
            auto_upgrade_profile={"upgrade_channel": args.upgrade_channel, "node_os_upgrade_channel": "NodeImage"},
            tags=args.tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[subnet_grant])),
        )
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
        for group in args.admin_group_ids:
            grant(
                f"{name}-admin-{group}",
                subscription_id=args.subscription_id,
                role=AKS_RBAC_CLUSTER_ADMIN,
                principal_id=group,
                scope=self.cluster.id,
                purpose=(args.cluster_name, "admin", group),
                principal_type="Group",
                opts=child,
            )
        self.name = self.cluster.name
        self.oidc_issuer_url = self.cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else None)
        self.kubeconfig = _kubeconfig(args, self.cluster, child)
        self.k8s = cluster_provider(
            f"{name}-k8s",
            self.kubeconfig,
            pulumi.ResourceOptions(parent=self, depends_on=[deployer_admin]),
        )
        self.register_outputs({"name": self.name, "oidcIssuerUrl": self.oidc_issuer_url})


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
