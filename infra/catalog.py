"""GPU instance types each cloud offers for inference, with the hardware facts the program needs.

Config validation uses it to reject a non-GPU instance type, and platforms use it for GPU counts
and accelerator names. Sources: shared/reference/CLOUD-WIRING.md section 6 (vendor tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Cloud = Literal["aws", "gcp", "azure"]


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


def _aws(name: str, model: str, gpus: int, mem: int, vcpus: int, ram: int) -> GpuInstance:
    return GpuInstance("aws", name, model, gpus, mem, vcpus, ram)


def _gcp(name: str, accel: str, model: str, gpus: int, mem: int, vcpus: int, ram: int) -> GpuInstance:
    return GpuInstance("gcp", name, model, gpus, mem, vcpus, ram, accel)


def _az(name: str, model: str, gpus: int, mem: int, vcpus: int, ram: int) -> GpuInstance:
    return GpuInstance("azure", name, model, gpus, mem, vcpus, ram)


CATALOG: tuple[GpuInstance, ...] = (
    _aws("g4dn.xlarge", "T4", 1, 16, 4, 16),
    _aws("g5.xlarge", "A10G", 1, 24, 4, 16),
    _aws("g5.2xlarge", "A10G", 1, 24, 8, 32),
    _aws("g5.12xlarge", "A10G", 4, 24, 48, 192),
    _aws("g5.48xlarge", "A10G", 8, 24, 192, 768),
    _aws("g6.xlarge", "L4", 1, 24, 4, 16),
    _aws("g6.2xlarge", "L4", 1, 24, 8, 32),
    _aws("g6.12xlarge", "L4", 4, 24, 48, 192),
    _aws("g6.48xlarge", "L4", 8, 24, 192, 768),
    _aws("g6e.xlarge", "L40S", 1, 48, 4, 32),
    _aws("g6e.12xlarge", "L40S", 4, 48, 48, 384),
    _aws("g6e.48xlarge", "L40S", 8, 48, 192, 1536),
    _aws("p4d.24xlarge", "A100-40GB", 8, 40, 96, 1152),
    _aws("p4de.24xlarge", "A100-80GB", 8, 80, 96, 1152),
    _aws("p5.48xlarge", "H100-80GB", 8, 80, 192, 2048),
    _aws("p5e.48xlarge", "H200-141GB", 8, 141, 192, 2048),
    _gcp("g2-standard-4", "nvidia-l4", "L4", 1, 24, 4, 16),
    _gcp("g2-standard-8", "nvidia-l4", "L4", 1, 24, 8, 32),
    _gcp("g2-standard-24", "nvidia-l4", "L4", 2, 24, 24, 96),
    _gcp("g2-standard-48", "nvidia-l4", "L4", 4, 24, 48, 192),
    _gcp("g2-standard-96", "nvidia-l4", "L4", 8, 24, 96, 384),
    _gcp("a2-highgpu-1g", "nvidia-tesla-a100", "A100-40GB", 1, 40, 12, 85),
    _gcp("a2-highgpu-2g", "nvidia-tesla-a100", "A100-40GB", 2, 40, 24, 170),
    _gcp("a2-highgpu-4g", "nvidia-tesla-a100", "A100-40GB", 4, 40, 48, 340),
    _gcp("a2-highgpu-8g", "nvidia-tesla-a100", "A100-40GB", 8, 40, 96, 680),
    _gcp("a2-ultragpu-1g", "nvidia-a100-80gb", "A100-80GB", 1, 80, 12, 170),
    _gcp("a2-ultragpu-8g", "nvidia-a100-80gb", "A100-80GB", 8, 80, 96, 1360),
    _gcp("a3-highgpu-8g", "nvidia-h100-80gb", "H100-80GB", 8, 80, 208, 1872),
    _gcp("a3-ultragpu-8g", "nvidia-h200-141gb", "H200-141GB", 8, 141, 224, 2952),
    _az("Standard_NC4as_T4_v3", "T4", 1, 16, 4, 28),
    _az("Standard_NC8as_T4_v3", "T4", 1, 16, 8, 56),
    _az("Standard_NC64as_T4_v3", "T4", 4, 16, 64, 440),
    _az("Standard_NC24ads_A100_v4", "A100-80GB", 1, 80, 24, 220),
    _az("Standard_NC48ads_A100_v4", "A100-80GB", 2, 80, 48, 440),
    _az("Standard_NC96ads_A100_v4", "A100-80GB", 4, 80, 96, 880),
    _az("Standard_ND96asr_v4", "A100-40GB", 8, 40, 96, 900),
    _az("Standard_ND96amsr_A100_v4", "A100-80GB", 8, 80, 96, 1900),
    _az("Standard_ND96isr_H100_v5", "H100-80GB", 8, 80, 96, 1900),
)


def instances(cloud: Cloud) -> dict[str, GpuInstance]:
    """The catalog's GPU instance types of one cloud, by name."""
    return {i.name: i for i in CATALOG if i.cloud == cloud}
