"""What the AWS platform always runs, in numbers: read by the platform code and by the cost estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.catalog import REGISTRY_GB
from infra.cost import Footprint

if TYPE_CHECKING:
    from infra.config.schema import StackConfig

# Interface endpoints in every AZ, always: image pulls from ECR, STS (IRSA, SDK regional
# endpoint), Pod Identity (eks-auth), logs, EC2 (vpc-cni).
INTERFACE_SERVICES = ("ecr.api", "ecr.dkr", "sts", "eks-auth", "logs", "ec2")
# Only reachable through NAT otherwise: load balancer controller and cluster autoscaler (which
# also calls eks:DescribeNodegroup, so the `eks` endpoint too).
NO_EGRESS_SERVICES = ("elasticloadbalancing", "autoscaling", "eks")
# The system node group (cluster add-ons, autoscaler): two for the add-ons' replicas, room for one more.
SYSTEM_MIN, SYSTEM_DESIRED, SYSTEM_MAX = 1, 2, 3


def interface_services(no_egress: bool) -> tuple[str, ...]:
    return INTERFACE_SERVICES + (NO_EGRESS_SERVICES if no_egress else ())


def footprint(cfg: StackConfig) -> Footprint:
    assert cfg.aws is not None
    nat = cfg.network.egress == "nat"
    return Footprint(
        system_type=cfg.aws.system_instance_type,
        system_nodes=SYSTEM_DESIRED,
        control_planes=1,
        nat_gateways=1 if nat else 0,  # one NAT gateway (infra/aws/network.py)
        endpoints=len(interface_services(not nat)) * cfg.aws.availability_zones,
        registry_gb=REGISTRY_GB,  # the ECR pull-through caches (infra/aws/registry.py)
    )
