"""AWS platform: VPC + endpoints, EKS, GPU node group, private S3 weights bucket, Pod Identity.

SEAM for the AWS platform issue: this stub registers only the explicit AWS provider and a
Kubernetes provider for a cluster that does not exist yet, so the program and `llz plan` run end
to end. It provisions nothing; it is not the AWS platform.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.config import StackConfig
from infra.kube import cluster_provider, exec_kubeconfig
from infra.platform import GpuScheduling, Platform, Toleration, WorkloadIdentity


def build(cfg: StackConfig) -> Platform:
    stack = pulumi.get_stack()
    provider = aws.Provider(
        "aws",
        region=cfg.region,
        default_tags={"tags": {"project": "llm-landing-zone", "stack": stack}},
    )
    cluster_name = f"llz-{stack}"
    kubeconfig = exec_kubeconfig(
        cluster_name,
        "https://unbuilt.eks.invalid",
        "",
        "aws",
        ["eks", "get-token", "--cluster-name", cluster_name, "--region", cfg.region],
        "Install the AWS CLI v2: https://docs.aws.amazon.com/cli/",
    )
    bucket = f"llz-{stack}-weights"
    return Platform(
        cloud="aws",
        k8s=cluster_provider("eks", kubeconfig, pulumi.ResourceOptions(depends_on=[provider])),
        kubeconfig=kubeconfig,
        gpu=GpuScheduling(
            node_selector={"llz.io/pool": "gpu"},
            tolerations=[Toleration("nvidia.com/gpu")],
            gpus_per_replica=cfg.model.tensor_parallel_size,
            gpu_memory_gb=cfg.gpu_instance.gpu_memory_gb,
        ),
        identity=WorkloadIdentity(cfg.serving.namespace, cfg.serving.service_account),
        weights_uri=pulumi.Output.from_input(f"s3://{bucket}/{cfg.model.weights_prefix}"),
        internal_lb_annotations={"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
        exports={"region": cfg.region, "clusterName": cluster_name},
    )
