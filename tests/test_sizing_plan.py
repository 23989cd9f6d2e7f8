"""Sizing through the real program and `llz plan`: fit and cost in every rendering, errors before registration."""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
import sys

import pytest

from infra import catalog
from infra.config import loader
from infra.config.errors import ConfigError
from infra.plan import render
from infra.plan.engine import mocked_engine
from infra.plan.stackfile import ROOT
from tests.harness import dev_plan, plan, stack_file

TOO_BIG = {"model": {"name": "meta-llama/Llama-3.1-70B-Instruct", "paramsBillions": 70.6}}


def test_dev_plans_show_fit_and_cost(dev_stack):
    p = dev_plan(dev_stack)
    data = render.as_json(p)
    fit, cost = data["fit"], data["cost"]
    cfg = loader.parse(loader.from_pulumi_config(stack_file(dev_stack).config))
    assert fit["fits"] and fit["instanceType"] == cfg.gpu.instance_type and fit["auto"] is False
    assert fit["neededGiB"] < fit["availableGiB"]
    price = catalog.instances(cfg.cloud)[cfg.gpu.instance_type].price
    assert cost["instance"] == {
        "type": cfg.gpu.instance_type,
        "onDemandPerHour": price.on_demand,
        "spotPerHour": price.spot,
        "source": f"{price.source} ({price.as_of})",
        "priceIsEstimate": price.estimate,
    }
    low, high = cost["atMinReplicas"], cost["atMaxReplicas"]
    assert 0 < low["onDemand"]["perHour"] <= high["onDemand"]["perHour"]
    assert low["onDemand"]["perMonth"] == pytest.approx(low["onDemand"]["perHour"] * 730, abs=0.01 * 730)
    assert json.loads(json.dumps(data)) == data  # JSON-clean

    text = render.tree(p).splitlines()
    assert text[-1] == render.summary(p)  # the summary stays last
    assert any(line.startswith(f"fit: {cfg.gpu.instance_type} ") for line in text)
    assert any(line.startswith("cost (ESTIMATE, USD, ") for line in text)
    assert any(f"on-demand ${low['onDemand']['perHour']:,.2f}/h" in line for line in text)

    md = render.markdown(p)
    assert f"**Fit:** {cfg.gpu.instance_type}" in md
    assert f"| at min replicas | {low['replicas']} | {low['gpuNodes']} | ${low['onDemand']['perHour']:,.2f}/h" in md


@pytest.mark.parametrize(
    ("stack", "chosen", "tp"),
    [("aws-dev", "g6e.12xlarge", 4), ("gcp-dev", "g2-standard-96", 8), ("azure-dev", "Standard_NC48ads_A100_v4", 2)],
)
def test_auto_reaches_the_platform_and_the_pods(stack, chosen, tp):
    p = plan(stack, {"gpu": {"instanceType": "auto"}, "model": {**TOO_BIG["model"], "tensorParallelSize": None}})
    pools = [r for r in p.resources if r.custom and f'"{chosen}"' in json.dumps(r.inputs)]
    assert pools, f"no resource was registered with instance type {chosen}"
    gpu_limits = [
        c["resources"]["limits"]["nvidia.com/gpu"]
        for d in p.of_type("kubernetes:apps/v1:Deployment")
        for c in d.get("spec.template.spec.containers", [])
        if "nvidia.com/gpu" in c.get("resources", {}).get("limits", {})
    ]
    assert [str(n) for n in gpu_limits] == [str(tp)]  # the vLLM container asks for TP GPUs
    assert render.as_json(p)["fit"] | {"auto": True} == render.as_json(p)["fit"]
    assert render.as_json(p)["fit"]["tensorParallelSize"] == tp


def test_too_large_model_fails_before_anything_is_registered():
    with pytest.raises(ConfigError, match=r"gpu.instanceType = 'g6.xlarge': .* needs 13\d\.\d GiB"):
        plan("aws-dev", TOO_BIG)
    sf = stack_file("aws-dev", TOO_BIG)
    with mocked_engine(sf.project, sf.stack, sf.config) as (monitor, run, _):
        with pytest.raises(ConfigError, match=r"cheapest aws type that fits: g6e\.12xlarge"):
            run(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
        assert monitor.recorded == []


def test_llz_plan_too_large_model_is_one_line_and_exit_2(tmp_path):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    shutil.copy(ROOT / "__main__.py", tmp_path)
    shutil.copytree(ROOT / "infra", tmp_path / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "stacks").mkdir()
    stack = (ROOT / "stacks" / "Pulumi.gcp-dev.yaml").read_text()
    assert "paramsBillions: 8.03" in stack
    (tmp_path / "stacks" / "Pulumi.gcp-big.yaml").write_text(
        stack.replace("paramsBillions: 8.03", "paramsBillions: 70.6")
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from infra.plan import stackfile; from pathlib import Path;"
            "stackfile.ROOT = Path.cwd(); from infra.cli import main; sys.exit(main(sys.argv[1:]))",
            "plan",
            "--stack",
            "gcp-big",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("gcp-big: config error: llm-landing-zone:gpu.instanceType = 'g2-standard-8': ")
    assert "but 1 x L4 gives 20.2 GiB" in result.stderr
    assert "cheapest gcp type that fits: g2-standard-96" in result.stderr
    assert "Traceback" not in result.stderr


def _counted(fixed: list[dict]) -> dict[str, int]:
    return {line["item"]: line["count"] for line in fixed}


def test_cost_counts_match_the_planned_aws_resources():
    p = dev_plan("aws-dev")
    interface = [r for r in p.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if r.get("vpcEndpointType") == "Interface"]
    endpoint_azs = sum(len(r.get("subnetIds")) for r in interface)  # billed per endpoint per AZ
    counts = _counted(render.as_json(p)["cost"]["atMinReplicas"]["fixed"])
    assert counts["interface endpoint-AZ (+ $0.01/GB)"] == endpoint_azs == 12
    # The NAT gateway the estimate counts lives in aws-dev-bootstrap, with the VPC (cluster.apiAccess: runner).
    nat = "aws:ec2/natGateway:NatGateway"
    assert p.of_type(nat) == []
    assert counts["NAT gateway (+ $0.045/GB processed)"] == len(dev_plan("aws-dev-bootstrap").of_type(nat)) == 1
    assert counts["EKS control plane (standard support)"] == len(p.of_type("aws:eks/cluster:Cluster")) == 1


def test_cost_counts_match_the_planned_gcp_and_azure_resources():
    gcp = dev_plan("gcp-dev")
    assert gcp.one("gcp:container/cluster:Cluster").get("location") == "us-central1"  # regional: the fee applies
    assert gcp.of_type("gcp:compute/routerNat:RouterNat")
    assert "GKE cluster fee" in _counted(render.as_json(gcp)["cost"]["atMinReplicas"]["fixed"])

    azure = dev_plan("azure-dev")
    assert azure.one("azure-native:containerservice:ManagedCluster").get("sku.tier") == "Free"
    counts = _counted(render.as_json(azure)["cost"]["atMinReplicas"]["fixed"])
    assert "AKS Standard tier" not in counts  # Free tier in dev: no fee
    nat = "azure-native:network:NatGateway"  # in azure-dev-bootstrap, with the VNet (cluster.apiAccess: runner)
    assert counts["NAT gateway (+ $0.045/GB processed)"] == len(dev_plan("azure-dev-bootstrap").of_type(nat)) == 1
    assert counts["blob private endpoint (+ $0.01/GB)"] == len(azure.of_type("azure-native:network:PrivateEndpoint"))


def _system_line(p) -> dict:
    return next(line for line in render.as_json(p)["cost"]["atMinReplicas"]["fixed"] if "system node" in line["item"])


@pytest.mark.parametrize("zones", [(), ("us-central1-a",)])
def test_costed_system_nodes_are_the_planned_pools(zones):
    """The cost's system-node line counts what the plan creates at rest, on every cloud."""
    aws = dev_plan("aws-dev")
    group = aws.one("aws:eks/nodeGroup:NodeGroup", "eks-system")
    assert _system_line(aws)["item"] == f"system node {group.get('instanceTypes.0')}"
    assert _system_line(aws)["count"] == group.get("scalingConfig.desiredSize") == 2
    gcp = plan("gcp-dev", {"gcp": {"project": "my-llm-project", "nodeZones": list(zones)}})
    pool = gcp.one("gcp:container/nodePool:NodePool", "gke-system")
    # GKE's minNodeCount is per zone; a regional pool without nodeLocations spans three zones
    # (cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters).
    planned_zones = len(pool.get("nodeLocations") or ()) or 3
    assert _system_line(gcp)["count"] == pool.get("autoscaling.minNodeCount") * planned_zones == (len(zones) or 3)
    azure = dev_plan("azure-dev")
    system = azure.one("azure-native:containerservice:ManagedCluster").get("agentPoolProfiles.0")
    assert _system_line(azure)["item"] == f"system node {system['vmSize']}"
    assert _system_line(azure)["count"] == system["count"]
