"""The alert rules, defined once as a Prometheus rule file (`groups:`), which every cloud's managed
Prometheus takes as it is: Amazon Managed Service for Prometheus rule groups namespaces, GKE
Managed Prometheus `Rules`, Azure Monitor Prometheus rule groups.

`promtool check rules` and `promtool test rules` run on this output in the tests, with synthetic
series that must fire each alert and must not.
"""

from __future__ import annotations

from typing import Any

from infra.config.schema import AlertsConfig, StackConfig
from infra.conventions import SERVER_CONTAINER, WEIGHTS_CONTAINER
from infra.observability import signals as s

GROUP = "llz-serving"


def _p95(series: s.Series, served: str) -> str:
    return f"histogram_quantile(0.95, sum by (le) (rate({series.select(model_name=served)}[5m])))"


def _rule(name: str, expr: str, for_: str, severity: str, summary: str, stack: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity, "stack": stack},
        "annotations": {"summary": summary},
    }


def rules(cfg: StackConfig, stack: str) -> list[dict[str, Any]]:
    return rules_for(cfg.observability.alerts, cfg.model.served_name, cfg.serving.namespace, stack)


def rules_for(a: AlertsConfig, served: str, ns: str, stack: str) -> list[dict[str, Any]]:
    """The rules for the model served as `served` in namespace `ns`, with `a`'s thresholds."""
    waiting = f"sum({s.WAITING.select(model_name=served)})"
    crash = {"namespace": ns, "reason": "CrashLoopBackOff"}
    q = a.queue_minutes
    return [
        _rule(
            "LlmTimeToFirstTokenSlow",
            f"{_p95(s.TTFT, served)} > {a.ttft_p95_seconds:g}",
            "10m",
            "warning",
            f"p95 time to first token of {served} above the {a.ttft_p95_seconds:g}s SLO for 10 minutes",
            stack,
        ),
        _rule(
            "LlmLatencySlow",
            f"{_p95(s.LATENCY, served)} > {a.latency_p95_seconds:g}",
            "10m",
            "warning",
            f"p95 request latency of {served} above the {a.latency_p95_seconds:g}s SLO for 10 minutes",
            stack,
        ),
        # Waiting requests, and more of them than q minutes ago: the replicas do not keep up
        # (the HPA is at its maximum, or a scale-up is stuck on GPU capacity).
        _rule(
            "LlmQueueGrowing",
            f"{waiting} > 0 and deriv({waiting}[5m:1m]) > 0",
            f"{q}m",
            "warning",
            f"requests queue at {served} and the queue has grown for {q} minutes",
            stack,
        ),
        # Cost: a GPU node that runs but does nothing (a replica idle at the HPA minimum, a node the
        # autoscaler cannot remove).
        _rule(
            "LlmGpuIdle",
            f"avg by (Hostname) ({s.GPU_UTIL.select()}) < {a.gpu_idle_percent}",
            f"{a.gpu_idle_minutes}m",
            "info",
            f"a GPU node has been below {a.gpu_idle_percent}% utilisation for {a.gpu_idle_minutes} minutes",
            stack,
        ),
        _rule(
            "LlmServerCrashLooping",
            f"max by (pod) ({s.WAITING_REASON.select(container=SERVER_CONTAINER, **crash)}) > 0",
            "5m",
            "critical",
            f"the vLLM server in {ns} is crash-looping",
            stack,
        ),
        _rule(
            "LlmWeightsPullFailing",
            f"max by (pod) ({s.INIT_WAITING_REASON.select(container=WEIGHTS_CONTAINER, **crash)}) > 0",
            "5m",
            "critical",
            f"the weights init container in {ns} keeps failing: the model does not reach the server",
            stack,
        ),
    ]


def rule_groups(cfg: StackConfig, stack: str) -> dict[str, Any]:
    """The Prometheus rule file."""
    return groups(rules(cfg, stack))


def groups(rule_list: list[dict[str, Any]]) -> dict[str, Any]:
    return {"groups": [{"name": GROUP, "interval": "1m", "rules": rule_list}]}
