"""What the stack costs per hour and month, from config alone: GPU nodes plus the always-on parts.

The always-on parts (system nodes, NAT, private endpoints, the control-plane fee, the registry) come from the
cloud's own `footprint.py`, the same numbers its platform code creates, so the estimate cannot
drift from what is deployed. Prices are in `infra.catalog`, each with its source and date.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra import catalog, clouds, fit

if TYPE_CHECKING:
    from infra.config.schema import StackConfig

HOURS_PER_MONTH = 730  # the convention of the AWS, GCP and Azure price calculators
_EXCLUDES = "disks, load balancers, storage, data processed/transferred, logs, autoscaled extra system nodes, taxes"


@dataclass(frozen=True)
class Footprint:
    """The billable parts a platform runs whatever the load (counts, not prices)."""

    system_type: str  # CPU node type of the always-on system pool
    system_nodes: int  # how many of them at rest
    control_planes: int  # billed cluster fees (0 on a free tier)
    nat_gateways: int = 0  # NAT billed per gateway-hour (AWS, Azure)
    nat_per_vm: bool = False  # NAT billed per VM that uses it (GCP Cloud NAT)
    endpoints: int = 0  # private endpoint-hours (AWS interface endpoint x AZ, Azure Private Endpoint)
    registries: int = 0  # registries billed per registry-day (ACR Premium)
    registry_gb: int = 0  # GB the stack's registry stores, billed per GB-month (ECR, Artifact Registry)
    notes: tuple[str, ...] = ()

    def counts(self, gpu_nodes: int) -> dict[str, int]:
        """Units of each `catalog.FixedPart` key with `gpu_nodes` GPU nodes running."""
        nat = gpu_nodes + self.system_nodes if self.nat_per_vm else self.nat_gateways
        return {
            "control-plane": self.control_planes,
            "nat": nat,
            "endpoints": self.endpoints,
            "registry": self.registries,
            "registry-storage": self.registry_gb,
        }


def footprint(cfg: StackConfig) -> Footprint:
    return clouds.part(cfg.cloud, "footprint").footprint(cfg)


def _nodes(cfg: StackConfig, replicas: int) -> int:
    per_node = max(1, cfg.gpu_instance.gpus // cfg.model.tensor_parallel_size)
    per_replica = cfg.model.pipeline_parallel_size  # a multi-node replica: a group of this many nodes
    return min(cfg.gpu.max_nodes, max(cfg.gpu.min_nodes, math.ceil(replicas / per_node) * per_replica))


def _line(item: str, count: int, each: float, source: str) -> dict[str, Any]:
    return {
        "item": item,
        "count": count,
        "usdPerHourEach": each,
        "usdPerHour": round(each * count, 4),
        "source": source,
    }


def _fixed_lines(cfg: StackConfig, parts: Footprint, gpu_nodes: int) -> list[dict[str, Any]]:
    prices = catalog.fixed_parts(cfg.cloud)
    lines = [
        _line(prices[key].label, count, prices[key].usd_per_hour, f"{prices[key].source} ({prices[key].as_of})")
        for key, count in parts.counts(gpu_nodes).items()
        if count and key in prices
    ]
    system = catalog.SYSTEM_NODE_PRICES.get(parts.system_type)
    if system:
        lines.append(
            _line(
                f"system node {parts.system_type}",
                parts.system_nodes,
                system.on_demand,
                f"{system.source} ({system.as_of})",
            )
        )
    return lines


def _scenario(cfg: StackConfig, parts: Footprint, replicas: int) -> dict[str, Any]:
    price = cfg.gpu_instance.price
    nodes = _nodes(cfg, replicas)
    fixed = _fixed_lines(cfg, parts, nodes)
    fixed_hour = sum(line["usdPerHour"] for line in fixed)

    def totals(node_price: float) -> dict[str, float]:
        hour = nodes * node_price + fixed_hour
        return {"perHour": round(hour, 2), "perMonth": round(hour * HOURS_PER_MONTH, 2)}

    return {
        "replicas": replicas,
        "gpuNodes": nodes,
        "fixed": fixed,
        "fixedPerHour": round(fixed_hour, 4),
        "onDemand": totals(price.on_demand) if price else None,
        "spot": totals(price.spot) if price and price.spot is not None else None,
    }


def cost(cfg: StackConfig) -> dict[str, Any]:
    """$/hour and $/month at min and max replicas: GPU nodes plus the fixed parts (JSON-ready)."""
    instance, price, parts = cfg.gpu_instance, cfg.gpu_instance.price, footprint(cfg)
    notes = []
    if cfg.region != catalog.REFERENCE_REGION[cfg.cloud]:
        notes.append(f"prices are for {catalog.REFERENCE_REGION[cfg.cloud]}; {cfg.region} may differ")
    if cfg.gpu.spot and (price is None or price.spot is None):
        notes.append("spot price unknown for this type: the on-demand figure is the upper bound")
    if parts.system_type not in catalog.SYSTEM_NODE_PRICES:
        notes.append(f"system node type {parts.system_type} has no catalog price: not in the totals")
    notes.extend(parts.notes)
    pp = cfg.model.pipeline_parallel_size
    capacity = cfg.gpu.max_nodes // pp * max(1, instance.gpus // cfg.model.tensor_parallel_size)
    if cfg.serving.replicas.max > capacity:
        each = f" ({pp} nodes each)" if pp > 1 else ""
        notes.append(f"gpu.maxNodes {cfg.gpu.max_nodes} holds only {capacity} replica(s){each} of {instance.name}")
    return {
        "currency": "USD",
        "estimate": True,
        "referenceRegion": catalog.REFERENCE_REGION[cfg.cloud],
        "hoursPerMonth": HOURS_PER_MONTH,
        "billing": "spot" if cfg.gpu.spot else "on-demand",
        "instance": {
            "type": instance.name,
            **({"nodesPerReplica": pp} if pp > 1 else {}),
            "onDemandPerHour": price.on_demand if price else None,
            "spotPerHour": price.spot if price else None,
            "source": f"{price.source} ({price.as_of})" if price else None,
            "priceIsEstimate": price.estimate if price else True,
        },
        "atMinReplicas": _scenario(cfg, parts, cfg.serving.replicas.min),
        "atMaxReplicas": _scenario(cfg, parts, cfg.serving.replicas.max),
        "excludes": _EXCLUDES,
        "notes": notes,
    }


def cost_summary(cfg: StackConfig) -> dict[str, Any]:
    """The stack output: estimated USD/hour at min and max replicas in the stack's billing mode."""
    full = cost(cfg)
    mode = "spot" if full["billing"] == "spot" and full["atMinReplicas"]["spot"] else "onDemand"
    return {
        "estimate": True,
        "billing": full["billing"],
        "usdPerHourAtMinReplicas": full["atMinReplicas"][mode]["perHour"],
        "usdPerHourAtMaxReplicas": full["atMaxReplicas"][mode]["perHour"],
        "usdPerMonthAtMinReplicas": full["atMinReplicas"][mode]["perMonth"],
    }


def report(cfg: StackConfig) -> dict[str, Any]:
    """The plan's sizing section: the fit of the configured (or auto-chosen) type, and the cost."""
    model = cfg.model
    f = fit.fit(
        model,
        cfg.gpu_instance,
        model.tensor_parallel_size,
        cfg.serving.gpu_memory_utilization,
        model.pipeline_parallel_size,
    )
    return {"fit": {**f.as_dict(cfg.model), "auto": cfg.gpu.auto_selected}, "cost": cost(cfg)}
