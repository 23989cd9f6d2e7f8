"""What a stack may say: the sections of `llm-landing-zone:*` config, with their defaults.

Defaults live here (and, for a cloud's own section, in `infra/<cloud>/settings.py`) and only
here; the README's config reference mirrors them. Rules that span sections are in `checks`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from infra import catalog, fit
from infra.aws.settings import AwsConfig
from infra.azure.settings import AzureConfig
from infra.config.base import DNS_LABEL, QUANTITY, Labels, PinnedImage, Section
from infra.config.errors import key_error
from infra.conventions import PULLER_IMAGE, VLLM_IMAGE
from infra.gcp.settings import GcpConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # where Pulumi.yaml lives: relative paths start here


class NetworkConfig(Section):
    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.40.0.0/16")
    egress: Literal["nat", "none"] = "nat"


class ClusterConfig(Section):
    kubernetes_version: str = Field(pattern=r"^1\.\d{2}$")
    api_allowed_cidrs: tuple[ipaddress.IPv4Network, ...] = Field(min_length=1)
    deletion_protection: bool | None = None  # None: on for prod, off for dev
    # How CI reaches the Kubernetes API (docs/first-deploy.md): cidr = from apiAllowedCidrs only;
    # dns = GKE's IAM-authenticated DNS endpoint; runner = a CI runner inside the network (EKS, AKS),
    # built by the stack's `<stack>-bootstrap` stack. Each cloud lists what it offers (API_ACCESS).
    api_access: Literal["cidr", "dns", "runner"] = "cidr"

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _version_is_text(cls, v: Any) -> Any:
        if isinstance(v, float):
            raise ValueError(f'quote it ("{v}" in YAML is a float); expected a string like "1.33"')
        return v


class GpuPoolConfig(Section):
    instance_type: str  # a catalog type of the stack's cloud, or "auto": the cheapest one that fits the model
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int = Field(default=1, ge=1)
    spot: bool = False

    @property
    def auto_selected(self) -> bool:
        """True when instanceType was `auto` and `infra.config.resolve` chose `instance_type`."""
        return False

    @model_validator(mode="after")
    def _min_le_max(self) -> GpuPoolConfig:
        if self.min_nodes > self.max_nodes:
            raise ValueError(
                f"minNodes ({self.min_nodes}) is greater than maxNodes ({self.max_nodes}); "
                "need 0 <= minNodes <= maxNodes"
            )
        return self


class AutoGpuPoolConfig(GpuPoolConfig):
    """The GPU pool after `resolve` replaced `instanceType: auto` with the cheapest fitting type."""

    @property
    def auto_selected(self) -> bool:
        return True


class ModelConfig(Section):
    name: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")  # Hugging Face id, e.g. org/model
    params_billions: float = Field(gt=0)
    dtype: Literal["bfloat16", "float16", "float32", "fp8", "int8", "int4"] = "bfloat16"
    weights_prefix: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")
    served_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    max_model_len: int = Field(default=8192, ge=128)
    tensor_parallel_size: int = Field(default=1, ge=1)
    max_num_seqs: int = Field(default=16, ge=1)  # concurrent sequences: vLLM --max-num-seqs, KV-cache sizing
    # Folder with the model's Hugging Face config.json (relative to the project): exact KV-cache shape.
    hf_config_dir: Path | None = None

    @field_validator("hf_config_dir")
    @classmethod
    def _has_config_json(cls, v: Path | None) -> Path | None:
        if v is None:
            return None
        folder = v if v.is_absolute() else PROJECT_ROOT / v
        fit.read_hf_config(folder)  # ValueError (one line) when missing or incomplete
        return folder

    @property
    def weights_gb(self) -> float:
        """Size of the weights in GB (1e9 bytes), from parameter count and dtype."""
        return self.params_billions * fit.WEIGHT_BYTES[self.dtype]


class Replicas(Section):
    min: int = Field(default=1, ge=1)
    max: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _min_le_max(self) -> Replicas:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max}); need 1 <= min <= max")
        return self


class ServingPeer(Section):
    """Pods allowed to reach the API (port 8000): a namespace, optionally narrowed by pod labels."""

    namespace: str = Field(pattern=DNS_LABEL)
    pod_labels: Labels = {}


class ServingAutoscaling(Section):
    """HPA on vLLM's queue, served per pod by a custom-metrics adapter (prometheus-adapter, GMP, ...)."""

    metric: str = Field(default="vllm:num_requests_waiting", pattern=r"^[A-Za-z_:|][A-Za-z0-9_:|./-]*$")
    target_per_replica: int = Field(default=2, ge=1)  # average waiting requests per replica before scaling out


class ServingMetrics(Section):
    scrape_annotations: bool = True  # prometheus.io/scrape|port|path on the pod
    service_monitor: bool = False  # a monitoring.coreos.com ServiceMonitor: needs the Prometheus Operator CRDs
    scraper: ServingPeer = ServingPeer(namespace="monitoring")  # where the scraper runs (NetworkPolicy)


class ServingResources(Section):
    """CPU and memory of the vLLM container (GPUs come from the Platform); memory is also its limit."""

    cpu: str = Field(default="2", pattern=QUANTITY)
    memory: str = Field(default="12Gi", pattern=r"^[0-9]+(\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?$")


class ServingConfig(Section):
    namespace: str = Field(default="llm", pattern=DNS_LABEL)
    service_account: str = Field(default="vllm", pattern=DNS_LABEL)
    replicas: Replicas = Replicas()
    # Pinned tag, never :latest — what was planned is what runs.
    image: PinnedImage = VLLM_IMAGE
    load_format: Literal["pull", "runai_streamer"] = "pull"
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    enable_prefix_caching: bool = True
    expose: Literal["cluster-ip", "internal-lb", "public-lb"] = "cluster-ip"
    # Our init-container image (weights/Dockerfile, ENTRYPOINT llz), pushed to your registry; pinned.
    puller_image: PinnedImage = PULLER_IMAGE
    # Longest generation to let finish on rollout / scale-down: sizes preStop + terminationGracePeriodSeconds.
    max_request_seconds: int = Field(default=600, ge=10, le=7200)
    allowed_clients: tuple[ServingPeer, ...] = ()  # in-cluster callers; empty: none (port-forward still works)
    # Callers through the load balancer; required for internal-lb; public-lb without it is open to all.
    allowed_cidrs: tuple[ipaddress.IPv4Network, ...] = ()
    autoscaling: ServingAutoscaling = ServingAutoscaling()
    metrics: ServingMetrics = ServingMetrics()
    resources: ServingResources = ServingResources()
    run_as_user: int = Field(default=10001, ge=1)  # non-root UID/GID for every container (> 10000: no host clash)

    @model_validator(mode="after")
    def _lb_needs_callers(self) -> ServingConfig:
        # public-lb is checked against insecure.publicLoadBalancer first, in infra.config.checks.
        if self.expose == "internal-lb" and not self.allowed_cidrs:
            raise key_error(
                "serving.allowedCidrs",
                [],
                f"expose={self.expose} needs the caller CIDRs (e.g. your VPC/VNet or office range): "
                "they become the load balancer's source ranges and the NetworkPolicy's ipBlocks",
            )
        return self


class InsecureConfig(Section):
    """Explicit, named opt-outs of the secure defaults. All off; prod stacks may not set them."""

    public_api_endpoint: bool = False  # allow 0.0.0.0/0 in cluster.apiAllowedCidrs
    public_load_balancer: bool = False  # allow serving.expose = public-lb


class StackConfig(Section):
    # workload: the whole program. bootstrap: `<workload>-bootstrap`, only the network and CI runner
    # of cluster.apiAccess=runner; its config is the workload's stack file under its own keys.
    role: Literal["workload", "bootstrap"] = "workload"
    cloud: catalog.Cloud
    region: str = Field(pattern=r"^[a-z]+[a-z0-9-]*[a-z0-9]$")
    environment: Literal["dev", "prod"] = "dev"
    network: NetworkConfig = NetworkConfig()
    cluster: ClusterConfig
    gpu: GpuPoolConfig
    model: ModelConfig
    serving: ServingConfig = ServingConfig()
    # Each cloud's own section; only the stack's cloud may be set (checks), and resolve fills it in.
    aws: AwsConfig | None = None
    gcp: GcpConfig | None = None
    azure: AzureConfig | None = None
    insecure: InsecureConfig = InsecureConfig()
    # The private key (PEM) of the GitHub App that registers Azure runners: a Pulumi secret, set in
    # the bootstrap stack's own file (`pulumi config set --secret githubAppKey < app.pem`).
    github_app_key: str | None = None

    @property
    def gpu_instance(self) -> catalog.GpuInstance:
        return catalog.instances(self.cloud)[self.gpu.instance_type]

    @property
    def deletion_protection(self) -> bool:
        explicit = self.cluster.deletion_protection
        return self.environment == "prod" if explicit is None else explicit

    def section(self, cloud: catalog.Cloud) -> Section | None:
        """The named cloud's own section (`aws`, `gcp` or `azure`) as written."""
        return getattr(self, cloud)
