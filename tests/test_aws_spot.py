"""Spot that survives (issue 13 item 6): gpu.spot may list instance types of the same GPU shape, so the
spot group draws on several capacity pools; each is checked like gpu.instanceType."""

from __future__ import annotations

import pytest

from infra import catalog, fit
from tests.harness import config_error, parse, plan

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def test_a_spot_list_diversifies_the_gpu_group():
    p = plan("aws-dev", {"gpu": {"spot": ["g6.2xlarge"]}})
    group = p.one(NODE_GROUP, "gpu-nodes")
    assert group.inputs["capacityType"] == "SPOT"
    assert group.inputs["instanceTypes"] == ["g6.xlarge", "g6.2xlarge"]  # instanceType first: CA's template


def test_true_still_means_spot_of_the_one_type_and_false_on_demand():
    assert plan("aws-dev", {"gpu": {"spot": True}}).one(NODE_GROUP, "gpu-nodes").inputs["instanceTypes"] == [
        "g6.xlarge"
    ]
    on_demand = plan("aws-dev", {}).one(NODE_GROUP, "gpu-nodes").inputs
    assert on_demand["capacityType"] == "ON_DEMAND" and on_demand["instanceTypes"] == ["g6.xlarge"]


@pytest.mark.parametrize(
    ("spot", "expected"),
    [
        (["g6e.xlarge"], "not the shape of g6.xlarge"),  # L40S, not L4
        (["g6.12xlarge"], "not the shape of g6.xlarge"),  # 4 GPUs, not 1
        (["g7.nope"], "not a GPU instance type on aws"),
        ([], "gpu.spot"),
    ],
)
def test_a_spot_list_of_another_shape_is_one_line(spot, expected):
    message = config_error("aws-dev", {"gpu": {"spot": spot}})
    assert message.startswith("llm-landing-zone:gpu.spot") and expected in message and "\n" not in message


def test_the_smallest_type_must_be_the_instance_type():
    message = config_error("aws-dev", {"gpu": {"instanceType": "g6.2xlarge", "spot": ["g6.xlarge"]}})
    assert "smaller than g6.2xlarge" in message and "gpu.instanceType" in message


def test_each_listed_type_is_fit_checked(monkeypatch):
    calls = []
    real = fit.check_instance

    def spy(cfg, instance):
        calls.append(instance.name)
        return real(cfg, instance)

    monkeypatch.setattr(fit, "check_instance", spy)
    parse("aws-dev", {"gpu": {"spot": ["g6.2xlarge"]}})
    assert calls.count("g6.2xlarge") == 1 and "g6.xlarge" in calls

    monkeypatch.setattr(fit, "check_instance", lambda cfg, i: "too small" if i.name == "g6.2xlarge" else None)
    assert (
        config_error("aws-dev", {"gpu": {"spot": ["g6.2xlarge"]}})
        == "llm-landing-zone:gpu.spot = 'g6.2xlarge': too small"
    )


def test_the_shape_rule_uses_the_catalog():
    a, b = catalog.instances("aws")["g6.xlarge"], catalog.instances("aws")["g6.2xlarge"]
    assert (a.gpu_model, a.gpus, a.gpu_memory_gb) == (b.gpu_model, b.gpus, b.gpu_memory_gb)


@pytest.mark.parametrize("stack", ["gcp-dev", "azure-dev"])
def test_other_clouds_refuse_a_list(stack):
    message = config_error(stack, {"gpu": {"spot": ["anything"]}})
    assert message.startswith("llm-landing-zone:gpu.spot") and "use true" in message
