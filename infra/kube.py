"""Kubeconfig and Kubernetes provider from a cluster's endpoint, CA and exec credential plugin.

All three clouds authenticate with short-lived tokens from an exec plugin (aws eks get-token,
gke-gcloud-auth-plugin, kubelogin), so the kubeconfig holds no static credential; it is still
exported as a secret because it names the endpoint and CA.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.conventions import DCGM_LABELS, DCGM_NAMESPACE, DCGM_PORT, NVIDIA_DEVICE_PLUGIN_IMAGE
from infra.platform import Toleration

_DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"


def exec_kubeconfig(
    cluster_name: pulumi.Input[str],
    endpoint: pulumi.Input[str],
    ca_data: pulumi.Input[str] | None,
    command: str,
    args: Sequence[pulumi.Input[str]],
    install_hint: str,
) -> pulumi.Output[str]:
    """A kubeconfig (JSON, which kubectl reads as YAML) using an exec credential plugin.

    `ca_data` None: the server has a publicly trusted certificate (GKE's DNS endpoint), so the
    client verifies it against the system roots and the kubeconfig names no CA.
    """

    def render(values: list[str]) -> str:
        name, server, ca, *exec_args = values
        cluster = {"server": server, **({"certificate-authority-data": ca} if ca is not None else {})}
        user = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": command,
                "args": exec_args,
                "interactiveMode": "Never",
                "provideClusterInfo": False,
                "installHint": install_hint,
            }
        }
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": name, "cluster": cluster}],
                "users": [{"name": name, "user": user}],
                "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
                "current-context": name,
            },
            indent=2,
        )

    return pulumi.Output.secret(pulumi.Output.all(cluster_name, endpoint, ca_data, *args).apply(render))


def cluster_provider(
    name: str, kubeconfig: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
) -> k8s.Provider:
    """The explicit Kubernetes provider every in-cluster resource uses (never ~/.kube/config)."""
    return k8s.Provider(name, kubeconfig=kubeconfig, opts=opts)


def nvidia_device_plugin(
    name: str,
    node_selector: Mapping[str, str],
    tolerations: Sequence[Toleration],
    opts: pulumi.ResourceOptions,
    image: pulumi.Input[str] = NVIDIA_DEVICE_PLUGIN_IMAGE,
) -> k8s.apps.v1.DaemonSet:
    """NVIDIA's static device-plugin DaemonSet (nvidia-device-plugin.yml), on the GPU pool only.

    For node images that ship the driver but not the plugin (EKS AL2023, AKS). Typed rather than a
    Helm release, so the plan, `--manifests` and the policy pack see the object.
    """
    labels = {"app.kubernetes.io/name": "nvidia-device-plugin", "app.kubernetes.io/part-of": "llm-landing-zone"}
    container = {
        "name": "nvidia-device-plugin",
        "image": image,
        "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
        "security_context": {"allow_privilege_escalation": False, "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "volume_mounts": [{"name": "device-plugin", "mount_path": _DEVICE_PLUGIN_DIR}],
    }
    volume = {"name": "device-plugin", "host_path": {"path": _DEVICE_PLUGIN_DIR}}
    meta = {"name": "nvidia-device-plugin", "namespace": "kube-system", "labels": labels}
    return _gpu_daemonset(name, meta, node_selector, tolerations, container, volume, opts)


def dcgm_exporter(
    name: str,
    node_selector: Mapping[str, str],
    tolerations: Sequence[Toleration],
    image: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.apps.v1.DaemonSet:
    """NVIDIA's DCGM exporter (its Helm chart's DaemonSet, typed) on the GPU pool, where the cloud
    gives no GPU series the rules can use (EKS, AKS): utilisation and frame-buffer use per GPU from
    the default counters, `Hostname` the node (NODE_NAME; dcgm-exporter internal/pkg/hostname), pod
    attribution through the kubelet's pod-resources socket, read only. No SYS_ADMIN: that is for the
    profiling (DCP) counters, which the exporter skips without it and nothing here reads."""
    pod_resources = "/var/lib/kubelet/pod-resources"
    container = {
        "name": "dcgm-exporter",
        "image": image,
        "args": ["-f", "/etc/dcgm-exporter/default-counters.csv"],
        "env": [
            {"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"},
            {"name": "DCGM_EXPORTER_LISTEN", "value": f":{DCGM_PORT}"},
            # Every GPU of the node, without requesting one (the NVIDIA runtime's switch).
            {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"},
            {"name": "NODE_NAME", "value_from": {"field_ref": {"field_path": "spec.nodeName"}}},
        ],
        "ports": [{"name": "metrics", "container_port": DCGM_PORT, "protocol": "TCP"}],
        # A named system DaemonSet of the policy pack: root for the GPU device files and the
        # pod-resources socket, nothing else.
        "security_context": {
            "run_as_user": 0,
            "allow_privilege_escalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "volume_mounts": [{"name": "pod-resources", "mount_path": pod_resources, "read_only": True}],
    }
    volume = {"name": "pod-resources", "host_path": {"path": pod_resources}}
    meta = {"name": "dcgm-exporter", "namespace": DCGM_NAMESPACE, "labels": DCGM_LABELS}
    return _gpu_daemonset(name, meta, node_selector, tolerations, container, volume, opts)


def _gpu_daemonset(
    name: str,
    metadata: Mapping[str, Any],
    node_selector: Mapping[str, str],
    tolerations: Sequence[Toleration],
    container: Mapping[str, Any],
    volume: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.apps.v1.DaemonSet:
    """A node agent on every GPU node only: node-critical, no API token, one container and one host path."""
    labels = metadata["labels"]
    return k8s.apps.v1.DaemonSet(
        name,
        metadata=dict(metadata),
        spec={
            "selector": {"match_labels": labels},
            "update_strategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priority_class_name": "system-node-critical",
                    "node_selector": dict(node_selector),
                    "tolerations": [t.as_k8s() for t in tolerations],
                    "automount_service_account_token": False,
                    "containers": [dict(container)],
                    "volumes": [dict(volume)],
                },
            },
        },
        opts=opts,
    )
