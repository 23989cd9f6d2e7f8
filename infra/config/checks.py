"""Rules that span sections, one small function each, run in order after the schema parsed.

Each raises the one-line `ConfigError` for the first problem it finds; `run` applies them all,
then the stack's cloud's own `check` (its settings module, through the by-name seam).
"""

from __future__ import annotations

from collections.abc import Callable

from infra import catalog, clouds, fit, support
from infra.config.errors import key_error
from infra.config.schema import StackConfig
from infra.conventions import SECRET
from infra.internet import covers_the_internet


def only_own_cloud_section(cfg: StackConfig) -> None:
    for other in catalog.CLOUDS:
        if other != cfg.cloud and cfg.section(other) is not None:
            raise key_error(other, "(set)", f"only the {cfg.cloud} section may be set when cloud={cfg.cloud}")


def known_instance_type(cfg: StackConfig) -> None:
    types = catalog.instances(cfg.cloud)
    if cfg.gpu.instance_type != fit.AUTO and cfg.gpu.instance_type not in types:
        raise key_error(
            "gpu.instanceType",
            cfg.gpu.instance_type,
            f"not a GPU instance type on {cfg.cloud}; valid: {fit.AUTO}, {', '.join(types)}",
        )


def tensor_parallel_fits_a_node(cfg: StackConfig) -> None:
    types = catalog.instances(cfg.cloud)
    auto = cfg.gpu.instance_type == fit.AUTO
    gpus = max(t.gpus for t in types.values()) if auto else types[cfg.gpu.instance_type].gpus
    if cfg.model.tensor_parallel_size > gpus:
        node = f"the largest {cfg.cloud} node" if auto else cfg.gpu.instance_type
        raise key_error(
            "model.tensorParallelSize",
            cfg.model.tensor_parallel_size,
            f"{node} has {gpus} GPU(s); need 1 <= tensorParallelSize <= {gpus}",
        )


def pipeline_parallel_spans_whole_nodes(cfg: StackConfig) -> None:
    """model.pipelineParallelSize > 1: each pod of the group takes a whole node (tensor parallel over
    all its GPUs), so the stages are nodes and the pool's nodes are the group's (docs/multi-node.md)."""
    pp = cfg.model.pipeline_parallel_size
    if pp == 1 or cfg.gpu.instance_type == fit.AUTO:
        return
    gpus = cfg.gpu_instance.gpus
    if cfg.gpu.instance_type not in catalog.FABRIC:
        able = ", ".join(n for n in catalog.FABRIC if n in catalog.instances(cfg.cloud))
        raise key_error(
            "model.pipelineParallelSize",
            pp,
            f"{cfg.gpu.instance_type} has no inter-node fabric for GPU collectives (EFA, GPUDirect, InfiniBand); "
            f"multi-node replicas need one of: {able}",
        )
    if cfg.model.tensor_parallel_size != gpus:
        raise key_error(
            "model.tensorParallelSize",
            cfg.model.tensor_parallel_size,
            f"with model.pipelineParallelSize {pp} each node of the group serves with all its GPUs; "
            f"set tensorParallelSize {gpus} ({cfg.gpu.instance_type} has {gpus})",
        )


def no_insecure_switch_in_prod(cfg: StackConfig) -> None:
    insecure = cfg.insecure
    if cfg.environment == "prod" and (insecure.public_api_endpoint or insecure.public_load_balancer):
        raise key_error(
            "insecure", insecure.model_dump(by_alias=True), "insecure switches are not allowed when environment=prod"
        )


def api_not_open_to_internet(cfg: StackConfig) -> None:
    cidrs = cfg.cluster.api_allowed_cidrs
    if covers_the_internet(cidrs) and not cfg.insecure.public_api_endpoint:
        shown = [str(c) for c in cidrs]
        raise key_error(
            "cluster.apiAllowedCidrs",
            shown[0] if len(shown) == 1 else shown,
            "opens the Kubernetes API to the internet; list your CIDRs, or set insecure.publicApiEndpoint: true",
        )


def internal_lb_names_its_callers(cfg: StackConfig) -> None:
    """An internal load balancer's allowedCidrs must name callers. CIDRs that cover the whole internet
    name nobody: the LB then admits everything that can route to the network (peered networks, VPN,
    every node and pod), which is what requiring the CIDRs prevents, so they are refused outright.
    (public-lb always needs insecure.publicLoadBalancer; with it, such CIDRs or none mean the same:
    open to all.)"""
    cidrs = cfg.serving.allowed_cidrs
    if cfg.serving.expose == "internal-lb" and covers_the_internet(cidrs):
        shown = [str(c) for c in cidrs]
        raise key_error(
            "serving.allowedCidrs",
            shown[0] if len(shown) == 1 else shown,
            "covers the whole internet, so it names no callers and the internal load balancer would admit "
            "everything that routes to the network; list the callers' CIDRs (e.g. your VPC/VNet or office range)",
        )


def public_lb_needs_switch(cfg: StackConfig) -> None:
    if cfg.serving.expose == "public-lb" and not cfg.insecure.public_load_balancer:
        raise key_error(
            "serving.expose",
            "public-lb",
            "a public load balancer needs insecure.publicLoadBalancer: true; "
            "valid secure values: cluster-ip, internal-lb",
        )


def staging_needs_egress(cfg: StackConfig) -> None:
    source = cfg.model.source
    if source is not None and cfg.network.egress == "none":
        raise key_error(
            "model.source",
            {"repo": source.repo, "revision": source.revision},
            "the staging Job downloads from the Hugging Face Hub, and network.egress is none; remove source, "
            "push with `llz weights push`, then set model.weightsStaged: true (docs/weights.md)",
        )


def chosen_type_fits_model(cfg: StackConfig) -> None:
    if cfg.gpu.instance_type != fit.AUTO:
        reason = fit.check(cfg)
        if reason:
            raise key_error("gpu.instanceType", cfg.gpu.instance_type, reason)


def spot_types_share_the_gpu_shape(cfg: StackConfig) -> None:
    """gpu.spot as a list: a cloud whose GPU pool takes several types, each a known type of the same GPU
    shape as instanceType (model, count, memory: one node template, one fit), each fitting the model."""
    if not isinstance(cfg.gpu.spot, tuple):
        return
    listed = ", ".join(cfg.gpu.spot)
    if not getattr(clouds.part(cfg.cloud, "settings"), "SPOT_INSTANCE_TYPES", False):
        raise key_error("gpu.spot", listed, f"a list of instance types is not supported on {cfg.cloud}; use true")
    if cfg.gpu.instance_type == fit.AUTO:
        raise key_error("gpu.spot", listed, "a list needs an explicit gpu.instanceType to compare shapes with")
    types = catalog.instances(cfg.cloud)
    base = types[cfg.gpu.instance_type]
    shape = (base.gpu_model, base.gpus, base.gpu_memory_gb)
    for name in cfg.gpu.spot:
        other = types.get(name)
        if other is None:
            raise key_error("gpu.spot", name, f"not a GPU instance type on {cfg.cloud}; valid: {', '.join(types)}")
        if (other.gpu_model, other.gpus, other.gpu_memory_gb) != shape:
            raise key_error(
                "gpu.spot",
                name,
                f"{other.gpus} x {other.gpu_model} {other.gpu_memory_gb} GB, not the shape of {base.name} "
                f"({base.gpus} x {base.gpu_model} {base.gpu_memory_gb} GB); list types of the same GPU shape",
            )
        # Cluster Autoscaler builds the empty group's template from its first type (instanceType): a
        # listed type with fewer vCPUs or less memory would be promised a pod it cannot hold
        # (CA AWS README, "Using Mixed Instances Policies and Spot Instances").
        if other.vcpus < base.vcpus or other.memory_gib < base.memory_gib:
            raise key_error(
                "gpu.spot",
                name,
                f"{other.vcpus} vCPUs / {other.memory_gib} GiB is smaller than {base.name} ({base.vcpus} vCPUs / "
                f"{base.memory_gib} GiB); make the smallest type gpu.instanceType",
            )
        reason = fit.check_instance(cfg, other)
        if reason:
            raise key_error("gpu.spot", name, reason)


def kubernetes_version_in_standard_support(cfg: StackConfig) -> None:
    versions = clouds.part(cfg.cloud, "versions")
    version = cfg.cluster.kubernetes_version
    reason = support.problem(versions.SUPPORT, versions.AS_OF, cfg.cloud, version, support.today())
    if reason:
        raise key_error("cluster.kubernetesVersion", version, reason)


def api_access_fits_cloud(cfg: StackConfig) -> None:
    """cluster.apiAccess is one the cloud offers; `<cloud>.runner` exactly with `runner`, and a
    runner can reach GitHub and the state backend; a bootstrap stack exists only for runners."""
    access, cloud = cfg.cluster.api_access, cfg.cloud
    offered = clouds.part(cloud, "settings").API_ACCESS
    if access not in offered:
        raise key_error("cluster.apiAccess", access, f"not available on {cloud}; valid: {', '.join(offered)}")
    runner = getattr(cfg.section(cloud), "runner", None)
    if access == "runner" and runner is None:
        raise key_error(f"{cloud}.runner", None, "required with cluster.apiAccess=runner (docs/first-deploy.md)")
    if access != "runner" and runner is not None:
        raise key_error(f"{cloud}.runner", "(set)", f"only used with cluster.apiAccess=runner; this stack has {access}")
    if access == "runner" and cfg.network.egress == "none" and runner.egress_proxy is None:
        raise key_error(
            "network.egress",
            "none",
            "the CI runner in this network needs HTTPS to GitHub, the Pulumi state backend and package "
            f"registries: set {cloud}.runner.egressProxy (an HTTP proxy that allows them), or use egress nat",
        )
    if cfg.role == "bootstrap" and access != "runner":
        raise key_error(
            "role",
            "bootstrap",
            f"a bootstrap stack builds the CI runner of cluster.apiAccess=runner; the workload has {access}",
        )
    app_runners = getattr(runner, "github_app_id", None) is not None  # runners that register through an App
    if cfg.github_app_key is not None and (cfg.role != "bootstrap" or not app_runners):
        raise key_error(
            "githubAppKey", SECRET, "only a bootstrap stack whose runners register through a GitHub App uses it"
        )


def gpu_nodes_leave_room_for_rollout(cfg: StackConfig) -> None:
    """The serving Deployment rolls out with maxSurge 1 / maxUnavailable 0 (infra/serving): at
    serving.replicas.max it needs one more replica's GPUs, else the surge pod stays Pending and the
    rollout stalls (on every cloud). With instanceType auto the type is chosen after the checks: not
    checked."""
    if cfg.gpu.instance_type == fit.AUTO:
        return
    per_node = max(1, cfg.gpu_instance.gpus // cfg.model.tensor_parallel_size)
    replicas = cfg.serving.replicas.max + 1  # the surge pod (a multi-node replica: a surge group of nodes)
    needed = -(-replicas // per_node) * cfg.model.pipeline_parallel_size
    if cfg.gpu.max_nodes < needed:
        raise key_error(
            "gpu.maxNodes",
            cfg.gpu.max_nodes,
            f"a rolling update at serving.replicas.max={cfg.serving.replicas.max} adds one surge replica, which "
            f"needs {needed} node(s) of {cfg.gpu_instance.name}; set gpu.maxNodes >= {needed} or lower replicas.max",
        )


def cloud_checks(cfg: StackConfig) -> None:
    clouds.part(cfg.cloud, "settings").check(cfg)


RULES: tuple[Callable[[StackConfig], None], ...] = (
    only_own_cloud_section,
    known_instance_type,
    tensor_parallel_fits_a_node,
    pipeline_parallel_spans_whole_nodes,
    no_insecure_switch_in_prod,
    api_not_open_to_internet,
    public_lb_needs_switch,
    gpu_nodes_leave_room_for_rollout,
    internal_lb_names_its_callers,
    kubernetes_version_in_standard_support,
    staging_needs_egress,
    api_access_fits_cloud,
    cloud_checks,
    chosen_type_fits_model,
    spot_types_share_the_gpu_shape,
)


def run(cfg: StackConfig) -> None:
    for rule in RULES:
        rule(cfg)
