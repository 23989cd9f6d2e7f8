"""What the Azure platform always runs, in numbers: read by the platform code and by the cost estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from infra.cost import Footprint

if TYPE_CHECKING:
    from infra.config.schema import StackConfig


def sla_tier(cfg: StackConfig) -> Literal["Free", "Standard"]:
    """AKS tier: Standard (financially backed SLA, billed) for prod, Free for dev."""
    return "Standard" if cfg.environment == "prod" else "Free"


def footprint(cfg: StackConfig) -> Footprint:
    assert cfg.azure is not None
    free = sla_tier(cfg) == "Free"
    return Footprint(
        system_type=cfg.azure.system_vm_size,
        system_nodes=cfg.azure.system_node_count,
        control_planes=0 if free else 1,
        nat_gateways=1 if cfg.network.egress == "nat" else 0,
        endpoints=2,  # the Private Endpoints of the weights account (blob) and of the registry
        registries=1,  # the Premium container registry (infra/azure/registry.py), its storage included
        notes=(
            *(("AKS Free tier (dev): no control-plane fee; prod uses the Standard tier",) if free else ()),
            *(
                ("Advanced Container Networking Services (azure.tokenEgress fqdn) is billed per node, not included",)
                if cfg.azure.token_egress == "fqdn"
                else ()
            ),
        ),
    )
