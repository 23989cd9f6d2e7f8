"""The GPU agent pool (scale from zero, tainted, optionally spot) and the NVIDIA device plugin.

A separate `AgentPool`, never an inline profile: ARM refuses to add pools through the cluster's
profile list, and editing an inline profile puts every pool into Scaling. AKS installs the
NVIDIA driver (`gpu_profile.driver = Install`) but not the device plugin, so without the
DaemonSet below the node never advertises `nvidia.com/gpu` and vLLM stays Pending. It is a typed
DaemonSet rather than a Helm release so the plan, `--manifests` and the policy pack see the
object itself (a Helm chart is one opaque resource under the mock engine), with one pinned image.

Upgrades (the patch and node-image channels, inside the maintenance window): one surge node comes
up first, a drain waits at most `azure.gpuUpgrade.drainTimeoutMinutes`, and a node the serving
PodDisruptionBudget keeps from draining (one replica: always) is handled by
`undrainableNodeBehavior` (Cordon: quarantined with its surge node kept, the model keeps serving)
instead of the default that fails the pool. Hosts encrypt their disks; the OS disk is ephemeral
when the size's local disk holds it (AKS's own default for an unset osDiskType: "Ephemeral if the
VM supports it and has a cache disk larger than the requested OSDiskSizeGB", azure-native 3.29
AgentPool docstring), else managed.

Multi-node replicas (model.pipelineParallelSize > 1, docs/multi-node.md) run on ND sizes, whose
nodes of one pool (one scale set) share an InfiniBand fabric. Pods cannot use it yet, and the plan
says what that needs (INFINIBAND_MISSING): NCCL between the nodes runs over TCP on the VM's NIC.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import containerservice

from infra.azure.settings import GpuUpgrade
from infra.conventions import GPU_POOL, GPU_TAINT_VALUE, NVIDIA_DEVICE_PLUGIN_IMAGE, pool_labels
from infra.kube import nvidia_device_plugin
from infra.platform import GPU_TOLERATION, Toleration

SPOT_TAINT = Toleration("kubernetes.azure.com/scalesetpriority", operator="Equal", value="spot")
POOL_LABEL = pool_labels(GPU_POOL)
INFINIBAND_MISSING = (
    "multi-node GPU pool: {size} has InfiniBand, but pods cannot use it: that needs the NVIDIA Network Operator "
    "on the pool (DOCA/MOFED driver container and an RDMA device plugin that advertises the IB devices, e.g. "
    "rdma/ib) and pods that request them with the IPC_LOCK capability, which the serving namespace's restricted "
    "Pod Security forbids; this stack builds none of it yet, so NCCL between the group's nodes runs over TCP on "
    "the VM's Ethernet NIC (docs/multi-node.md)"
)


def pool_taints(spot: bool) -> list[Toleration]:
    """The taints the pool carries (AKS adds the spot one itself; declaring it avoids drift)."""
    return [GPU_TOLERATION, SPOT_TAINT] if spot else [GPU_TOLERATION]


def _taint(t: Toleration, value: str) -> str:
    return f"{t.key}={t.value or value}:{t.effect}"


@dataclass(frozen=True)
class GpuPoolArgs:
    resource_group_name: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    node_subnet_id: pulumi.Input[str]
    vm_size: str
    min_nodes: int
    max_nodes: int
    spot: bool
    os_disk_gb: int
    upgrade: GpuUpgrade
    tags: dict[str, str]
    provider: pulumi.ProviderResource
    k8s: k8s.Provider
    # The device plugin's image as the nodes pull it: its cache in the stack's registry (infra/azure/registry.py).
    device_plugin_image: pulumi.Input[str] = NVIDIA_DEVICE_PLUGIN_IMAGE
    image_ready: tuple[pulumi.Resource, ...] = ()  # what a pull from the registry waits for (its DNS, rules, grant)
    group_nodes: int = 1  # nodes per replica (model.pipelineParallelSize)


class GpuPool(pulumi.ComponentResource):
    pool: containerservice.AgentPool
    device_plugin: k8s.apps.v1.DaemonSet

    def __init__(self, name: str, args: GpuPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:GpuPool", name, None, opts)
        if args.group_nodes > 1:
            pulumi.log.warn(INFINIBAND_MISSING.format(size=args.vm_size), self)
        taints = pool_taints(args.spot)
        spot = (
            {"scale_set_priority": "Spot", "scale_set_eviction_policy": "Delete", "spot_max_price": -1}
            if args.spot
            else {"scale_set_priority": "Regular"}
        )
        self.pool = containerservice.AgentPool(
            f"{name}-pool",
            resource_group_name=args.resource_group_name,
            resource_name_=args.cluster_name,
            agent_pool_name="gpu",
            mode="User",
            type="VirtualMachineScaleSets",
            vm_size=args.vm_size,
            os_type="Linux",
            os_sku="Ubuntu",
            os_disk_size_gb=args.os_disk_gb,
            orchestrator_version=args.kubernetes_version,
            vnet_subnet_id=args.node_subnet_id,
            enable_node_public_ip=False,
            enable_auto_scaling=True,
            count=args.min_nodes,
            min_count=args.min_nodes,
            max_count=args.max_nodes,
            node_labels=POOL_LABEL,
            node_taints=[_taint(t, GPU_TAINT_VALUE) for t in taints],
            gpu_profile={"driver": "Install"},
            enable_encryption_at_host=True,
            upgrade_settings={
                "max_surge": args.upgrade.max_surge,
                "drain_timeout_in_minutes": args.upgrade.drain_timeout_minutes,
                "undrainable_node_behavior": args.upgrade.undrainable_node_behavior,
            },
            tags=args.tags,
            **spot,
            # The autoscaler owns the node count once the pool exists; a live pool keeps its host
            # encryption setting (set at creation).
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.provider, ignore_changes=["count", "enableEncryptionAtHost"]
            ),
        )
        self.device_plugin = nvidia_device_plugin(
            f"{name}-device-plugin",
            POOL_LABEL,
            taints,
            pulumi.ResourceOptions(parent=self, provider=args.k8s, depends_on=list(args.image_ready)),
            image=args.device_plugin_image,
        )
        self.register_outputs({"poolName": self.pool.name})
