"""Custom-mode VPC, the node subnet with Private Google Access and the GKE secondary ranges,
and (as a switch) Cloud Router + Cloud NAT for internet egress.

Nodes have no external IPs, so without NAT they reach only Google APIs (through Private Google
Access). The VPC keeps its default internet-gateway route: Private Google Access and the
private.googleapis.com VIPs are reached through it even when no NAT exists (no internet path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_gcp as gcp

# 5-second aggregation, half of the flows sampled (the API default), with metadata
# (VM, GKE pod and service names): who talked to whom, for the audit trail.
FLOW_LOGS = {"aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"}
PODS_RANGE = "pods"
SERVICES_RANGE = "services"


@dataclass(frozen=True)
class NetworkArgs:
    region: str
    cidr: str  # node subnet
    pods_cidr: str
    services_cidr: str
    egress: Literal["nat", "none"]


class Network(pulumi.ComponentResource):
    vpc: gcp.compute.Network
    subnet: gcp.compute.Subnetwork

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = gcp.compute.Network(
            f"{name}-vpc",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            delete_default_routes_on_create=False,  # Private Google Access needs the default route
            description="llm-landing-zone: private GKE nodes",
            opts=child,
        )
        self.subnet = gcp.compute.Subnetwork(
            f"{name}-nodes",
            network=self.vpc.id,
            region=args.region,
            ip_cidr_range=args.cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                {"range_name": PODS_RANGE, "ip_cidr_range": args.pods_cidr},
                {"range_name": SERVICES_RANGE, "ip_cidr_range": args.services_cidr},
            ],
            # VPC flow logs (pulumi-gcp SubnetworkLogConfig; an in-place update on a live subnet).
            log_config=FLOW_LOGS,
            opts=child,
        )
        self.nat: gcp.compute.RouterNat | None = None
        if args.egress == "nat":
            router = gcp.compute.Router(f"{name}-router", network=self.vpc.id, region=args.region, opts=child)
            self.nat = gcp.compute.RouterNat(
                f"{name}-nat",
                router=router.name,
                region=args.region,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                log_config={"enable": True, "filter": "ERRORS_ONLY"},
                opts=child,
            )
        self.register_outputs({"network": self.vpc.id, "subnetwork": self.subnet.id})
