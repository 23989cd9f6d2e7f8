"""Kubeconfig and Kubernetes provider from a cluster's endpoint, CA and exec credential plugin.

All three clouds authenticate with short-lived tokens from an exec plugin (aws eks get-token,
gke-gcloud-auth-plugin, kubelogin), so the kubeconfig holds no static credential; it is still
exported as a secret because it names the endpoint and CA.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s


def exec_kubeconfig(
    cluster_name: pulumi.Input[str],
    endpoint: pulumi.Input[str],
    ca_data: pulumi.Input[str],
    command: str,
    args: Sequence[pulumi.Input[str]],
    install_hint: str,
) -> pulumi.Output[str]:
    """A kubeconfig (JSON, which kubectl reads as YAML) using an exec credential plugin."""

    def render(values: list[str]) -> str:
        name, server, ca, *exec_args = values
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
                "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca}}],
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
