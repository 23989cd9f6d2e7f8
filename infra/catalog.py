"""GPU instance types each cloud offers for inference, with hardware facts and list prices.

Config validation uses it to reject a non-GPU instance type, platforms use it for GPU counts and
accelerator names, and `infra.fit` / `infra.cost` use the memory and prices for the fit check, the `auto`
choice and the plan's cost estimate. Hardware: shared/reference/CLOUD-WIRING.md section 6 (vendor
tables). Prices: on-demand USD/hour, Linux, one reference region per cloud (`REFERENCE_REGION`);
every price names its source and date, and `estimate=True` marks third-party or derived figures.
Prices drift: the plan prints them as estimates; check the cloud's pricing API before buying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Cloud = Literal["aws", "gcp", "azure"]
CLOUDS: tuple[Cloud, ...] = get_args(Cloud)

REFERENCE_REGION: dict[Cloud, str] = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}

# Usable memory per GPU in MiB as `nvidia-smi` reports it (memory.total), which is what vLLM's
# gpu_memory_utilization is a fraction of; the vendor's "24 GB" is not the same number.
# Observed nvidia-smi totals: T4 15360, A10G 23028, L4 23034, L40S 46068, A100-40GB 40960,
# A100-80GB 81920, H100 SXM 81559, H200 143771 (e.g. nvidia-smi output quoted in public repos).
GPU_MEMORY_MIB: dict[str, int] = {
    "T4": 15360,
    "A10G": 23028,
    "L4": 23034,
    "L40S": 46068,
    "A100-40GB": 40960,
    "A100-80GB": 81920,
    "H100-80GB": 81559,
    "H200-141GB": 143771,
}


@dataclass(frozen=True)
class Price:
    """On-demand (and, where known, spot) USD/hour in the cloud's reference region."""

    on_demand: float
    source: str
    as_of: str  # when the source gave this figure (YYYY-MM)
    estimate: bool = False  # third-party, derived or conflicting sources: treat as a rough figure
    spot: float | None = None  # spot/preemptible prices move daily: always an estimate


@dataclass(frozen=True)
class GpuInstance:
    cloud: Cloud
    name: str
    gpu_model: str
    gpus: int
    gpu_memory_gb: int  # per GPU, as the vendor sells it
    vcpus: int
    memory_gib: int
    accelerator: str = ""  # GKE guest-accelerator type; empty on AWS/Azure
    price: Price | None = None

    @property
    def gpu_memory_gib(self) -> float:
        """Usable memory per GPU (GiB) as the driver reports it."""
        return GPU_MEMORY_MIB[self.gpu_model] / 1024


# Sources (full references in docs/sizing.md).
_VANTAGE = "instances.vantage.sh us-east-1 Linux on-demand, as tabulated in public repo cost tables"
_AWS_P_CUT = "AWS June-2025 P4/P5 on-demand price cut applied to the prior list price (usage.ai, cloudurable.com)"
_FACTUALMINDS = "factualminds.com, Amazon EC2 On-Demand Pricing (2026)"
_AWS_P4D = "post-June-2025 list price; cloudurable.com and a public repo rate table (2026-08) agree"
_AWS_P5E = "public repo cost table; p5e is sold mostly as capacity blocks"
_GCP_ULTRA = "GCP us-central1 list price as tabulated in public repos (two agree)"
_GCP_TABLE = "cloud.google.com accelerator-optimized pricing, us-central1, as tabulated in a public repo"
_AZURE_API = "Azure Retail Prices API (prices.azure.com) East US Linux PAYG, as quoted in public repo docs"
_AZURE_TABLES = "Azure East US Linux PAYG as tabulated in several public repos (they agree)"
_AZURE_EST = "Azure East US Linux PAYG as quoted in a few public cost tables; verify"
# ND H200 v5 (8 x H200 141 GB, 96 vCPU, 1850 GiB: learn.microsoft.com sizes/gpu-accelerated/nd-h200-v5-series).
_AZURE_H200 = "a public repo's compute price comparison (updated 2026-04-20): ~$84.80 in West US 3, not East US; verify"


def _p(on_demand: float, source: str, as_of: str, spot: float | None = None) -> Price:
    return Price(on_demand, source, as_of, spot=spot)


def _est(on_demand: float, source: str, as_of: str) -> Price:
    return Price(on_demand, source, as_of, estimate=True)


def _aws(name: str, model: str, gpus: int, mem: int, vcpus: int, ram: int, price: Price) -> GpuInstance:
    return GpuInstance("aws", name, model, gpus, mem, vcpus, ram, price=price)


def _gcp(name: str, accel: str, model: str, gpus: int, mem: int, vcpus: int, ram: int, price: Price) -> GpuInstance:
    return GpuInstance("gcp", name, model, gpus, mem, vcpus, ram, accel, price)


def _az(name: str, model: str, gpus: int, mem: int, vcpus: int, ram: int, price: Price) -> GpuInstance:
    return GpuInstance("azure", name, model, gpus, mem, vcpus, ram, price=price)


CATALOG: tuple[GpuInstance, ...] = (
    _aws("g4dn.xlarge", "T4", 1, 16, 4, 16, _p(0.526, _VANTAGE, "2025-11", spot=0.16)),
    _aws("g5.xlarge", "A10G", 1, 24, 4, 16, _p(1.006, _FACTUALMINDS, "2026-06", spot=0.30)),
    _aws("g5.2xlarge", "A10G", 1, 24, 8, 32, _p(1.212, _VANTAGE, "2025-11")),
    _aws("g5.12xlarge", "A10G", 4, 24, 48, 192, _p(5.672, _VANTAGE, "2025-11")),
    _aws("g5.48xlarge", "A10G", 8, 24, 192, 768, _p(16.288, _VANTAGE, "2025-11")),
    _aws("g6.xlarge", "L4", 1, 24, 4, 16, _p(0.805, _VANTAGE, "2025-11")),
    _aws("g6.2xlarge", "L4", 1, 24, 8, 32, _est(0.978, _VANTAGE, "2025-11")),
    _aws("g6.12xlarge", "L4", 4, 24, 48, 192, _p(4.602, _VANTAGE, "2025-11")),
    _aws("g6.48xlarge", "L4", 8, 24, 192, 768, _p(13.35, _VANTAGE, "2025-11")),
    _aws("g6e.xlarge", "L40S", 1, 48, 4, 32, _p(1.861, _VANTAGE, "2025-11")),
    _aws("g6e.12xlarge", "L40S", 4, 48, 48, 384, _p(10.493, _VANTAGE, "2025-11")),
    _aws("g6e.48xlarge", "L40S", 8, 48, 192, 1536, _p(30.131, _VANTAGE, "2025-11")),
    _aws("p4d.24xlarge", "A100-40GB", 8, 40, 96, 1152, _p(21.958, _AWS_P4D, "2026-08")),
    _aws("p4de.24xlarge", "A100-80GB", 8, 80, 96, 1152, _est(27.45, _AWS_P_CUT, "2025-06")),
    _aws("p5.48xlarge", "H100-80GB", 8, 80, 192, 2048, _est(55.04, _AWS_P_CUT, "2025-06")),
    _aws("p5e.48xlarge", "H200-141GB", 8, 141, 192, 2048, _est(84.80, _AWS_P5E, "2025-11")),
    _gcp("g2-standard-4", "nvidia-l4", "L4", 1, 24, 4, 16, _p(0.708, _GCP_TABLE, "2026-07")),
    _gcp("g2-standard-8", "nvidia-l4", "L4", 1, 24, 8, 32, _p(0.854, _GCP_TABLE, "2026-07", spot=0.33)),
    _gcp("g2-standard-24", "nvidia-l4", "L4", 2, 24, 24, 96, _p(2.000, _GCP_TABLE, "2026-07")),
    _gcp("g2-standard-48", "nvidia-l4", "L4", 4, 24, 48, 192, _p(4.000, _GCP_TABLE, "2026-07")),
    _gcp("g2-standard-96", "nvidia-l4", "L4", 8, 24, 96, 384, _p(7.999, _GCP_TABLE, "2026-07")),
    _gcp("a2-highgpu-1g", "nvidia-tesla-a100", "A100-40GB", 1, 40, 12, 85, _p(3.673, _GCP_TABLE, "2026-07")),
    _gcp("a2-highgpu-2g", "nvidia-tesla-a100", "A100-40GB", 2, 40, 24, 170, _p(7.347, _GCP_TABLE, "2026-07")),
    _gcp("a2-highgpu-4g", "nvidia-tesla-a100", "A100-40GB", 4, 40, 48, 340, _p(14.694, _GCP_TABLE, "2026-07")),
    _gcp("a2-highgpu-8g", "nvidia-tesla-a100", "A100-40GB", 8, 40, 96, 680, _p(29.387, _GCP_TABLE, "2026-07")),
    _gcp("a2-ultragpu-1g", "nvidia-a100-80gb", "A100-80GB", 1, 80, 12, 170, _p(5.069, _GCP_ULTRA, "2025-11")),
    _gcp("a2-ultragpu-8g", "nvidia-a100-80gb", "A100-80GB", 8, 80, 96, 1360, _p(40.55, _GCP_ULTRA, "2025-11")),
    _gcp("a3-highgpu-8g", "nvidia-h100-80gb", "H100-80GB", 8, 80, 208, 1872, _p(88.494, _GCP_TABLE, "2026-07")),
    _gcp("a3-ultragpu-8g", "nvidia-h200-141gb", "H200-141GB", 8, 141, 224, 2952, _p(84.807, _GCP_ULTRA, "2025-11")),
    _az("Standard_NC4as_T4_v3", "T4", 1, 16, 4, 28, _p(0.526, _AZURE_API, "2025-11")),
    _az("Standard_NC8as_T4_v3", "T4", 1, 16, 8, 56, _p(0.752, _AZURE_TABLES, "2025-11")),
    _az("Standard_NC64as_T4_v3", "T4", 4, 16, 64, 440, _p(4.352, _AZURE_TABLES, "2025-11")),
    _az("Standard_NC24ads_A100_v4", "A100-80GB", 1, 80, 24, 220, _p(3.673, _AZURE_API, "2025-11", spot=0.75)),
    _az("Standard_NC48ads_A100_v4", "A100-80GB", 2, 80, 48, 440, _p(7.346, _AZURE_TABLES, "2025-11")),
    _az("Standard_NC96ads_A100_v4", "A100-80GB", 4, 80, 96, 880, _p(14.692, _AZURE_TABLES, "2025-11")),
    _az("Standard_ND96asr_v4", "A100-40GB", 8, 40, 96, 900, _p(27.197, _AZURE_TABLES, "2025-11")),
    _az("Standard_ND96amsr_A100_v4", "A100-80GB", 8, 80, 96, 1900, _p(32.768, _AZURE_TABLES, "2025-11")),
    _az("Standard_ND96isr_H100_v5", "H100-80GB", 8, 80, 96, 1900, _est(98.32, _AZURE_EST, "2025-11")),
    _az("Standard_ND96isr_H200_v5", "H200-141GB", 8, 141, 96, 1850, _est(84.80, _AZURE_H200, "2026-04")),
)


# The inter-node fabric for GPU collectives of the types that serve one replica from several nodes
# (fit.cheapest_group considers only these; without such a fabric NCCL falls back to TCP sockets over
# the primary NIC, and pipeline stages spend their time waiting on it):
# - efa: Elastic Fabric Adapter with GPUDirect RDMA: p4d/p4de 4 x 100 Gbps, p5/p5e 32 x 100 Gbps
#   (docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa.html, "Supported instance types");
# - gpudirect-tcpx: A3 High, 4 extra gVNICs for GPU traffic through the TCPX NCCL plug-in;
#   gpudirect-rdma: A3 Ultra, 8 RoCE NICs (cloud.google.com/kubernetes-engine/docs/how-to/gpu-bandwidth-gpudirect-tcpx,
#   .../gpu-bandwidth-gpudirect-rdma);
# - infiniband: ND A100 v4 8 x 200 Gb HDR, ND H100/H200 v5 8 x 400 Gb NDR (learn.microsoft.com
#   azure/virtual-machines/sizes/gpu-accelerated/nd*-series).
FABRIC: dict[str, str] = {
    "p4d.24xlarge": "efa",
    "p4de.24xlarge": "efa",
    "p5.48xlarge": "efa",
    "p5e.48xlarge": "efa",
    "a3-highgpu-8g": "gpudirect-tcpx",
    "a3-ultragpu-8g": "gpudirect-rdma",
    "Standard_ND96asr_v4": "infiniband",
    "Standard_ND96amsr_A100_v4": "infiniband",
    "Standard_ND96isr_H100_v5": "infiniband",
    "Standard_ND96isr_H200_v5": "infiniband",
}


# On-demand USD/hour of the CPU types the platforms use for the always-on system pool (reference regions).
_CPU_TABLES = "public repo price tables (several agree)"
SYSTEM_NODE_PRICES: dict[str, Price] = {
    "m6i.large": _p(0.096, f"EC2 us-east-1, {_CPU_TABLES}", "2025-11"),
    "m6i.xlarge": _p(0.192, f"EC2 us-east-1, {_CPU_TABLES}", "2025-11"),
    "m5.large": _p(0.096, f"EC2 us-east-1, {_CPU_TABLES}", "2025-11"),
    "e2-standard-2": _p(0.067, f"GCE us-central1, {_CPU_TABLES}", "2025-11"),
    "e2-standard-4": _p(0.134, f"GCE us-central1, {_CPU_TABLES}", "2025-11"),
    "Standard_D2ds_v5": _p(0.113, f"Azure East US, {_CPU_TABLES}", "2025-11"),
    "Standard_D4ds_v5": _p(0.226, f"Azure East US, {_CPU_TABLES}", "2025-11"),
    "Standard_D4s_v5": _p(0.192, f"Azure East US, {_CPU_TABLES}", "2025-11"),
}


_INSTANCES: dict[Cloud, dict[str, GpuInstance]] = {c: {} for c in CLOUDS}
for _instance in CATALOG:
    _INSTANCES[_instance.cloud][_instance.name] = _instance


def instances(cloud: Cloud) -> dict[str, GpuInstance]:
    """The catalog's GPU instance types of one cloud, by name."""
    return dict(_INSTANCES[cloud])


@dataclass(frozen=True)
class FixedPart:
    """A per-hour charge that does not scale with replicas (cluster fee, NAT, private endpoints).

    The label says what one `usd_per_hour` buys; `infra.cost` multiplies by how many the stack
    has. Usage charges (GB processed, egress) are not included; the plan says so.
    """

    cloud: Cloud
    key: str
    label: str
    usd_per_hour: float
    source: str
    as_of: str = "2025-11"  # when these list prices were read


_AZURE_PRICING = "azure.microsoft.com/pricing/details"
FIXED_PARTS: tuple[FixedPart, ...] = (
    FixedPart("aws", "control-plane", "EKS control plane (standard support)", 0.10, "aws.amazon.com/eks/pricing"),
    FixedPart("aws", "nat", "NAT gateway (+ $0.045/GB processed)", 0.045, "aws.amazon.com/vpc/pricing"),
    FixedPart("aws", "endpoints", "interface endpoint-AZ (+ $0.01/GB)", 0.01, "aws.amazon.com/privatelink/pricing"),
    FixedPart("gcp", "control-plane", "GKE cluster fee", 0.10, "cloud.google.com/kubernetes-engine/pricing"),
    FixedPart("gcp", "nat", "Cloud NAT per VM (+ $0.045/GB processed)", 0.0014, "cloud.google.com/nat/pricing"),
    FixedPart("azure", "control-plane", "AKS Standard tier", 0.10, f"{_AZURE_PRICING}/kubernetes-service"),
    FixedPart("azure", "nat", "NAT gateway (+ $0.045/GB processed)", 0.045, f"{_AZURE_PRICING}/azure-nat-gateway"),
    FixedPart("azure", "endpoints", "private endpoint (+ $0.01/GB)", 0.01, f"{_AZURE_PRICING}/private-link"),
    # The stack's registry (issue 17). ECR and Artifact Registry bill stored GB ($0.10/GB-month, here
    # per GB-hour); the caches themselves cost nothing more (the first pull from the upstream is
    # egress through NAT or free ingress). ACR Premium is billed per registry-day with 500 GB included.
    FixedPart(
        "aws",
        "registry-storage",
        "ECR storage per GB (pull-through cache: no fee)",
        0.10 / 730,
        "aws.amazon.com/ecr/pricing",
        "2026-12",
    ),
    FixedPart(
        "gcp",
        "registry-storage",
        "Artifact Registry storage per GB (first 0.5 GB/month free)",
        0.10 / 730,
        "cloud.google.com/artifact-registry/pricing",
        "2026-12",
    ),
    FixedPart(
        "azure",
        "registry",
        "ACR Premium registry ($1.667/day, 500 GB storage included)",
        1.667 / 24,
        f"{_AZURE_PRICING}/container-registry",
        "2026-12",
    ),
)
# What the registry stores per stack: the vLLM server image, compressed (docker pull of
# vllm/vllm-openai is ~12.6 GB: vllm-project/vllm#27154, discuss.vllm.ai "current vLLM docker image
# size is 12.64GB"; 28.6 GB unpacked: vllm-project/vllm#22377), rounded up with the small images
# (puller, device plugin, autoscaler: < 1 GB together). A cache keeps old versions until its
# lifecycle policy expires them, so a version bump can double this for a while.
REGISTRY_GB = 14


_FIXED: dict[Cloud, dict[str, FixedPart]] = {c: {} for c in CLOUDS}
for _part in FIXED_PARTS:
    _FIXED[_part.cloud][_part.key] = _part


def fixed_parts(cloud: Cloud) -> dict[str, FixedPart]:
    """The per-hour charges of one cloud that do not scale with replicas, by key."""
    return dict(_FIXED[cloud])
