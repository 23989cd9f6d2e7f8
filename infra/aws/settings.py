"""AWS's own config section and the checks only AWS can make: SDK-free (no pulumi_aws import).

Read by the config schema (the `aws:` section), by `checks` before any resource exists, and by
the platform. The VPC address plan lives here because a too-small `network.cidr` is a config error.
"""

from __future__ import annotations

import ipaddress
import re
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from infra.aws.versions import AUTOSCALER_PATCH, autoscaler_image
from infra.config.base import PinnedImage, Section
from infra.config.errors import key_error
from infra.config.runner import RunnerBase
from infra.conventions import DCGM_EXPORTER_IMAGE, KEDA_IMAGES, LWS_IMAGE, NVIDIA_DEVICE_PLUGIN_IMAGE
from infra.images import parse

if TYPE_CHECKING:
    from infra.config.schema import StackConfig

_ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9_+=,.@/-]+$"
_POLICY_ARN = r"^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[A-Za-z0-9_+=,.@/-]+$"
# How CI may reach the EKS API (cluster.apiAccess): the public endpoint for apiAllowedCidrs, or
# CodeBuild-hosted runners in the private subnets (infra/aws/runner.py).
API_ACCESS = ("cidr", "runner")
# gpu.spot may list instance types: an EKS managed node group takes several (instanceTypes), so a
# spot group can draw on several capacity pools.
SPOT_INSTANCE_TYPES = True
# Private subnets take 1/8 of the VPC each (vpc-cni gives every pod a VPC address); the last
# eighth is cut into public /N+6 subnets for the NAT gateway.
_PRIVATE_SPLIT = 3
_PUBLIC_SPLIT = 3
# A VPC's IPv4 block is a /16 to a /28 (docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html);
# the plan above needs a /22 or larger, so the public /28s fit the last eighth.
_VPC_LARGEST, _VPC_SMALLEST_FOR_PLAN = 16, 28 - _PRIVATE_SPLIT - _PUBLIC_SPLIT


# CloudWatch Logs' PutRetentionPolicy values (pulumi_aws cloudwatch.LogGroup retention_in_days).
LOG_RETENTION_VALUES = (
    0,
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
LogRetention = Literal[
    0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653
]
PROD_LOG_RETENTION_DAYS, DEV_LOG_RETENTION_DAYS = 365, 90
BucketName = typing.Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
RoleArn = typing.Annotated[str, Field(pattern=_ROLE_ARN)]
PolicyArn = typing.Annotated[str, Field(pattern=_POLICY_ARN)]
# A pull-through cache credential: a Secrets Manager secret whose name starts with
# `ecr-pullthroughcache/` (ECR user guide, pull-through-cache-creating-secret), in the stack's account.
CacheSecretArn = typing.Annotated[
    str,
    Field(
        pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:ecr-pullthroughcache/[A-Za-z0-9/_+=.@-]+$"
    ),
]


class UpstreamCredentials(Section):
    """The Secrets Manager secrets ECR's pull-through cache authenticates to an upstream with (created once
    by hand, docs/aws.md): Docker Hub (the vLLM image) and GHCR (the puller image) need one on ECR."""

    docker_hub: CacheSecretArn | None = None
    ghcr: CacheSecretArn | None = None


@dataclass(frozen=True)
class Cache:
    """One ECR pull-through cache rule: the upstream's URL as ECR names it and our prefix's suffix."""

    upstream_url: str
    suffix: str
    credential: str | None  # the UpstreamCredentials field it needs; None: anonymous (registry.k8s.io)


# Image host (infra.images.parse(ref).host) -> its cache rule. ECR's upstreams (ECR user guide,
# pull-through-cache: "Supported upstream registries"): Docker Hub is `registry-1.docker.io`, with
# credentials; GHCR `ghcr.io`, with credentials; registry.k8s.io anonymous. nvcr.io is NOT an ECR
# upstream: the NVIDIA device plugin stays a direct pull (copy it into ECR from CI for egress none).
CACHES = {
    "docker.io": Cache("registry-1.docker.io", "dockerhub", "docker_hub"),
    "ghcr.io": Cache("ghcr.io", "ghcr", "ghcr"),
    "registry.k8s.io": Cache("registry.k8s.io", "k8s", None),
}
_CREDENTIAL_KEY = {"docker_hub": "dockerHub", "ghcr": "ghcr"}
# ecrRepositoryPrefix: 2-30 characters of this pattern (ECR API, CreatePullThroughCacheRule).
ECR_PREFIX = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
ECR_PREFIX_MAX = 30
# The repository creation template's lifecycle policy keeps this many images per cached repository.
CACHE_KEEP_IMAGES = 10


class AwsRunnerConfig(RunnerBase):
    """CodeBuild-hosted GitHub Actions runners in the private subnets (cluster.apiAccess: runner).

    Two CodeBuild projects, `llz-<stack>-deploy` (up, drift) and `llz-<stack>-preview` (pull
    requests), each running as its own role: the identity `pulumi` uses on that runner.
    """

    # An AWS CodeConnections (or CodeStar) connection to GitHub, created and authorized once by
    # hand: the handshake installs the AWS Connector GitHub App, which no API call can do.
    connection_arn: str = Field(
        pattern=r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[A-Za-z0-9_-]+$"
    )
    # What the deploy runner may do in the account: your managed policies for what the platform
    # creates (VPC endpoints, EKS, IAM roles under a permissions boundary, KMS, S3, ...).
    deploy_policy_arns: tuple[PolicyArn, ...] = Field(min_length=1)
    # The preview runner's rights; empty: AWS's ReadOnlyAccess of the stack's partition.
    preview_policy_arns: tuple[PolicyArn, ...] = ()
    compute_type: Literal["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"] = (
        "BUILD_GENERAL1_MEDIUM"
    )
    # Ubuntu-based CodeBuild image: actions/setup-python's builds target Ubuntu (Amazon Linux has none).
    image: str = Field(default="aws/codebuild/standard:7.0", pattern=r"^[A-Za-z0-9_./:@-]+$")


class AwsConfig(Section):
    """AWS-only settings; only `deployerRoleArn` is required (docs/aws.md lists them)."""

    # The IAM role that runs `pulumi up` (CI's OIDC role). Access comes from config, never from
    # whoever happens to run the program: this role gets EKS cluster-admin through an access entry
    # and may read the bucket from outside the VPC; nothing else is derived from the caller. With
    # cluster.apiAccess runner it is the deploy runner's role: <stack>-bootstrap creates the role of
    # this name (and path) in this account, and the workload checks the bootstrap's export equals it.
    deployer_role_arn: RoleArn

    ami_type: Literal["al2023", "bottlerocket"] = "al2023"  # GPU nodes: AL2023_/BOTTLEROCKET_x86_64_NVIDIA
    identity: Literal["pod-identity", "irsa"] = "pod-identity"  # how the serving pod gets its role
    availability_zones: int = Field(default=2, ge=2, le=6)  # private subnets in this many AZs (EKS needs 2)
    system_instance_type: str = Field(default="m6i.large", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    gpu_disk_gib: int | None = Field(default=None, ge=50, le=16384)  # None: sized from the model
    # Principals (roles/users) that get EKS cluster-admin and keep S3 read access from outside the VPC.
    admin_role_arns: tuple[RoleArn, ...] = ()
    # Deny GetObject/ListBucket unless through the S3 gateway endpoint (deployer and admins exempt).
    restrict_reads_to_vpc_endpoint: bool = True
    # Pinned device-plugin image (AL2023 only); point it at an ECR mirror when network.egress is none.
    device_plugin_image: PinnedImage = NVIDIA_DEVICE_PLUGIN_IMAGE
    # NVIDIA's DCGM exporter on the GPU nodes (GPU metrics for the alerts and the dashboard; the EKS GPU
    # AMIs run none). nvcr.io has no ECR cache: point it at an ECR copy when network.egress is none.
    dcgm_exporter_image: PinnedImage = DCGM_EXPORTER_IMAGE
    # EKS has no built-in node autoscaler: without one a GPU group at 0 nodes never grows.
    cluster_autoscaler: bool = True
    # None: the upstream release matching cluster.kubernetesVersion; set an ECR mirror for egress none.
    cluster_autoscaler_image: PinnedImage | None = None
    runner: AwsRunnerConfig | None = None  # with cluster.apiAccess: runner (built by <stack>-bootstrap)
    # Principals that write weights (`llz weights push` from outside the cluster): the weights key's
    # policy lets them GenerateDataKey/Decrypt through S3 (SSE-KMS writes; Decrypt for multipart
    # uploads), and the VPC-endpoint read restriction exempts them (push reads the manifest first).
    weights_writer_arns: tuple[RoleArn, ...] = ()
    # CloudWatch log groups (control plane, flow logs, container logs, Managed Prometheus) and the audit
    # log bucket; None: 365 days in prod, 90 otherwise. CloudWatch's own list of values (0: never expire).
    log_retention_days: LogRetention | None = None
    # Buckets of other accounts that something in the VPC must read through the S3 gateway endpoint,
    # whose policy otherwise admits only this account's buckets and ECR's layer bucket.
    s3_endpoint_allowed_buckets: tuple[BucketName, ...] = ()
    # ECR pull-through cache credentials (Secrets Manager ARNs, `ecr-pullthroughcache/` names). Without
    # one, that upstream's images are pulled directly (a plan warning; a config error with egress none).
    upstream_credentials: UpstreamCredentials = UpstreamCredentials()
    # ECR's scanning configuration is ONE per account and region: managing it from a stack replaces
    # whatever the account has. Off: the account's own setting applies (docs/aws.md, "Registry").
    manage_registry_scanning: bool = False


def cache_prefix(stack: str, suffix: str) -> str:
    """The ECR repository prefix of one cache: `llz-<stack>-<suffix>`, the stack part cut so it fits."""
    room = ECR_PREFIX_MAX - len(suffix) - 1
    base = re.sub(r"[^a-z0-9]+", "-", f"llz-{stack.lower()}")[:room].strip("-")
    prefix = f"{base}-{suffix}"
    assert 2 <= len(prefix) <= ECR_PREFIX_MAX and ECR_PREFIX.match(prefix), prefix
    return prefix


def stack_images(cfg: StackConfig) -> tuple[str, ...]:
    """Every upstream image reference the AWS stack's pods run (the device plugin only on AL2023)."""
    assert cfg.aws is not None
    out = [cfg.serving.image, cfg.serving.puller_image]
    autoscaler = cfg.aws.cluster_autoscaler_image or autoscaler_image(cfg.cluster.kubernetes_version)
    if cfg.aws.cluster_autoscaler and autoscaler:  # none pinned: check() says so first
        out.append(autoscaler)
    if cfg.aws.ami_type == "al2023":
        out.append(cfg.aws.device_plugin_image)
    out.append(cfg.aws.dcgm_exporter_image)
    out.extend(KEDA_IMAGES.values())  # ghcr.io: through the stack's GHCR cache (infra/keda.py)
    if cfg.model.pipeline_parallel_size > 1:  # the LeaderWorkerSet controller (infra/lws.py)
        out.append(LWS_IMAGE)
    return tuple(out)


def caches(aws_cfg: AwsConfig) -> dict[str, str | None]:
    """Image host -> credential ARN of the cache rules the stack creates: every anonymous upstream, and
    each one that needs credentials only when aws.upstreamCredentials has them."""
    creds = aws_cfg.upstream_credentials
    out: dict[str, str | None] = {}
    for host, cache in CACHES.items():
        arn = getattr(creds, cache.credential) if cache.credential else None
        if cache.credential is None or arn is not None:
            out[host] = arn
    return out


def _uncached(cfg: StackConfig) -> list[tuple[str, str]]:
    """(credential key, image) of each image whose upstream has an ECR cache but no credential for it."""
    assert cfg.aws is not None
    cached = caches(cfg.aws)
    return [
        (f"aws.upstreamCredentials.{_CREDENTIAL_KEY[CACHES[image.host].credential]}", ref)  # type: ignore[index]
        for ref in stack_images(cfg)
        if (image := parse(ref)).host in CACHES and image.host not in cached
    ]


def registry_warnings(cfg: StackConfig) -> list[str]:
    """What the plan warns about the images: an upstream with a cache rule but no credential is pulled
    directly from the internet (through NAT), as before the stack had a registry."""
    return [
        f"{ref} is pulled directly from {parse(ref).host} (no ECR pull-through cache: set {key} to an "
        "ecr-pullthroughcache/ secret, docs/aws.md)"
        for key, ref in _uncached(cfg)
    ]


def _registry_reachable(cfg: StackConfig) -> None:
    """With network.egress none an image can come only from ECR: each cached upstream the stack pulls
    from needs its credential."""
    assert cfg.aws is not None
    if cfg.network.egress != "none":
        return
    for key, ref in _uncached(cfg):
        raise key_error(
            key,
            None,
            f"network.egress none pulls {ref} only through ECR's pull-through cache of {parse(ref).host}, which "
            "needs the ARN of a Secrets Manager secret named ecr-pullthroughcache/... (docs/aws.md); "
            "or set the image to a copy in your own registry",
        )


def subnet_plan(
    cidr: ipaddress.IPv4Network, zones: int
) -> tuple[list[ipaddress.IPv4Network], list[ipaddress.IPv4Network]]:
    """(private, public) subnet CIDRs for `zones` AZs; a config error if the VPC is too small."""
    if cidr.prefixlen < _VPC_LARGEST:
        raise key_error("network.cidr", str(cidr), f"larger than AWS allows for a VPC; use a /{_VPC_LARGEST} to a /22")
    if cidr.prefixlen > _VPC_SMALLEST_FOR_PLAN:
        raise key_error(
            "network.cidr",
            str(cidr),
            f"too small for {zones} AWS availability zones; use a /22 or larger "
            "(a /16 leaves room for pod IPs: vpc-cni gives each pod a VPC address)",
        )
    slots = list(cidr.subnets(prefixlen_diff=_PRIVATE_SPLIT))
    public = list(slots[-1].subnets(prefixlen_diff=_PUBLIC_SPLIT))[:zones]
    return slots[:zones], public


# Zone IDs where EKS does not place cluster subnets (EKS user guide, network-reqs: "subnets in
# these Availability Zone IDs": use1-az3, usw1-az2, cac1-az3). IDs, not names: the name -> ID
# mapping differs per account.
EKS_UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})


def choose_zones(names: list[str], zone_ids: list[str], count: int) -> list[tuple[str, str]]:
    """(name, zone ID) of the `count` zones for the cluster's subnets: eligible by zone ID (EKS's
    exclusions), then in name order (so a live stack keeps the subnets it has: a zone EKS rejects
    can never have held one). Too few eligible zones is a one-line config error."""
    eligible = sorted((n, z) for n, z in zip(names, zone_ids, strict=True) if z not in EKS_UNSUPPORTED_ZONE_IDS)
    if len(eligible) < count:
        excluded = sorted(z for z in zone_ids if z in EKS_UNSUPPORTED_ZONE_IDS)
        listing = ", ".join(f"{n} ({z})" for n, z in eligible)
        raise key_error(
            "aws.availabilityZones",
            count,
            f"the region has only {len(eligible)} zones EKS can use ({listing}"
            + (f"; EKS excludes {', '.join(excluded)}" if excluded else "")
            + f"); need 2 <= availabilityZones <= {len(eligible)}",
        )
    return eligible[:count]


def gpu_zone_indexes(zones: list[tuple[str, str]], offered_ids: set[str], instance_types: list[str]) -> list[int]:
    """Which of the cluster's zones offer the GPU type(s): the GPU group's subnets. None is a config error."""
    found = [i for i, (_, zone_id) in enumerate(zones) if zone_id in offered_ids]
    if not found:
        raise key_error(
            "gpu.instanceType",
            ",".join(instance_types),
            f"not offered in any of the cluster's zones ({', '.join(f'{n} ({z})' for n, z in zones)}); "
            "choose another type or region, or more aws.availabilityZones",
        )
    return found


def sts_endpoint_addresses(cidr: ipaddress.IPv4Network, zones: int) -> list[tuple[str, str]]:
    """(reserved /28, endpoint address) in each private subnet for the STS interface endpoint: the
    subnet's last /28 (AWS reserves only its first four addresses and the last), address .4 of it."""
    private, _ = subnet_plan(cidr, zones)
    out = []
    for subnet in private:
        block = list(subnet.subnets(new_prefix=28))[-1]
        out.append((str(block), str(block.network_address + 4)))
    return out


def role_name(arn: str) -> tuple[str, str] | None:
    """(path, name) of an IAM role ARN (`/` for none), or None for a user."""
    kind, _, rest = arn.split(":", 5)[5].partition("/")
    if kind != "role":
        return None
    path, _, name = rest.rpartition("/")
    return (f"/{path}/" if path else "/"), name


# What of the GPU node's disk the kubelet offers pods: AL2023/Bottlerocket evict at
# nodefs.available<10% (kubelet's default evictionHard), so Cluster Autoscaler's template node
# claims 90% of it (infra/aws/gpu_pool.py autoscaler_tags).
ALLOCATABLE_DISK_SHARE = 0.9


def allocatable_ephemeral_gi(disk_gib: int) -> int:
    """The node's allocatable ephemeral storage (GiB), as the template node should claim it."""
    return int(disk_gib * ALLOCATABLE_DISK_SHARE)


def _disk_holds_the_pod(cfg: StackConfig) -> None:
    """aws.gpuDiskGib must leave the serving pod's ephemeral-storage request allocatable: else the
    template node (and the node) cannot take the pod and the GPU group never scales up for it."""
    assert cfg.aws is not None
    if cfg.aws.gpu_disk_gib is None:
        return  # sized from the model: infra.fit.gpu_node_disk_gb leaves room for the image too
    from infra.serving import timings  # here: the serving package imports the config schema

    # the vLLM container's request (infra/serving/pod.py): pulled weights (none when streamed) + cache + tmp
    pulled = 0 if cfg.serving.load_format == "runai_streamer" else timings.weights_volume_gi(cfg.model.weights_gb)
    needed = pulled + timings.CACHE_GI + timings.TMP_GI
    offered = allocatable_ephemeral_gi(cfg.aws.gpu_disk_gib)
    if offered < needed:
        raise key_error(
            "aws.gpuDiskGib",
            cfg.aws.gpu_disk_gib,
            f"leaves {offered} GiB allocatable, but the vLLM pod requests {needed} GiB of ephemeral storage; "
            f"use at least {-(-needed * 10 // 9)} (or unset it: sized from the model)",
        )


def log_retention_days(cfg: StackConfig) -> int:
    """aws.logRetentionDays, or 365 days in prod and 90 otherwise."""
    assert cfg.aws is not None
    if cfg.aws.log_retention_days is not None:
        return cfg.aws.log_retention_days
    return PROD_LOG_RETENTION_DAYS if cfg.environment == "prod" else DEV_LOG_RETENTION_DAYS


# The AMP managed collector's own subnets (infra/aws/monitoring.py): its network interfaces are the only
# addresses in them, so the serving NetworkPolicy admits exactly the collector by these CIDRs. AMP needs
# at least two subnets in two zones (AMP user guide, AMP-collector-how-to, "Create a scraper").
COLLECTOR_ZONES = 2


def collector_subnets(cidr: ipaddress.IPv4Network, zones: int) -> list[str]:
    """The collector's subnet CIDRs: the last blocks of the public eighth, which the NAT subnets (one per
    zone, at most six of the eight blocks: aws.availabilityZones <= 6) never use."""
    slots = list(cidr.subnets(prefixlen_diff=_PRIVATE_SPLIT))
    blocks = list(slots[-1].subnets(prefixlen_diff=_PUBLIC_SPLIT))
    free = blocks[zones:]
    assert len(free) >= COLLECTOR_ZONES, (cidr, zones)
    return [str(b) for b in free[-COLLECTOR_ZONES:]]


def default() -> AwsConfig:
    raise key_error(
        "aws", "(missing)", "required for cloud=aws: an object with deployerRoleArn (the role CI deploys as)"
    )


def check(cfg: StackConfig) -> None:
    """Cross-section checks: the VPC must hold the subnets of every AZ; the autoscaler needs an
    image for the cluster's Kubernetes version."""
    assert cfg.aws is not None  # resolve fills in the default section first
    subnet_plan(cfg.network.cidr, cfg.aws.availability_zones)
    _disk_holds_the_pod(cfg)
    role = role_name(cfg.aws.deployer_role_arn)
    if cfg.cluster.api_access == "runner" and (role is None or len(role[1]) > 64):
        raise key_error(
            "aws.deployerRoleArn",
            cfg.aws.deployer_role_arn,
            "with cluster.apiAccess=runner Pulumi runs as the deploy runner's role, which the bootstrap "
            "stack creates under this name: an IAM role ARN (arn:aws:iam::<account>:role/<name>, a name of at "
            "most 64 characters)",
        )
    version = cfg.cluster.kubernetes_version
    if cfg.aws.cluster_autoscaler and cfg.aws.cluster_autoscaler_image is None and version not in AUTOSCALER_PATCH:
        raise key_error(
            "aws.clusterAutoscalerImage",
            None,
            f"no Cluster Autoscaler release is pinned for Kubernetes {version} "
            f"(pinned: {', '.join(AUTOSCALER_PATCH)}); set the image of the matching release",
        )
    _registry_reachable(cfg)
