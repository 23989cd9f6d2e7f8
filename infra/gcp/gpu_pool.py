"""The GPU node pool: scale-from-zero, tainted so only GPU workloads land on it.

GKE installs the NVIDIA driver (`gpu_driver_version`) and runs the device plugin itself, so
nothing is deployed into the cluster for GPUs. Image streaming (GCFS) starts containers before
their image is fully pulled, which shortens cold starts for images in Artifact Registry (it needs
the Container File System API and serviceUsageConsumer on the node SA: infra/gcp/apis.py,
identity.py). Boot disks are encrypted with the stack's node-disk key.

Multi-node replicas (model.pipelineParallelSize > 1, docs/multi-node.md): the pool gets a COMPACT
placement policy (nodes physically close in one zone: cloud.google.com/kubernetes-engine/docs/how-to/
compact-placement; pulumi-gcp NodePoolPlacementPolicy "Supports a single value: COMPACT"), in the
first of gcp.nodeZones. A3's GPUDirect NICs are not set up, and the plan says what that needs
(GPUDIRECT_MISSING): NCCL between the nodes runs over TCP on the primary gVNIC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra import catalog
from infra.conventions import GPU_POOL, GPU_TAINT_KEY, GPU_TAINT_VALUE
from infra.gcp.cluster import node_config

UPGRADE = {"strategy": "SURGE", "max_surge": 1, "max_unavailable": 0}
GPU_TAINT = {"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": "NO_SCHEDULE"}
_NO_GPUDIRECT = (
    "multi-node GPU pool: compact placement in {zone}, but no GPUDirect: NCCL between the group's nodes runs over "
    "TCP on the primary gVNIC. {what} this stack builds none of it yet (docs/multi-node.md)"
)
GPUDIRECT_MISSING = {
    # cloud.google.com/kubernetes-engine/docs/how-to/gpu-bandwidth-gpudirect-tcpx
    "gpudirect-tcpx": "A3 High's GPUDirect-TCPX needs 4 more VPCs with a subnet each, GKE multi-networking "
    "(Network and GKENetworkParamSet objects, one per GPU NIC), the TCPX NCCL plug-in installer DaemonSet and a "
    "privileged tcpx-daemon sidecar in every pod (which the serving namespace's restricted Pod Security forbids);",
    # cloud.google.com/kubernetes-engine/docs/how-to/gpu-bandwidth-gpudirect-rdma
    "gpudirect-rdma": "A3 Ultra's GPUDirect-RDMA needs a VPC with the RDMA network profile and 8 subnets, GKE "
    "multi-networking (Network and GKENetworkParamSet objects for the 8 RoCE NICs) and the gIB NCCL plug-in "
    "installer DaemonSet;",
}


@dataclass(frozen=True)
class GpuPoolArgs:
    cluster: pulumi.Input[str]
    region: str
    node_zones: Sequence[str]
    machine_type: str
    accelerator: str
    gpus: int
    driver_version: str
    spot: bool
    min_nodes: int
    max_nodes: int
    disk_gb: int
    service_account: pulumi.Input[str]
    boot_disk_key: pulumi.Input[str]  # CMEK for the boot disk: the decrypted weights and images sit there
    key_grant: pulumi.Resource  # the Compute Engine agent's grant on boot_disk_key (checked at create)
    group_nodes: int = 1  # nodes per replica (model.pipelineParallelSize): > 1 places them compactly


class GpuPool(pulumi.ComponentResource):
    pool: gcp.container.NodePool

    def __init__(self, name: str, args: GpuPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:GpuPool", name, None, opts)
        zones, placement = list(args.node_zones) or None, {}
        if args.group_nodes > 1:  # one zone, compact (gcp settings.check: nodeZones is set)
            zones, placement = list(args.node_zones)[:1], {"placement_policy": {"type": "COMPACT"}}
            what = GPUDIRECT_MISSING.get(catalog.FABRIC.get(args.machine_type, ""), "")
            pulumi.log.warn(_NO_GPUDIRECT.format(zone=zones[0], what=what), self)
        self.pool = gcp.container.NodePool(
            f"{name}-pool",
            cluster=args.cluster,
            location=args.region,
            node_locations=zones,
            **placement,
            initial_node_count=0,  # pending GPU pods scale it up; nothing idles at min 0
            autoscaling={
                "total_min_node_count": args.min_nodes,
                "total_max_node_count": args.max_nodes,
                "location_policy": "ANY",  # any zone with capacity; fewer spot preemptions
            },
            management={"auto_repair": True, "auto_upgrade": True},
            # Surge: the new node (driver installed, image streaming warm) exists before the old one
            # drains, so the evicted replica restarts at once instead of waiting for a scale-up; the
            # GPU quota must cover gpu.maxNodes + 1 (docs/gcp.md). Strategy/max_surge/max_unavailable:
            # pulumi-gcp NodePoolUpgradeSettings ("SURGE" is the default strategy, made explicit).
            upgrade_settings=UPGRADE,
            node_config=node_config(
                args.service_account,
                GPU_POOL,
                machine_type=args.machine_type,
                guest_accelerators=[
                    {
                        "type": args.accelerator,
                        "count": args.gpus,
                        "gpu_driver_installation_config": {"gpu_driver_version": args.driver_version},
                    }
                ],
                spot=args.spot,
                disk_size_gb=args.disk_gb,
                disk_type="pd-balanced",
                boot_disk_kms_key=args.boot_disk_key,
                gcfs_config={"enabled": True},
                gvnic={"enabled": True},
                taints=[GPU_TAINT],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.key_grant]),
        )
        self.register_outputs({"name": self.pool.name})
