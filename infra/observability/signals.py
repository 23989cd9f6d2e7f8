"""The series the rules, the dashboard and the HPA read, named once.

vLLM's names are checked against a real vLLM `/metrics` scrape in the e2e tier
(tests/test_serving_vllm.py), so a rename upstream fails a test instead of silencing an alert.
GPU series come from NVIDIA's DCGM exporter, pod state from kube-state-metrics; neither runs here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    """One metric and the labels a query selects it by."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()
    source: str = "vllm"  # vllm | dcgm | kube-state-metrics

    def select(self, **extra: str) -> str:
        matchers = [*self.labels, *sorted(extra.items())]
        inner = ",".join(f'{k}="{v}"' for k, v in matchers)
        return f"{self.name}{{{inner}}}" if inner else self.name


# vLLM (v1 engine), labelled model_name=<served name> and engine.
WAITING = Series("vllm:num_requests_waiting")
RUNNING = Series("vllm:num_requests_running")
TTFT = Series("vllm:time_to_first_token_seconds_bucket")
LATENCY = Series("vllm:e2e_request_latency_seconds_bucket")
GENERATION_TOKENS = Series("vllm:generation_tokens_total")
PROMPT_TOKENS = Series("vllm:prompt_tokens_total")
REQUESTS = Series("vllm:request_success_total")
KV_CACHE = Series("vllm:kv_cache_usage_perc")

# NVIDIA DCGM exporter (percent, MiB); `Hostname` is the node.
GPU_UTIL = Series("DCGM_FI_DEV_GPU_UTIL", source="dcgm")
GPU_MEMORY_USED = Series("DCGM_FI_DEV_FB_USED", source="dcgm")
GPU_MEMORY_FREE = Series("DCGM_FI_DEV_FB_FREE", source="dcgm")

# kube-state-metrics.
WAITING_REASON = Series("kube_pod_container_status_waiting_reason", source="kube-state-metrics")
INIT_WAITING_REASON = Series("kube_pod_init_container_status_waiting_reason", source="kube-state-metrics")

VLLM = (WAITING, RUNNING, TTFT, LATENCY, GENERATION_TOKENS, PROMPT_TOKENS, REQUESTS, KV_CACHE)
