"""The `aws:` config section: optional, secure defaults, one-line errors before any resource."""

from __future__ import annotations

from typing import Any

import pytest

from infra.aws.settings import AwsConfig
from infra.config import loader
from infra.config.errors import ConfigError
from infra.config.schema import StackConfig
from tests.ci_support import cidr, cidr_plan
from tests.harness import plan, stack_file


def parse(overrides: dict[str, Any]) -> StackConfig:
    return loader.parse(loader.from_pulumi_config(stack_file("aws-dev", overrides).config))


def test_section_is_optional_with_secure_defaults():
    cfg = parse(cidr("aws-dev", {"aws": None}))  # no aws section: resolve fills in the defaults
    defaults = cfg.aws
    assert defaults == AwsConfig()
    assert defaults.identity == "pod-identity"
    assert defaults.ami_type == "al2023"
    assert defaults.restrict_reads_to_vpc_endpoint is True
    assert defaults.admin_role_arns == ()
    assert defaults.cluster_autoscaler is True
    assert not defaults.device_plugin_image.endswith(":latest")


def test_keys_parse():
    cfg = parse(
        {
            "aws": {
                "amiType": "bottlerocket",
                "identity": "irsa",
                "availabilityZones": 3,
                "adminRoleArns": ["arn:aws:iam::123456789012:role/ops"],
                "restrictReadsToVpcEndpoint": False,
                "gpuDiskGib": 300,
                "systemInstanceType": "t3.large",
            }
        }
    )
    assert (cfg.aws.ami_type, cfg.aws.identity, cfg.aws.availability_zones) == ("bottlerocket", "irsa", 3)
    assert cfg.aws.admin_role_arns == ("arn:aws:iam::123456789012:role/ops",)


@pytest.mark.parametrize(
    ("aws", "expected"),
    [
        ({"amiType": "al2"}, ["aws.amiType", "'al2'", "'al2023' or 'bottlerocket'"]),
        ({"identity": "keys"}, ["aws.identity", "'pod-identity' or 'irsa'"]),
        ({"availabilityZones": 1}, ["aws.availabilityZones", "1", "greater than or equal to 2"]),
        ({"adminRoleArns": ["admin"]}, ["aws.adminRoleArns[0]", "'admin'", "does not match"]),
        ({"devicePluginImage": "nvcr.io/nvidia/k8s-device-plugin:latest"}, ["aws.devicePluginImage", "pinned"]),
        ({"gpuDiskGib": 10}, ["aws.gpuDiskGib", "10", "greater than or equal to 50"]),
        ({"clusterAutoscalerImage": "registry.k8s.io/autoscaling/cluster-autoscaler:latest"}, ["pinned"]),
        ({"clusterAutoscaler": "maybe"}, ["aws.clusterAutoscaler", "'maybe'", "valid boolean"]),
        ({"amiTyp": "al2023"}, ["aws.amiTyp", "not a known key", "amiType, identity"]),
    ],
)
def test_bad_values_are_one_line(aws, expected):
    with pytest.raises(ConfigError) as err:
        parse({"aws": aws})
    message = str(err.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, message


def test_more_zones_than_the_region_has_fails_before_any_resource():
    with pytest.raises(ConfigError, match=r"aws\.availabilityZones = 4: the region has only 3") as err:
        plan("aws-dev", {"region": "eu-west-3", "aws": {"availabilityZones": 4}})
    assert "\n" not in str(err.value)


def test_three_zones_make_three_private_subnets_and_route_tables():
    p = cidr_plan("aws-dev", {"aws": {"availabilityZones": 3}})
    private = [s for s in p.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name]
    assert sorted(s.inputs["availabilityZone"] for s in private) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert sorted(s.inputs["cidrBlock"] for s in private) == ["10.40.0.0/19", "10.40.32.0/19", "10.40.64.0/19"]
    s3 = next(e for e in p.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs["vpcEndpointType"] == "Gateway")
    assert len(s3.inputs["routeTableIds"]) == 3
