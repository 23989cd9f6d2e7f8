"""Autoscaling through KEDA against a hand-made Platform whose managed Prometheus has a queue source
(values no cloud uses: the component must copy the contract, not know a cloud), the monitor and
collector variants of `ManagedMetrics`, and the KEDA chart install every Helm-installing cloud uses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from infra import keda
from infra.conventions import DIGESTS, KEDA_IMAGES, KEDA_NAMESPACE, KEDA_OPERATOR_SA, KEDA_VERSION
from infra.plan.engine import Plan
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
from infra.serving import ModelServing, ModelServingArgs
from tests.harness import engine, parse
from tests.serving_support import Serving

# Plain values here (an Output made outside the engine's run would wait forever); the program wraps
# some in Outputs, as a cloud's would be.
SCALER = QueueScaler(
    server_address="https://prom.example/api/ws-1",
    pod_identity={"provider": "example-cloud", "identityId": "id-42"},
    metadata={"exampleRegion": "north-1"},
    series_labels={"cluster": "c-7"},
)
# Weights pushed by hand (the synthetic Platform has no staging identity).
PUSHED = {"source": None, "weightsStaged": True}
FIXED = {"model": PUSHED, "serving": {"replicas": {"min": 2, "max": 2}}}
RANGE = {"model": PUSHED, "serving": {"replicas": {"min": 1, "max": 2}, "autoscaling": {"targetPerReplica": 4}}}


def _platform(provider: k8s.Provider, metrics: ManagedMetrics | None, ready: list[pulumi.Resource]) -> Platform:
    cfg = parse("aws-dev", RANGE)
    return Platform(
        k8s=provider,
        kubeconfig=pulumi.Output.secret("{}"),
        gpu=GpuScheduling(
            node_selector={"example.com/pool": "gpu"},
            tolerations=[Toleration("nvidia.com/gpu")],
            gpus_per_replica=1,
            gpu_memory_gb=24,
        ),
        identity=WorkloadIdentity(namespace=cfg.serving.namespace, service_account=cfg.serving.service_account),
        weights_uri=pulumi.Output.from_input("s3://example-bucket/models/m"),
        internal_lb_annotations={},
        egress=[EgressRule("10.9.0.0/24", [443], "store")],
        ready=ready,
        metrics=metrics,
    )


def _run(metrics: ManagedMetrics | None, overrides: dict[str, Any] = RANGE) -> Plan:
    cfg = parse("aws-dev", overrides)

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        keda_ready = k8s.core.v1.ConfigMap(
            "keda-ready", metadata={"name": "keda-ready"}, opts=pulumi.ResourceOptions(provider=provider)
        )
        with_ready = metrics
        if metrics is not None and metrics.scaler is not None:
            scaler = metrics.scaler
            as_outputs = replace(
                scaler,
                server_address=pulumi.Output.from_input(scaler.server_address),
                pod_identity={k: pulumi.Output.from_input(v) for k, v in scaler.pod_identity.items()},
                series_labels={k: pulumi.Output.from_input(v) for k, v in scaler.series_labels.items()},
                ready=[keda_ready],
            )
            with_ready = replace(metrics, scaler=as_outputs)
        platform = _platform(provider, with_ready, [])
        ModelServing("llm", ModelServingArgs(platform=platform, model=cfg.model, serving=cfg.serving))

    with engine("aws-dev", overrides) as e:
        e.run(program)
    return e.plan()


@pytest.fixture(scope="module")
def scaled() -> tuple[Plan, Serving]:
    planned = _run(ManagedMetrics(scaler=SCALER))
    return planned, Serving.of(planned)


def test_the_queue_drives_a_scaled_object_not_an_hpa(scaled):
    _, served = scaled
    assert served.kind("HorizontalPodAutoscaler") == []
    so = served.one("ScaledObject", "llm")
    assert so.get("apiVersion") == "keda.sh/v1alpha1"
    spec = so.get("spec")
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 2)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    meta = trigger["metadata"]
    assert meta["serverAddress"] == "https://prom.example/api/ws-1"
    assert meta["exampleRegion"] == "north-1"  # the platform's extra trigger metadata
    assert meta["threshold"] == "4"
    cfg = parse("aws-dev", RANGE)
    assert meta["query"] == (
        f'sum(vllm:num_requests_waiting{{cluster="c-7",model_name="{cfg.model.served_name}",'
        f'namespace="{cfg.serving.namespace}"}})'
    )
    # KEDA adopts the HPA of the same name the stack created before (the transfer annotation).
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["name"] == "llm"
    assert so.get("metadata.annotations") == {"scaledobject.keda.sh/transfer-hpa-ownership": "true"}
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] > 0


def test_the_trigger_authenticates_as_the_platforms_identity(scaled):
    planned, served = scaled
    auth = served.one("TriggerAuthentication", "llm-queue")
    assert auth.get("spec") == {"podIdentity": {"provider": "example-cloud", "identityId": "id-42"}}
    so = served.one("ScaledObject", "llm")
    assert so.get("spec.triggers.0.authenticationRef") == {"name": auth.get("metadata.name")}
    ready = planned.one("kubernetes:core/v1:ConfigMap", "keda-ready").urn
    assert ready in auth.dependencies and ready in so.dependencies and auth.urn in so.dependencies


def test_an_autoscaled_deployment_leaves_the_replica_count_to_the_hpa(scaled):
    _, served = scaled
    assert "replicas" not in served.one("Deployment", "llm").get("spec")


def test_a_fixed_replica_count_needs_no_scaler():
    served = Serving.of(_run(ManagedMetrics(scaler=SCALER), FIXED))
    assert served.kind("ScaledObject") == [] and served.kind("TriggerAuthentication") == []
    assert served.one("Deployment", "llm").get("spec.replicas") == 2


def test_a_replica_range_without_a_queue_source_stays_at_the_minimum_and_says_so():
    cfg = parse("aws-dev", RANGE)
    expected = [r"no queue source for autoscaling; the server stays at serving.replicas.min \(1\)"]

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        platform = _platform(provider, ManagedMetrics(), [])
        ModelServing("llm", ModelServingArgs(platform=platform, model=cfg.model, serving=cfg.serving))

    with engine("aws-dev", RANGE, expect_warnings=expected) as e:
        e.run(program)
    served = Serving.of(e.plan())
    assert served.kind("ScaledObject") == [] and served.kind("HorizontalPodAutoscaler") == []
    assert served.one("Deployment", "llm").get("spec.replicas") == 1


def test_monitor_kind_and_endpoint_field_come_from_the_platform():
    metrics = ManagedMetrics(
        monitor=Crd("example.com/v9", "PodScrape"),
        monitor_endpoints_field="podMetricsEndpoints",
        collector_namespace="collectors",
        collector_pod_labels={"app": "agent"},
    )
    served = Serving.of(_run(metrics, FIXED))
    monitor = served.one("PodScrape", "llm")
    assert monitor.get("apiVersion") == "example.com/v9"
    assert monitor.get("spec.podMetricsEndpoints") == [{"port": "http", "path": "/metrics", "interval": "15s"}]
    assert "endpoints" not in monitor.get("spec")
    assert served.kind("ClusterRules") == []  # the rules are the cloud's (a cloud resource)
    peers = served.one("NetworkPolicy", "llm-ingress").get("spec.ingress.0.from")
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "collectors"}},
        "podSelector": {"matchLabels": {"app": "agent"}},
    } in peers


def test_an_agentless_scraper_is_admitted_by_its_ranges_only():
    def peers(metrics: ManagedMetrics) -> list[dict[str, Any]]:
        policy = Serving.of(_run(metrics, FIXED)).one("NetworkPolicy", "llm-ingress")
        return policy.get("spec.ingress.0.from")

    scraper = ["10.0.16.0/20", "10.0.32.0/20"]
    with_scraper, without = peers(ManagedMetrics(collector_cidrs=scraper)), peers(ManagedMetrics())
    assert [p for p in with_scraper if p not in without] == [{"ipBlock": {"cidr": c}} for c in scraper]


def _release(image_map: dict[str, str]) -> Any:
    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        keda.install(
            "keda",
            provider,
            image=lambda ref: image_map.get(ref, ref),
            operator_annotations={"example.com/identity": "op-1"},
            operator_pod_labels={"example.com/use": "true"},
        )

    with engine("aws-dev") as e:
        e.run(program)
    return e.plan().one("kubernetes:helm.sh/v3:Release")


def test_keda_chart_is_pinned_and_fetched_from_upstream_at_deploy_time():
    release = _release({})
    assert (release.get("chart"), release.get("version"), release.get("name")) == ("keda", KEDA_VERSION, "keda")
    assert release.get("repositoryOpts") == {"repo": "https://kedacore.github.io/charts"}
    assert release.get("namespace") == KEDA_NAMESPACE and release.get("createNamespace") is True
    values = release.get("values")
    assert values["serviceAccount"]["operator"] == {
        "name": KEDA_OPERATOR_SA,
        "annotations": {"example.com/identity": "op-1"},
    }
    assert values["podLabels"]["keda"] == {"example.com/use": "true"}
    # Upstream as is: the chart's own registry/repository/tag split of ghcr.io/kedacore/*, the digest
    # pinned in infra/conventions.DIGESTS riding on the tag.
    digest = DIGESTS[f"ghcr.io/kedacore/keda:{KEDA_VERSION}"]
    assert values["image"]["keda"] == {
        "registry": "ghcr.io",
        "repository": "kedacore/keda",
        "tag": f"{KEDA_VERSION}@{digest}",
    }


def test_keda_images_come_through_the_stacks_registry_digest_and_all():
    digest = "@sha256:" + "a" * 64
    mirror = {
        KEDA_IMAGES["keda"]: f"registry.example:5000/cache/kedacore/keda:{KEDA_VERSION}{digest}",
        KEDA_IMAGES["webhooks"]: f"registry.example:5000/cache/kedacore/keda-admission-webhooks{digest}",
    }
    values = _release(mirror).get("values")["image"]
    assert values["keda"] == {
        "registry": "registry.example:5000",
        "repository": "cache/kedacore/keda",
        "tag": f"{KEDA_VERSION}{digest}",
    }
    # A digest alone still renders as repository:tag@digest (the chart always writes a tag).
    assert values["webhooks"]["tag"] == f"{KEDA_VERSION}{digest}"
    assert values["metricsApiServer"]["registry"] == "ghcr.io"  # not mirrored: as is
