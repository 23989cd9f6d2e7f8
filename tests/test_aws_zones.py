"""Zones by zone ID (issue 13 item 2): EKS rejects cluster subnets in some zone IDs, and a zone's name
maps to a different ID in every account; the GPU group goes only where its instance type is offered."""

from __future__ import annotations

import pytest

from infra.aws import fakes
from infra.aws.settings import choose_zones, gpu_zone_indexes
from infra.config.errors import ConfigError
from tests.harness import dev_plan, plan

SUBNET = "aws:ec2/subnet:Subnet"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def test_zones_are_excluded_by_id_whatever_their_name():
    # two accounts, the same physical zone use1-az3 under different names
    assert choose_zones(["us-east-1a", "us-east-1b", "us-east-1c"], ["use1-az3", "use1-az1", "use1-az2"], 2) == [
        ("us-east-1b", "use1-az1"),
        ("us-east-1c", "use1-az2"),
    ]
    assert choose_zones(["us-east-1a", "us-east-1b", "us-east-1c"], ["use1-az1", "use1-az2", "use1-az3"], 2) == [
        ("us-east-1a", "use1-az1"),
        ("us-east-1b", "use1-az2"),
    ]
    for excluded in ("usw1-az2", "cac1-az3"):
        assert excluded not in [z for _, z in choose_zones(["a", "b", "c"], [excluded, "x-az1", "x-az9"], 2)]


def test_too_few_eligible_zones_is_one_line():
    with pytest.raises(ConfigError) as err:
        choose_zones(["us-west-1a", "us-west-1b"], ["usw1-az1", "usw1-az2"], 2)
    message = str(err.value)
    assert "aws.availabilityZones = 2" in message and "usw1-az2" in message and "\n" not in message


def test_a_plan_never_puts_a_subnet_in_an_excluded_zone():
    p = plan("aws-prod", {"aws": {"availabilityZones": 5}})  # us-east-1e is use1-az3 in the fake account
    zones = sorted(s.inputs["availabilityZone"] for s in p.of_type(SUBNET) if "-private-" in s.name)
    assert zones == ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"]
    with pytest.raises(ConfigError, match=r"aws\.availabilityZones = 6: the region has only 5 zones EKS can use"):
        plan("aws-prod", {"aws": {"availabilityZones": 6}})


def _gpu_subnets(p) -> set[str]:
    return set(p.one(NODE_GROUP, "gpu-nodes").inputs["subnetIds"])


def _zone_of(p) -> dict[str, str]:
    return {s.id: s.inputs["availabilityZone"] for s in p.of_type(SUBNET)}


def test_gpu_group_only_in_zones_that_offer_its_type(monkeypatch):
    monkeypatch.setitem(fakes.UNOFFERED, "g6e.xlarge", {"use1-az2"})  # us-east-1b
    p = plan("aws-prod", {})
    zone_of = _zone_of(p)
    assert sorted(zone_of[s] for s in _gpu_subnets(p)) == ["us-east-1a", "us-east-1c"]
    system = set(p.one(NODE_GROUP, "eks-system").inputs["subnetIds"])
    assert sorted(zone_of[s] for s in system) == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_shipped_stacks_keep_every_zone_for_the_gpu_group():
    p = dev_plan("aws-prod")
    assert _gpu_subnets(p) == set(p.one(NODE_GROUP, "eks-system").inputs["subnetIds"])


def test_a_gpu_type_offered_in_none_of_the_zones_is_one_line(monkeypatch):
    monkeypatch.setitem(fakes.UNOFFERED, "g6e.xlarge", {"use1-az1", "use1-az2", "use1-az4"})
    with pytest.raises(ConfigError) as err:
        plan("aws-prod", {})
    message = str(err.value)
    assert message.startswith("llm-landing-zone:gpu.instanceType = 'g6e.xlarge'") and "\n" not in message
    assert "us-east-1a (use1-az1)" in message


def test_offerings_are_asked_by_zone_id():
    answer = fakes.invoke(
        "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings",
        {
            "locationType": "availability-zone-id",
            "filters": [
                {"name": "instance-type", "values": ["p5.48xlarge"]},
                {"name": "location", "values": ["use1-az5", "use1-az1"]},
            ],
        },
        type("Ctx", (), {"region": "us-east-1"})(),
    )
    assert answer["locations"] == ["use1-az5"]
    assert gpu_zone_indexes(
        [("us-east-1a", "use1-az1"), ("us-east-1d", "use1-az5")], set(answer["locations"]), ["p5.48xlarge"]
    ) == [1]
