"""The one program, run under the mock engine for each shipped stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from infra.platform import Platform
from tests.harness import DEV_STACKS, ROOT, dev_plan, parse, platform_of

CLOUD_SDKS = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure": "pulumi_azure_native"}
# Memory of one GPU of each dev stack's type, as the clouds publish it: g6.xlarge has 1 NVIDIA L4 with
# 24 GB (aws.amazon.com/ec2/instance-types/g6), g2-standard-8 1 L4 with 24 GB
# (cloud.google.com/compute/docs/gpus, "NVIDIA L4"), Standard_NC24ads_A100_v4 1 A100 with 80 GB
# (learn.microsoft.com/azure/virtual-machines/sizes/gpu-accelerated/nca100v4-series).
GPU_MEMORY_GB = {"aws-dev": 24, "gcp-dev": 24, "azure-dev": 80}


def test_pulumi_yaml_contract():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "llm-landing-zone"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert project["stackConfigDir"] == "stacks"
    assert project["config"]["pulumi:disable-default-providers"] == ["*"]
    declared = {k for k in project["config"] if ":" not in k}
    assert {"cloud", "region", "cluster", "gpu", "model", "serving"} <= declared
    for key in declared:
        assert project["config"][key].get("description"), f"{key} needs a description"
        assert project["config"][key].get("type", "string") in {"string", "integer", "boolean", "array"}


def test_every_stack_key_is_declared_in_pulumi_yaml(dev_stack):
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    stack_doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{dev_stack}.yaml").read_text())
    for key in stack_doc["config"]:
        namespace, name = key.split(":", 1)
        if namespace == project["name"]:
            assert name in project["config"], f"{key} is not declared in Pulumi.yaml"


def test_every_custom_resource_names_its_provider(dev_stack):
    plan = dev_plan(dev_stack)
    custom = [r for r in plan.resources if r.custom and not r.type.startswith("pulumi:providers:")]
    assert custom, "the program registered no custom resources"
    for r in custom:
        assert r.provider and "pulumi:providers:" in r.provider.rsplit("::", 1)[0], f"{r.urn} uses a default provider"


def test_exports(dev_stack):
    plan = dev_plan(dev_stack)
    cloud = dev_stack.split("-")[0]
    assert plan.outputs["cloud"] == cloud
    assert plan.outputs["kubeconfig"] == "[secret]"
    prefix = {"aws": "s3://", "gcp": "gs://", "azure": "https://"}[cloud]
    assert plan.outputs["weightsUri"].startswith(prefix)
    assert plan.outputs["weightsUri"].endswith("/models/deepseek-r1-distill-llama-8b")
    assert plan.outputs["endpoint"].startswith("http://") and plan.outputs["endpoint"].endswith(":8000/v1")


def test_platform_contract(dev_stack):
    """What each cloud's build() hands downstream: the seam the cloud and serving issues share."""
    cfg = parse(dev_stack)
    platform = platform_of(dev_stack)
    assert isinstance(platform, Platform)
    assert platform.identity.namespace == cfg.serving.namespace
    assert platform.identity.service_account == cfg.serving.service_account
    assert platform.gpu.gpus_per_replica == cfg.model.tensor_parallel_size
    assert platform.gpu.gpu_memory_gb == GPU_MEMORY_GB[dev_stack]
    assert platform.gpu.node_selector
    assert any(t.key == "nvidia.com/gpu" for t in platform.gpu.tolerations)
    assert platform.internal_lb_annotations


def test_config_cost_and_fakes_of_every_cloud_load_no_cloud_sdk():
    """The SDK-free parts (settings, footprint, fakes) of all three clouds, plus config parsing and
    cost of a stack of each, import no cloud SDK: only `platform` may pay for one."""
    script = (
        "import json, sys\n"
        "from infra import clouds, cost\n"
        "from infra.config import loader\n"
        "from infra.plan import stackfile\n"
        "for cloud in ('aws', 'gcp', 'azure'):\n"
        "    for part in clouds.SDK_FREE:\n"
        "        clouds.part(cloud, part)\n"
        f"for stack in {DEV_STACKS!r}:\n"
        "    cost.cost(loader.parse(loader.from_pulumi_config(stackfile.load(stack).config)))\n"
        f"print(json.dumps(sorted(m for m in {sorted(CLOUD_SDKS.values())!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == []


@pytest.mark.parametrize("stack", DEV_STACKS)
def test_planning_one_stack_never_imports_another_clouds_sdk(stack):
    cloud = stack.split("-")[0]
    script = (
        "import json, sys\n"
        "from infra.plan import engine, stackfile\n"
        f"engine.run_program(stackfile.load({stack!r}))\n"
        f"print(json.dumps(sorted(m for m in {sorted(CLOUD_SDKS.values())!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == [CLOUD_SDKS[cloud]]


def test_aws_prod_example_is_locked_down():
    """The shipped prod example: no internet path, deletion protection, internal LB only."""
    plan = dev_plan("aws-prod")
    assert plan.one("aws:eks/cluster:Cluster").get("deletionProtection") is True
    assert not [
        r
        for r in plan.resources
        if r.type in ("aws:ec2/natGateway:NatGateway", "aws:ec2/internetGateway:InternetGateway")
    ]
    service = plan.one("kubernetes:core/v1:Service")
    assert service.get("spec.type") == "LoadBalancer"
    assert service.get("metadata.annotations")["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    assert plan.policy == []
