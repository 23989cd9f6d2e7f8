"""Azure platform: VNet, AKS with workload identity, GPU agent pool, private Blob storage behind a
Private Endpoint, Entra Workload ID.

SEAM for the Azure platform issue: this stub registers only the explicit Azure provider and a
Kubernetes provider for a cluster that does not exist yet, so the program and `llz plan` run end
to end. It provisions nothing; it is not the Azure platform.
"""

from __future__ import annotations

import pulumi
import pulumi_azure_native as azure_native

from infra.config import StackConfig
from infra.kube import cluster_provider, exec_kubeconfig
from infra.platform import GpuScheduling, Platform, Toleration, WorkloadIdentity


def build(cfg: StackConfig) -> Platform:
    assert cfg.azure is not None  # guaranteed by config validation for cloud=azure
    stack = pulumi.get_stack()
    provider = azure_native.Provider("azure", subscription_id=cfg.azure.subscription_id, location=cfg.region)
    cluster_name = f"llz-{stack}"
    kubeconfig = exec_kubeconfig(
        cluster_name,
        "https://unbuilt.aks.invalid",
        "",
        "kubelogin",
        ["get-token", "--login", "azurecli", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"],
        "Install kubelogin: az aks install-cli",
    )
    return Platform(
        cloud="azure",
        k8s=cluster_provider("aks", kubeconfig, pulumi.ResourceOptions(depends_on=[provider])),
        kubeconfig=kubeconfig,
        gpu=GpuScheduling(
            node_selector={"llz.io/pool": "gpu"},
            tolerations=[Toleration("nvidia.com/gpu")],
            gpus_per_replica=cfg.model.tensor_parallel_size,
            gpu_memory_gb=cfg.gpu_instance.gpu_memory_gb,
        ),
        identity=WorkloadIdentity(cfg.serving.namespace, cfg.serving.service_account),
        weights_uri=pulumi.Output.from_input(f"az://weights/{cfg.model.weights_prefix}"),
        internal_lb_annotations={"service.beta.kubernetes.io/azure-load-balancer-internal": "true"},
        exports={"region": cfg.region, "clusterName": cluster_name},
    )
