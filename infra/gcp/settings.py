"""GCP's own config section and the checks only GCP can make: SDK-free (no pulumi_gcp import)."""

from __future__ import annotations

import ipaddress
import typing
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from infra.config.base import Cidr, Section
from infra.config.errors import key_error

if TYPE_CHECKING:
    from infra.config.schema import StackConfig

# How CI may reach the GKE API (cluster.apiAccess): the IP endpoint for apiAllowedCidrs, or the
# IAM-authenticated DNS endpoint (the IP endpoint stays, restricted to apiAllowedCidrs).
API_ACCESS = ("cidr", "dns")


class GcpConfig(Section):
    """GCP-only settings; only `project` is required (docs/gcp.md lists them)."""

    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    # direct: IAM on the KSA's principal:// (no annotation); gsa: impersonate a Google service account.
    identity_mode: Literal["direct", "gsa"] = "direct"
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = "REGULAR"
    gpu_driver_version: Literal["LATEST", "DEFAULT"] = "LATEST"  # GKE installs driver + device plugin
    # Secondary ranges of the node subnet (VPC-native); must not overlap network.cidr or each other.
    pods_cidr: Cidr = ipaddress.IPv4Network("10.64.0.0/14")
    services_cidr: Cidr = ipaddress.IPv4Network("10.68.0.0/20")
    # Unset: PSC-based control plane (GKE >= 1.29). A /28 here means the legacy VPC-peering model.
    master_ipv4_cidr_block: Cidr | None = None
    # private.googleapis.com (default) / restricted.googleapis.com (VPC-SC) VIPs with DNS, or the
    # default domains over Private Google Access only.
    google_apis: Literal["private", "restricted", "default"] = "private"
    node_zones: tuple[typing.Annotated[str, Field(pattern=r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")], ...] = ()  # () = GKE picks
    system_machine_type: str = Field(default="e2-standard-2", pattern=r"^[a-z][a-z0-9]*-[a-z0-9-]+$")
    gpu_disk_gb: int | None = Field(default=None, ge=50, le=65536)  # None: sized from the model

    @field_validator("master_ipv4_cidr_block")
    @classmethod
    def _slash_28(cls, v: ipaddress.IPv4Network | None) -> ipaddress.IPv4Network | None:
        if v is not None and v.prefixlen != 28:
            raise ValueError("GKE needs a /28 for the control plane range (e.g. 172.16.0.0/28), or leave it unset")
        return v

    @model_validator(mode="after")
    def _ranges_disjoint(self) -> GcpConfig:
        ranges = self.secondary_ranges()
        for i, (a, net_a) in enumerate(ranges.items()):
            for b, net_b in list(ranges.items())[i + 1 :]:
                if net_a.overlaps(net_b):
                    raise ValueError(f"{a} ({net_a}) overlaps {b} ({net_b}); the ranges must be disjoint")
        return self

    def secondary_ranges(self) -> dict[str, ipaddress.IPv4Network]:
        """The ranges outside network.cidr, by config key."""
        ranges = {"podsCidr": self.pods_cidr, "servicesCidr": self.services_cidr}
        if self.master_ipv4_cidr_block is not None:
            ranges["masterIpv4CidrBlock"] = self.master_ipv4_cidr_block
        return ranges


def default() -> GcpConfig:
    raise key_error("gcp", "(missing)", "required for cloud=gcp: an object with project")


def check(cfg: StackConfig) -> None:
    """Cross-section checks: zones in the stack's region, secondary ranges disjoint from network.cidr."""
    assert cfg.gcp is not None
    for i, zone in enumerate(cfg.gcp.node_zones):
        if not zone.startswith(f"{cfg.region}-"):
            raise key_error(f"gcp.nodeZones[{i}]", zone, f"not a zone of region {cfg.region}")
    for key, net in cfg.gcp.secondary_ranges().items():
        if net.overlaps(cfg.network.cidr):
            raise key_error(
                f"gcp.{key}", str(net), f"overlaps network.cidr ({cfg.network.cidr}); pick a disjoint range"
            )
