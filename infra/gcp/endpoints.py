"""The private path from the cluster to Google APIs (GCS weights, token exchange, image pulls).

Private Google Access on the subnet lets nodes without external IPs reach Google APIs. By default
(`gcp.googleApis: private`) the VPC also resolves `*.googleapis.com`, `*.gcr.io` and `*.pkg.dev`
to the private.googleapis.com VIPs (199.36.153.8/30) through Cloud DNS private zones, with an
explicit route to them: API traffic then has one small, fixed destination range, which the
serving NetworkPolicy can allow instead of all of the internet. `restricted` uses the VPC Service
Controls VIPs instead; `default` keeps the public API addresses (still over Private Google Access).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from infra.platform import EgressRule

# Google's documented VIP ranges for Private Google Access.
VIPS = {
    "private": (
        "private.googleapis.com",
        "199.36.153.8/30",
        ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"],
    ),
    "restricted": (
        "restricted.googleapis.com",
        "199.36.153.4/30",
        ["199.36.153.4", "199.36.153.5", "199.36.153.6", "199.36.153.7"],
    ),
}
# Domains served on the VIPs that nodes and pods use: APIs, and container images (gcr.io, pkg.dev).
DOMAINS = ("googleapis.com", "gcr.io", "pkg.dev")

# GKE metadata server: Workload Identity tokens (port 80), and its Dataplane V2 endpoint (988).
METADATA_EGRESS = (
    EgressRule("169.254.169.254/32", (80,), "GKE metadata server: Workload Identity access tokens"),
    EgressRule("169.254.169.252/32", (988,), "GKE metadata server (Dataplane V2 / Workload Identity)"),
)


@dataclass(frozen=True)
class GoogleApisArgs:
    network: pulumi.Input[str]  # VPC id
    mode: Literal["private", "restricted", "default"]


class GoogleApis(pulumi.ComponentResource):
    """Route + DNS for the Google API VIPs; `egress` says what serving pods must be able to reach."""

    egress: tuple[EgressRule, ...]

    def __init__(self, name: str, args: GoogleApisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:GoogleApis", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.mode == "default":
            self.egress = (
                EgressRule(
                    "0.0.0.0/0", (443,), "Google APIs (GCS weights) on public addresses via Private Google Access"
                ),
                *METADATA_EGRESS,
            )
            self.register_outputs({})
            return
        host, cidr, addresses = VIPS[args.mode]
        gcp.compute.Route(
            f"{name}-vip-route",
            network=args.network,
            dest_range=cidr,
            next_hop_gateway="default-internet-gateway",  # stays inside Google's network for the VIPs
            priority=900,
            description=f"{host}: Private Google Access VIPs",
            opts=child,
        )
        for domain in DOMAINS:
            label = domain.replace(".", "-")
            zone = gcp.dns.ManagedZone(
                f"{name}-{label}",
                dns_name=f"{domain}.",
                visibility="private",
                private_visibility_config={"networks": [{"network_url": args.network}]},
                description=f"{domain} -> {host} (Private Google Access)",
                opts=child,
            )
            apex = f"{host}." if domain == "googleapis.com" else f"{domain}."
            gcp.dns.RecordSet(
                f"{name}-{label}-a",
                managed_zone=zone.name,
                name=apex,
                type="A",
                ttl=300,
                rrdatas=addresses,
                opts=child,
            )
            gcp.dns.RecordSet(
                f"{name}-{label}-cname",
                managed_zone=zone.name,
                name=f"*.{domain}.",
                type="CNAME",
                ttl=300,
                rrdatas=[apex],
                opts=child,
            )
        self.egress = (EgressRule(cidr, (443,), f"Google APIs (GCS weights, STS) via {host}"), *METADATA_EGRESS)
        self.register_outputs({"vipRange": cidr})
