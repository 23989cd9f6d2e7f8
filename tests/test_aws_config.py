"""The `aws:` config section: only the deployer is required, secure defaults, one-line errors before any resource."""

from __future__ import annotations

import pytest

from infra.aws.settings import AwsConfig
from infra.config.errors import ConfigError
from tests.ci_support import cidr, cidr_plan
from tests.harness import config_error, parse, plan

DEPLOYER = "arn:aws:iam::123456789012:role/llz-deployer"  # the shipped stacks' placeholder


def test_only_the_deployer_is_required_and_the_rest_is_secure_by_default():
    # aws-dev (cidr mode, without its ECR cache credentials) sets only aws.deployerRoleArn
    cfg = parse("aws-dev", cidr("aws-dev", {"aws": {"upstreamCredentials": None}}))
    defaults = cfg.aws
    assert defaults == AwsConfig(deployer_role_arn=DEPLOYER)
    assert defaults.identity == "pod-identity"
    assert defaults.ami_type == "al2023"
    assert defaults.restrict_reads_to_vpc_endpoint is True
    assert defaults.admin_role_arns == ()
    assert defaults.cluster_autoscaler is True
    assert (
        defaults.device_plugin_image
        == "nvcr.io/nvidia/k8s-device-plugin:v0.17.4@sha256:3c54348fe5a57e5700e7d8068e7531d2ef2d5f3ccb70c8f6bac0953432527abd"
    )
    assert defaults.manage_registry_scanning is False  # ECR scanning is the account's (docs/aws.md)


def test_a_stack_without_the_deployer_fails_in_one_line():
    assert config_error("aws-dev", {"aws": None}) == (
        "llm-landing-zone:aws = '(missing)': required for cloud=aws: an object with deployerRoleArn "
        "(the role CI deploys as)"
    )
    assert config_error("aws-dev", {"aws": {"deployerRoleArn": "me"}}).startswith(
        "llm-landing-zone:aws.deployerRoleArn = 'me': does not match"
    )


def test_keys_parse():
    cfg = parse(
        "aws-dev",
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
        },
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
    message = config_error("aws-dev", {"aws": aws})
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


def test_runner_mode_deploys_as_a_role_the_bootstrap_can_create():
    """With cluster.apiAccess runner, aws.deployerRoleArn names the deploy runner's role (the
    bootstrap creates it): a user cannot be one, nor can a name IAM refuses."""
    assert parse("aws-dev").aws.deployer_role_arn == "arn:aws:iam::123456789012:role/llz-aws-dev-deploy"
    for arn in ("arn:aws:iam::123456789012:user/me", f"arn:aws:iam::123456789012:role/{'r' * 65}"):
        message = config_error("aws-dev", {"aws": {"deployerRoleArn": arn}})
        assert message.startswith(f"llm-landing-zone:aws.deployerRoleArn = '{arn[:40]}")
        assert "deploy runner's role" in message
    user = cidr("aws-dev", {"aws": {"deployerRoleArn": "arn:aws:iam::123456789012:user/me"}})
    assert parse("aws-dev", user).aws.deployer_role_arn.endswith(":user/me")  # fine in cidr mode
