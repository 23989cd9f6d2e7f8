"""Every class of bad stack config fails as ONE line naming key, value and what is valid."""

from __future__ import annotations

import pytest

from tests.harness import config_error, parse, program_error


def test_dev_stacks_parse(dev_stack):
    cfg = parse(dev_stack, {})
    assert cfg.cloud == dev_stack.split("-")[0]
    assert cfg.environment == "dev" and cfg.deletion_protection is False
    assert cfg.gpu_instance.gpus >= cfg.model.tensor_parallel_size
    with pytest.raises(ValueError, match="frozen"):
        cfg.region = "elsewhere"  # type: ignore[misc]


BAD = [
    # (stack, overrides, fragments the single line must contain)
    ("aws-dev", {"cloud": "oracle"}, ["llm-landing-zone:cloud", "'oracle'", "'aws', 'gcp' or 'azure'"]),
    ("aws-dev", {"colud": "aws"}, ["llm-landing-zone:colud", "not a known key", "cloud, region"]),
    ("aws-dev", {"gpu": {"instancetype": "g6.xlarge"}}, ["gpu.instancetype", "instanceType, minNodes"]),
    ("aws-dev", {"gpu": {"minNodes": "two"}}, ["gpu.minNodes", "'two'", "valid integer"]),
    ("aws-dev", {"gpu": {"maxNodes": 1.5}}, ["gpu.maxNodes", "1.5", "integer"]),
    ("aws-dev", {"gpu": {"minNodes": 3, "maxNodes": 2}}, ["gpu", "minNodes (3)", "maxNodes (2)"]),
    ("aws-dev", {"gpu": {"minNodes": -1}}, ["gpu.minNodes", "-1", "greater than or equal to 0"]),
    ("aws-dev", {"serving": {"replicas": {"min": 3, "max": 1}}}, ["serving.replicas", "min (3)", "max (1)"]),
    (
        "aws-dev",
        {"cluster": {"apiAllowedCidrs": ["10.0.0.300/24"]}},
        ["apiAllowedCidrs[0]", "10.0.0.300/24", "IPv4 network"],
    ),
    (
        "aws-dev",
        {"cluster": {"apiAllowedCidrs": ["0.0.0.0/0"]}},
        ["apiAllowedCidrs", "0.0.0.0/0", "insecure.publicApiEndpoint"],
    ),
    ("aws-dev", {"cluster": {"kubernetesVersion": 1.3}}, ["kubernetesVersion", "1.3", "quote it"]),
    ("aws-dev", {"model": {"name": None}}, ["llm-landing-zone:model.name is required"]),
    ("aws-dev", {"region": None}, ["llm-landing-zone:region is required"]),
    (
        "aws-dev",
        {"gpu": {"instanceType": "m5.large"}},
        ["gpu.instanceType", "'m5.large'", "not a GPU instance type on aws", "g6.xlarge"],
    ),
    (
        "gcp-dev",
        {"gpu": {"instanceType": "g6.xlarge"}},
        ["gpu.instanceType", "not a GPU instance type on gcp", "g2-standard-8"],
    ),
    (
        "azure-dev",
        {"gpu": {"instanceType": "g2-standard-8"}},
        ["not a GPU instance type on azure", "Standard_NC24ads_A100_v4"],
    ),
    ("aws-dev", {"model": {"tensorParallelSize": 2}}, ["model.tensorParallelSize", "2", "g6.xlarge has 1 GPU"]),
    ("aws-dev", {"serving": {"loadFormat": "magic"}}, ["serving.loadFormat", "'magic'", "'pull' or 'runai_streamer'"]),
    ("aws-dev", {"serving": {"image": "vllm/vllm-openai:latest"}}, ["serving.image", "pinned tag"]),
    ("aws-dev", {"serving": {"expose": "public-lb"}}, ["serving.expose", "insecure.publicLoadBalancer"]),
    ("aws-dev", {"gcp": {"project": "my-llm-project"}}, ["llm-landing-zone:gcp", "only the aws section"]),
    ("gcp-dev", {"gcp": None}, ["llm-landing-zone:gcp", "required for cloud=gcp", "project"]),
    ("azure-dev", {"azure": {"subscriptionId": "not-a-guid"}}, ["azure.subscriptionId", "'not-a-guid'"]),
    ("aws-dev", {"environment": "prod", "insecure": {"publicLoadBalancer": True}}, ["insecure", "environment=prod"]),
]


@pytest.mark.parametrize(("stack", "overrides", "fragments"), BAD, ids=[str(b[1]) for b in BAD])
def test_bad_value_is_one_clear_line(stack, overrides, fragments):
    message = config_error(stack, overrides)
    for fragment in fragments:
        assert fragment in message


def test_insecure_switch_is_explicit_and_named():
    cfg = parse("aws-dev", {"cluster": {"apiAllowedCidrs": ["0.0.0.0/0"]}, "insecure": {"publicApiEndpoint": True}})
    assert str(cfg.cluster.api_allowed_cidrs[0]) == "0.0.0.0/0"


def test_prod_turns_deletion_protection_on():
    assert parse("aws-dev", {"environment": "prod"}).deletion_protection is True
    assert (
        parse("aws-dev", {"environment": "prod", "cluster": {"deletionProtection": False}}).deletion_protection is False
    )


def test_bad_config_registers_nothing():
    assert "minNodes" in program_error("gcp-dev", {"gpu": {"minNodes": 5, "maxNodes": 1}})
