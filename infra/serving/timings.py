"""Timings and volume sizes derived from the model, so no probe or grace period is a magic number.

The throughput and overhead constants are stated assumptions (see docs/serving.md): conservative
on purpose, because a startupProbe that is too short kills a healthy pod mid-load and restarts the
whole load, while one that is too long only delays noticing a truly stuck pod.
"""

from __future__ import annotations

import math

from infra.fit import WEIGHTS_HEADROOM

# Reading safetensors into GPU memory, from the node's disk (init-container pull) or streamed from
# the bucket (runai_streamer): 100 MB/s is a floor for a gp3/pd-balanced/Premium SSD root disk.
ASSUMED_LOAD_GBPS = 0.1
# The init container's download from the bucket (parallel ranged reads through the private path).
ASSUMED_PULL_GBPS = 0.1
# vLLM after the weights are in: CUDA init, torch.compile, CUDA-graph capture, KV-cache profiling.
ENGINE_WARMUP_S = 300
# A GPU node from zero (autoscaler + boot + driver/device plugin) and the ~10 GB vLLM image pull.
NODE_PROVISION_S = 300
IMAGE_PULL_S = 300
PROBE_PERIOD_S = 10
# Between preStop starting and endpoints/kube-proxy/LB no longer sending new requests to the pod.
DEREGISTER_S = 15
# vLLM's own shutdown after the last request (engine core and workers exit).
SHUTDOWN_S = 30
# Disk for compile/JIT caches (torch inductor, triton, flashinfer) and for temp files.
CACHE_GI = 8
TMP_GI = 2
# /dev/shm per GPU: NCCL and vLLM's shared-memory broadcast between tensor-parallel workers.
SHM_GI_PER_GPU = 2
HPA_MAX_WINDOW_S = 3600  # the API's upper bound for stabilizationWindowSeconds


def gib(gigabytes: float) -> int:
    """Whole GiB that hold `gigabytes` (1e9 bytes), rounded up."""
    return max(1, math.ceil(gigabytes * 1e9 / 2**30))


def weights_volume_gi(weights_gb: float) -> int:
    return gib(weights_gb * WEIGHTS_HEADROOM)


def startup_seconds(weights_gb: float) -> int:
    """How long vLLM may take from container start to /health: load at the assumed rate + warm-up."""
    return ENGINE_WARMUP_S + math.ceil(weights_gb / ASSUMED_LOAD_GBPS)


def startup_failure_threshold(weights_gb: float) -> int:
    return math.ceil(startup_seconds(weights_gb) / PROBE_PERIOD_S)


def cold_start_seconds(weights_gb: float, pulls: bool) -> int:
    """A new replica from no node to ready: node, image, (weights download), load and warm-up."""
    download = math.ceil(weights_gb / ASSUMED_PULL_GBPS) if pulls else 0
    return NODE_PROVISION_S + IMAGE_PULL_S + download + startup_seconds(weights_gb)


def scale_down_window_seconds(weights_gb: float, pulls: bool) -> int:
    """Longer than a cold start: a dip shorter than that is not worth giving a replica back for."""
    return min(HPA_MAX_WINDOW_S, 60 * math.ceil(cold_start_seconds(weights_gb, pulls) / 60) + 60)


def grace_seconds(max_request_seconds: int) -> int:
    """terminationGracePeriodSeconds: deregistration, the longest request, then vLLM's own exit."""
    return DEREGISTER_S + max_request_seconds + SHUTDOWN_S


def shm_gi(gpus: int) -> int:
    return SHM_GI_PER_GPU * gpus


# First deploy: the staging Job copies the model from the Hugging Face Hub into the bucket. Rates
# are floors (a NAT gateway and the hub's CDN usually do better), so the deadline is rarely the limit.
STAGE_START_S = 300  # Job pod scheduled (a system node may have to scale up) and the puller image pulled
ASSUMED_HUB_GBPS = 0.025  # download from the hub, one file at a time
ASSUMED_PUSH_GBPS = 0.05  # upload to the bucket (overlaps the next download; counted in full anyway)
STAGE_AWAIT_MARGIN_S = 120  # Pulumi waits this much past the Job's deadline, so the Job's own failure is reported
ASSUMED_MAX_SHARD_GB = 10  # largest single file of a model repo (safetensors shards are 2-10 GB)
STAGE_FILES_ON_DISK = 2  # one file uploading while the next downloads


def stage_deadline_seconds(weights_gb: float) -> int:
    """The staging Job's activeDeadlineSeconds: start, download and upload of the whole model."""
    return STAGE_START_S + math.ceil(weights_gb / ASSUMED_HUB_GBPS) + math.ceil(weights_gb / ASSUMED_PUSH_GBPS)


def stage_await_seconds(weights_gb: float) -> int:
    """How long `pulumi up` waits for the Job (the provider's default for a Job is 10 minutes)."""
    return stage_deadline_seconds(weights_gb) + STAGE_AWAIT_MARGIN_S


def stage_scratch_gi(weights_gb: float) -> int:
    """The Job's scratch disk: two files in flight, never more than the model itself."""
    return min(weights_volume_gi(weights_gb), gib(STAGE_FILES_ON_DISK * ASSUMED_MAX_SHARD_GB) + 1)


def pull_wait_seconds(weights_gb: float) -> int:
    """How long the init container waits for a missing manifest: as long as a staging run may take,
    so a replica started while the weights are being (re)staged waits for them instead of crash-looping."""
    return stage_deadline_seconds(weights_gb)
