"""Scale from zero on EKS (issue 13 item 1): Cluster Autoscaler builds a template node for an empty
GPU group from the ASG's `node-template` tags, so every resource the serving pod requests must be on
it. The tags are derived here from the pod's own requests, as the planned Deployment has them."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from infra.plan.engine import Plan
from tests.harness import config_error, dev_plan, plan

PREFIX = "k8s.io/cluster-autoscaler/node-template"
# What CA's AWS provider reads from the instance type itself (aws_manager.go buildNodeFromTemplate).
FROM_INSTANCE_TYPE = {"cpu", "memory", "pods"}
_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "m": Decimal("0.001"),
}


def quantity(text: str) -> Decimal:
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text)).groups()
    return Decimal(number) * _UNITS.get(unit, 1)


def pod_requests(p: Plan) -> dict[str, Decimal]:
    """The serving pod's effective requests: the sum over its containers, or an init container's if larger;
    an extended resource with only a limit requests that limit."""
    spec = next(d for d in p.of_type("kubernetes:apps/v1:Deployment") if d.get("metadata.name") == "llm").get(
        "spec.template.spec"
    )

    def of(container) -> dict[str, Decimal]:
        res = container.get("resources", {})
        out = {k: quantity(v) for k, v in res.get("limits", {}).items() if "/" in k}
        return out | {k: quantity(v) for k, v in res.get("requests", {}).items()}

    total: dict[str, Decimal] = {}
    for c in spec["containers"]:
        for k, v in of(c).items():
            total[k] = total.get(k, Decimal(0)) + v
    for c in spec.get("initContainers", []):
        for k, v in of(c).items():
            total[k] = max(total.get(k, Decimal(0)), v)
    return total


def template_resources(p: Plan) -> dict[str, Decimal]:
    tags = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in p.of_type("aws:autoscaling/tag:Tag")}
    return {k.removeprefix(f"{PREFIX}/resources/"): quantity(v) for k, v in tags.items() if "/resources/" in k}


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_the_template_node_offers_every_resource_the_pod_requests(stack):
    p = dev_plan(stack)
    requests = pod_requests(p)
    assert "ephemeral-storage" in requests and "nvidia.com/gpu" in requests  # what the pod really asks for
    offered = template_resources(p)
    missing = {r: v for r, v in requests.items() if r not in FROM_INSTANCE_TYPE and offered.get(r, 0) < v}
    assert missing == {}, f"an empty GPU group never scales up for these requests: {missing}"


def test_a_larger_model_gets_a_larger_template_disk():
    small = template_resources(dev_plan("aws-dev"))["ephemeral-storage"]
    big_plan = plan("aws-dev", {"aws": {"gpuDiskGib": 400}})
    big = template_resources(big_plan)["ephemeral-storage"]
    assert big == 360 * 2**30 > small  # the disk's allocatable share, not a constant
    assert pod_requests(big_plan)["ephemeral-storage"] <= big


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_gpu_nodes_carry_the_autoscaler_accelerator_label(stack):
    p = dev_plan(stack)
    labels = p.one("aws:eks/nodeGroup:NodeGroup", "gpu-nodes").inputs["labels"]
    model = "l4" if stack == "aws-dev" else "l40s"
    assert labels["k8s.amazonaws.com/accelerator"] == f"nvidia-{model}"
    tags = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in p.of_type("aws:autoscaling/tag:Tag")}
    assert tags[f"{PREFIX}/label/k8s.amazonaws.com/accelerator"] == labels["k8s.amazonaws.com/accelerator"]
    # the serving pod still selects only the shared pool label
    deployment = next(d for d in p.of_type("kubernetes:apps/v1:Deployment") if d.get("metadata.name") == "llm")
    assert deployment.get("spec.template.spec.nodeSelector") == {"llz.io/pool": "gpu"}


def test_a_disk_too_small_for_the_pods_request_is_a_config_error():
    """The boundary is the planned pod's own request: the smallest accepted aws.gpuDiskGib plans a
    template that holds the pod, one GiB less is a one-line config error."""
    overrides = {"model": {"paramsBillions": 19, "maxModelLen": 4096}, "gpu": {"instanceType": "g6e.xlarge"}}
    request = pod_requests(plan("aws-dev", overrides))["ephemeral-storage"] / 2**30
    smallest = -(-int(request) * 10 // 9)
    assert smallest >= 50  # within the key's range, so the check is what refuses it
    ok = plan("aws-dev", {**overrides, "aws": {"gpuDiskGib": smallest}})
    assert template_resources(ok)["ephemeral-storage"] >= pod_requests(ok)["ephemeral-storage"]
    message = config_error("aws-dev", {**overrides, "aws": {"gpuDiskGib": smallest - 1}})
    assert message.startswith(f"llm-landing-zone:aws.gpuDiskGib = {smallest - 1}: leaves ")
    assert f"requests {int(request)} GiB" in message and "\n" not in message
