"""Sizing through the real program and `llz plan`: fit and cost in every rendering, errors before registration."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from infra.config.errors import ConfigError
from infra.plan import render
from tests.ci_support import cidr_plan
from tests.harness import copy_project, dev_plan, parse, plan, program_error

TOO_BIG = {"model": {"name": "meta-llama/Llama-3.1-70B-Instruct", "paramsBillions": 70.6}}
# Each dev stack's GPU type and its published on-demand price per hour (tests/test_sizing.py names the
# sources: AWS-PRICES us-east-1, GCP-PRICES us-central1, AZURE-PRICES East US).
ON_DEMAND = {
    "aws-dev": ("g6.xlarge", 0.8048),
    "gcp-dev": ("g2-standard-8", 0.8536),
    "azure-dev": ("Standard_NC24ads_A100_v4", 3.673),
}


def test_dev_plans_show_fit_and_cost(dev_stack):
    p = dev_plan(dev_stack)
    data = render.as_json(p)
    fit, cost = data["fit"], data["cost"]
    cfg = parse(dev_stack)
    assert fit["fits"] and fit["instanceType"] == cfg.gpu.instance_type and fit["auto"] is False
    assert fit["neededGiB"] < fit["availableGiB"]
    instance_type, published = ON_DEMAND[dev_stack]
    assert cost["instance"]["type"] == instance_type
    assert cost["instance"]["onDemandPerHour"] == pytest.approx(published, rel=0.005)
    spot = cost["instance"]["spotPerHour"]
    assert spot is None or 0 < spot < published
    assert re.fullmatch(r".+ \(\d{4}-\d{2}\)", cost["instance"]["source"]), "a price names its source and date"
    assert cost["instance"]["priceIsEstimate"] is False
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
    assert "cheapest aws type that fits: g6e.12xlarge" in program_error("aws-dev", TOO_BIG)


def test_llz_plan_too_large_model_is_one_line_and_exit_2(tmp_path):
    project = copy_project(tmp_path / "project")
    stack = (project / "stacks" / "Pulumi.gcp-dev.yaml").read_text()
    assert "paramsBillions: 8.03" in stack
    (project / "stacks" / "Pulumi.gcp-big.yaml").write_text(
        stack.replace("paramsBillions: 8.03", "paramsBillions: 70.6")
    )
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "--stack", "gcp-big"], cwd=project, capture_output=True, text=True
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


@pytest.mark.parametrize(
    ("overrides", "endpoint_azs", "nats"),
    # no egress: + elasticloadbalancing, autoscaling, eks, aps-workspaces endpoints; and no model.source (the hub
    # is unreachable)
    [(None, 12, 1), ({"network": {"egress": "none"}, "model": {"source": None}}, 20, 0)],
    ids=["nat", "no-egress"],
)
def test_cost_counts_match_the_planned_aws_resources(overrides, endpoint_azs, nats):
    p = cidr_plan("aws-dev", overrides)  # the VPC in the workload (cidr mode); runner mode: next test
    interface = [r for r in p.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if r.get("vpcEndpointType") == "Interface"]
    planned = sum(len(r.get("subnetIds")) for r in interface)  # billed per endpoint per AZ
    counts = _counted(render.as_json(p)["cost"]["atMinReplicas"]["fixed"])
    assert counts["interface endpoint-AZ (+ $0.01/GB)"] == planned == endpoint_azs
    assert (
        counts.get("NAT gateway (+ $0.045/GB processed)", 0) == len(p.of_type("aws:ec2/natGateway:NatGateway")) == nats
    )
    assert counts["EKS control plane (standard support)"] == len(p.of_type("aws:eks/cluster:Cluster")) == 1


def test_aws_runner_mode_counts_the_nat_gateway_of_its_bootstrap():
    """aws-dev as shipped (cluster.apiAccess: runner): the estimate is the workload's, and the NAT
    gateway it counts lives in aws-dev-bootstrap with the VPC; a bootstrap has no estimate of its own."""
    p = dev_plan("aws-dev")
    counts = _counted(render.as_json(p)["cost"]["atMinReplicas"]["fixed"])
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
    assert counts["private endpoint (+ $0.01/GB)"] == len(azure.of_type("azure-native:network:PrivateEndpoint")) == 3


def _system_nodes(p) -> tuple[str, int]:
    """The cost estimate's system-node line: (machine type, count)."""
    (line,) = [x for x in render.as_json(p)["cost"]["atMinReplicas"]["fixed"] if x["item"].startswith("system node ")]
    return line["item"].removeprefix("system node "), line["count"]


def _gke_system_nodes(p, zones: int) -> tuple[str, int]:
    pool = p.one("gcp:container/nodePool:NodePool", "gke-system")
    zones = len(pool.get("nodeLocations") or []) or zones  # unset: the regional cluster's default zones
    return pool.get("nodeConfig.machineType"), pool.get("autoscaling.minNodeCount") * zones


def test_system_nodes_in_the_cost_are_the_planned_pools():
    aws = dev_plan("aws-dev")
    group = aws.one("aws:eks/nodeGroup:NodeGroup", "eks-system")
    assert (
        _system_nodes(aws) == (group.get("instanceTypes.0"), group.get("scalingConfig.desiredSize")) == ("m6i.large", 2)
    )
    gcp = dev_plan("gcp-dev")
    # A regional cluster's node pool spans three zones unless nodeLocations says otherwise (GKE docs,
    # "Regional clusters"); minNodeCount is per zone.
    assert _system_nodes(gcp) == _gke_system_nodes(gcp, zones=3) == ("e2-standard-2", 3)
    azure = dev_plan("azure-dev")
    pool = azure.one("azure-native:containerservice:ManagedCluster").get("agentPoolProfiles.0")
    assert _system_nodes(azure) == (pool["vmSize"], pool["count"]) == ("Standard_D4ds_v5", 2)


def test_gke_system_nodes_in_the_cost_follow_node_zones():
    p = plan("gcp-dev", {"gcp": {"nodeZones": ["us-central1-a"]}})
    assert _system_nodes(p) == _gke_system_nodes(p, zones=3) == ("e2-standard-2", 1)
