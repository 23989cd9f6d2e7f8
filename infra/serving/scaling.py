"""Autoscaling and disruption specs.

HPA (autoscaling/v2), not a KEDA ScaledObject: it is core API (schema-validated, no operator or
CRD to install), and every cloud's custom-metrics adapter (prometheus-adapter, GKE's managed
Prometheus adapter, Azure's managed Prometheus + adapter) serves a per-pod metric to it. KEDA's
edge is scale-to-zero, which a GPU server with a multi-minute cold start should not do for
interactive traffic; `serving.replicas.min` is therefore >= 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from infra.config.schema import ServingConfig


def hpa_spec(serving: ServingConfig, deployment: pulumi.Input[str], scale_down_window: int) -> dict[str, Any]:
    scaling = serving.autoscaling
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicas": serving.replicas.min,
        "maxReplicas": serving.replicas.max,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": scaling.metric},
                    "target": {"type": "AverageValue", "averageValue": str(scaling.target_per_replica)},
                },
            }
        ],
        "behavior": {
            # Out fast (one replica a minute: each needs a GPU node anyway) ...
            "scaleUp": {
                "stabilizationWindowSeconds": 0,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
            },
            # ... in slowly: a replica given back costs a full cold start to get again.
            "scaleDown": {
                "stabilizationWindowSeconds": scale_down_window,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}],
            },
        },
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
