"""Azure platform: VNet, AKS with Entra ID + workload identity, GPU agent pool, private Blob storage
behind a Private Endpoint, and an Entra Workload ID that can read only the model's prefix.

`build(cfg)` checks the address plan first (a bad CIDR fails before anything is registered),
then builds the components below with one explicit azure-native provider and returns the
`Platform` the serving component consumes. Only `pulumi_azure_native` (and pulumi_kubernetes for
the in-cluster device plugin) is imported here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pulumi
from pulumi_azure_native import Provider, authorization

from infra import kube
from infra.azure import metrics
from infra.azure.bucket import WeightsStorage, WeightsStorageArgs
from infra.azure.cluster import Cluster, ClusterArgs
from infra.azure.egress import token_egress_policy
from infra.azure.endpoints import PrivateEndpoint, PrivateEndpointArgs
from infra.azure.footprint import sla_tier
from infra.azure.gpu_pool import POOL_LABEL, GpuPool, GpuPoolArgs, pool_taints
from infra.azure.identity import WeightsReader, WeightsReaderArgs, WeightsWriter
from infra.azure.kms import Keys, KeysArgs
from infra.azure.logs import AuditLogs, AuditLogsArgs
from infra.azure.monitoring import Monitoring, MonitoringArgs
from infra.azure.network import Network, NetworkArgs
from infra.azure.registry import Registry, RegistryArgs
from infra.azure.runner import RunnerAccess, RunnerAccessArgs, api_ranges, from_bootstrap
from infra.azure.settings import docker_hub_vault_fits, kubelogin_mode, subnet_plan
from infra.config.schema import StackConfig
from infra.conventions import DCGM_EXPORTER_IMAGE, LWS_IMAGE, NVIDIA_DEVICE_PLUGIN_IMAGE, stager_service_account
from infra.conventions import tags as project_tags
from infra.fit import gpu_node_disk_gb
from infra.observability import alerts
from infra.platform import (
    Crd,
    EgressRule,
    GpuScheduling,
    ManagedMetrics,
    Platform,
    QueueScaler,
    Toleration,
    WorkloadIdentity,
)

BLOB_ZONE = "privatelink.blob.core.windows.net"


def _global_name(prefix: str, stack: str, subscription_id: str, length: int, sep: str = "") -> str:
    """A globally unique, deterministic name (storage accounts and vaults share one DNS namespace)."""
    digest = hashlib.sha256(f"{subscription_id}/{stack}".encode()).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9]", "", stack.lower())[: length - len(prefix) - len(digest) - 2 * len(sep)]
    return sep.join(p for p in (prefix, slug, digest) if p)


def build(cfg: StackConfig) -> Platform:
    assert cfg.azure is not None  # guaranteed by config validation for cloud=azure
    subnets = subnet_plan(cfg)  # already checked by infra.config.checks
    az, stack, location = cfg.azure, pulumi.get_stack(), cfg.region
    docker_hub_vault_fits(cfg, stack)  # before anything is registered
    tags = project_tags(stack)
    provider = Provider("azure", subscription_id=az.subscription_id, location=location)
    client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(provider=provider))

    in_network_ci = cfg.cluster.api_access == "runner"  # VNet + CI runners come from <stack>-bootstrap
    deployer = az.deployer
    assert in_network_ci or deployer is not None  # infra.azure.settings.deployer_fits_access
    net = (
        from_bootstrap()
        if in_network_ci
        else Network(
            "network",
            NetworkArgs(
                stack=stack, location=location, subnets=subnets, egress=cfg.network.egress, tags=tags, provider=provider
            ),
        )
    )
    allowed = [str(c) for c in cfg.cluster.api_allowed_cidrs]
    cluster_name = f"llz-{stack}"
    # One vault, two keys: the weights account's and the Kubernetes secrets' (KMS etcd encryption).
    keys = Keys(
        "keys",
        KeysArgs(
            resource_group_name=net.resource_group_name,
            location=location,
            vault_name=_global_name("llz", stack, az.subscription_id, 24, sep="-"),
            tenant_id=client.tenant_id,
            tags=tags,
            provider=provider,
        ),
    )
    # The stack's Log Analytics workspace: audit logs (below) and the container logs of Container Insights.
    audit = AuditLogs(
        "audit",
        AuditLogsArgs(
            resource_group_name=net.resource_group_name,
            location=location,
            workspace_name=f"llz-{stack}-audit",
            retention_days=az.log_retention_days,
            tags=tags,
            provider=provider,
        ),
    )
    cluster = Cluster(
        "cluster",
        ClusterArgs(
            resource_group_name=net.resource_group_name,
            location=location,
            cluster_name=cluster_name,
            subscription_id=az.subscription_id,
            tenant_id=client.tenant_id,
            # From azure.deployer, or on the in-network runner the deploy runner's identity from the
            # bootstrap (config checks allow exactly one): never whoever runs this (a preview runs as
            # the preview identity and must not see the grant move).
            deployer_principal_id=net.deploy_principal_id if in_network_ci else deployer.principal_id,
            deployer_principal_type="ServicePrincipal" if in_network_ci else deployer.principal_type,
            admin_group_ids=az.admin_group_ids,
            kubelogin_mode=kubelogin_mode(cfg),  # msi on the runner (its managed identity)
            kubernetes_version=cfg.cluster.kubernetes_version,
            node_subnet_id=net.node_subnet_id,
            api_server_subnet_id=net.api_server_subnet_id,
            vault_id=keys.vault.id,
            etcd_key_id=keys.etcd_key.id,
            etcd_key_uri=keys.etcd_key.key_uri_with_version,
            maintenance=az.maintenance,
            system_vm_size=az.system_vm_size,
            system_node_count=az.system_node_count,
            outbound_type="userAssignedNATGateway" if cfg.network.egress == "nat" else "none",
            fqdn_policies=az.token_egress == "fqdn",
            authorized_ip_ranges=api_ranges(allowed, net) if in_network_ci else allowed,
            private_cluster=az.private_cluster,
            upgrade_channel=az.upgrade_channel,
            sla_tier=sla_tier(cfg),
            log_workspace_id=audit.workspace.id,
            lock=cfg.deletion_protection,
            tags=tags,
            provider=provider,
        ),
    )
    if in_network_ci:
        RunnerAccess(
            "runner-access",
            RunnerAccessArgs(az.subscription_id, cluster.cluster.id, cluster_name, net.preview_principal_id, provider),
        )
    # The images the nodes pull, each through a cache rule of the stack's registry (infra/azure/registry.py).
    registry = Registry(
        "registry",
        RegistryArgs(
            resource_group_name=net.resource_group_name,
            location=location,
            registry_name=_global_name("llz", stack, az.subscription_id, 50),
            subscription_id=az.subscription_id,
            key_uri=keys.registry_key.key_uri,
            key_id=keys.registry_key.id,
            kubelet_object_id=cluster.kubelet_object_id,
            vnet_id=net.vnet_id,
            subnet_id=net.endpoint_subnet_id,
            images=(
                cfg.serving.image,
                cfg.serving.puller_image,
                NVIDIA_DEVICE_PLUGIN_IMAGE,
                DCGM_EXPORTER_IMAGE,
                *((LWS_IMAGE,) if cfg.model.pipeline_parallel_size > 1 else ()),  # infra/lws.py
            ),
            docker_hub=az.docker_hub_credentials,
            lock=cfg.deletion_protection,
            tags=tags,
            provider=provider,
        ),
    )
    gpu = GpuPool(
        "gpu",
        GpuPoolArgs(
            resource_group_name=net.resource_group_name,
            cluster_name=cluster.name,
            kubernetes_version=cfg.cluster.kubernetes_version,
            node_subnet_id=net.node_subnet_id,
            vm_size=cfg.gpu.instance_type,
            min_nodes=cfg.gpu.min_nodes,
            max_nodes=cfg.gpu.max_nodes,
            spot=cfg.gpu.spot,
            os_disk_gb=gpu_node_disk_gb(cfg.model.weights_gb, floor_gb=256),
            upgrade=az.gpu_upgrade,
            tags=tags,
            provider=provider,
            k8s=cluster.k8s,
            device_plugin_image=registry.images[NVIDIA_DEVICE_PLUGIN_IMAGE],
            image_ready=tuple(registry.ready),
            group_nodes=cfg.model.pipeline_parallel_size,
        ),
    )
    storage = WeightsStorage(
        "weights",
        WeightsStorageArgs(
            resource_group_name=net.resource_group_name,
            location=location,
            account_name=_global_name("llz", stack, az.subscription_id, 24),
            subscription_id=az.subscription_id,
            key_name=keys.weights_key.name,
            key_id=keys.weights_key.id,
            vault_uri=keys.vault_uri,
            lock=cfg.deletion_protection,
            tags=tags,
            provider=provider,
        ),
    )
    blob_endpoint = PrivateEndpoint(
        "weights-blob",
        PrivateEndpointArgs(
            resource_group_name=net.resource_group_name,
            location=location,
            vnet_id=net.vnet_id,
            subnet_id=net.endpoint_subnet_id,
            target_id=storage.account.id,
            group_id="blob",
            zone_name=BLOB_ZONE,
            tags=tags,
            provider=provider,
        ),
    )
    audit.audit(cluster.cluster.id, storage.blob_service_id)
    taints = pool_taints(cfg.gpu.spot)
    monitoring = _monitoring(cfg, stack, net, cluster, audit, gpu, registry, taints, tags, provider)
    reader_args = WeightsReaderArgs(
        resource_group_name=net.resource_group_name,
        location=location,
        subscription_id=az.subscription_id,
        oidc_issuer_url=cluster.oidc_issuer_url,
        namespace=cfg.serving.namespace,
        service_account=cfg.serving.service_account,
        container_id=storage.container_id,
        weights_prefix=cfg.model.weights_prefix,
        tags=tags,
        provider=provider,
    )
    identity = WeightsReader("serving-identity", reader_args)
    # First deploy with model.source: the staging Job's own identity may write (only) the model prefix.
    stager_account = stager_service_account(cfg.serving.service_account)
    writer = None
    if cfg.model.source is not None:
        writer = WeightsWriter("weights-stager", replace(reader_args, service_account=stager_account))
    token_egress, token_ready = _token_egress(cfg, cluster)
    prefix = cfg.model.weights_prefix
    platform = Platform(
        k8s=cluster.k8s,
        kubeconfig=cluster.kubeconfig,
        gpu=GpuScheduling(
            node_selector=POOL_LABEL,
            tolerations=taints,
            gpus_per_replica=cfg.model.tensor_parallel_size,
            gpu_memory_gb=cfg.gpu_instance.gpu_memory_gb,
        ),
        identity=WorkloadIdentity(
            namespace=cfg.serving.namespace,
            service_account=cfg.serving.service_account,
            service_account_annotations={"azure.workload.identity/client-id": identity.client_id},
            pod_labels={"azure.workload.identity/use": "true"},  # a LABEL on the pod, not an annotation
            env={"AZURE_STORAGE_ACCOUNT_NAME": storage.account_name},
        ),
        weights_uri=pulumi.Output.format(
            "https://{0}.blob.core.windows.net/{1}/{2}", storage.account_name, storage.container_name, prefix
        ),
        pod_weights_uri=pulumi.Output.format("az://{0}/{1}", storage.container_name, prefix),
        internal_lb_annotations={"service.beta.kubernetes.io/azure-load-balancer-internal": "true"},
        egress=[EgressRule(str(subnets.endpoints), [443], "Blob private endpoint (model weights)"), *token_egress],
        # The blob name must resolve privately before the first pull: the zone's VNet link and its A record.
        ready=[
            gpu.pool,
            gpu.device_plugin,
            identity.federated_credential,
            identity.reader,
            *blob_endpoint.ready,
            *token_ready,
            *registry.ready,  # the registry's name resolves privately, the cache rules and the pull grant exist
        ],
        images=registry.images,
        # Azure Monitor managed Prometheus: ama-metrics scrapes through a PodMonitor of its own CRD group, the
        # rules are a PrometheusRuleGroup (infra/azure/monitoring.py), KEDA (the AKS add-on) reads the queue
        # from the workspace's private query endpoint as its own identity.
        metrics=ManagedMetrics(
            monitor=Crd(metrics.MONITOR_API_VERSION, metrics.MONITOR_KIND),
            monitor_endpoints_field=metrics.MONITOR_ENDPOINTS_FIELD,
            collector_namespace=metrics.COLLECTOR_NAMESPACE,
            collector_pod_labels=metrics.COLLECTOR_POD_LABELS,
            scaler=QueueScaler(
                server_address=monitoring.query_endpoint,
                # keda.sh/docs/2.21/scalers/prometheus ("Azure Monitor Managed Service for Prometheus")
                pod_identity={"provider": "azure-workload", "identityId": monitoring.keda_client_id},
                ready=tuple(monitoring.ready),
            ),
        ),
        exports={
            "region": location,
            "resourceGroup": net.resource_group_name,
            "clusterName": cluster.name,
            "storageAccount": storage.account_name,
            "container": storage.container_name,
            "oidcIssuerUrl": cluster.oidc_issuer_url,
            "registry": registry.registry.login_server,
            "images": registry.images,
            # Azure Monitor: the workspace's Prometheus query endpoint (private: from the VNet) and the log workspace.
            "prometheusQueryEndpoint": monitoring.query_endpoint,
            "logAnalyticsWorkspace": audit.workspace_name,
        },
    )
    if writer is None:
        return platform
    annotations = {"azure.workload.identity/client-id": writer.client_id}
    return platform.with_stager(
        stager_account, annotations, [writer.federated_credential, writer.writer, *blob_endpoint.ready, *registry.ready]
    )


def _monitoring(
    cfg: StackConfig,
    stack: str,
    net: Any,
    cluster: Cluster,
    audit: AuditLogs,
    gpu: GpuPool,
    registry: Registry,
    taints: Sequence[Toleration],
    tags: dict[str, str],
    provider: Provider,
) -> Monitoring:
    """Azure Monitor (infra/azure/monitoring.py) and what ama-metrics needs in the cluster (infra/azure/metrics.py):
    the DCGM exporter on the GPU pool with its PodMonitor, and the kube-state-metrics keep list."""
    assert cfg.azure is not None
    rule_file = alerts.rule_groups(cfg, stack)["groups"][0]
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            resource_group_name=net.resource_group_name,
            location=cfg.region,
            stack=stack,
            subscription_id=cfg.azure.subscription_id,
            cluster_name=f"llz-{stack}",
            cluster_id=cluster.cluster.id,
            oidc_issuer_url=cluster.oidc_issuer_url,
            vnet_id=net.vnet_id,
            endpoint_subnet_id=net.endpoint_subnet_id,
            log_workspace_id=audit.workspace.id,
            rules=rule_file["rules"],
            rule_interval=rule_file["interval"],
            emails=cfg.observability.alerts.emails,
            grafana=cfg.azure.managed_grafana,
            admin_group_ids=cfg.azure.admin_group_ids,
            tags=tags,
            provider=provider,
        ),
    )
    in_cluster = pulumi.ResourceOptions(parent=monitoring, provider=cluster.k8s)
    exporter = kube.dcgm_exporter(
        "monitoring-dcgm-exporter",
        POOL_LABEL,
        taints,
        registry.images[DCGM_EXPORTER_IMAGE],
        pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[gpu.pool, *registry.ready])),
    )
    metrics.dcgm_pod_monitor(
        "monitoring-dcgm-monitor",
        pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[exporter])),
    )
    metrics.ama_metrics_settings("monitoring-ama-metrics-settings", in_cluster)
    # The operator restarts once its identity may read the workspace (federated credential and grant exist).
    binding = pulumi.ResourceOptions(depends_on=[monitoring.keda_federation, monitoring.keda_reader])
    monitoring.ready += metrics.keda_workload_identity(
        "monitoring-keda-operator", monitoring.keda_client_id, pulumi.ResourceOptions.merge(in_cluster, binding)
    )
    return monitoring


def _token_egress(cfg: StackConfig, cluster: Cluster) -> tuple[list[EgressRule], list[pulumi.Resource]]:
    """How serving pods reach Entra ID (azure.tokenEgress, infra/azure/egress.py): a Cilium FQDN policy
    the Deployment waits for, or (open-insecure) a NetworkPolicy rule to every address on 443."""
    assert cfg.azure is not None
    if cfg.azure.token_egress == "open-insecure":
        why = (
            "Entra ID token endpoint (login.microsoftonline.com) for the workload-identity token exchange; "
            "no fixed CIDR: azure.tokenEgress open-insecure opens HTTPS to every address"
        )
        return [EgressRule("0.0.0.0/0", [443], why)], []
    opts = pulumi.ResourceOptions(provider=cluster.k8s, parent=cluster)
    return [], [token_egress_policy("serving-token-egress", cfg.serving.namespace, opts)]
