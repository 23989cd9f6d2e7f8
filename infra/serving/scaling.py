"""Autoscaling and disruption specs.

A KEDA ScaledObject on vLLM's queue, read from the cloud's managed Prometheus (infra/keda.py says
why KEDA on all three clouds): KEDA owns the HPA and feeds it the queue per replica. No scale to
zero: a GPU replica's cold start is minutes (weights pull plus load), and nothing here holds
requests while one starts, so `serving.replicas.min` is >= 1 and the queue metric, which is empty
when no pod runs, never has to wake a replica.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from infra.config.schema import ServingConfig
from infra.platform import QueueScaler


def _matchers(labels: Mapping[str, str]) -> str:
    return ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))


def behavior(scale_down_window: int) -> dict[str, Any]:
    """The HPA's pace: out fast (one replica a minute: each needs a GPU node anyway), in slowly (a
    replica given back costs a full cold start to get again)."""
    return {
        "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
        "scaleDown": {
            "stabilizationWindowSeconds": scale_down_window,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}],
        },
    }


def queue_query(serving: ServingConfig, namespace: str, served_name: str, scaler: QueueScaler) -> pulumi.Output[str]:
    """The stack's waiting requests, summed over its replicas (KEDA divides by the replica count:
    the trigger's metricType is AverageValue, its default for this scaler)."""
    fixed = {"namespace": namespace, "model_name": served_name}
    extra = pulumi.Output.from_input(dict(scaler.series_labels))
    return extra.apply(lambda more: f"sum({serving.autoscaling.metric}{{{_matchers({**fixed, **more})}}})")


def scaled_object_spec(
    serving: ServingConfig,
    deployment: pulumi.Input[str],
    hpa_name: str,
    scale_down_window: int,
    scaler: QueueScaler,
    query: pulumi.Input[str],
    auth: pulumi.Input[str],
) -> dict[str, Any]:
    """keda.sh/v1alpha1 ScaledObject spec (keda-docs content/docs/2.20/reference/scaledobject-spec.md,
    scalers/prometheus.md)."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicaCount": serving.replicas.min,
        "maxReplicaCount": serving.replicas.max,
        "pollingInterval": 15,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                # The HPA keeps the name the stack's own HPA had, so KEDA adopts it (the transfer
                # annotation on the ScaledObject) instead of its webhook refusing a second HPA on
                # the Deployment while `up` still holds the old one.
                "name": hpa_name,
                "behavior": behavior(scale_down_window),
            }
        },
        "triggers": [
            {
                "type": "prometheus",
                "metricType": "AverageValue",
                "metadata": {
                    **dict(scaler.metadata),
                    "serverAddress": scaler.server_address,
                    "query": query,
                    "threshold": str(serving.autoscaling.target_per_replica),
                    # No series (no request since the pods started) is no queue, not an error.
                    "ignoreNullValues": "true",
                },
                "authenticationRef": {"name": auth},
            }
        ],
    }


def pdb_spec(serving: ServingConfig, selector: Mapping[str, str]) -> dict[str, Any]:
    """Drains, upgrades and the autoscaler may take one replica at a time, never more.

    With `replicas.min >= 2` one replica always stays ready. With one replica the budget still
    allows that one eviction: a budget that allows none stalls every managed node upgrade (GKE
    waits an hour on it, then evicts anyway; an AKS pool whose drain times out goes Failed, see
    learn.microsoft.com "error-code-poddrainfailure"), so a single-replica stack takes a cold start
    in its maintenance window instead. Zero-downtime upgrades need `serving.replicas.min >= 2`.
    """
    spec: dict[str, Any] = {"selector": {"matchLabels": dict(selector)}}
    if serving.replicas.min >= 2:
        spec["minAvailable"] = serving.replicas.min - 1
    else:
        spec["maxUnavailable"] = 1
    # A pod that is not ready serves nothing; letting it go cannot hurt and unblocks drains.
    spec["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
    return spec
