"""The vLLM pod template: init-container pull (or runai streaming), vLLM args, probes, drain, hardening.

Plain dicts with camelCase keys (exactly what the API server and the recorded plan see); Pulumi
outputs (weights URI, identity env, secret and account names) ride inside them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pulumi

from infra.config.schema import ModelConfig, ServingConfig
from infra.conventions import SERVER_CONTAINER, WEIGHTS_CONTAINER
from infra.platform import Platform
from infra.serving import timings

PORT = 8000
API_KEY_ENTRY = "api-key"  # the key inside the Secret
WEIGHTS_DIR = "/models/weights"  # the init container's target, served by vLLM

# vLLM runs with no network access to the Hub and a read-only root: every cache path it or torch,
# triton and flashinfer would write lands in an emptyDir; USER keeps getpass() working for an
# arbitrary UID that has no /etc/passwd entry.
_VLLM_ENV = {
    "HF_HUB_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HOME": "/cache",
    "USER": "vllm",
    "XDG_CACHE_HOME": "/cache",
    "HF_HOME": "/cache/huggingface",
    "VLLM_CACHE_ROOT": "/cache/vllm",
    "TRITON_CACHE_DIR": "/cache/triton",
    "TORCHINDUCTOR_CACHE_DIR": "/cache/inductor",
    "NUMBA_CACHE_DIR": "/cache/numba",
    "TMPDIR": "/tmp",
}

# preStop: wait for deregistration, then until vLLM reports no running or waiting request (or the
# budget ends), so SIGTERM never cuts a generation. Python is in the vLLM image; no shell needed.
_DRAIN = f"""\
import sys, time, urllib.request
time.sleep(float(sys.argv[1])); end = time.time() + float(sys.argv[2])
while time.time() < end:
    try: text = urllib.request.urlopen("http://127.0.0.1:{PORT}/metrics", timeout=5).read().decode()
    except Exception: break
    busy = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(("vllm:num_requests_running", "vllm:num_requests_waiting")))
    if busy == 0: break
    time.sleep(2)
"""


def env_list(values: Mapping[str, pulumi.Input[str]]) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in sorted(values.items())]


def container_security(uid: int) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def vllm_args(model: ModelConfig, serving: ServingConfig, gpus: int, source: pulumi.Input[str]) -> list[Any]:
    args: list[Any] = [
        source,
        "--served-model-name", model.served_name,
        "--host", "0.0.0.0",
        "--port", str(PORT),
        "--max-model-len", str(model.max_model_len),
        "--tensor-parallel-size", str(gpus),
        "--gpu-memory-utilization", str(serving.gpu_memory_utilization),
        "--max-num-seqs", str(model.max_num_seqs),
        "--enable-prefix-caching" if serving.enable_prefix_caching else "--no-enable-prefix-caching",
    ]  # fmt: skip
    if serving.load_format == "runai_streamer":
        args += ["--load-format", "runai_streamer"]
    # Logs for the cluster's log service: JSON lines, one per request with its id and sampling
    # parameters (vLLM logs prompt text only at DEBUG: vllm/entrypoints/serve/utils/request_logger.py),
    # without the probes' and the scraper's access lines. Flags of vLLM's LoggingConfig / frontend args.
    args += [
        "--logging-config.formatter", "json",
        "--enable-log-requests",
        "--disable-access-log-for-endpoints", "/health,/metrics",
    ]  # fmt: skip
    if serving.log_prompts:
        args += ["--log-level", "DEBUG"]
    return args


def _probe(path: str, period: int, failures: int, timeout: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": timeout,
    }


def pod_template(
    platform: Platform,
    model: ModelConfig,
    serving: ServingConfig,
    labels: Mapping[str, str],
    service_account: pulumi.Input[str],
    api_key_secret: pulumi.Input[str],
) -> dict[str, Any]:
    gpu = platform.gpu
    uid = serving.run_as_user
    streams = serving.load_format == "runai_streamer"
    # The puller reads every form; the streamer needs the one the Platform gives the pod.
    weights_uri = platform.weights_uri if platform.pod_weights_uri is None else platform.pod_weights_uri
    weights_gb = model.weights_gb
    weights_gi = 0 if streams else timings.weights_volume_gi(weights_gb)
    shm_gi = timings.shm_gi(gpu.gpus_per_replica)
    identity_env = env_list(platform.identity.env)

    volumes: list[dict[str, Any]] = [
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{shm_gi}Gi"}},
        {"name": "cache", "emptyDir": {"sizeLimit": f"{timings.CACHE_GI}Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": f"{timings.TMP_GI}Gi"}},
    ]
    mounts = [
        {"name": "shm", "mountPath": "/dev/shm"},
        {"name": "cache", "mountPath": "/cache"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    init_containers = []
    if not streams:
        volumes.append({"name": "weights", "emptyDir": {"sizeLimit": f"{weights_gi}Gi"}})
        mounts.append({"name": "weights", "mountPath": "/models", "readOnly": True})
        init_containers.append(
            {
                "name": WEIGHTS_CONTAINER,
                "image": platform.image(serving.puller_image),  # ENTRYPOINT llz
                "imagePullPolicy": "IfNotPresent",
                # A missing manifest (weights being staged) is waited for, not crash-looped on.
                "args": [
                    "weights",
                    "pull",
                    weights_uri,
                    WEIGHTS_DIR,
                    "--wait-seconds",
                    str(timings.pull_wait_seconds(weights_gb)),
                ],
                "env": [*identity_env, {"name": "TMPDIR", "value": "/tmp"}],
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
                "securityContext": container_security(uid),
                "volumeMounts": [
                    {"name": "weights", "mountPath": "/models"},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        )

    memory = serving.resources.memory
    vllm = {
        "name": SERVER_CONTAINER,
        "image": platform.image(serving.image),
        "imagePullPolicy": "IfNotPresent",
        "command": ["vllm", "serve"],
        "args": vllm_args(model, serving, gpu.gpus_per_replica, weights_uri if streams else WEIGHTS_DIR),
        "env": [
            *env_list(_VLLM_ENV),
            *(identity_env if streams else []),
            {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": api_key_secret, "key": API_KEY_ENTRY}}},
        ],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {
                "cpu": serving.resources.cpu,
                "memory": memory,
                "ephemeral-storage": f"{weights_gi + timings.CACHE_GI + timings.TMP_GI}Gi",
            },
            # /dev/shm is memory-backed and counts against the limit, so the limit adds it.
            "limits": {"memory": _plus_gi(memory, shm_gi), gpu.resource_name: str(gpu.gpus_per_replica)},
        },
        "startupProbe": _probe(
            "/health", timings.PROBE_PERIOD_S, timings.startup_failure_threshold(weights_gb), timeout=5
        ),
        "readinessProbe": _probe("/health", period=10, failures=3, timeout=5),
        "livenessProbe": _probe("/health", period=15, failures=4, timeout=10),
        "lifecycle": {
            "preStop": {
                "exec": {
                    "command": ["python3", "-c", _DRAIN, str(timings.DEREGISTER_S), str(serving.max_request_seconds)]
                }
            }
        },
        "securityContext": container_security(uid),
        "volumeMounts": mounts,
    }

    annotations = {"kubectl.kubernetes.io/default-container": "vllm"}
    if serving.metrics.scrape_annotations:
        annotations |= {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(PORT),
            "prometheus.io/path": "/metrics",
        }
    return {
        "metadata": {"labels": {**labels, **platform.identity.pod_labels}, "annotations": annotations},
        "spec": {
            "serviceAccountName": service_account,
            # No API token in the pod: the identity webhooks project their own audience-bound token.
            "automountServiceAccountToken": False,
            # Service env vars would inject VLLM_PORT=tcp://… for a Service named vllm and break vLLM.
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": timings.grace_seconds(serving.max_request_seconds),
            "nodeSelector": dict(gpu.node_selector),
            "tolerations": [t.as_k8s() for t in gpu.tolerations],
            "securityContext": pod_security(uid),
            **({"initContainers": init_containers} if init_containers else {}),
            "containers": [vllm],
            "volumes": volumes,
        },
    }


def _plus_gi(quantity: str, extra_gi: int) -> str:
    """`quantity` + extra_gi GiB, as a quantity: exact decimal arithmetic (no float rounding, no
    exponent form); Gi stays Gi, other units become bytes (rounded up: a limit never shrinks)."""
    if quantity.endswith("Gi"):
        total = Decimal(quantity[:-2]) + extra_gi
        return f"{total.normalize():f}Gi"
    units = {"Mi": 2**20, "Ki": 2**10, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    unit = next((u for u in units if quantity.endswith(u)), "")
    number = Decimal(quantity[: len(quantity) - len(unit)]) * units.get(unit, 1)
    return str(math.ceil(number + extra_gi * 2**30))
