"""The contract between a cloud and everything downstream of it.

Each `infra.<cloud>.build(cfg)` returns a `Platform`; the serving component and the exports use
nothing else, so nothing downstream knows which cloud it runs on. Only plain data and Pulumi
outputs cross this line — never a cloud SDK type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import pulumi

from infra.conventions import GPU_RESOURCE, GPU_TAINT_KEY

if TYPE_CHECKING:  # typing only: keep pulumi_kubernetes off the import path of this module
    import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class Toleration:
    key: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None

    def as_k8s(self) -> dict[str, str]:
        """The toleration as a Kubernetes `tolerations[]` entry."""
        out = {"key": self.key, "operator": self.operator, "effect": self.effect}
        if self.value is not None:
            out["value"] = self.value
        return out


# The one toleration every cloud's GPU pods carry (the taint is conventions.GPU_TAINT_KEY=VALUE).
GPU_TOLERATION = Toleration(GPU_TAINT_KEY)


@dataclass(frozen=True)
class GpuScheduling:
    """How a serving pod lands on the GPU pool and how many GPUs it asks for."""

    node_selector: Mapping[str, str]
    tolerations: Sequence[Toleration]  # the GPU taint, plus the spot taint when spot is on
    gpus_per_replica: int
    gpu_memory_gb: int  # per GPU
    resource_name: str = GPU_RESOURCE


@dataclass(frozen=True)
class WorkloadIdentity:
    """How a pod becomes the cloud identity that may read (only) the model prefix.

    The serving component creates `service_account` in `namespace` with these annotations, puts
    `pod_labels` on the pod template and `env` on the containers that touch the bucket. The
    cloud side (role / IAM binding / federated credential) is already bound to exactly this
    namespace and service account.
    """

    namespace: str
    service_account: str
    service_account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class EgressRule:
    """A destination serving pods must reach (storage, token endpoint) for the NetworkPolicy."""

    cidr: str
    ports: Sequence[int]
    why: str


@dataclass(frozen=True)
class Crd:
    """A custom resource kind the serving component creates for the cloud's managed Prometheus."""

    api_version: str
    kind: str


@dataclass(frozen=True)
class QueueScaler:
    """Where KEDA's Prometheus scaler reads vLLM's queue, and as whom.

    The platform installs KEDA (Helm, infra/keda.py; AKS: its add-on) and binds the keda-operator's
    service account to a cloud identity that may only query this Prometheus. The serving component
    creates a `TriggerAuthentication` with `pod_identity` and a `ScaledObject` whose prometheus
    trigger queries `server_address` with `metadata` added (e.g. AMP's `awsRegion`).
    """

    server_address: pulumi.Input[str]  # the Prometheus HTTP API root; the scaler appends /api/v1/query
    pod_identity: Mapping[str, pulumi.Input[str]]  # TriggerAuthentication spec.podIdentity
    metadata: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Label matchers the queue query adds, where one Prometheus holds more than this cluster's series
    # (a GCP project's managed Prometheus holds every cluster's: {"cluster": <name>}).
    series_labels: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    ready: Sequence[pulumi.Resource] = ()  # KEDA installed and its identity bound


@dataclass(frozen=True)
class ManagedMetrics:
    """The cluster's managed Prometheus as the serving component sees it: how its collectors find the
    server (a pod monitor the component creates, or a scraper the cloud configured by pod labels),
    which peers the ingress NetworkPolicy admits to the metrics port, and the queue source that
    drives autoscaling. The alert rules are the platform's: a cloud resource made from
    infra/observability/alerts.py, with the cloud's notification target."""

    monitor: Crd | None = None  # None: the cloud's scraper discovers the serving pods by their labels
    # The monitor's endpoint list: GMP's PodMonitoring calls it `endpoints`, a prometheus-operator
    # style PodMonitor (Azure's azmonitoring.coreos.com) `podMetricsEndpoints`.
    monitor_endpoints_field: str = "endpoints"
    # The collectors, as pods (namespace + labels) or, for an agentless scraper, as source ranges.
    collector_namespace: str | None = None
    collector_pod_labels: Mapping[str, str] = field(default_factory=dict)
    collector_cidrs: Sequence[pulumi.Input[str]] = ()
    scaler: QueueScaler | None = None


@dataclass(frozen=True)
class Platform:
    k8s: k8s.Provider
    kubeconfig: pulumi.Output[str]  # secret
    gpu: GpuScheduling
    identity: WorkloadIdentity
    # Where the weights live, as operators and `llz weights push/pull` use it as it is (exported):
    # s3://bucket/prefix, gs://bucket/prefix, https://<account>.blob.core.windows.net/container/prefix.
    weights_uri: pulumi.Output[str]
    internal_lb_annotations: Mapping[str, str]
    egress: Sequence[EgressRule] = ()
    # The same location as the pod's loaders read it, when that differs from weights_uri: vLLM's
    # Run:ai streamer reads az://container/prefix with the account in the identity's env.
    pod_weights_uri: pulumi.Output[str] | None = None
    # Node-local DNS caches on a link-local address, which a namespace selector cannot match.
    dns_cidrs: Sequence[str] = ()
    # Cluster-side things the workload must wait for (GPU pool, device plugin, identity binding).
    ready: Sequence[pulumi.Resource] = ()
    # Cloud-specific stack outputs (cluster name, bucket, region, ...), exported as they are.
    exports: Mapping[str, pulumi.Input[Any]] = field(default_factory=dict)
    # The first-deploy staging Job's identity (only with `model.source`): its own service account,
    # bound to a cloud identity that may write only the model prefix (and encrypt with the bucket's
    # key where the cloud asks the caller). `stager_ready` is what the Job waits for (that binding).
    stager: WorkloadIdentity | None = None
    stager_ready: Sequence[pulumi.Resource] = ()
    # The stack's registry: upstream image reference -> the reference nodes pull instead (a pull-through
    # / remote cache of that upstream in the stack's private registry). Images not listed are pulled as
    # they are (e.g. from a team's own registry).
    images: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # The cluster's managed Prometheus and the queue source of autoscaling (None: scrape annotations
    # and serving.metrics only, and the replica count stays at serving.replicas.min).
    metrics: ManagedMetrics | None = None

    def image(self, ref: str) -> pulumi.Input[str]:
        """What a container runs for the upstream reference `ref`: its copy in the stack's registry."""
        return self.images.get(ref, ref)

    def with_stager(
        self,
        service_account: str,
        annotations: Mapping[str, pulumi.Input[str]],
        ready: Sequence[pulumi.Resource],
    ) -> Platform:
        """This Platform with a staging identity: the serving identity's namespace, pod labels and env
        (the same cloud mechanism), on its own service account bound to the writer role."""
        stager = replace(self.identity, service_account=service_account, service_account_annotations=annotations)
        return replace(self, stager=stager, stager_ready=tuple(ready))
