"""What AKS's managed Prometheus (ama-metrics) needs inside the cluster, as typed Kubernetes objects.

- NVIDIA's DCGM exporter on the GPU pool and an `azmonitoring.coreos.com/v1` `PodMonitor` for it: AKS
  exports no GPU metrics for a pool whose driver it installs and whose device plugin this stack runs
  (AKS's own `dcgmexporter` target scrapes only nodes labelled kubernetes.azure.com/dcgm-exporter=enabled,
  and keeps only the cluster, instance and gpu labels: prometheus-collector
  otelcollector/configmapparser/default-prom-configs/dcgmExporterDefault.yml). The alert rules group
  by `Hostname`, which this exporter sets to the node name (NODE_NAME; dcgm-exporter
  internal/pkg/hostname).
- `ama-metrics-settings-configmap` (kube-system): the kube-state-metrics target's keep list gains
  `kube_pod_init_container_status_waiting_reason` (the weights-pull alert). The minimal ingestion profile
  keeps `kube_pod_container_status_waiting_reason` already, but its init-container entry
  `kube_pod_init_container_*` is an anchored regex that matches no `_status_waiting_reason` series
  (prometheus-collector tomlparser-default-targets-metrics-keep-list.go: a keep list is added to the
  minimal profile's, not instead of it).

The CRD group, version and field (`spec.podMetricsEndpoints`) are those the add-on installs
(prometheus-collector otelcollector/deploy/addon-chart/azure-monitor-metrics-addon/templates/
ama-metrics-podmonitor-crd.yaml); its collectors are the kube-system pods labelled rsName=ama-metrics
(ama-metrics-deployment.yaml), the NetworkPolicy peer of the serving pods' metrics port.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.conventions import DCGM_LABELS, DCGM_NAMESPACE

MONITOR_API_VERSION = "azmonitoring.coreos.com/v1"
MONITOR_KIND = "PodMonitor"
MONITOR_ENDPOINTS_FIELD = "podMetricsEndpoints"
COLLECTOR_NAMESPACE = "kube-system"
COLLECTOR_POD_LABELS = {"rsName": "ama-metrics"}
# The series the minimal ingestion profile drops and the rules need (see above).
KSM_KEEP = ("kube_pod_init_container_status_waiting_reason",)


def dcgm_pod_monitor(name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """The PodMonitor that makes ama-metrics scrape the DCGM exporter every 30 s."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version=MONITOR_API_VERSION,
        kind=MONITOR_KIND,
        metadata={"name": "dcgm-exporter", "namespace": DCGM_NAMESPACE, "labels": DCGM_LABELS},
        spec={
            "selector": {"matchLabels": DCGM_LABELS},
            MONITOR_ENDPOINTS_FIELD: [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
        },
        opts=opts,
    )


def ama_metrics_settings(name: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
    """ama-metrics' settings (schema v2): the defaults, plus KSM_KEEP on the kube-state-metrics target."""
    keep = "|".join(KSM_KEEP)
    return k8s.core.v1.ConfigMap(
        name,
        metadata={"name": "ama-metrics-settings-configmap", "namespace": COLLECTOR_NAMESPACE},
        data={
            "schema-version": "v2",
            "config-version": "llz-1",
            "cluster-metrics": (
                "default-targets-metrics-keep-list: |-\n"
                f'  kubestate = "{keep}"\n'
                "minimal-ingestion-profile: |-\n"
                "  enabled = true\n"
            ),
        },
        opts=opts,
    )


# The KEDA add-on's operator (learn.microsoft.com/azure/aks/keda-workload-identity): Deployment and service
# account keda-operator in kube-system; its pods already carry azure.workload.identity/use=true.
KEDA_NAMESPACE = "kube-system"
KEDA_OPERATOR = "keda-operator"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
RESTART_ANNOTATION = "llz.io/keda-identity"  # a new value rolls the operator's pods


def keda_workload_identity(
    name: str, client_id: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> list[pulumi.CustomResource]:
    """Bind the add-on's operator to the stack's KEDA identity, as the AKS guide does by hand: annotate its
    service account with the identity's client id (the step Azure/AKS#5243 found missing from the guide),
    then restart the operator so the workload-identity webhook injects AZURE_CLIENT_ID and the projected
    token into new pods (a pod-template annotation carrying the client id: a rollout whenever it changes).
    Both are server-side-apply patches of fields the add-on does not set, so its reconciler keeps them."""
    account = k8s.core.v1.ServiceAccountPatch(
        f"{name}-sa",
        metadata={
            "name": KEDA_OPERATOR,
            "namespace": KEDA_NAMESPACE,
            "annotations": {CLIENT_ID_ANNOTATION: client_id},
        },
        opts=opts,
    )
    restart = k8s.apps.v1.DeploymentPatch(
        f"{name}-restart",
        metadata={"name": KEDA_OPERATOR, "namespace": KEDA_NAMESPACE},
        spec={"template": {"metadata": {"annotations": {RESTART_ANNOTATION: client_id}}}},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[account])),
    )
    return [account, restart]
