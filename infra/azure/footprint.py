"""What the Azure platform always runs, in numbers: read by the platform code and by the cost estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from infra.cost import Footprint

if TYPE_CHECKING:
    from infra.config.schema import StackConfig


def sla_tier(cfg: StackConfig) -> Literal["Free", "Standard"]:
    """AKS tier: Standard (financially backed SLA, billed) for prod, Free for dev."""
    return "Standard" if cfg.environment == "prod" else "Free"


# Azure Monitor list prices (azure.microsoft.com/pricing/details/monitor, .../managed-grafana; regional, pay as
# you go): usage-billed, so notes rather than hourly lines.
PROMETHEUS_PRICE = "managed Prometheus (Azure Monitor workspace): about $0.16 per 10 million samples ingested"
LOGS_PRICE = "Container Insights logs: Log Analytics Analytics logs about $2.30/GB ingested (first 5 GB/month free)"
GRAFANA_PRICE = (
    "Azure Managed Grafana Standard (azure.managedGrafana): about $0.069/h per instance plus $6 per active user"
)


def monitoring_notes(cfg: StackConfig) -> tuple[str, ...]:
    """What the monitoring parts cost (usage-billed: not in the hourly totals)."""
    assert cfg.azure is not None
    grafana = (f"{GRAFANA_PRICE}, not in the totals",) if cfg.azure.managed_grafana else ()
    return (f"{PROMETHEUS_PRICE}, not in the totals", f"{LOGS_PRICE}, not in the totals", *grafana)


def footprint(cfg: StackConfig) -> Footprint:
    assert cfg.azure is not None
    free = sla_tier(cfg) == "Free"
    return Footprint(
        system_type=cfg.azure.system_vm_size,
        system_nodes=cfg.azure.system_node_count,
        control_planes=0 if free else 1,
        nat_gateways=1 if cfg.network.egress == "nat" else 0,
        # The Private Endpoints of the weights account (blob), the registry and the Azure Monitor workspace's
        # Prometheus query endpoint (infra/azure/monitoring.py).
        endpoints=3,
        registries=1,  # the Premium container registry (infra/azure/registry.py), its storage included
        notes=(
            *monitoring_notes(cfg),
            *(("AKS Free tier (dev): no control-plane fee; prod uses the Standard tier",) if free else ()),
            *(
                ("Advanced Container Networking Services (azure.tokenEgress fqdn) is billed per node, not included",)
                if cfg.azure.token_egress == "fqdn"
                else ()
            ),
        ),
    )
