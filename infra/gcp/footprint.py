"""What the GCP platform always runs, in numbers: read by the platform code and by the cost estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.catalog import REGISTRY_GB
from infra.cost import HOURS_PER_MONTH, Footprint

if TYPE_CHECKING:
    from infra.config.schema import StackConfig

# A regional cluster's node pools span three zones of the region unless node_locations says
# otherwise ("By default, GKE replicates each node pool across three zones of the control
# plane's region": cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters).
DEFAULT_ZONES = 3
# System pool autoscaling bounds, per zone (GKE's min_node_count/max_node_count are per zone).
SYSTEM_MIN_PER_ZONE, SYSTEM_MAX_PER_ZONE = 1, 3


# Google Cloud Observability list prices (cloud.google.com/stackdriver/pricing, read 2026-12):
# Managed Service for Prometheus bills samples ingested ($0.06 per million for the first 50 billion
# a month); Cloud Logging bills $0.50/GiB streamed into log buckets beyond 50 GiB per project a
# month (30 days of storage included) and $0.01/GiB a month for logs kept longer than 30 days.
PRICING = "cloud.google.com/stackdriver/pricing (2026-12)"
USD_PER_MILLION_SAMPLES = 0.06
LOGGING_FREE_GIB, LOGGING_USD_PER_GIB, LOGGING_INCLUDED_DAYS, RETENTION_USD_PER_GIB_MONTH = 50, 0.50, 30, 0.01
# One vLLM server's /metrics: about this many series (its histograms' buckets dominate; an order
# of magnitude, not a measurement), scraped every 15 s by the PodMonitoring.
VLLM_SERIES_PER_REPLICA, SCRAPE_SECONDS = 500, 15


def metrics_usd_per_month_per_replica() -> float:
    """vLLM's samples of one replica in a month, at the Managed Service for Prometheus price."""
    samples = VLLM_SERIES_PER_REPLICA * 3600 / SCRAPE_SECONDS * HOURS_PER_MONTH
    return samples / 1e6 * USD_PER_MILLION_SAMPLES


def observability_notes(cfg: StackConfig) -> tuple[str, ...]:
    """What metrics and logs cost, by volume: not in the totals (they depend on load and log volume)."""
    assert cfg.gcp is not None
    days = cfg.gcp.log_retention_days
    extra = max(0, days - LOGGING_INCLUDED_DAYS)
    return (
        f"metrics (Managed Service for Prometheus, {PRICING}): ~${metrics_usd_per_month_per_replica():.2f}/month per "
        f"replica for ~{VLLM_SERIES_PER_REPLICA} vLLM series every {SCRAPE_SECONDS} s at "
        f"${USD_PER_MILLION_SAMPLES}/million samples, plus GKE's kube-state and DCGM series; not in the totals",
        f"logs (Cloud Logging, {PRICING}): first {LOGGING_FREE_GIB} GiB/month free, then ${LOGGING_USD_PER_GIB}/GiB; "
        f"gcp.logRetentionDays {days} keeps them {extra} days past the {LOGGING_INCLUDED_DAYS} included "
        f"(${RETENTION_USD_PER_GIB_MONTH}/GiB/month); not in the totals",
    )


def zones(cfg: StackConfig) -> int:
    assert cfg.gcp is not None
    return len(cfg.gcp.node_zones) or DEFAULT_ZONES


def footprint(cfg: StackConfig) -> Footprint:
    assert cfg.gcp is not None
    return Footprint(
        system_type=cfg.gcp.system_machine_type,
        system_nodes=SYSTEM_MIN_PER_ZONE * zones(cfg),
        control_planes=1,
        nat_per_vm=cfg.network.egress == "nat",  # Cloud NAT bills per VM that uses it
        notes=observability_notes(cfg),
        registry_gb=REGISTRY_GB,  # the Artifact Registry remote repositories (infra/gcp/registry.py)
    )
