"""Service and NetworkPolicy specs: who can reach port 8000, and where serving pods may connect.

Default deny in both directions for the namespace, then narrow allows: ingress on 8000 from the
configured client namespaces/labels, the metrics scraper and (behind a load balancer) the caller
CIDRs; egress to DNS and to the Platform's storage / token endpoints only. A rule with an empty
`from`/`to` would mean "everyone", so none is ever emitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infra.config.schema import ServingConfig, ServingPeer
from infra.platform import EgressRule, ManagedMetrics
from infra.serving.pod import PORT

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
# CoreDNS/kube-dns runs in kube-system on EKS, GKE and AKS; a node-local cache (if the cloud has
# one) comes from Platform.dns_cidrs.
KUBE_DNS = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "kube-system"}}}


def load_balancer_sources(serving: ServingConfig) -> list[str]:
    """Who may call through the LB: the configured CIDRs; everyone only for an (insecure) public LB without them."""
    if serving.expose == "cluster-ip":
        return []
    return [str(c) for c in serving.allowed_cidrs] or ["0.0.0.0/0"]


def service_spec(serving: ServingConfig, selector: Mapping[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "ClusterIP",
        "selector": dict(selector),
        "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
    }
    if serving.expose != "cluster-ip":
        # Keep the caller's source IP, so the NetworkPolicy's ipBlocks see the real client.
        spec |= {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}
        if serving.allowed_cidrs:
            spec["loadBalancerSourceRanges"] = [str(c) for c in serving.allowed_cidrs]
    return spec


def service_annotations(serving: ServingConfig, internal_lb: Mapping[str, str]) -> dict[str, str]:
    return dict(internal_lb) if serving.expose == "internal-lb" else {}


def _peer(peer: ServingPeer) -> dict[str, Any]:
    out: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: peer.namespace}}}
    if peer.pod_labels:
        out["podSelector"] = {"matchLabels": dict(peer.pod_labels)}
    return out


def ingress_peers(serving: ServingConfig, managed: ManagedMetrics | None = None) -> list[dict[str, Any]]:
    peers = [_peer(p) for p in serving.allowed_clients]
    if serving.metrics.scrape_annotations or serving.metrics.service_monitor:
        peers.append(_peer(serving.metrics.scraper))
    if managed is not None and managed.collector_namespace is not None:  # managed collectors, as pods
        collector = ServingPeer(namespace=managed.collector_namespace, pod_labels=dict(managed.collector_pod_labels))
        peers.append(_peer(collector))
    if managed is not None:  # an agentless scraper, by the ranges it scrapes from
        peers += [{"ipBlock": {"cidr": cidr}} for cidr in managed.collector_cidrs]
    return peers + [{"ipBlock": {"cidr": cidr}} for cidr in load_balancer_sources(serving)]


def default_deny_spec() -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def ingress_spec(selector: Mapping[str, str], peers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "podSelector": {"matchLabels": dict(selector)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": list(peers), "ports": [{"port": PORT, "protocol": "TCP"}]}],
    }


def egress_spec(selector: Mapping[str, str], egress: Sequence[EgressRule], dns_cidrs: Sequence[str]) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        {
            "to": [KUBE_DNS, *({"ipBlock": {"cidr": c}} for c in dns_cidrs)],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    ]
    rules += [
        {"to": [{"ipBlock": {"cidr": r.cidr}}], "ports": [{"port": p, "protocol": "TCP"} for p in r.ports]}
        for r in egress
    ]
    return {"podSelector": {"matchLabels": dict(selector)}, "policyTypes": ["Egress"], "egress": rules}


# The staging Job (and only it) downloads from the Hugging Face Hub, whose CDN has no fixed
# addresses: HTTPS to any public address. Private, shared (CGNAT) and link-local ranges stay
# closed, so the Job cannot reach the cluster, the VPC/VNet or the node's metadata service through
# this rule; what it needs there (storage endpoint, token endpoints) comes from the Platform.
NOT_PUBLIC = ("10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16")
HUB_EGRESS = {
    "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NOT_PUBLIC)}}],
    "ports": [{"port": 443, "protocol": "TCP"}],
}


def stager_egress_spec(
    selector: Mapping[str, str], egress: Sequence[EgressRule], dns_cidrs: Sequence[str]
) -> dict[str, Any]:
    """The serving pods' egress (DNS, storage, tokens) plus HTTPS to public addresses (the hub)."""
    spec = egress_spec(selector, egress, dns_cidrs)
    spec["egress"].append(HUB_EGRESS)
    return spec
