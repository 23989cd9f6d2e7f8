"""GCP platform: VPC with Private Google Access, private GKE, GPU node pool, CMEK GCS bucket,
Workload Identity.

`build(cfg)` registers, with one explicit `gcp.Provider`:
  Services (every API the stack uses; each resource waits for its own) ->
  Network (VPC, subnet with PGA + pods/services ranges, optional Cloud NAT) ->
  GoogleApis (private.googleapis.com route + DNS) -> Keys (KMS ring, bucket and GKE-secrets keys,
  service-agent grants) -> NodeIdentity (least-privilege node SA) -> Cluster (private GKE + system
  pool) -> GpuPool -> WeightsBucket -> Registry (Artifact Registry: own images + Docker Hub and ghcr.io
  caches) -> WeightsReader (bucket read on the model prefix) -> AdminAccess (gcp.adminMembers) and
  Cloud Storage Data Access audit logs,
and returns the `Platform` the serving component deploys onto.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

import pulumi
import pulumi_gcp as gcp

from infra import keda
from infra.config.schema import StackConfig
from infra.conventions import (
    GPU_POOL,
    KEDA_IMAGES,
    KEDA_NAMESPACE,
    KEDA_OPERATOR_SA,
    LWS_IMAGE,
    pool_labels,
    stager_service_account,
    tags,
)
from infra.fit import gpu_node_disk_gb
from infra.gcp import apis as gcp_apis
from infra.gcp.bucket import WeightsBucket, WeightsBucketArgs
from infra.gcp.cluster import Cluster, ClusterArgs, maintenance_policy
from infra.gcp.endpoints import GoogleApis, GoogleApisArgs
from infra.gcp.gpu_pool import GpuPool, GpuPoolArgs
from infra.gcp.identity import (
    AdminAccess,
    AdminAccessArgs,
    MetricsReader,
    MetricsReaderArgs,
    NodeIdentity,
    NodeIdentityArgs,
    WeightsReader,
    WeightsReaderArgs,
    WeightsWriter,
)
from infra.gcp.kms import Keys, KeysArgs
from infra.gcp.monitoring import Monitoring, MonitoringArgs, log_retention
from infra.gcp.network import Network, NetworkArgs
from infra.gcp.registry import Registry, RegistryArgs
from infra.kube import cluster_provider, exec_kubeconfig
from infra.observability import alerts, panels
from infra.platform import (
    GPU_TOLERATION,
    Crd,
    GpuScheduling,
    ManagedMetrics,
    Platform,
    QueueScaler,
    WorkloadIdentity,
)

# Pod DNS on GKE may not go to kube-dns pods at all: NodeLocal DNSCache (on by default in GKE
# Standard >= 1.34.1-gke.3720000, docs.cloud.google.com/kubernetes-engine/docs/how-to/nodelocal-dns-cache)
# answers on 169.254.20.10, and with Cloud DNS for GKE the resolver is the node's metadata server.
NODE_DNS_CIDRS = ("169.254.20.10/32", "169.254.169.254/32")
AUTH_PLUGIN_HINT = (
    "Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin); it reads "
    "application default credentials: google-github-actions/auth in CI, `gcloud auth application-default login` locally"
)
# ADC, not gcloud's own login: in CI the Workload Identity Federation credential file is ADC and
# refreshes itself for the whole run; gcloud's login would need a separate `gcloud auth` step.
AUTH_PLUGIN_ARGS = ["--use_application_default_credentials"]


# GKE's Managed Service for Prometheus (managed collection): PodMonitoring makes the collectors in
# gmp-system (pods labelled app.kubernetes.io/name=collector) scrape the server
# (cloud.google.com/stackdriver/docs/managed-prometheus/setup-managed). No rules object: Cloud
# Monitoring evaluates the rules as alert policies that email (infra/gcp/monitoring.py), where GMP's
# managed rule evaluator would send to an Alertmanager without a receiver.
_GMP = "monitoring.googleapis.com/v1"
MANAGED_PROMETHEUS = ManagedMetrics(
    monitor=Crd(_GMP, "PodMonitoring"),
    collector_namespace="gmp-system",
    collector_pod_labels={"app.kubernetes.io/name": "collector"},
)


def gmp_query_url(project: str) -> str:
    """Managed Service for Prometheus's Prometheus HTTP API root for the project (KEDA appends
    /api/v1/query): KEDA's GMP example and its e2e test tests/scalers/gcp/gcp_prometheus_workload_identity
    (kedacore/keda; keda-docs#1153), GMP's query docs (docs.cloud.google.com/stackdriver/docs/
    managed-prometheus/query-api-ui)."""
    return f"https://monitoring.googleapis.com/v1/projects/{project}/location/global/prometheus"


def gcp_name(*parts: str, limit: int) -> str:
    """A GCP resource name from parts: lower-case, dashes, at most `limit` chars (hash-shortened)."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


def build(cfg: StackConfig) -> Platform:
    assert cfg.gcp is not None
    gcp_cfg, stack, project = cfg.gcp, pulumi.get_stack(), cfg.gcp.project
    labels = tags(gcp_name(stack, limit=63))  # label values: lower-case, digits, - and _, <= 63
    provider = gcp.Provider("gcp", project=project, region=cfg.region, default_labels=labels)
    uses_dns = gcp_cfg.google_apis != "default"
    services = gcp_apis.Services(
        "apis-enabled", project, gcp_apis.required(uses_dns), pulumi.ResourceOptions(provider=provider)
    )
    # Every resource below (components and their children) waits for the Service of its own API.
    on_gcp = pulumi.ResourceOptions(provider=provider, transformations=[services.needs_api])

    project_number = gcp.organizations.get_project_output(
        project_id=project, opts=services.invoke_opts(provider, "organizations")
    ).number
    gcs_agent = gcp.storage.get_project_service_account_output(
        project=project, opts=services.invoke_opts(provider, "storage")
    ).email_address

    network = Network(
        "net",
        NetworkArgs(
            region=cfg.region,
            cidr=str(cfg.network.cidr),
            pods_cidr=str(gcp_cfg.pods_cidr),
            services_cidr=str(gcp_cfg.services_cidr),
            egress=cfg.network.egress,
        ),
        on_gcp,
    )
    apis = GoogleApis("apis", GoogleApisArgs(network=network.vpc.id, mode=gcp_cfg.google_apis), on_gcp)
    keys = Keys(
        "kms",
        KeysArgs(
            location=cfg.region,
            gcs_agent_email=gcs_agent,
            project_number=project_number,
            deletion_protection=cfg.deletion_protection,
        ),
        on_gcp,
    )
    nodes = NodeIdentity(
        "nodes",
        NodeIdentityArgs(project, gcp_name("llz", stack, "nodes", limit=30), gcp_cfg.image_projects),
        on_gcp,
    )
    cluster = Cluster(
        "gke",
        ClusterArgs(
            name=gcp_name("llz", stack, limit=40),
            project=project,
            region=cfg.region,
            network=network.vpc.id,
            subnetwork=network.subnet.id,
            kubernetes_version=cfg.cluster.kubernetes_version,
            release_channel=gcp_cfg.release_channel,
            authorized_networks=[str(c) for c in cfg.cluster.api_allowed_cidrs],
            master_ipv4_cidr_block=str(gcp_cfg.master_ipv4_cidr_block) if gcp_cfg.master_ipv4_cidr_block else None,
            secrets_key=keys.cluster_key.id,
            node_service_account=nodes.email,
            wait_for=[keys.cluster_grant, nodes],
            system_machine_type=gcp_cfg.system_machine_type,
            node_zones=gcp_cfg.node_zones,
            deletion_protection=cfg.deletion_protection,
            dns_endpoint=cfg.cluster.api_access == "dns",
            maintenance_policy=maintenance_policy(gcp_cfg.maintenance_window, gcp_cfg.maintenance_exclusions),
        ),
        on_gcp,
    )
    instance = cfg.gpu_instance
    gpu = GpuPool(
        "gpu",
        GpuPoolArgs(
            cluster=cluster.cluster.name,
            region=cfg.region,
            node_zones=gcp_cfg.node_zones,
            machine_type=instance.name,
            accelerator=instance.accelerator,
            gpus=instance.gpus,
            driver_version=gcp_cfg.gpu_driver_version,
            spot=cfg.gpu.spot,
            min_nodes=cfg.gpu.min_nodes,
            max_nodes=cfg.gpu.max_nodes,
            disk_gb=gcp_cfg.gpu_disk_gb or gpu_node_disk_gb(cfg.model.weights_gb),
            service_account=nodes.email,
            boot_disk_key=keys.node_key.id,
            key_grant=keys.node_grant,
            group_nodes=cfg.model.pipeline_parallel_size,
        ),
        on_gcp,
    )
    weights = WeightsBucket(
        "weights",
        WeightsBucketArgs(
            name=gcp_name(project, "llz", stack, "weights", limit=63),
            location=cfg.region,
            kms_key=keys.bucket_key.id,
            key_grant=keys.bucket_grant,
            deletion_protection=cfg.deletion_protection,
        ),
        on_gcp,
    )
    serving = cfg.serving
    registry = Registry(
        "registry",
        RegistryArgs(
            project=project,
            region=cfg.region,
            name=gcp_name("llz", stack, limit=40),
            key_ring=keys.bucket_key.key_ring,
            images=(
                serving.image,
                serving.puller_image,
                *KEDA_IMAGES.values(),
                *((LWS_IMAGE,) if cfg.model.pipeline_parallel_size > 1 else ()),  # infra/lws.py
            ),
            deletion_protection=cfg.deletion_protection,
        ),
        on_gcp,
    )
    reader_args = WeightsReaderArgs(
        mode=gcp_cfg.identity_mode,
        project_id=project,
        project_number=project_number,
        namespace=serving.namespace,
        service_account=serving.service_account,
        bucket=weights.bucket.name,
        prefix=cfg.model.weights_prefix,
        cluster=cluster.cluster,
        gsa_account_id=gcp_name("llz", stack, "vllm", limit=30),
    )
    workload = WeightsReader("serving-identity", reader_args, on_gcp)
    # First deploy with model.source: the staging Job's own KSA may write (only) the model prefix.
    stager_account = stager_service_account(serving.service_account)
    writer = None
    if cfg.model.source is not None:
        writer_args = replace(
            reader_args, service_account=stager_account, gsa_account_id=gcp_name("llz", stack, "stager", limit=30)
        )
        writer = WeightsWriter("weights-stager", writer_args, on_gcp)
    if gcp_cfg.admin_members:
        AdminAccess("admins", AdminAccessArgs(project, gcp_cfg.admin_members, weights.bucket.name), on_gcp)
    storage_audit_logs(project, on_gcp)
    log_retention(project, gcp_cfg.log_retention_days, on_gcp)
    Monitoring(
        "monitoring",
        MonitoringArgs(
            project=project,
            stack=stack,
            rules=alerts.rules(cfg, stack),
            emails=cfg.observability.alerts.emails,
            dashboard_title=f"LLM serving: {cfg.model.served_name} ({stack})",
            panels=panels.panels(cfg),
            labels=labels,
        ),
        on_gcp,
    )
    if gcp_cfg.insecure_shared_project:
        pulumi.warn(
            "gcp.insecureSharedProject: Workload Identity's pool is project-wide, so a pod running as "
            f"{serving.namespace}/{serving.service_account} in any other GKE cluster of {project} can read the weights"
        )

    gke = cluster.cluster
    dns = cfg.cluster.api_access == "dns"  # the DNS endpoint has a publicly trusted certificate: no CA
    kubeconfig = exec_kubeconfig(
        gke.name,
        pulumi.Output.concat("https://", cluster.dns_endpoint if dns else gke.endpoint),
        None if dns else gke.master_auth.cluster_ca_certificate,
        "gke-gcloud-auth-plugin",
        AUTH_PLUGIN_ARGS,
        AUTH_PLUGIN_HINT,
    )
    provider_k8s = cluster_provider("gke", kubeconfig, pulumi.ResourceOptions(depends_on=[gke]))
    # Autoscaling on vLLM's queue: KEDA (infra/keda.py, images through the registry's ghcr.io cache)
    # whose operator queries Managed Service for Prometheus as its own federated principal.
    keda_identity = MetricsReader(
        "keda-identity",
        MetricsReaderArgs(project, project_number, KEDA_NAMESPACE, KEDA_OPERATOR_SA, gke),
        on_gcp,
    )
    keda_release = keda.install(
        "keda",
        provider_k8s,
        image=lambda ref: registry.images.get(ref, ref),
        # On the system pool once it exists; the control plane reaches its webhooks and metrics API.
        opts=pulumi.ResourceOptions(depends_on=[cluster.system_pool, cluster.control_plane_ports]),
    )
    scaler = QueueScaler(
        server_address=gmp_query_url(project),
        # KEDA's `gcp` pod identity: the operator's Workload Identity token (keda.sh TriggerAuthentication
        # podIdentity providers; KEDA's own GMP e2e test uses exactly this).
        pod_identity={"provider": "gcp"},
        # The project's Prometheus holds every cluster's series; GMP labels each with `cluster`.
        series_labels={"cluster": gke.name},
        ready=[keda_release, keda_identity.binding],
    )
    platform = Platform(
        k8s=provider_k8s,
        kubeconfig=kubeconfig,
        gpu=GpuScheduling(
            node_selector={"cloud.google.com/gke-accelerator": instance.accelerator, **pool_labels(GPU_POOL)},
            tolerations=[GPU_TOLERATION],
            gpus_per_replica=cfg.model.tensor_parallel_size,
            gpu_memory_gb=instance.gpu_memory_gb,
        ),
        identity=WorkloadIdentity(
            serving.namespace,
            serving.service_account,
            service_account_annotations=workload.annotations,
            env={"GOOGLE_CLOUD_PROJECT": project},
        ),
        weights_uri=pulumi.Output.concat("gs://", weights.bucket.name, f"/{cfg.model.weights_prefix}"),
        internal_lb_annotations={"networking.gke.io/load-balancer-type": "Internal"},
        egress=apis.egress,
        dns_cidrs=NODE_DNS_CIDRS,
        ready=[gpu.pool, cluster.system_pool, *workload.bindings],
        images=registry.images,
        metrics=replace(MANAGED_PROMETHEUS, scaler=scaler),
        exports={
            "images": registry.images,
            "project": project,
            "region": cfg.region,
            "clusterName": gke.name,
            "bucketName": weights.bucket.name,
        },
    )
    return platform if writer is None else platform.with_stager(stager_account, writer.annotations, writer.bindings)


def storage_audit_logs(project: str, opts: pulumi.ResourceOptions) -> gcp.projects.IAMAuditConfig:
    """Cloud Storage Data Access audit logs (DATA_READ, DATA_WRITE; ADMIN_READ too) for the project:
    who read or wrote which weights object, with the authenticated principal, in Cloud Logging.
    Chosen over bucket usage logs, which are hourly CSV files without the caller's identity detail
    and which Google recommends replacing with Cloud Audit Logs (cloud.google.com/storage/docs/
    access-logs). IAMAuditConfig is authoritative for storage.googleapis.com in this project (the
    pulumi-gcp docstring): one more reason the project is the stack's own (docs/gcp.md)."""
    return gcp.projects.IAMAuditConfig(
        "storage-audit-logs",
        project=project,
        service="storage.googleapis.com",
        audit_log_configs=[{"log_type": t} for t in ("ADMIN_READ", "DATA_READ", "DATA_WRITE")],
        opts=opts,
    )
