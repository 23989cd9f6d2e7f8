"""Private, VPC-native GKE with Workload Identity, KMS-encrypted secrets and a small system pool.

Nodes have only private addresses; the control plane keeps its public endpoint (so Pulumi and
kubectl outside the VPC can work) but answers only the configured authorized networks, not even
other Google Cloud addresses. With `cluster.apiAccess: dns` the cluster also gets its DNS-based
endpoint (`<uid>.<region>.gke.goog`), open to traffic from anywhere but answering only Google
IAM-authenticated callers with `container.clusters.connect` (no Kubernetes service-account tokens
or client certificates on that name): how GitHub-hosted runners, which have no fixed address,
reach the API while the IP endpoint stays restricted. Dataplane V2 enforces the serving NetworkPolicy. The default node
pool is removed; the system pool keeps cluster add-ons off (and independent of) the GPU pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.conventions import SYSTEM_POOL, pool_labels
from infra.gcp.footprint import SYSTEM_MAX_PER_ZONE, SYSTEM_MIN_PER_ZONE
from infra.gcp.network import PODS_RANGE, SERVICES_RANGE

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"  # IAM, not scopes, limits access
LOG_COMPONENTS = ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER", "WORKLOADS"]
METRIC_COMPONENTS = ["SYSTEM_COMPONENTS", "POD", "DEPLOYMENT", "DAEMONSET", "HPA", "STATEFULSET", "DCGM"]
# A private cluster's control plane reaches nodes only on 443 and 10250 unless a firewall rule
# admits more; the kube-apiserver calls KEDA's external metrics API server (pod port 6443) and its
# admission webhooks (9443) on the pod's own port, bypassing the Service (kedacore/keda-docs#384,
# keda.sh/docs troubleshooting "Google Kubernetes Engine (GKE)"; kedacore/charts#214).
CONTROL_PLANE_TO_NODE_PORTS = (6443, 9443)


def node_config(service_account: pulumi.Input[str], pool: str, **extra: Any) -> dict[str, Any]:
    """What every node pool shares: least-privilege SA, GKE metadata server, shielded COS nodes."""
    return {
        "service_account": service_account,
        "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
        "workload_metadata_config": {"mode": "GKE_METADATA"},  # pods see their KSA, never the node SA
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        "image_type": "COS_CONTAINERD",
        "metadata": {"disable-legacy-endpoints": "true"},
        "labels": pool_labels(pool),
        **extra,
    }


@dataclass(frozen=True)
class ClusterArgs:
    name: str
    project: str
    region: str
    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    kubernetes_version: str  # minimum control-plane version; the release channel upgrades from there
    release_channel: str
    authorized_networks: Sequence[str]
    master_ipv4_cidr_block: str | None
    secrets_key: pulumi.Input[str]
    node_service_account: pulumi.Input[str]
    # The GKE agent's grant on secrets_key (GKE checks it at create) and the node SA's roles.
    wait_for: Sequence[pulumi.Resource]
    system_machine_type: str
    node_zones: Sequence[str]
    deletion_protection: bool
    dns_endpoint: bool = False  # cluster.apiAccess: dns
    # gcp.maintenanceWindow / gcp.maintenanceExclusions, as pulumi-gcp ClusterMaintenancePolicy.
    maintenance_policy: dict[str, Any] | None = None


class Cluster(pulumi.ComponentResource):
    cluster: gcp.container.Cluster
    system_pool: gcp.container.NodePool
    control_plane_ports: gcp.compute.Firewall
    dns_endpoint: pulumi.Output[str | None]  # the DNS endpoint's name when it admits user traffic

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:Cluster", name, None, opts)
        private: dict[str, Any] = {"enable_private_nodes": True, "enable_private_endpoint": False}
        if args.master_ipv4_cidr_block:
            private["master_ipv4_cidr_block"] = args.master_ipv4_cidr_block
        self.cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=args.name,
            location=args.region,
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={
                "cluster_secondary_range_name": PODS_RANGE,
                "services_secondary_range_name": SERVICES_RANGE,
            },
            datapath_provider="ADVANCED_DATAPATH",
            private_cluster_config=private,
            master_authorized_networks_config={
                "cidr_blocks": [
                    {"cidr_block": c, "display_name": f"allowed-{i}"} for i, c in enumerate(args.authorized_networks)
                ],
                "gcp_public_cidrs_access_enabled": False,
            },
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            control_plane_endpoints_config=_endpoints(args.dns_endpoint),
            maintenance_policy=args.maintenance_policy,
            # Control-plane logs (API server: who changed the cluster) next to system and workload
            # logs, and GKE's managed collection: Managed Service for Prometheus, kube-state metrics
            # (pod, deployment, daemonset, HPA, statefulset) and DCGM GPU metrics from the
            # GKE-managed driver (pulumi-gcp ClusterLoggingConfig / ClusterMonitoringConfig).
            logging_config={"enable_components": LOG_COMPONENTS},
            monitoring_config={"enable_components": METRIC_COMPONENTS, "managed_prometheus": {"enabled": True}},
            workload_identity_config={"workload_pool": f"{args.project}.svc.id.goog"},
            database_encryption={"state": "ENCRYPTED", "key_name": args.secrets_key},
            release_channel={"channel": args.release_channel},
            min_master_version=args.kubernetes_version,
            enable_shielded_nodes=True,
            remove_default_node_pool=True,
            initial_node_count=1,
            # The transient default pool GKE creates before removing it also runs as the node SA.
            node_config={
                "service_account": args.node_service_account,
                "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
                "workload_metadata_config": {"mode": "GKE_METADATA"},
            },
            deletion_protection=args.deletion_protection,
            # nodeConfig only shapes the transient default pool; once it is removed the API reports
            # none, which would otherwise read as a change that replaces the cluster.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.wait_for), ignore_changes=["nodeConfig"]),
        )
        self.system_pool = gcp.container.NodePool(
            f"{name}-system",
            cluster=self.cluster.name,
            location=args.region,
            node_locations=list(args.node_zones) or None,
            # Start at the minimum (per zone, like min_node_count) so kube-system has nodes once the
            # default pool is gone, instead of waiting for a scale-up (issue 14 item 3).
            initial_node_count=SYSTEM_MIN_PER_ZONE,
            autoscaling={"min_node_count": SYSTEM_MIN_PER_ZONE, "max_node_count": SYSTEM_MAX_PER_ZONE},
            management={"auto_repair": True, "auto_upgrade": True},
            upgrade_settings={"max_surge": 1, "max_unavailable": 0},
            node_config=node_config(
                args.node_service_account,
                SYSTEM_POOL,
                machine_type=args.system_machine_type,
                disk_size_gb=50,
                disk_type="pd-balanced",
            ),
            # initial_node_count is create-only (ForceNew in the provider): a live pool created
            # without it, and any later autoscaled size, must never replace the pool.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )
        # Only from the control plane (its /28 when set, else the PSC endpoint's address), only to
        # the nodes running as the node service account, only those ports.
        source = (
            pulumi.Output.from_input(args.master_ipv4_cidr_block)
            if args.master_ipv4_cidr_block
            else self.cluster.private_cluster_config.apply(lambda c: f"{c.private_endpoint}/32")
        )
        self.control_plane_ports = gcp.compute.Firewall(
            f"{name}-control-plane-to-webhooks",
            network=args.network,
            direction="INGRESS",
            description="GKE control plane to KEDA's metrics API server and admission webhooks on the nodes",
            source_ranges=[source],
            target_service_accounts=[args.node_service_account],
            allows=[{"protocol": "tcp", "ports": [str(p) for p in CONTROL_PLANE_TO_NODE_PORTS]}],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dns_endpoint = self.cluster.control_plane_endpoints_config.apply(_dns_name)
        self.register_outputs({"name": self.cluster.name, "endpoint": self.cluster.endpoint})


def _endpoints(dns: bool) -> dict[str, Any] | None:
    """The DNS endpoint for user traffic (pulumi-gcp 10.2.0 ClusterControlPlaneEndpointsConfig-
    DnsEndpointConfig: allow_external_traffic; enable_k8s_tokens_via_dns / _certs_via_dns stay
    false, so only IAM tokens work there); the IP endpoint stays on for apiAllowedCidrs."""
    if not dns:
        return None
    return {
        "dns_endpoint_config": {
            "allow_external_traffic": True,
            "enable_k8s_tokens_via_dns": False,
            "enable_k8s_certs_via_dns": False,
        },
        "ip_endpoints_config": {"enabled": True},
    }


def _dns_name(config: Any) -> str | None:
    dns = getattr(config, "dns_endpoint_config", None) if config else None
    return dns.endpoint if dns and dns.allow_external_traffic else None


def maintenance_policy(window: Any, exclusions: Sequence[Any]) -> dict[str, Any]:
    """gcp.maintenanceWindow (a recurring window) and gcp.maintenanceExclusions as the cluster's
    maintenance_policy (pulumi-gcp ClusterMaintenancePolicyRecurringWindow: start_time, end_time,
    recurrence; MaintenanceExclusion: exclusion_name, start_time, end_time, exclusion_options.scope)."""
    return {
        "recurring_window": {"start_time": window.start, "end_time": window.end, "recurrence": window.recurrence},
        "maintenance_exclusions": [
            {
                "exclusion_name": e.name,
                "start_time": e.start,
                "end_time": e.end,
                "exclusion_options": {"scope": e.scope},
            }
            for e in exclusions
        ],
    }
