"""Issue 21: a model that outgrows one node is served by a LeaderWorkerSet group of N nodes.

DeepSeek-R1 (671B, FP8) on 8 x H100 80 GB nodes, on all three clouds: the sizing, the rendered
LeaderWorkerSet (field by field against the pinned LWS release's API), the controller's chart, the
group's NetworkPolicy, PDB and autoscaling target. The command lines go through vLLM's own parser in
tests/test_multinode_vllm.py (the e2e venv).
"""

from __future__ import annotations

import http.server
import os
import socketserver
import subprocess
import threading
import time
from typing import Any

import pytest

from infra import fit, lws
from infra.conventions import LWS_IMAGE
from infra.cost import report
from infra.plan.render import _fit_text
from infra.platform import ManagedMetrics
from infra.serving.pod import PORT
from tests import test_serving_keda as keda_case
from tests.harness import config_error, dev_plan, parse, plan
from tests.serving_support import Serving

R1 = {
    "name": "deepseek-ai/DeepSeek-R1",
    "paramsBillions": 671,
    "dtype": "fp8",
    "maxModelLen": 8192,
    "servedName": "deepseek-r1",
    "tensorParallelSize": None,
}
H100 = {"aws-dev": "p5.48xlarge", "gcp-dev": "a3-highgpu-8g", "azure-dev": "Standard_ND96isr_H100_v5"}
# us-east-1: the fakes offer p5.48xlarge only in use1-az5 (infra/aws/fakes.py UNOFFERED), the 4th zone.
EXTRA = {"aws-dev": {"aws": {"availabilityZones": 4}}, "gcp-dev": {}, "azure-dev": {}}


# What each cloud's GPU pool cannot build yet for the group, said in the plan (docs/multi-node.md).
MISSING = {
    "aws-dev": r"cluster placement group in one AZ, but no EFA: the vLLM image \(vllm/vllm-openai:v0\.32\.0\) has no EFA userspace",
    "gcp-dev": r"compact placement in us-central1-a, but no GPUDirect: .* A3 High's GPUDirect-TCPX needs 4 more VPCs",
    "azure-dev": r"Standard_ND96isr_H100_v5 has InfiniBand, but pods cannot use it: that needs the NVIDIA Network Operator",
}


def on_h100(stack: str, **model: Any) -> dict[str, Any]:
    return {
        "model": {**R1, "tensorParallelSize": 8, "pipelineParallelSize": 2, **model},
        "gpu": {"instanceType": H100[stack], "maxNodes": 6},  # (replicas.max 2 + 1 surge group) x 2 nodes
        "serving": {"replicas": {"min": 1, "max": 2}},
        **EXTRA[stack],
    }


# ---- sizing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", list(H100))
def test_671b_fp8_on_one_h100_node_asks_for_two_nodes(stack):
    """625 GiB of FP8 weights do not fit 8 x 80 GB x 0.9 (573 GiB); two nodes (1147 GiB) do."""
    message = config_error(stack, {"model": {**R1, "tensorParallelSize": 8}, "gpu": {"instanceType": H100[stack]}})
    assert "8 x H100-80GB gives 573.5 GiB" in message
    assert (
        f"set model.pipelineParallelSize 2 and model.tensorParallelSize 8 to serve each replica from 2 nodes of {H100[stack]}"
        in message
    )


@pytest.mark.parametrize("stack", list(H100))
def test_two_h100_nodes_fit_and_the_cost_counts_both(stack):
    cfg = parse(stack, on_h100(stack))
    sized = report(cfg)
    assert sized["fit"]["fits"] and sized["fit"]["nodesPerReplica"] == 2 and sized["fit"]["pipelineParallelSize"] == 2
    assert sized["fit"]["availableGiB"] == pytest.approx(2 * 8 * 81559 / 1024 * 0.9, abs=0.01)
    cost = sized["cost"]
    assert cost["instance"]["nodesPerReplica"] == 2
    price = cost["instance"]["onDemandPerHour"]
    assert cost["atMinReplicas"]["gpuNodes"] == 2 * cfg.serving.replicas.min
    assert cost["atMaxReplicas"]["gpuNodes"] == 2 * cfg.serving.replicas.max
    fixed = cost["atMinReplicas"]["fixedPerHour"]
    assert cost["atMinReplicas"]["onDemand"]["perHour"] == pytest.approx(2 * price + fixed, abs=0.01)


@pytest.mark.parametrize(
    ("stack", "a100"),
    [("aws-dev", "p4de.24xlarge"), ("gcp-dev", "a2-ultragpu-8g"), ("azure-dev", "Standard_ND96amsr_A100_v4")],
)
def test_fp8_weights_are_refused_on_a100(stack, a100):
    """A100 (SM 8.0) has no FP8 tensor cores: vLLM runs FP8 W8A8 only from SM 8.9 on."""
    message = config_error(stack, {"model": {**R1, "tensorParallelSize": 8}, "gpu": {"instanceType": a100}})
    assert f"gpu.instanceType = '{a100}': model.dtype fp8: A100-80GB has no FP8 tensor cores" in message
    # and auto never picks an A100 group for FP8 weights, though 3 A100 nodes would hold them for less
    chosen = parse(stack, {"model": R1, "gpu": {"instanceType": "auto", "maxNodes": 16}})
    assert chosen.gpu_instance.gpu_model in fit.FP8_GPUS


def test_auto_serves_one_node_when_one_fits():
    """H200 nodes hold the FP8 weights on one node: auto does not reach for a group."""
    cfg = parse("aws-dev", {"model": R1, "gpu": {"instanceType": "auto"}})
    assert (cfg.gpu.instance_type, cfg.model.pipeline_parallel_size) == ("p5e.48xlarge", 1)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"model": {"tensorParallelSize": 4}},
            "model.tensorParallelSize = 4: with model.pipelineParallelSize 2 each node of the group serves with all its GPUs; set tensorParallelSize 8",
        ),
        (
            {"gpu": {"instanceType": "g6e.48xlarge"}, "model": {"dtype": "int4"}},
            "model.pipelineParallelSize = 2: g6e.48xlarge has no inter-node fabric for GPU collectives",
        ),
        (
            {"gpu": {"maxNodes": 5}},
            "gpu.maxNodes = 5: a rolling update at serving.replicas.max=2 adds one surge replica, which needs 6 node(s)",
        ),
        ({"model": {"pipelineParallelSize": 17}}, "model.pipelineParallelSize"),
        ({"model": {"pipelineParallelSize": 3}}, None),  # three nodes fit too: valid
    ],
)
def test_pipeline_parallel_size_is_validated(overrides, expected):
    base = on_h100("aws-dev")
    merged = {k: {**base.get(k, {}), **overrides.get(k, {})} for k in {*base, *overrides}}
    if expected is None:
        assert parse("aws-dev", {**merged, "gpu": {**merged["gpu"], "maxNodes": 9}}).model.pipeline_parallel_size == 3
        return
    assert expected in config_error("aws-dev", merged)


def test_auto_with_a_group_needs_room_for_the_surge_group():
    message = config_error("gcp-dev", {"model": {**R1, "dtype": "bfloat16"}, "gpu": {"instanceType": "auto"}})
    assert "gpu.maxNodes = 3: a rolling update at serving.replicas.max=2 adds one surge replica" in message
    assert "needs 6 node(s) of a3-ultragpu-8g; set gpu.maxNodes >= 6" in message


# ---- the plan: LeaderWorkerSet, controller, network policy, disruption, scaling --------------------

# kubernetes-sigs/lws v0.10.0 api/leaderworkerset/v1/leaderworkerset_types.go: the JSON field names of
# LeaderWorkerSetSpec, LeaderWorkerTemplate, RolloutStrategy, RollingUpdateConfiguration, and the enums.
LWS_SPEC_FIELDS = {"replicas", "leaderWorkerTemplate", "rolloutStrategy", "startupPolicy", "networkConfig"}
LWS_TEMPLATE_FIELDS = {
    "leaderTemplate",
    "workerTemplate",  # required
    "size",
    "restartPolicy",
    "subGroupPolicy",
    "volumeClaimTemplates",
    "persistentVolumeClaimRetentionPolicy",
}
LWS_ROLLOUT_FIELDS = {"type", "rollingUpdateConfiguration"}  # type: Enum={RollingUpdate}
LWS_ROLLING_FIELDS = {"partition", "maxUnavailable", "maxSurge"}
STARTUP_POLICIES = {"LeaderCreated", "LeaderReady"}
RESTART_POLICIES = {"Default", "RecreateGroupOnPodRestart", "RecreateGroupAfterStart", "None"}


@pytest.fixture(scope="module")
def planned() -> dict[str, Any]:
    return {stack: plan(stack, on_h100(stack), expect_warnings=[MISSING[stack]]) for stack in H100}


def lws_of(p) -> Any:
    return p.one(f"kubernetes:{lws.API_VERSION}:{lws.KIND}")


def server(template: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in template["spec"]["containers"] if c["name"] == "vllm")


@pytest.mark.parametrize("stack", list(H100))
def test_the_group_is_a_leader_worker_set_field_by_field(planned, stack):
    p = planned[stack]
    s = Serving.of(p)
    assert s.kind("Deployment") == []  # the group replaces the Deployment
    lws_ = lws_of(p)
    assert (lws_.get("apiVersion"), lws_.get("kind")) == ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")
    assert lws_.get("metadata.name") == "llm-group" and lws_.get("metadata.namespace") == "llm"
    spec = lws_.get("spec")
    assert set(spec) <= LWS_SPEC_FIELDS
    assert "replicas" not in spec  # autoscaled (replicas.max 2 > min 1): the HPA owns the count
    assert spec["startupPolicy"] == "LeaderCreated" and spec["startupPolicy"] in STARTUP_POLICIES
    rollout = spec["rolloutStrategy"]
    assert set(rollout) <= LWS_ROLLOUT_FIELDS and rollout["type"] == "RollingUpdate"
    assert set(rollout["rollingUpdateConfiguration"]) <= LWS_ROLLING_FIELDS
    assert rollout["rollingUpdateConfiguration"] == {"maxSurge": 1, "maxUnavailable": 0}  # webhook: not both 0
    template = spec["leaderWorkerTemplate"]
    assert set(template) <= LWS_TEMPLATE_FIELDS
    assert template["size"] == 2  # pods per group = nodes per replica
    assert template["restartPolicy"] == "RecreateGroupOnPodRestart" and template["restartPolicy"] in RESTART_POLICIES
    for role in ("leaderTemplate", "workerTemplate"):
        pod = template[role]
        assert set(pod) == {"metadata", "spec"}  # a corev1.PodTemplateSpec
        vllm = server(pod)
        assert vllm["resources"]["limits"]["nvidia.com/gpu"] == "8"  # a whole node per pod
        assert pod["spec"]["initContainers"][0]["name"] == "weights"  # each pod pulls and verifies
        assert pod["spec"]["initContainers"][0]["args"][:2] == ["weights", "pull"]
        assert pod["spec"]["tolerations"] and pod["spec"]["nodeSelector"]
    leader, worker = server(template["leaderTemplate"]), server(template["workerTemplate"])
    assert leader["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert {"startupProbe", "readinessProbe", "livenessProbe", "lifecycle"} <= set(leader)
    assert not {"ports", "startupProbe", "readinessProbe", "livenessProbe"} & set(worker)
    assert "lifecycle" in worker  # its drain waits on the leader (test_workers_drain_with_the_leader)


@pytest.mark.parametrize("stack", list(H100))
def test_the_controller_is_the_pinned_upstream_chart_and_the_group_waits_for_it(planned, stack):
    p = planned[stack]
    (release,) = [r for r in p.of_type("kubernetes:helm.sh/v3:Release") if r.get("chart") == lws.CHART]
    assert release.get("chart") == "oci://registry.k8s.io/lws/charts/lws"
    assert release.get("version") == "0.10.0" and release.get("namespace") == "lws-system"
    assert release.get("createNamespace") is True and release.get("atomic") is True
    assert release.get("values.image.manager.tag") == "v0.10.0"
    assert release.get("values.image.manager.repository").endswith("lws/lws")
    assert release.urn in lws_of(p).dependencies
    # Nodes pull the controller through the stack's registry.k8s.io cache, as every other upstream.
    manager = release.get("values.image.manager")
    mirrored = p.outputs["images"][LWS_IMAGE]
    assert not mirrored.startswith("registry.k8s.io/") and f"{manager['repository']}:{manager['tag']}" == mirrored


@pytest.mark.parametrize("stack", list(H100))
def test_network_admits_intra_group_traffic_by_the_set_label_only(planned, stack):
    s = Serving.of(planned[stack])
    policy = s.one("NetworkPolicy", "llm-group")
    same_set = {"podSelector": {"matchLabels": {"leaderworkerset.sigs.k8s.io/name": "llm-group"}}}
    assert policy.get("spec") == {
        "podSelector": same_set["podSelector"],
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [same_set]}],  # every port: NCCL's are ephemeral
        "egress": [{"to": [same_set]}],
    }
    leaders = {"leaderworkerset.sigs.k8s.io/worker-index": "0"}
    service = s.one("Service")
    assert service.get("spec.selector").items() >= leaders.items()  # the API is on the leader only
    assert s.one("NetworkPolicy", "llm-ingress").get("spec.podSelector.matchLabels").items() >= leaders.items()
    egress = s.one("NetworkPolicy", "llm-egress").get("spec.podSelector.matchLabels")
    assert "leaderworkerset.sigs.k8s.io/worker-index" not in egress  # workers pull weights too


@pytest.mark.parametrize("stack", list(H100))
def test_disruption_and_autoscaling_act_on_whole_groups(planned, stack):
    s = Serving.of(planned[stack])
    pdb = s.one("PodDisruptionBudget").get("spec")
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
    scalers = s.kind("HorizontalPodAutoscaler") + s.kind("ScaledObject")  # KEDA where the platform gives a scaler
    assert len(scalers) == 1
    assert scalers[0].get("spec.scaleTargetRef") == {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "name": "llm-group",
    }


# ---- placement for collectives ---------------------------------------------------------------------


def test_aws_group_nodes_share_a_cluster_placement_group_in_one_zone(planned):
    p = planned["aws-dev"]
    group_ = p.one("aws:ec2/placementGroup:PlacementGroup")
    assert group_.get("strategy") == "cluster"
    template = p.one("aws:ec2/launchTemplate:LaunchTemplate", "gpu-nodes")
    assert template.get("placement") == {"groupName": group_.outputs["name"]}
    nodes = p.one("aws:eks/nodeGroup:NodeGroup", "gpu-nodes")
    assert len(nodes.get("subnetIds")) == 1  # a cluster placement group is one AZ
    assert nodes.get("instanceTypes") == ["p5.48xlarge"]


def test_gcp_group_nodes_are_compactly_placed_in_one_zone(planned):
    pool = planned["gcp-dev"].one("gcp:container/nodePool:NodePool", "gpu-pool")
    assert pool.get("placementPolicy") == {"type": "COMPACT"}
    assert pool.get("nodeLocations") == ["us-central1-a"]  # gcp.nodeZones[0]
    assert pool.get("nodeConfig.machineType") == "a3-highgpu-8g"


def test_gcp_group_needs_node_zones():
    message = config_error("gcp-dev", {**on_h100("gcp-dev"), "gcp": {"nodeZones": None}})
    assert "gcp.nodeZones = []: model.pipelineParallelSize 2 places the GPU pool compactly in one zone" in message


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-dev", "azure-dev"])
def test_single_node_stacks_get_no_group_placement(stack):
    """The shipped stacks' models fit one node: no LWS, no placement group, no compact policy."""
    p = dev_plan(stack)
    types = {r.type for r in p.resources}
    assert "aws:ec2/placementGroup:PlacementGroup" not in types
    assert all(r.get("chart") != lws.CHART for r in p.of_type("kubernetes:helm.sh/v3:Release"))
    assert not any("LeaderWorkerSet" in t for t in types)
    assert all(r.get("placementPolicy") is None for r in p.of_type("gcp:container/nodePool:NodePool"))


def test_the_text_plan_shows_nodes_per_replica(planned):
    line = _fit_text(planned["aws-dev"].sizing["fit"])
    assert line.startswith(
        "p5.48xlarge 8 x H100-80GB x 2 nodes per replica, pipelineParallelSize 2, tensorParallelSize 8"
    )


def test_keda_scales_the_set_when_the_platform_gives_a_scaler():
    """With the contract's QueueScaler the ScaledObject (not an HPA) targets the set's scale subresource."""
    overrides = {**on_h100("aws-dev"), "model": {**on_h100("aws-dev")["model"], **keda_case.PUSHED}}
    served = Serving.of(keda_case._run(ManagedMetrics(scaler=keda_case.SCALER), overrides))
    assert served.kind("HorizontalPodAutoscaler") == [] and served.kind("Deployment") == []
    scaled = served.one("ScaledObject", "llm").get("spec")
    assert scaled["scaleTargetRef"] == {"apiVersion": lws.API_VERSION, "kind": lws.KIND, "name": "llm-group"}
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (1, 2)  # groups
    assert "replicas" not in served.one("LeaderWorkerSet", "llm-group").get("spec")


def test_workers_drain_with_the_leader(planned, tmp_path):
    """A group goes as a whole: each worker's preStop waits on the leader's queue (LWS_LEADER_ADDRESS),
    so the stages stay until the leader's last request is done. Run against a stand-in leader that is
    busy for two polls."""
    template = lws_of(planned["aws-dev"]).get("spec.leaderWorkerTemplate")
    leader_cmd = server(template["leaderTemplate"])["lifecycle"]["preStop"]["exec"]["command"]
    worker_cmd = server(template["workerTemplate"])["lifecycle"]["preStop"]["exec"]["command"]
    assert "127.0.0.1" in leader_cmd[2] and worker_cmd[3:] == leader_cmd[3:]  # same budget
    polls: list[float] = []

    class Leader(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            polls.append(time.monotonic())
            busy = 1 if len(polls) <= 2 else 0
            body = f"vllm:num_requests_running{{}} {busy}\nvllm:num_requests_waiting{{}} 0\n".encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    # The drain reads the leader's port 8000; here the stand-in's free port instead (8000 may be taken).
    assert f'":{PORT}/metrics"' in worker_cmd[2]
    with socketserver.TCPServer(("127.0.0.2", 0), Leader) as httpd:  # not the worker's own 127.0.0.1
        script = worker_cmd[2].replace(f'":{PORT}/metrics"', f'":{httpd.server_address[1]}/metrics"')
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            done = subprocess.run(
                ["python3", "-c", script, "0", "60"],
                env={**os.environ, lws.LEADER_ADDRESS_ENV: "127.0.0.2"},
                timeout=60,
                capture_output=True,
                text=True,
            )
        finally:
            httpd.shutdown()
    assert done.returncode == 0, done.stderr
    assert len(polls) == 3  # busy, busy, idle: then the worker may stop
