"""One replica on N nodes: a LeaderWorkerSet group whose leader serves the API and whose workers join it.

Used when `model.pipelineParallelSize` > 1 (infra/fit.py chose or checked the group). vLLM's own
multi-node launch, without Ray (vLLM 0.32, vllm/engine/arg_utils.py and vllm/entrypoints/cli/serve.py):
every pod runs `vllm serve` with the same model and parallel flags plus `--nnodes N --node-rank R
--master-addr <leader> --distributed-executor-backend mp`; the leader (rank 0) runs the OpenAI server,
each worker adds `--headless` and runs only its pipeline stage's GPU workers. LWS gives every pod the
leader's stable DNS name and its own index (LWS_LEADER_ADDRESS, LWS_WORKER_INDEX), which Kubernetes
expands into the arguments ($(VAR) in args). Every pod pulls and verifies the weights with the same
init container as a single-node pod (infra/serving/pod.py); only the leader has the port and probes.

Field by field against kubernetes-sigs/lws v0.10.0 api/leaderworkerset/v1/leaderworkerset_types.go:
- leaderWorkerTemplate.size: pods per group (leader included) = pipeline stages = nodes;
- leaderWorkerTemplate.restartPolicy RecreateGroupOnPodRestart: any pod's restart recreates the whole
  group (a pipeline with a missing stage serves nothing, and NCCL cannot re-join a live group);
- startupPolicy LeaderCreated: workers start with the leader, not after it is Ready, because the
  leader's /health answers only once every worker has joined (LeaderReady would deadlock);
- rolloutStrategy RollingUpdate, maxSurge 1 / maxUnavailable 0: one new group before an old one
  goes, as the single-node Deployment does (checks.gpu_nodes_leave_room_for_rollout counts its nodes);
- replicas: groups, through the scale subresource (specpath .spec.replicas, selector
  .status.hpaPodSelector = the leaders), which the autoscaler targets instead of a Deployment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import lws
from infra.config.schema import ModelConfig
from infra.conventions import SERVER_CONTAINER
from infra.platform import Platform

MASTER_PORT = 29501  # vLLM's ParallelConfig.master_port default, made explicit for the NetworkPolicy docs


def set_name(name: str) -> str:
    """The LeaderWorkerSet's name. Not `name`: LWS makes a headless Service named after the set (only
    if none exists), and the serving Service already has `name`."""
    return f"{name}-group"


def leader_selector(selector: Mapping[str, str]) -> dict[str, str]:
    """The serving pods' selector narrowed to the leaders (worker index 0): the Service, the ingress
    policy and the metrics scrapers reach only the pod that runs the API server."""
    return {**selector, lws.WORKER_INDEX_LABEL: "0"}


def multi_node_args(model: ModelConfig, *, worker: bool) -> list[str]:
    """The flags that make one `vllm serve` a node of the group (vLLM's multiprocessing backend)."""
    args = [
        "--pipeline-parallel-size", str(model.pipeline_parallel_size),
        "--distributed-executor-backend", "mp",
        "--nnodes", str(model.pipeline_parallel_size),
        "--node-rank", f"$({lws.WORKER_INDEX_ENV})" if worker else "0",
        "--master-addr", f"$({lws.LEADER_ADDRESS_ENV})",
        "--master-port", str(MASTER_PORT),
    ]  # fmt: skip
    return [*args, "--headless"] if worker else args


def _copy(value: Any) -> Any:
    """A copy of the dicts and lists of a pod template; Pulumi outputs inside are shared, not copied
    (an Output cannot be deep-copied)."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _server(template: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in template["spec"]["containers"] if c["name"] == SERVER_CONTAINER)


def leader_template(template: Mapping[str, Any], model: ModelConfig) -> dict[str, Any]:
    """The single-node pod template, as the group's rank 0: the API server, its port, probes and drain."""
    leader = _copy(template)
    server = _server(leader)
    server["args"] = [*server["args"], *multi_node_args(model, worker=False)]
    return leader


LOCAL_METRICS = '"http://127.0.0.1:'  # where the single-node drain (pod._DRAIN) reads vLLM's queue
LEADER_METRICS = '"http://" + __import__("os").environ["' + lws.LEADER_ADDRESS_ENV + '"] + ":'


def worker_template(template: Mapping[str, Any], model: ModelConfig) -> dict[str, Any]:
    """The single-node pod template as a headless worker: the same weights pull, image, GPUs and
    hardening; no API port and no HTTP probes (nothing listens). Its drain waits on the *leader's*
    queue: a group is deleted as a whole (scale-in, rollout), and a stage that left while the leader
    finishes its requests would break them, so each worker stays until the leader has no running or
    waiting request, or is gone (the same script and budget as the leader's, pod._DRAIN)."""
    worker = _copy(template)
    server = _server(worker)
    server["args"] = [*server["args"], *multi_node_args(model, worker=True)]
    for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe"):
        server.pop(key, None)
    command = server["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["python3", "-c"] and LOCAL_METRICS in command[2], command
    command[2] = command[2].replace(LOCAL_METRICS, LEADER_METRICS)
    return worker


def leader_worker_set_spec(template: Mapping[str, Any], model: ModelConfig, replicas: int | None) -> dict[str, Any]:
    """The LeaderWorkerSet spec (replicas None: the autoscaler owns the count)."""
    return {
        **({} if replicas is None else {"replicas": replicas}),
        "startupPolicy": "LeaderCreated",
        "rolloutStrategy": {
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": {"maxSurge": 1, "maxUnavailable": 0},
        },
        "leaderWorkerTemplate": {
            "size": model.pipeline_parallel_size,
            "restartPolicy": "RecreateGroupOnPodRestart",
            "leaderTemplate": leader_template(template, model),
            "workerTemplate": worker_template(template, model),
        },
    }


def scale_target_ref(name: pulumi.Input[str]) -> dict[str, Any]:
    """What the autoscaler scales: the set's scale subresource (groups), not a Deployment."""
    return {"apiVersion": lws.API_VERSION, "kind": lws.KIND, "name": name}


def pdb_spec(selector: Mapping[str, str]) -> dict[str, Any]:
    """Drains take one pod of the set at a time. Losing any pod recreates its whole group, whose pods
    then count as unavailable until the group is Ready again, so a second group is not touched before
    the first is back. Not-ready pods serve nothing and may always go (unblocks node drains)."""
    return {
        "selector": {"matchLabels": dict(selector)},
        "maxUnavailable": 1,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


def intra_group_spec(lws_name: str) -> dict[str, Any]:
    """Pods of the set reach each other on every port, and nothing else is admitted by this policy:
    torch.distributed's store (master port) and NCCL's sockets (ephemeral ports) run between them. By
    the controller's set-name label, which only this set's pods carry (a group's own key is a hash)."""
    peers = [{"podSelector": {"matchLabels": {lws.SET_NAME_LABEL: lws_name}}}]
    return {
        "podSelector": {"matchLabels": {lws.SET_NAME_LABEL: lws_name}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": peers}],
        "egress": [{"to": peers}],
    }


def leader_worker_set(
    name: str,
    parent: pulumi.Resource,
    platform: Platform,
    model: ModelConfig,
    template: Mapping[str, Any],
    metadata: Mapping[str, Any],
    *,
    replicas: int | None,
    depends_on: Sequence[pulumi.Resource],
    timeouts: pulumi.CustomTimeouts,
) -> k8s.apiextensions.CustomResource:
    """The LWS controller (pinned chart), the group's NetworkPolicy and the LeaderWorkerSet itself,
    which waits for the controller (its webhook admits and defaults the set) and `depends_on`."""
    child = pulumi.ResourceOptions(parent=parent)
    controller = lws.install(f"{name}-lws", platform.k8s, image=platform.image, opts=child)
    lws_name = set_name(name)
    k8s.networking.v1.NetworkPolicy(
        f"{name}-group",
        metadata={**metadata, "name": f"{name}-group"},
        spec=intra_group_spec(lws_name),
        opts=child,
    )
    return k8s.apiextensions.CustomResource(
        lws_name,
        api_version=lws.API_VERSION,
        kind=lws.KIND,
        metadata={**metadata, "name": lws_name},
        spec=leader_worker_set_spec(template, model, replicas),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[controller, *depends_on], custom_timeouts=timeouts),
    )
