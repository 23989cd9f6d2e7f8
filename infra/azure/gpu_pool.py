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


class GpuPool(pulumi.ComponentResource):
    pool: containerservice.AgentPool
    device_plugin: k8s.apps.v1.DaemonSet

    def __init__(self, name: str, args: GpuPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:GpuPool", name, None, opts)
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
