"""The GPU node group: tainted, labelled, scale-to-zero, plus what makes its GPUs schedulable.

* Taint `nvidia.com/gpu=true:NoSchedule` keeps everything but GPU workloads off these nodes.
* `desiredSize` is ignored after creation: the cluster autoscaler owns it, and `pulumi up`
  must not fight it.
* Cluster Autoscaler only scales an EMPTY group up if it knows the labels, taints and resources
  a node would have; EKS does not copy them to the Auto Scaling group, so we tag the ASG with
  the `k8s.io/cluster-autoscaler/node-template/...` keys ourselves. CA's template node takes cpu,
  memory and pods from the instance type and every other resource only from a
  `node-template/resources/<name>` tag (kubernetes/autoscaler cloudprovider/aws/aws_manager.go
  `buildNodeFromTemplate`); without `ephemeral-storage` a vLLM pod that requests it stays Pending
  (kubernetes/autoscaler#1650, #1869). So every non-cpu/memory resource the pod requests is tagged.
* `k8s.amazonaws.com/accelerator` is the GPU label CA's AWS provider watches
  (aws_cloud_provider.go `GPULabel`): a node that has it but whose device plugin has not yet
  reported `nvidia.com/gpu` counts as "GPU not ready", not as a node that cannot fit the pod, so
  CA does not add a second node while the plugin starts.
* AL2023 NVIDIA AMIs ship the driver and container toolkit but not the device plugin, so we
  run it as a typed DaemonSet (Bottlerocket NVIDIA ships it; nothing is deployed there).
* Multi-node replicas (model.pipelineParallelSize > 1, docs/multi-node.md): the group is launched
  into a `cluster` placement group (one rack-near set of hosts, EC2 "Placement strategies"), which
  is one AZ, so the node group keeps only the first offered zone's subnet (a cluster placement group
  across AZs launches once and fails on the next replacement: terraform-aws-eks#3044). EFA is not
  attached, and the plan says why: the upstream vLLM image has no EFA userspace (libfabric,
  aws-ofi-nccl; vllm-project/vllm#55635), so NCCL would still use TCP sockets on the primary ENI;
  EFA interfaces + the EFA device plugin need an image that has them (EFA_MISSING).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws.cluster import AmiFamily, launch_template_ref, node_launch_template
from infra.aws.settings import allocatable_ephemeral_gi
from infra.conventions import GPU_RESOURCE, GPU_TAINT_KEY, GPU_TAINT_VALUE
from infra.kube import nvidia_device_plugin
from infra.platform import GPU_TOLERATION

CA_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
# Cluster Autoscaler's AWS GPU label (cloudprovider/aws/aws_cloud_provider.go: GPULabel).
ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"
EPHEMERAL_STORAGE = "ephemeral-storage"
EFA_MISSING = (
    "multi-node GPU pool: cluster placement group in one AZ, but no EFA: the vLLM image ({image}) has no "
    "EFA userspace (libfabric, aws-ofi-nccl: vllm-project/vllm#55635), so NCCL between the group's nodes runs "
    "over TCP on the primary ENI; EFA needs an image with them, EFA interfaces in the launch template "
    "(interface_type efa, one per network card) and the EFA device plugin (vpc.amazonaws.com/efa), "
    "none of which this stack builds yet (docs/multi-node.md)"
)


def accelerator(gpu_model: str) -> str:
    """The accelerator label's value: `nvidia-<model>` (CA only checks that the label exists)."""
    return f"nvidia-{gpu_model.lower()}"


def autoscaler_tags(labels: Mapping[str, str], gpus: int, disk_gib: int) -> dict[str, str]:
    """ASG tags that let Cluster Autoscaler build a node template for a group with no nodes: the
    labels and taint, and every resource the serving pod requests that CA cannot read from the
    instance type (the GPUs, the disk's allocatable share as a quantity CA parses)."""
    tags = {f"{CA_TEMPLATE}/label/{k}": v for k, v in labels.items()}
    tags[f"{CA_TEMPLATE}/taint/{GPU_TAINT_KEY}"] = f"{GPU_TAINT_VALUE}:{GPU_TOLERATION.effect}"
    tags[f"{CA_TEMPLATE}/resources/{GPU_RESOURCE}"] = str(gpus)
    tags[f"{CA_TEMPLATE}/resources/{EPHEMERAL_STORAGE}"] = f"{allocatable_ephemeral_gi(disk_gib)}Gi"
    return tags


@dataclass(frozen=True)
class GpuPoolArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: pulumi.Input[str]  # the cluster's, so an upgrade rolls the GPU nodes after it
    node_role_arn: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    instance_types: Sequence[str]  # gpu.instanceType, then a gpu.spot list's other types (same GPU shape)
    gpus_per_node: int
    spot: bool
    min_nodes: int
    max_nodes: int
    disk_gib: int
    ami: AmiFamily
    labels: Mapping[str, str]  # the pool labels the serving pod selects (the accelerator label is added)
    gpu_model: str
    device_plugin_image: pulumi.Input[str]  # a cached copy in the stack's ECR, or as configured
    depends_on: Sequence[pulumi.Resource] = ()  # add-ons and role attachments nodes need
    group_nodes: int = 1  # nodes per replica (model.pipelineParallelSize): > 1 places them together
    server_image: str = ""  # the vLLM image, named in the plan's note on EFA


class GpuPool(pulumi.ComponentResource):
    node_group: aws.eks.NodeGroup
    placement_group: aws.ec2.PlacementGroup | None
    device_plugin: k8s.apps.v1.DaemonSet | None

    def __init__(self, name: str, args: GpuPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:GpuPool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        labels = {**args.labels, ACCELERATOR_LABEL: accelerator(args.gpu_model)}
        subnets, placement = list(args.subnet_ids), None
        self.placement_group = None
        if args.group_nodes > 1:
            self.placement_group = aws.ec2.PlacementGroup(f"{name}-placement", strategy="cluster", opts=child)
            subnets, placement = subnets[:1], self.placement_group.name
            pulumi.log.warn(EFA_MISSING.format(image=args.server_image), self)
        template = node_launch_template(f"{name}-nodes", args.disk_gib, args.ami.data_device, child, placement)
        self.node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=args.cluster_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=subnets,
            ami_type=args.ami.gpu_ami_type,
            version=args.kubernetes_version,
            capacity_type="SPOT" if args.spot else "ON_DEMAND",
            instance_types=list(args.instance_types),
            launch_template=launch_template_ref(template),
            scaling_config={"min_size": args.min_nodes, "desired_size": args.min_nodes, "max_size": args.max_nodes},
            update_config={"max_unavailable": 1},
            labels=labels,
            taints=[{"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": "NO_SCHEDULE"}],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.depends_on), ignore_changes=["scalingConfig.desiredSize"]
            ),
        )
        asg_name = self.node_group.resources.apply(lambda r: r[0].autoscaling_groups[0].name)
        for key, value in autoscaler_tags(labels, args.gpus_per_node, args.disk_gib).items():
            aws.autoscaling.Tag(
                f"{name}-asg-{key.removeprefix(CA_TEMPLATE + '/').replace('/', '-')}",
                autoscaling_group_name=asg_name,
                tag={"key": key, "value": value, "propagate_at_launch": False},
                opts=child,
            )

        self.device_plugin = None
        if args.ami.gpu_ami_type.startswith("AL2023"):
            self.device_plugin = nvidia_device_plugin(
                f"{name}-device-plugin", args.labels, [GPU_TOLERATION], child, image=args.device_plugin_image
            )
        self.register_outputs({"nodeGroupName": self.node_group.node_group_name})
