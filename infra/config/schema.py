"""What a stack may say: the sections of `llm-landing-zone:*` config, with their defaults.

Defaults live here (and, for a cloud's own section, in `infra/<cloud>/settings.py`) and only
here; the README's config reference mirrors them. Rules that span sections are in `checks`.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from infra import catalog, fit
from infra.aws.settings import AwsConfig
from infra.azure.settings import AzureConfig
from infra.config.base import DNS_LABEL, INT32_MAX, QUANTITY, Cidr, Labels, PinnedImage, Section
from infra.config.errors import key_error
from infra.conventions import PULLER_IMAGE, SECRET, VLLM_IMAGE
from infra.gcp.settings import GcpConfig
from weights.source import REPO_PATTERN, HubSource, revision_problem

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


class NetworkConfig(Section):
    cidr: Cidr = ipaddress.IPv4Network("10.40.0.0/16")
    egress: Literal["nat", "none"] = "nat"


class ClusterConfig(Section):
    kubernetes_version: str = Field(pattern=r"^1\.[0-9]{2}$")
    api_allowed_cidrs: tuple[Cidr, ...] = Field(min_length=1)
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
    min_nodes: int = Field(default=0, ge=0, le=INT32_MAX)
    max_nodes: int = Field(default=1, ge=1, le=INT32_MAX)
    # true: spot capacity of instanceType; a list of instance types of the same GPU shape (model, count,
    # memory): spot capacity diversified over instanceType and these (clouds whose pools take several
    # types; checks.spot_types_share_the_gpu_shape), each fit-checked like instanceType.
    spot: bool | Annotated[tuple[str, ...], Field(min_length=1)] = False

    @property
    def spot_types(self) -> tuple[str, ...]:
        """The instance types the pool may run: instanceType first, then a spot list's others."""
        extra = self.spot if isinstance(self.spot, tuple) else ()
        return tuple(dict.fromkeys((self.instance_type, *extra)))

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


# Object keys: at most 1024 bytes of UTF-8 on S3 (docs.aws.amazon.com/AmazonS3/latest/userguide/
# object-keys.html: "The prefix, the delimiter (/), and the name of the object are included in the
# 1,024 byte limitation") and on GCS (cloud.google.com/storage/docs/objects#naming: "1-1024 bytes
# when UTF-8 encoded"); at most 1,024 characters and 254 path segments on Azure (learn.microsoft.com/
# rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata). The prefix is
# ASCII (bytes = characters) and must leave room for "/" and the longest file name the puller
# writes under it: NAME_MAX, 255 bytes on Linux file systems.
OBJECT_KEY_MAX, OBJECT_KEY_SEGMENTS_MAX, FILE_NAME_MAX = 1024, 254, 255
WEIGHTS_PREFIX_MAX = OBJECT_KEY_MAX - 1 - FILE_NAME_MAX  # 768
PARAMS_BILLIONS_MAX = 100_000  # 100 trillion: far past any model; keeps the sizing arithmetic finite


class ModelSource(Section):
    """A Hugging Face repo at a pinned commit: a Job stages it into the bucket during `pulumi up`."""

    repo: str = Field(pattern=REPO_PATTERN)
    revision: str  # the full 40-hex commit sha; a branch or tag moves
    # For gated or private repos: `pulumi config set --secret --path 'model.source.token' hf_…`.
    token: SecretStr | None = None

    @field_validator("revision")
    @classmethod
    def _pinned(cls, v: str) -> str:
        problem = revision_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @property
    def uri(self) -> str:
        """`hf://<repo>@<sha>`: what `llz weights stage` takes and the manifest records."""
        return str(HubSource(self.repo, self.revision))

    @field_validator("token", mode="before")
    @classmethod
    def _still_encrypted(cls, v: Any) -> Any:
        # Outside the engine (offline plan) a secure value stays {"secure": "v1:…"}: the plan's placeholder.
        return SECRET if isinstance(v, dict) and set(v) == {"secure"} else v


class ModelConfig(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,96}/[A-Za-z0-9_.-]{1,96}$")  # Hugging Face id, e.g. org/model
    params_billions: float = Field(gt=0, le=PARAMS_BILLIONS_MAX, allow_inf_nan=False)
    dtype: Literal["bfloat16", "float16", "float32", "fp8", "int8", "int4"] = "bfloat16"
    weights_prefix: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")
    served_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    max_model_len: int = Field(default=8192, ge=128, le=INT32_MAX)
    tensor_parallel_size: int = Field(default=1, ge=1)
    # Nodes per replica (vLLM --pipeline-parallel-size across a LeaderWorkerSet group); > 1 needs
    # tensorParallelSize = the node's GPUs. `auto` sets it when no single node fits (docs/multi-node.md).
    pipeline_parallel_size: int = Field(default=1, ge=1, le=fit.PIPELINE_MAX)
    max_num_seqs: int = Field(default=16, ge=1, le=INT32_MAX)  # vLLM --max-num-seqs, KV-cache sizing
    # Folder with the model's Hugging Face config.json (relative to the project): exact KV-cache shape.
    hf_config_dir: Path | None = None
    # Where the weights come from on first deploy (a staging Job); None: pushed by hand (`llz weights push`).
    source: ModelSource | None = None
    # Without a source: true once the weights are pushed; until then the server runs 0 replicas, so the
    # first `pulumi up` finishes without the model (docs/weights.md, "No internet egress").
    weights_staged: bool = False

    @model_validator(mode="after")
    def _staged_by_one_path(self) -> ModelConfig:
        if self.source is not None and self.weights_staged:
            raise key_error(
                "model.weightsStaged",
                True,
                "model.source stages the weights itself (a Job in `pulumi up`); remove weightsStaged, "
                "or remove source to push by hand",
            )
        return self

    @field_validator("weights_prefix")
    @classmethod
    def _fits_object_keys(cls, v: str) -> str:
        if len(v) > WEIGHTS_PREFIX_MAX:
            raise ValueError(
                f"{len(v)} characters; at most {WEIGHTS_PREFIX_MAX}, so that prefix + '/' + a file name of up to "
                f"{FILE_NAME_MAX} bytes fits the {OBJECT_KEY_MAX}-byte object keys of S3, GCS and Azure Blob"
            )
        if v.count("/") + 2 > OBJECT_KEY_SEGMENTS_MAX:
            raise ValueError(
                f"{v.count('/') + 1} path segments; at most {OBJECT_KEY_SEGMENTS_MAX - 1}, so that with the file "
                f"name a blob has at most the {OBJECT_KEY_SEGMENTS_MAX} segments Azure Blob allows"
            )
        return v

    @field_validator("hf_config_dir")
    @classmethod
    def _has_config_json(cls, v: Path | None) -> Path | None:
        if v is None:
            return None
        folder = v if v.is_absolute() else Path.cwd() / v  # the program runs in the project folder
        fit.read_hf_config(folder)  # ValueError (one line) when missing or incomplete
        return folder

    @property
    def weights_gb(self) -> float:
        """Size of the weights in GB (1e9 bytes), from parameter count and dtype."""
        return self.params_billions * fit.WEIGHT_BYTES[self.dtype]


class Replicas(Section):
    min: int = Field(default=1, ge=1, le=INT32_MAX)  # Deployment replicas, HPA minReplicas/maxReplicas: int32
    max: int = Field(default=1, ge=1, le=INT32_MAX)

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
    """KEDA on vLLM's queue in the cloud's managed Prometheus (infra/keda.py, infra/serving/scaling.py)."""

    metric: str = Field(default="vllm:num_requests_waiting", pattern=r"^[A-Za-z_:|][A-Za-z0-9_:|./-]*$")
    # Average waiting requests per replica before scaling out (the ScaledObject's threshold).
    target_per_replica: int = Field(default=2, ge=1, le=INT32_MAX)


class ServingMetrics(Section):
    scrape_annotations: bool = True  # prometheus.io/scrape|port|path on the pod
    service_monitor: bool = False  # a monitoring.coreos.com ServiceMonitor: needs the Prometheus Operator CRDs
    scraper: ServingPeer = ServingPeer(namespace="monitoring")  # where the scraper runs (NetworkPolicy)


_QUANTITY_UNITS = {"m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_QUANTITY_UNITS |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
# Kubernetes handles CPU in millicores as an int64 (Quantity.MilliValue); larger requests overflow it.
CPU_MAX = Decimal(2**63 - 1) / 1000
# Memory is also the limit, to which the pod adds /dev/shm (formatted with %g): 64Ti is above every
# VM's memory (the largest have 32 TiB) and far below 1e6 Gi, where %g would write an exponent that
# Kubernetes does not accept before a unit.
MEMORY_MAX_GI = 64 * 1024


def quantity_value(quantity: str) -> Decimal:
    """The number a Kubernetes quantity (already matched against QUANTITY) stands for: cores or bytes."""
    unit = next((u for u in sorted(_QUANTITY_UNITS, key=len, reverse=True) if quantity.endswith(u)), "")
    return Decimal(quantity.removesuffix(unit) if unit else quantity) * _QUANTITY_UNITS.get(unit, 1)


class ServingResources(Section):
    """CPU and memory of the vLLM container (GPUs come from the Platform); memory is also its limit."""

    cpu: str = Field(default="2", pattern=QUANTITY)
    memory: str = Field(default="12Gi", pattern=r"^[0-9]+(\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?$")

    @field_validator("cpu")
    @classmethod
    def _cpu_fits(cls, v: str) -> str:
        if quantity_value(v) > CPU_MAX:
            raise ValueError(f"more CPU than Kubernetes can count (int64 millicores: at most {CPU_MAX} cores)")
        return v

    @field_validator("memory")
    @classmethod
    def _memory_fits(cls, v: str) -> str:
        if quantity_value(v) > MEMORY_MAX_GI * 2**30:
            raise ValueError(f"more than {MEMORY_MAX_GI // 1024}Ti, the most this config accepts (no VM has more)")
        return v


class ServingConfig(Section):
    namespace: str = Field(default="llm", pattern=DNS_LABEL)
    service_account: str = Field(default="vllm", pattern=DNS_LABEL)
    replicas: Replicas = Replicas()
    # Pinned tag, never :latest — what was planned is what runs.
    image: PinnedImage = VLLM_IMAGE
    load_format: Literal["pull", "runai_streamer"] = "pull"
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1, allow_inf_nan=False)
    enable_prefix_caching: bool = True
    expose: Literal["cluster-ip", "internal-lb", "public-lb"] = "cluster-ip"
    # Our init-container image (weights/Dockerfile, ENTRYPOINT llz), pushed to your registry; pinned.
    puller_image: PinnedImage = PULLER_IMAGE
    # Longest generation to let finish on rollout / scale-down: sizes preStop + terminationGracePeriodSeconds.
    max_request_seconds: int = Field(default=600, ge=10, le=7200)
    allowed_clients: tuple[ServingPeer, ...] = ()  # in-cluster callers; empty: none (port-forward still works)
    # Callers through the load balancer; required for internal-lb; public-lb without it is open to all.
    allowed_cidrs: tuple[Cidr, ...] = ()
    autoscaling: ServingAutoscaling = ServingAutoscaling()
    metrics: ServingMetrics = ServingMetrics()
    resources: ServingResources = ServingResources()
    # Non-root UID/GID for every container (> 10000: no host clash). The API takes int64 but admits
    # only 0..2^31-1 (k8s.io/apimachinery/pkg/util/validation: IsValidUserID, maxUserID = MaxInt32).
    run_as_user: int = Field(default=10001, ge=1, le=INT32_MAX)
    # Request logs carry the request id and sampling parameters, never the prompt. True logs prompt
    # text too (vLLM's DEBUG level: everything else at DEBUG as well); only where compliance allows.
    log_prompts: bool = False

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


class AlertsConfig(Section):
    """Thresholds of the alert rules (infra/observability/alerts.py) and who hears of them."""

    ttft_p95_seconds: float = Field(default=2.0, gt=0, le=3600, allow_inf_nan=False)  # SLO: p95 time to first token
    latency_p95_seconds: float = Field(default=60.0, gt=0, le=86400, allow_inf_nan=False)  # SLO: p95 whole request
    queue_minutes: int = Field(default=10, ge=1, le=1440)  # requests waiting and the queue growing this long
    gpu_idle_minutes: int = Field(default=30, ge=5, le=1440)  # a running GPU node below gpuIdlePercent this long
    gpu_idle_percent: int = Field(default=5, ge=1, le=100)
    emails: tuple[str, ...] = Field(default=(), max_length=20)  # notification target (each cloud's email channel)

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [e for e in v if not EMAIL.fullmatch(e)]
        if bad:
            raise ValueError(f"not an email address: {bad[0]!r}")
        return v


class ObservabilityConfig(Section):
    alerts: AlertsConfig = AlertsConfig()


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
    observability: ObservabilityConfig = ObservabilityConfig()
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
