"""The serving pods' route to Entra ID, which has no fixed CIDR and no private endpoint.

The workload-identity token exchange (azidentity, AZURE_AUTHORITY_HOST login.microsoftonline.com)
is the one internet destination the model server needs. A Kubernetes NetworkPolicy can only name
addresses, so `azure.tokenEgress`:

- `fqdn` (default): AKS Advanced Container Networking Services with Cilium FQDN filtering
  (`networkProfile.advancedNetworking.security.advancedNetworkPolicies: FQDN`, azure-native 3.29,
  API 2025-09-01) and a CiliumClusterwideNetworkPolicy that lets the pods this platform federates
  (label azure.workload.identity/use=true) in the serving namespace reach only the Entra ID hosts on
  443, with DNS through Cilium's proxy (toFQDNs learns the addresses from the answers; Cilium docs
  "DNS based" policies). Cluster-wide, so the platform owns it without the serving namespace existing
  first; policies add up, so the namespace's default deny stays the base. ACNS is billed per node.
- `open-insecure`: HTTPS to any address from the model server (a NetworkPolicy `0.0.0.0/0:443`):
  an exfiltration path, refused with environment=prod.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.azure.settings import ENTRA_ID_HOSTS

WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"
# The advanced networking profile that turns on Cilium's FQDN policies (no observability add-on).
ADVANCED_NETWORKING = {
    "enabled": True,
    "security": {"enabled": True, "advanced_network_policies": "FQDN"},
    "observability": {"enabled": False},
}


def token_egress_spec(namespace: str) -> dict:
    """The CiliumClusterwideNetworkPolicy spec: DNS via the proxy, HTTPS to Entra ID only."""
    return {
        "endpointSelector": {
            "matchLabels": {"k8s:io.kubernetes.pod.namespace": namespace, WORKLOAD_IDENTITY_LABEL: "true"}
        },
        "egress": [
            {
                "toEndpoints": [
                    {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}}
                ],
                "toPorts": [
                    {
                        "ports": [{"port": "53", "protocol": "ANY"}],
                        "rules": {"dns": [{"matchPattern": "*"}]},
                    }
                ],
            },
            {
                "toFQDNs": [{"matchName": host} for host in ENTRA_ID_HOSTS],
                "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
            },
        ],
    }


def token_egress_policy(name: str, namespace: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        name,
        api_version="cilium.io/v2",
        kind="CiliumClusterwideNetworkPolicy",
        metadata={"name": f"llz-{namespace}-entra-id-egress"},
        spec=token_egress_spec(namespace),
        opts=opts,
    )
