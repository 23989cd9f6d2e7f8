"""Typed stack configuration: parsed once, frozen, and validated before any resource exists.

Every bad value becomes ONE line naming the key, the value and what would be valid, raised as
`ConfigError` (a `pulumi.RunError`, so the engine prints it without a traceback and `llz plan`
exits non-zero). Defaults live here and only here; the README's config reference mirrors them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra import catalog, sizing

PROJECT = "llm-landing-zone"
Cloud = Literal["aws", "gcp", "azure"]

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class ConfigError(pulumi.RunError):
    """A stack config value is invalid; the message is one line naming key, value and fix."""


class _Section(BaseModel):
    """Base for config objects: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class NetworkConfig(_Section):
    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.40.0.0/16")
    egress: Literal["nat", "none"] = "nat"


class ClusterConfig(_Section):
    kubernetes_version: str = Field(pattern=r"^1\.\d{2}$")
    api_allowed_cidrs: tuple[ipaddress.IPv4Network, ...] = Field(min_length=1)
    deletion_protection: bool | None = None  # None: on for prod, off for dev

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _version_is_text(cls, v: Any) -> Any:
        if isinstance(v, float):
            raise ValueError(f'quote it ("{v}" in YAML is a float); expected a string like "1.33"')
        return v


class GpuPoolConfig(_Section):
    instance_type: str  # a catalog type of the stack's cloud, or "auto": the cheapest one that fits the model
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int = Field(default=1, ge=1)
    spot: bool = False
    _auto: bool = PrivateAttr(default=False)

    @property
    def auto_selected(self) -> bool:
        """True when instanceType was `auto` and the sizing chose `instance_type`."""
        return self._auto

    @model_validator(mode="after")
    def _min_le_max(self) -> GpuPoolConfig:
        if self.min_nodes > self.max_nodes:
            raise ValueError(
                f"minNodes ({self.min_nodes}) is greater than maxNodes ({self.max_nodes}); "
                "need 0 <= minNodes <= maxNodes"
            )
        return self


class ModelConfig(_Section):
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
        folder = v if v.is_absolute() else Path.cwd() / v  # the program runs in the project folder
        sizing.read_hf_config(folder)  # ValueError (one line) when missing or incomplete
        return folder

    @property
    def weights_gb(self) -> float:
        """Size of the weights in GB (1e9 bytes), from parameter count and dtype."""
        return self.params_billions * sizing.WEIGHT_BYTES[self.dtype]


class Replicas(_Section):
    min: int = Field(default=1, ge=1)
    max: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _min_le_max(self) -> Replicas:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max}); need 1 <= min <= max")
        return self


_PINNED_IMAGE = r"^[^:@\s]+(:[\w.-]+|@sha256:[0-9a-f]{64})$"
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
_LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
_LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
_Labels = dict[typing.Annotated[str, Field(pattern=_LABEL_KEY)], typing.Annotated[str, Field(pattern=_LABEL_VALUE)]]


class ServingPeer(_Section):
    """Pods allowed to reach the API (port 8000): a namespace, optionally narrowed by pod labels."""

    namespace: str = Field(pattern=_DNS_LABEL)
    pod_labels: _Labels = {}


class ServingAutoscaling(_Section):
    """HPA on vLLM's queue, served per pod by a custom-metrics adapter (prometheus-adapter, GMP, ...)."""

    metric: str = Field(default="vllm:num_requests_waiting", pattern=r"^[A-Za-z_:|][A-Za-z0-9_:|./-]*$")
    target_per_replica: int = Field(default=2, ge=1)  # average waiting requests per replica before scaling out


class ServingMetrics(_Section):
    scrape_annotations: bool = True  # prometheus.io/scrape|port|path on the pod
    service_monitor: bool = False  # a monitoring.coreos.com ServiceMonitor: needs the Prometheus Operator CRDs
    scraper: ServingPeer = ServingPeer(namespace="monitoring")  # where the scraper runs (NetworkPolicy)


class ServingResources(_Section):
    """CPU and memory of the vLLM container (GPUs come from the Platform); memory is also its limit."""

    cpu: str = Field(default="2", pattern=_QUANTITY)
    memory: str = Field(default="12Gi", pattern=r"^[0-9]+(\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?$")


class ServingConfig(_Section):
    namespace: str = Field(default="llm", pattern=_DNS_LABEL)
    service_account: str = Field(default="vllm", pattern=_DNS_LABEL)
    replicas: Replicas = Replicas()
    # Pinned tag, never :latest — what was planned is what runs.
    image: str = Field(default="vllm/vllm-openai:v0.11.0", pattern=_PINNED_IMAGE)
    load_format: Literal["pull", "runai_streamer"] = "pull"
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    enable_prefix_caching: bool = True
    expose: Literal["cluster-ip", "internal-lb", "public-lb"] = "cluster-ip"
    # Our init-container image (weights/Dockerfile, ENTRYPOINT llz), pushed to your registry; pinned.
    puller_image: str = Field(default="ghcr.io/llm-landing-zone/llz:0.1.0", pattern=_PINNED_IMAGE)
    # Longest generation to let finish on rollout / scale-down: sizes preStop + terminationGracePeriodSeconds.
    max_request_seconds: int = Field(default=600, ge=10, le=7200)
    allowed_clients: tuple[ServingPeer, ...] = ()  # in-cluster callers; empty: none (port-forward still works)
    # Callers through the load balancer; required for internal-lb; public-lb without it is open to all.
    allowed_cidrs: tuple[ipaddress.IPv4Network, ...] = ()
    autoscaling: ServingAutoscaling = ServingAutoscaling()
    metrics: ServingMetrics = ServingMetrics()
    resources: ServingResources = ServingResources()
    run_as_user: int = Field(default=10001, ge=1)  # non-root UID/GID for every container (> 10000: no host clash)

    @field_validator("image", "puller_image")
    @classmethod
    def _pinned(cls, v: str) -> str:
        if v.endswith(":latest"):
            raise ValueError("use a pinned tag or digest, not :latest (e.g. vllm/vllm-openai:v0.11.0)")
        return v

    @model_validator(mode="after")
    def _lb_needs_callers(self) -> ServingConfig:
        # public-lb is checked against insecure.publicLoadBalancer first, in StackConfig.
        if self.expose == "internal-lb" and not self.allowed_cidrs:
            raise _KeyError(
                "serving.allowedCidrs",
                [],
                f"expose={self.expose} needs the caller CIDRs (e.g. your VPC/VNet or office range): "
                "they become the load balancer's source ranges and the NetworkPolicy's ipBlocks",
            )
        return self


class AwsConfig(_Section):
    """AWS-only settings; all optional, so `aws:` may be omitted (docs/aws.md lists them)."""

    ami_type: Literal["al2023", "bottlerocket"] = "al2023"  # GPU nodes: AL2023_/BOTTLEROCKET_x86_64_NVIDIA
    identity: Literal["pod-identity", "irsa"] = "pod-identity"  # how the serving pod gets its role
    availability_zones: int = Field(default=2, ge=2, le=6)  # private subnets in this many AZs (EKS needs 2)
    system_instance_type: str = Field(default="m6i.large", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    gpu_disk_gib: int | None = Field(default=None, ge=50, le=16384)  # None: sized from the model
    # Principals (roles/users) that get EKS cluster-admin and keep S3 read access from outside the VPC.
    admin_role_arns: tuple[
        typing.Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")], ...
    ] = ()
    # Deny GetObject/ListBucket unless through the S3 gateway endpoint (deployer and admins exempt).
    restrict_reads_to_vpc_endpoint: bool = True
    # Pinned device-plugin image (AL2023 only); point it at an ECR mirror when network.egress is none.
    device_plugin_image: str = Field(
        default="nvcr.io/nvidia/k8s-device-plugin:v0.17.4",
        pattern=r"^[^:@\s]+(:[\w.-]+|@sha256:[0-9a-f]{64})$",
    )

    # EKS has no built-in node autoscaler: without one a GPU group at 0 nodes never grows.
    cluster_autoscaler: bool = True
    # None: the upstream release matching cluster.kubernetesVersion; set an ECR mirror for egress none.
    cluster_autoscaler_image: str | None = Field(default=None, pattern=r"^[^:@\s]+(:[\w.-]+|@sha256:[0-9a-f]{64})$")

    @field_validator("device_plugin_image", "cluster_autoscaler_image")
    @classmethod
    def _images_pinned(cls, v: str | None) -> str | None:
        if v is not None and v.endswith(":latest"):
            raise ValueError("use a pinned tag or digest, not :latest")
        return v


class GcpConfig(_Section):
    """GCP-only settings; only `project` is required (docs/gcp.md lists them)."""

    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    # direct: IAM on the KSA's principal:// (no annotation); gsa: impersonate a Google service account.
    identity_mode: Literal["direct", "gsa"] = "direct"
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = "REGULAR"
    gpu_driver_version: Literal["LATEST", "DEFAULT"] = "LATEST"  # GKE installs driver + device plugin
    # Secondary ranges of the node subnet (VPC-native); must not overlap network.cidr or each other.
    pods_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.64.0.0/14")
    services_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.68.0.0/20")
    # Unset: PSC-based control plane (GKE >= 1.29). A /28 here means the legacy VPC-peering model.
    master_ipv4_cidr_block: ipaddress.IPv4Network | None = None
    # private.googleapis.com (default) / restricted.googleapis.com (VPC-SC) VIPs with DNS, or the
    # default domains over Private Google Access only.
    google_apis: Literal["private", "restricted", "default"] = "private"
    node_zones: tuple[typing.Annotated[str, Field(pattern=r"^[a-z]+-[a-z]+\d+-[a-z]$")], ...] = ()  # () = GKE picks
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
        ranges = {"podsCidr": self.pods_cidr, "servicesCidr": self.services_cidr}
        if self.master_ipv4_cidr_block is not None:
            ranges["masterIpv4CidrBlock"] = self.master_ipv4_cidr_block
        for i, (a, net_a) in enumerate(ranges.items()):
            for b, net_b in list(ranges.items())[i + 1 :]:
                if net_a.overlaps(net_b):
                    raise ValueError(f"{a} ({net_a}) overlaps {b} ({net_b}); the ranges must be disjoint")
        return self


class AzureConfig(_Section):
    """Azure-only settings. Subnet CIDRs default to slices of network.cidr (checked in infra.azure)."""

    subscription_id: str = Field(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )
    # API server without a public endpoint; Pulumi must then run from a network that reaches the VNet.
    private_cluster: bool = False
    node_subnet_cidr: ipaddress.IPv4Network | None = None  # default: first /22 of network.cidr
    endpoint_subnet_cidr: ipaddress.IPv4Network | None = None  # default: the /27 right after the node subnet
    system_vm_size: str = Field(default="Standard_D4ds_v5", pattern=r"^Standard_[A-Za-z0-9_]+$")
    system_node_count: int = Field(default=2, ge=1, le=100)
    # Both keep the pinned minor version (stable/rapid would move it and fight the pinned kubernetesVersion).
    upgrade_channel: Literal["patch", "node-image"] = "patch"
    # Encrypt the weights account with a Key Vault key (purge-protected vault) instead of Microsoft-managed keys.
    customer_managed_key: bool = False


class InsecureConfig(_Section):
    """Explicit, named opt-outs of the secure defaults. All off; prod stacks may not set them."""

    public_api_endpoint: bool = False  # allow 0.0.0.0/0 in cluster.apiAllowedCidrs
    public_load_balancer: bool = False  # allow serving.expose = public-lb


class StackConfig(_Section):
    cloud: Cloud
    region: str = Field(pattern=r"^[a-z]+[a-z0-9-]*[a-z0-9]$")
    environment: Literal["dev", "prod"] = "dev"
    network: NetworkConfig = NetworkConfig()
    cluster: ClusterConfig
    gpu: GpuPoolConfig
    model: ModelConfig
    serving: ServingConfig = ServingConfig()
    aws: AwsConfig | None = None
    gcp: GcpConfig | None = None
    azure: AzureConfig | None = None
    insecure: InsecureConfig = InsecureConfig()

    @property
    def gpu_instance(self) -> catalog.GpuInstance:
        return catalog.instances(self.cloud)[self.gpu.instance_type]

    @property
    def deletion_protection(self) -> bool:
        explicit = self.cluster.deletion_protection
        return self.environment == "prod" if explicit is None else explicit

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        for other in ("aws", "gcp", "azure"):
            if other != self.cloud and getattr(self, other) is not None:
                raise _KeyError(other, "(set)", f"only the {self.cloud} section may be set when cloud={self.cloud}")
        if self.cloud in ("gcp", "azure") and getattr(self, self.cloud) is None:
            required = {"gcp": "project", "azure": "subscriptionId"}[self.cloud]
            raise _KeyError(self.cloud, "(missing)", f"required for cloud={self.cloud}: an object with {required}")
        types = catalog.instances(self.cloud)
        if self.gpu.instance_type != sizing.AUTO and self.gpu.instance_type not in types:
            raise _KeyError(
                "gpu.instanceType",
                self.gpu.instance_type,
                f"not a GPU instance type on {self.cloud}; valid: {sizing.AUTO}, {', '.join(types)}",
            )
        auto = self.gpu.instance_type == sizing.AUTO
        gpus = max(t.gpus for t in types.values()) if auto else types[self.gpu.instance_type].gpus
        if self.model.tensor_parallel_size > gpus:
            node = f"the largest {self.cloud} node" if auto else self.gpu.instance_type
            raise _KeyError(
                "model.tensorParallelSize",
                self.model.tensor_parallel_size,
                f"{node} has {gpus} GPU(s); need 1 <= tensorParallelSize <= {gpus}",
            )
        insecure = self.insecure
        if self.environment == "prod" and (insecure.public_api_endpoint or insecure.public_load_balancer):
            raise _KeyError(
                "insecure",
                insecure.model_dump(by_alias=True),
                "insecure switches are not allowed when environment=prod",
            )
        open_cidrs = [c for c in self.cluster.api_allowed_cidrs if c.prefixlen == 0]
        if open_cidrs and not insecure.public_api_endpoint:
            raise _KeyError(
                "cluster.apiAllowedCidrs",
                str(open_cidrs[0]),
                "opens the Kubernetes API to the internet; list your CIDRs, or set insecure.publicApiEndpoint: true",
            )
        if self.serving.expose == "public-lb" and not insecure.public_load_balancer:
            raise _KeyError(
                "serving.expose",
                "public-lb",
                "a public load balancer needs insecure.publicLoadBalancer: true; "
                "valid secure values: cluster-ip, internal-lb",
            )
        return self

    @model_validator(mode="after")
    def _gpu_fits_model(self) -> StackConfig:
        """Resolve `auto` to the cheapest fitting type (and its TP), or check the chosen type fits."""
        if self.gpu.instance_type != sizing.AUTO:
            reason = sizing.check(self)
            if reason:
                raise _KeyError("gpu.instanceType", self.gpu.instance_type, reason)
            return self
        choice = sizing.choose(self)
        if isinstance(choice, str):
            raise _KeyError("gpu.instanceType", sizing.AUTO, choice)
        gpu = self.gpu.model_copy(update={"instance_type": choice.instance.name})
        gpu._auto = True
        model = self.model.model_copy(update={"tensor_parallel_size": choice.tensor_parallel_size})
        return self.model_copy(update={"gpu": gpu, "model": model})


class _KeyError(Exception):
    """Raised from validators for cross-field problems; pydantic lets non-ValueErrors through."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        super().__init__(key, value, expected)
        self.key, self.value, self.expected = key, value, expected


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _show(value: Any) -> str:
    return json.dumps(value, default=str) if not isinstance(value, str) else repr(value)


def _section_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    """The config class that holds the keys at `loc` (for listing the valid keys there)."""
    section: type[BaseModel] = StackConfig
    for part in (p for p in loc if isinstance(p, str)):
        field = next(f for n, f in section.model_fields.items() if (f.alias or n) == part)
        options = typing.get_args(field.annotation) or (field.annotation,)
        section = next(a for a in options if isinstance(a, type) and issubclass(a, BaseModel))
    return section


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    key = _key_path(first["loc"])
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    kind, msg = first["type"], first["msg"].removeprefix("Value error, ")
    if kind == "missing":
        return f"{PROJECT}:{key} is required{more}"
    if kind == "extra_forbidden":
        section = _section_at(first["loc"][:-1])
        valid = ", ".join(f.alias or n for n, f in section.model_fields.items())
        return f"{PROJECT}:{key} is not a known key; valid keys here: {valid}{more}"
    if first.get("ctx", {}).get("pattern"):
        msg = f"does not match {first['ctx']['pattern']}"
    return f"{PROJECT}:{key} = {_show(first['input'])}: {msg}{more}"


def parse(raw: Mapping[str, Any]) -> StackConfig:
    """Validate the project's config keys (without the `llm-landing-zone:` prefix)."""
    try:
        return StackConfig.model_validate(dict(raw))
    except _KeyError as e:
        raise ConfigError(f"{PROJECT}:{e.key} = {_show(e.value)}: {e.expected}") from None
    except ValidationError as e:
        raise ConfigError(_one_line(e)) from None


def from_pulumi_config(config: Mapping[str, str]) -> dict[str, Any]:
    """Turn the engine's flat config map (values are strings; objects as JSON) into plain data."""
    prefix = f"{PROJECT}:"
    out: dict[str, Any] = {}
    for full_key, value in config.items():
        if not full_key.startswith(prefix):
            continue
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        out[full_key.removeprefix(prefix)] = value
    return out


def load() -> StackConfig:
    """Read and validate this stack's config from the running Pulumi program (engine or mocks)."""
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse(from_pulumi_config(merged))
