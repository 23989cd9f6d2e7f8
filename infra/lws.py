"""LeaderWorkerSet (LWS), the upstream controller that runs one multi-node replica as a group of pods.

A replica that spans N nodes (model.pipelineParallelSize > 1) is one LWS group: a leader pod and
N-1 workers, created, restarted and scaled together (kubernetes-sigs/lws). The stack installs the
controller and its CRDs from the upstream Helm chart at a pinned release, fetched from the chart's
OCI registry by the Helm provider at deploy time (no copy of upstream manifests in the repository;
install docs: site/content/en/docs/installation of kubernetes-sigs/lws v0.10.0, "Install by Helm").
Only pulumi_kubernetes: the serving component installs it on every cloud alike, and only for a
multi-node model, so single-node stacks carry nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import images
from infra.conventions import LWS_IMAGE
from infra.conventions import LWS_VERSION as VERSION

CHART = "oci://registry.k8s.io/lws/charts/lws"  # the chart's version is the release without the v
NAMESPACE = "lws-system"
API_VERSION = "leaderworkerset.x-k8s.io/v1"
KIND = "LeaderWorkerSet"
# Labels and env the controller puts on every pod of a set (api/leaderworkerset/v1/leaderworkerset_types.go).
SET_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"  # "0" on the leader
LEADER_ADDRESS_ENV = "LWS_LEADER_ADDRESS"  # the leader's stable DNS name (headless service)
WORKER_INDEX_ENV = "LWS_WORKER_INDEX"  # 0 on the leader, 1..size-1 on the workers
GROUP_SIZE_ENV = "LWS_GROUP_SIZE"


def _image_values(ref: str) -> dict[str, str]:
    """The chart's `image.manager` values: it renders "repository:tag" (charts/lws/templates/manager/
    deployment.yaml), so a digest rides on the tag."""
    image = images.parse(ref)
    return {"repository": f"{image.host}/{image.path}", "tag": image.chart_tag(VERSION), "pullPolicy": "IfNotPresent"}


def chart_values(image: Callable[[str], pulumi.Input[str]]) -> dict[str, Any]:
    """Chart values (charts/lws/values.yaml): the image through the stack's registry; the rest as upstream
    (non-root, read-only root, webhook certificates managed by the controller itself)."""
    # By digest once conventions.DIGESTS holds one for the tag (`llz images pin`), by tag until then;
    # through the stack's registry.k8s.io cache (each cloud lists it for a multi-node model).
    return {"image": {"manager": pulumi.Output.from_input(image(LWS_IMAGE)).apply(_image_values)}}


def install(
    name: str,
    provider: k8s.Provider,
    *,
    image: Callable[[str], pulumi.Input[str]],
    opts: pulumi.ResourceOptions | None = None,
) -> k8s.helm.v3.Release:
    """The LWS chart (controller, CRDs, validating/mutating webhooks) in namespace lws-system. Helm
    waits for the controller Deployment to be available, so a set created after it is admitted by the
    webhook (skipAwait stays false; `atomic` rolls a failed install back)."""
    return k8s.helm.v3.Release(
        name,
        name="lws",
        chart=CHART,  # OCI charts: pulumi-kubernetes Release, since 3.16 (pulumi-kubernetes#1892)
        version=VERSION.removeprefix("v"),
        namespace=NAMESPACE,
        create_namespace=True,
        atomic=True,
        values=chart_values(image),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=provider)),
    )
