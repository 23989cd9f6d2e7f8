"""GCP's own config section and the checks only GCP can make: SDK-free (no pulumi_gcp import)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import typing
from typing import TYPE_CHECKING, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from infra.config.base import Cidr, Section
from infra.config.errors import key_error

if TYPE_CHECKING:
    from infra.config.schema import StackConfig

# How CI may reach the GKE API (cluster.apiAccess): the IP endpoint for apiAllowedCidrs, or the
# IAM-authenticated DNS endpoint (the IP endpoint stays, restricted to apiAllowedCidrs).
API_ACCESS = ("cidr", "dns")

# A Google IAM member for a person, a group or a service account (cloud.google.com/iam/docs/
# principal-identifiers): the kinds an admin can be. No domain:/allUsers: too broad for an admin.
_MEMBER = re.compile(r"(user|group|serviceAccount):[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _member(v: str) -> str:
    if not _MEMBER.fullmatch(v):
        raise ValueError("need a Google member: group:<email>, user:<email> or serviceAccount:<email>")
    return v


Member = typing.Annotated[str, AfterValidator(_member)]
# GKE: a maintenance window's occurrences last >= 4 h, and it must leave >= 48 h of maintenance
# availability in any 32 days (cloud.google.com/kubernetes-engine/docs/concepts/maintenance-windows-and-exclusions).
MIN_WINDOW = dt.timedelta(hours=4)
NO_UPGRADES_MAX = dt.timedelta(days=30)  # GKE: "no upgrades" exclusions last up to 30 days (same docs page)
# The _Default log bucket's retention (gcp.logRetentionDays): "custom retention" of 1 to 3650 days
# (cloud.google.com/logging/docs/buckets; LogBucket.retentionDays: "The minimum retention period is 1 day").
LOG_RETENTION_DAYS = (1, 3650)
MAX_EXCLUSIONS = 20  # "A cluster can have up to 20 maintenance exclusions" (ClusterMaintenancePolicyArgs docstring)
_RFC3339_Z = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"  # GKE returns UTC: Z avoids a diff
Utc = typing.Annotated[str, Field(pattern=_RFC3339_Z)]
# RFC 5545 RRULE as GKE takes it, e.g. FREQ=WEEKLY;BYDAY=SA,SU or FREQ=DAILY.
_RRULE = r"^FREQ=(DAILY|WEEKLY|MONTHLY)(;[A-Z]+=[A-Z0-9,+-]+)*$"


MIN_AVAILABLE_32_DAYS = dt.timedelta(hours=48)


def _occurrences_in_32_days(rrule: str) -> int:
    """The fewest occurrences of a DAILY / WEEKLY(;BYDAY=..) / MONTHLY rule in any 32 days (other
    parts, e.g. INTERVAL, are left to GKE: this is a floor check, not an RRULE engine)."""
    parts = dict(p.split("=", 1) for p in rrule.split(";"))
    text = parts.get("INTERVAL", "1")
    interval = int(text) if text.isdigit() and len(text) < 6 else 0
    if interval < 1:
        raise ValueError(f"INTERVAL={text} is not a positive number")
    if parts["FREQ"] == "DAILY":
        return 32 // interval
    if parts["FREQ"] == "WEEKLY":
        days = len(parts["BYDAY"].split(",")) if "BYDAY" in parts else 1
        return days * (4 // interval)
    return 1 if interval == 1 else 0


def _utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


class MaintenanceWindow(Section):
    """When GKE may upgrade: a recurring window (first occurrence start/end, RRULE recurrence)."""

    # Default: Saturday and Sunday 02:00-08:00 UTC (12 h a week, 48+ h in any 32 days).
    start: Utc = "2026-01-03T02:00:00Z"
    end: Utc = "2026-01-03T08:00:00Z"
    recurrence: str = Field(default="FREQ=WEEKLY;BYDAY=SA,SU", pattern=_RRULE)

    @model_validator(mode="after")
    def _long_enough(self) -> MaintenanceWindow:
        length = _utc(self.end) - _utc(self.start)
        if length < MIN_WINDOW:
            raise ValueError(f"end - start is {length}; GKE needs each window to last at least 4 hours")
        available = length * _occurrences_in_32_days(self.recurrence)
        if available < MIN_AVAILABLE_32_DAYS:
            raise ValueError(
                f"{self.recurrence} with {length} windows gives {available.total_seconds() / 3600:g} h in 32 days; "
                "GKE needs at least 48 hours of maintenance windows in any 32 days"
            )
        return self


class MaintenanceExclusion(Section):
    """A period without upgrades (a launch, a freeze): GKE's maintenance exclusion."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    start: Utc
    end: Utc
    # NO_UPGRADES (at most 30 days), NO_MINOR_UPGRADES, NO_MINOR_OR_NODE_UPGRADES (pulumi-gcp
    # ClusterMaintenancePolicyMaintenanceExclusionExclusionOptions.scope).
    scope: Literal["NO_UPGRADES", "NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES"] = "NO_MINOR_OR_NODE_UPGRADES"

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceExclusion:
        if _utc(self.end) <= _utc(self.start):
            raise ValueError(f"end ({self.end}) is not after start ({self.start})")
        if self.scope == "NO_UPGRADES" and _utc(self.end) - _utc(self.start) > NO_UPGRADES_MAX:
            raise ValueError("a NO_UPGRADES exclusion lasts at most 30 days; use NO_MINOR_OR_NODE_UPGRADES for longer")
        return self


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
    # Who operates the cluster and the weights, from config only (never the caller): Google members
    # (group:/user:/serviceAccount:) get GKE cluster and node-pool management + Kubernetes API
    # access, and read/write on the weights bucket. The deployer is not derived or granted here.
    admin_members: tuple[Member, ...] = ()
    # Other projects whose Artifact Registry holds the node images (serving.image, pullerImage):
    # the node SA gets artifactregistry.reader and serviceusage.serviceUsageConsumer there too
    # (image streaming: "in the project that hosts the container images", GKE image-streaming docs).
    image_projects: tuple[typing.Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")], ...] = ()
    maintenance_window: MaintenanceWindow = MaintenanceWindow()
    maintenance_exclusions: tuple[MaintenanceExclusion, ...] = Field(default=(), max_length=MAX_EXCLUSIONS)
    # Workload Identity's pool is project-wide (<project>.svc.id.goog): any other GKE cluster in the
    # project with a pod as serving.namespace/serviceAccount can read the weights. The project must
    # be dedicated to this stack; true acknowledges that it is shared (never in prod).
    insecure_shared_project: bool = False
    # How long the project's _Default log bucket keeps container, system, control-plane and Data
    # Access audit logs (Cloud Logging includes 30 days; longer is billed per GiB-month).
    log_retention_days: int = Field(default=90, ge=LOG_RETENTION_DAYS[0], le=LOG_RETENTION_DAYS[1])

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
    """Cross-section checks: zones in the stack's region, secondary ranges disjoint from network.cidr,
    unique exclusion names, no shared project in prod."""
    assert cfg.gcp is not None
    for i, zone in enumerate(cfg.gcp.node_zones):
        if not zone.startswith(f"{cfg.region}-"):
            raise key_error(f"gcp.nodeZones[{i}]", zone, f"not a zone of region {cfg.region}")
    if cfg.model.pipeline_parallel_size > 1 and not cfg.gcp.node_zones:  # infra/gcp/gpu_pool.py: compact placement
        raise key_error(
            "gcp.nodeZones",
            [],
            f"model.pipelineParallelSize {cfg.model.pipeline_parallel_size} places the GPU pool compactly in one "
            "zone: list the zones (the first one, which must offer the GPU type, is the GPU pool's)",
        )
    for key, net in cfg.gcp.secondary_ranges().items():
        if net.overlaps(cfg.network.cidr):
            raise key_error(
                f"gcp.{key}", str(net), f"overlaps network.cidr ({cfg.network.cidr}); pick a disjoint range"
            )
    for i, other in enumerate(cfg.gcp.image_projects):
        if other == cfg.gcp.project or other in cfg.gcp.image_projects[:i]:
            raise key_error(f"gcp.imageProjects[{i}]", other, "listed twice or is gcp.project itself (always granted)")
    names = [e.name for e in cfg.gcp.maintenance_exclusions]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise key_error(f"gcp.maintenanceExclusions[{i}].name", name, "used twice; exclusion names are unique")
    if cfg.gcp.insecure_shared_project and cfg.environment == "prod":
        raise key_error(
            "gcp.insecureSharedProject",
            True,
            "not allowed when environment=prod: give the stack its own project "
            "(Workload Identity's pool is project-wide)",
        )
