"""What the GCP platform always runs, in numbers: read by the platform code and by the cost estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.catalog import REGISTRY_GB
from infra.cost import Footprint

if TYPE_CHECKING:
    from infra.config.schema import StackConfig

# A regional cluster's node pools span three zones of the region unless node_locations says
# otherwise ("By default, GKE replicates each node pool across three zones of the control
# plane's region": cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters).
DEFAULT_ZONES = 3
# System pool autoscaling bounds, per zone (GKE's min_node_count/max_node_count are per zone).
SYSTEM_MIN_PER_ZONE, SYSTEM_MAX_PER_ZONE = 1, 3


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
        registry_gb=REGISTRY_GB,  # the Artifact Registry remote repositories (infra/gcp/registry.py)
    )
