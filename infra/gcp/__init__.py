"""GCP platform: VPC with Private Google Access, private GKE, GPU node pool, CMEK GCS bucket,
Workload Identity.

SEAM for the GCP platform issue: this stub registers only the explicit GCP provider and a
Kubernetes provider for a cluster that does not exist yet, so the program and `llz plan` run end
to end. It provisions nothing; it is not the GCP platform.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig
from infra.kube import cluster_provider, exec_kubeconfig
from infra.platform import GpuScheduling, Platform, Toleration, WorkloadIdentity


def build(cfg: StackConfig) -> Platform:
    assert cfg.gcp is not None  # guaranteed by config validation for cloud=gcp
    stack = pulumi.get_stack()
    provider = gcp.Provider(
        "gcp",
        project=cfg.gcp.project,
        region=cfg.region,
        default_labels={"project": "llm-landing-zone", "stack": stack},
    )
    cluster_name = f"llz-{stack}"
    kubeconfig = exec_kubeconfig(
        cluster_name,
        "https://unbuilt.gke.invalid",
        "",
        "gke-gcloud-auth-plugin",
        [],
        "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
    )
    bucket = f"{cfg.gcp.project}-llz-{stack}-weights"
    return Platform(
        cloud="gcp",
        k8s=cluster_provider("gke", kubeconfig, pulumi.ResourceOptions(depends_on=[provider])),
        kubeconfig=kubeconfig,
        gpu=GpuScheduling(
            node_selector={"cloud.google.com/gke-accelerator": cfg.gpu_instance.accelerator},
            tolerations=[Toleration("nvidia.com/gpu")],
            gpus_per_replica=cfg.model.tensor_parallel_size,
            gpu_memory_gb=cfg.gpu_instance.gpu_memory_gb,
        ),
        identity=WorkloadIdentity(cfg.serving.namespace, cfg.serving.service_account),
        weights_uri=pulumi.Output.from_input(f"gs://{bucket}/{cfg.model.weights_prefix}"),
        internal_lb_annotations={"networking.gke.io/load-balancer-type": "Internal"},
        exports={"region": cfg.region, "project": cfg.gcp.project, "clusterName": cluster_name},
    )
