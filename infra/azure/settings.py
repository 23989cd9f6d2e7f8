"""Azure's own config section, the VNet address plan and the checks only Azure can make: SDK-free."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from infra.config.base import PinnedImage, Section
from infra.config.errors import key_error
from infra.config.runner import RunnerBase

if TYPE_CHECKING:
    from infra.config.schema import StackConfig

# Overlay pod range and service range: never routed in the VNet, but must not overlap it.
POD_CIDR = ipaddress.IPv4Network("192.168.0.0/16")
SERVICE_CIDR = ipaddress.IPv4Network("172.16.0.0/16")
DNS_SERVICE_IP = "172.16.0.10"
# How CI may reach the AKS API (cluster.apiAccess): authorized IP ranges, or self-hosted runners
# in Container Apps jobs inside the VNet (infra/azure/runner.py).
API_ACCESS = ("cidr", "runner")
# A workload-profiles Container Apps environment needs a subnet of at least /27 (learn.microsoft.com,
# container-apps/networking: "The minimum required subnet size is /27").
RUNNER_SUBNET_PREFIX = 27


class AzureRunnerConfig(RunnerBase):
    """GitHub Actions runners as Azure Container Apps jobs in the VNet (cluster.apiAccess: runner).

    Two event-driven jobs, `deploy` (up, drift) and `preview` (pull requests), each scaled by KEDA's
    github-runner rule and running as its own user-assigned managed identity; they register with
    a GitHub App whose private key is the bootstrap stack's secret `githubAppKey`.
    """

    github_app_id: int = Field(ge=1)
    github_app_installation_id: int = Field(ge=1)
    # The runner image built from runner/azure/Dockerfile, pushed to your registry, pinned.
    image: PinnedImage
    subnet_cidr: ipaddress.IPv4Network | None = None  # default: the /27 after the endpoint subnet


class AzureConfig(Section):
    """Azure-only settings. Subnet CIDRs default to slices of network.cidr (`subnet_plan`)."""

    subscription_id: str = Field(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )
    # API server without a public endpoint; Pulumi must then run from a network that reaches the VNet.
    private_cluster: bool = False
    node_subnet_cidr: ipaddress.IPv4Network | None = None  # default: first /22 of network.cidr
    endpoint_subnet_cidr: ipaddress.IPv4Network | None = None  # default: the /27 right after the node subnet
    system_vm_size: str = Field(default="Standard_D4ds_v5", pattern=r"^Standard_[A-Za-z0-9_]+$")
    system_node_count: int = Field(default=2, ge=1, le=100)
    # Both keep the pinned minor version (stable/rapid would move it and fight the pinned kubernetesVersion).
    upgrade_channel: Literal["patch", "node-image"] = "patch"
    # Encrypt the weights account with a Key Vault key (purge-protected vault) instead of Microsoft-managed keys.
    customer_managed_key: bool = False
    runner: AzureRunnerConfig | None = None  # with cluster.apiAccess: runner (built by <stack>-bootstrap)


@dataclass(frozen=True)
class SubnetPlan:
    vnet: ipaddress.IPv4Network
    nodes: ipaddress.IPv4Network
    endpoints: ipaddress.IPv4Network
    runner: ipaddress.IPv4Network | None = None  # the CI runners' Container Apps environment


def subnet_plan(cfg: StackConfig) -> SubnetPlan:
    """The VNet's address plan; a config error (one line) when it cannot work."""
    assert cfg.azure is not None
    vnet = cfg.network.cidr
    if vnet.prefixlen > 26:
        raise key_error("network.cidr", str(vnet), "too small for Azure; need a /26 or larger")
    nodes = cfg.azure.node_subnet_cidr or next(vnet.subnets(new_prefix=max(22, vnet.prefixlen + 1)))
    endpoints = cfg.azure.endpoint_subnet_cidr or ipaddress.IPv4Network(f"{nodes.broadcast_address + 1}/27")
    runner = _runner_subnet(cfg.azure.runner, endpoints)
    named = [("azure.nodeSubnetCidr", nodes), ("azure.endpointSubnetCidr", endpoints)]
    named += [("azure.runner.subnetCidr", runner)] if runner else []
    for key, subnet in named:
        if not subnet.subnet_of(vnet):
            raise key_error(key, str(subnet), f"not inside network.cidr {vnet}")
    if nodes.overlaps(endpoints):
        raise key_error("azure.endpointSubnetCidr", str(endpoints), f"overlaps the node subnet {nodes}")
    for other_key, other in named[:2]:
        if runner and runner.overlaps(other):
            raise key_error("azure.runner.subnetCidr", str(runner), f"overlaps {other_key} {other}")
    for reserved in (POD_CIDR, SERVICE_CIDR):
        if vnet.overlaps(reserved):
            raise key_error(
                "network.cidr",
                str(vnet),
                f"overlaps the AKS overlay/service range {reserved}; pick a 10.x or other private range",
            )
    return SubnetPlan(vnet, nodes, endpoints, runner)


def _runner_subnet(runner: AzureRunnerConfig | None, endpoints: ipaddress.IPv4Network) -> ipaddress.IPv4Network | None:
    if runner is None:
        return None
    subnet = runner.subnet_cidr or ipaddress.IPv4Network(f"{endpoints.broadcast_address + 1}/{RUNNER_SUBNET_PREFIX}")
    if subnet.prefixlen > RUNNER_SUBNET_PREFIX:
        raise key_error(
            "azure.runner.subnetCidr",
            str(subnet),
            f"a Container Apps environment needs a /{RUNNER_SUBNET_PREFIX} or larger",
        )
    return subnet


def runner_job_name(stack: str, kind: str) -> str:
    """A runner's Container Apps job (and identity) name: lower-case letters, digits and '-', at
    most 32 characters; shortened with a hash for long stack names."""
    slug = re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-")
    name = f"llz-{slug}-{kind}"
    if len(name) <= 32:
        return name
    digest = hashlib.sha256(stack.encode()).hexdigest()[:6]
    return f"llz-{slug[: 32 - len(kind) - 12].rstrip('-')}-{digest}-{kind}"


def default() -> AzureConfig:
    raise key_error("azure", "(missing)", "required for cloud=azure: an object with subscriptionId")


def check(cfg: StackConfig) -> None:
    subnet_plan(cfg)
    assert cfg.azure is not None
    runners = cfg.azure.runner is not None
    if cfg.role == "bootstrap" and runners and not cfg.github_app_key:
        raise key_error(
            "githubAppKey",
            None,
            "the runners register with the GitHub App azure.runner.githubAppId: set its private key as a "
            "secret of this bootstrap stack (pulumi config set --secret githubAppKey < app.pem)",
        )
