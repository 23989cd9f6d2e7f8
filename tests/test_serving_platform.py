"""ModelServing against a hand-made Platform: every contract field, with values no cloud uses, must
land where it belongs (proves the component copies the Platform rather than knowing a cloud), and
the component's own outputs (endpoint, served name, secret API key)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from infra.plan.engine import Plan
from infra.platform import EgressRule, GpuScheduling, Platform, Toleration, WorkloadIdentity
from infra.serving import ModelServing, ModelServingArgs
from tests.harness import engine, parse
from tests.serving_support import Serving, env_of, flags


def _run(serving_overrides: dict[str, Any] | None = None) -> tuple[Plan, dict[str, Any]]:
    # A fixed replica count: this Platform has no metrics, so nothing could scale it (test_serving_keda).
    overrides = {"serving": {"replicas": {"min": 1, "max": 1}, **(serving_overrides or {})}}
    cfg = parse("aws-dev", overrides)
    outputs: dict[str, Any] = {}

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        ready = k8s.core.v1.ConfigMap(
            "gpu-ready", metadata={"name": "gpu-ready"}, opts=pulumi.ResourceOptions(provider=provider)
        )
        stager_ready = k8s.core.v1.ConfigMap(
            "stager-ready", metadata={"name": "stager-ready"}, opts=pulumi.ResourceOptions(provider=provider)
        )
        platform = Platform(
            k8s=provider,
            kubeconfig=pulumi.Output.secret("{}"),
            gpu=GpuScheduling(
                node_selector={"example.com/pool": "accelerated"},
                tolerations=[
                    Toleration("nvidia.com/gpu"),
                    Toleration("example.com/spot", operator="Equal", value="yes"),
                ],
                gpus_per_replica=2,
                gpu_memory_gb=24,
                resource_name="example.com/gpu",
            ),
            identity=WorkloadIdentity(
                namespace=cfg.serving.namespace,
                service_account=cfg.serving.service_account,
                service_account_annotations={"example.com/role": pulumi.Output.from_input("role-123")},
                pod_labels={"example.com/identity": "on"},
                env={"EXAMPLE_STORE": pulumi.Output.from_input("acct-9")},
            ),
            weights_uri=pulumi.Output.from_input("s3://example-bucket/models/m"),
            internal_lb_annotations={"example.com/internal": "true"},
            egress=[EgressRule("10.9.0.0/24", [443, 8443], "store")],
            ready=[ready],
            stager=WorkloadIdentity(
                namespace=cfg.serving.namespace,
                service_account="example-writer",
                service_account_annotations={"example.com/role": pulumi.Output.from_input("writer-7")},
                pod_labels={"example.com/writer": "on"},
                env={"EXAMPLE_WRITER": pulumi.Output.from_input("w-1")},
            ),
            stager_ready=[stager_ready],
        )
        serving = ModelServing("llm", ModelServingArgs(platform=platform, model=cfg.model, serving=cfg.serving))
        for key in ("endpoint", "served_model_name", "api_key"):
            value = getattr(serving, key)
            pulumi.Output.all(value, value.is_secret()).apply(lambda v, k=key: outputs.__setitem__(k, tuple(v)))

    with engine("aws-dev", overrides) as e:
        e.run(program)
    return e.plan(), outputs


@pytest.fixture(scope="module")
def synthetic() -> tuple[Serving, dict[str, Any]]:
    planned, outputs = _run()
    return Serving.of(planned), outputs


def test_component_type_and_children(synthetic):
    served, _ = synthetic
    assert served.component.type == "llz:serving:ModelServing"
    assert all(r.parent == served.component.urn for r in served.children)
    for r in served.children:
        if r.custom and not r.type.startswith("pulumi:providers:"):
            assert r.provider, f"{r.urn} has no explicit provider"


def test_identity_fields_land_on_account_pod_and_puller(synthetic):
    served, _ = synthetic
    assert served.one("ServiceAccount", "vllm").get("metadata.annotations") == {"example.com/role": "role-123"}
    assert served.pod["metadata"]["labels"]["example.com/identity"] == "on"
    assert env_of(served.container("weights"))["EXAMPLE_STORE"] == "acct-9"
    assert served.container("weights")["args"][:4] == [
        "weights",
        "pull",
        "s3://example-bucket/models/m",
        "/models/weights",
    ]


def test_stager_fields_land_on_the_staging_job(synthetic):
    served, _ = synthetic
    assert served.one("ServiceAccount", "example-writer").get("metadata.annotations") == {
        "example.com/role": "writer-7"
    }
    job = served.one("Job")
    pod = job.get("spec.template")
    assert pod["spec"]["serviceAccountName"] == "example-writer"
    assert pod["metadata"]["labels"]["example.com/writer"] == "on"
    (container,) = pod["spec"]["containers"]
    assert env_of(container)["EXAMPLE_WRITER"] == "w-1"
    assert "EXAMPLE_STORE" not in env_of(container), "the serving identity's env belongs to the serving pod"
    assert container["args"][3] == "s3://example-bucket/models/m"
    stager_ready = next(r for r in served.plan.resources if r.name == "stager-ready")
    assert stager_ready.urn in job.dependencies
    assert job.urn in served.deployment.dependencies
    # The Job's egress: the Platform's rules, then HTTPS to public addresses (the hub) — for its pods only.
    rules = served.one("NetworkPolicy", "llm-stager-egress").get("spec.egress")
    assert rules[-2] == served.one("NetworkPolicy", "llm-egress").get("spec.egress")[-1]
    assert rules[-1]["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"


def test_gpu_fields_land_on_the_pod(synthetic):
    served, _ = synthetic
    spec = served.pod["spec"]
    assert spec["nodeSelector"] == {"example.com/pool": "accelerated"}
    assert {"key": "example.com/spot", "operator": "Equal", "value": "yes", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    vllm = served.container("vllm")
    assert vllm["resources"]["limits"]["example.com/gpu"] == "2"
    assert "nvidia.com/gpu" not in vllm["resources"]["limits"]
    assert flags(vllm["args"])["--tensor-parallel-size"] == "2"


def test_egress_and_ready_come_from_the_platform(synthetic):
    served, _ = synthetic
    ready = next(r for r in served.plan.resources if r.name == "gpu-ready")
    assert ready.urn in served.deployment.dependencies
    rules = served.one("NetworkPolicy", "llm-egress").get("spec.egress")
    assert rules[-1] == {
        "to": [{"ipBlock": {"cidr": "10.9.0.0/24"}}],
        "ports": [{"port": 443, "protocol": "TCP"}, {"port": 8443, "protocol": "TCP"}],
    }


def test_outputs_endpoint_name_and_secret_api_key(synthetic):
    _, outputs = synthetic
    assert outputs["endpoint"] == ("http://llm.llm.svc.cluster.local:8000/v1", False)
    assert outputs["served_model_name"] == ("deepseek-r1-8b", False)
    assert outputs["api_key"][1] is True, "the API key output must be secret"


def test_internal_lb_annotations_come_from_the_platform():
    planned, _ = _run({"expose": "internal-lb", "allowedCidrs": ["10.0.0.0/16"]})
    service = Serving.of(planned).one("Service")
    assert service.get("metadata.annotations") == {"example.com/internal": "true"}
    assert service.get("spec.type") == "LoadBalancer"


def test_runai_streamer_gives_vllm_the_identity_env():
    planned, _ = _run({"loadFormat": "runai_streamer"})
    vllm = Serving.of(planned).container("vllm")
    assert vllm["args"][0] == "s3://example-bucket/models/m"
    assert env_of(vllm)["EXAMPLE_STORE"] == "acct-9"
    assert "[secret]" not in str(vllm["env"])  # the plan's mask of a secret value
