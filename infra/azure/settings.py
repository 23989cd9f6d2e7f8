"""Azure's own config section, the VNet address plan and the checks only Azure can make: SDK-free."""

from __future__ import annotations

import ipaddress
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from infra.config.base import Cidr, Section
from infra.config.errors import key_error

if TYPE_CHECKING:
    from infra.config.schema import StackConfig

# Overlay pod range and service range: never routed in the VNet, but must not overlap it.
POD_CIDR = ipaddress.IPv4Network("192.168.0.0/16")
SERVICE_CIDR = ipaddress.IPv4Network("172.16.0.0/16")
DNS_SERVICE_IP = "172.16.0.10"
# Azure's smallest subnet is a /29 (learn.microsoft.com/azure/virtual-network/virtual-networks-faq:
# "The smallest supported IPv4 subnet is /29"); the default endpoint subnet is a /27.
SMALLEST_SUBNET, ENDPOINT_PREFIX = 29, 27


_GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
Guid = typing.Annotated[str, Field(pattern=_GUID)]


class Principal(Section):
    """An Entra ID principal by object id, with its type: a role assignment whose type does not match
    the principal fails (UnmatchedPrincipalType), and the SDK's default is `User`."""

    principal_id: Guid
    principal_type: Literal["ServicePrincipal", "User", "Group"] = "ServicePrincipal"


class AzureConfig(Section):
    """Azure-only settings. Subnet CIDRs default to slices of network.cidr (`subnet_plan`)."""

    subscription_id: Guid
    # Who runs `pulumi up` (CI: the federated app's service principal object id). It gets cluster
    # admin through Azure RBAC from config, never from whoever happens to run the program.
    deployer: Principal
    admin_group_ids: tuple[Guid, ...] = ()  # Entra groups that also get cluster admin (Azure RBAC)
    # How the kubeconfig's kubelogin gets tokens: azurecli (a person's `az login`), msi (a runner in
    # the VNet with a managed identity; AZURE_CLIENT_ID picks a user-assigned one), workloadidentity
    # (AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_FEDERATED_TOKEN_FILE). azurecli in CI depends on the
    # az CLI's cached token from a short-lived OIDC assertion, so long runs should use msi.
    kubelogin_mode: Literal["azurecli", "msi", "workloadidentity"] = "azurecli"
    # API server without a public endpoint; Pulumi must then run from a network that reaches the VNet.
    private_cluster: bool = False
    node_subnet_cidr: Cidr | None = None  # default: first /22 of network.cidr
    endpoint_subnet_cidr: Cidr | None = None  # default: the /27 right after the node subnet
    system_vm_size: str = Field(default="Standard_D4ds_v5", pattern=r"^Standard_[A-Za-z0-9_]+$")
    system_node_count: int = Field(default=2, ge=1, le=100)
    # Both keep the pinned minor version (stable/rapid would move it and fight the pinned kubernetesVersion).
    upgrade_channel: Literal["patch", "node-image"] = "patch"
    # Encrypt the weights account with a Key Vault key (purge-protected vault) instead of Microsoft-managed keys.
    customer_managed_key: bool = False


@dataclass(frozen=True)
class SubnetPlan:
    vnet: ipaddress.IPv4Network
    nodes: ipaddress.IPv4Network
    endpoints: ipaddress.IPv4Network


def subnet_plan(cfg: StackConfig) -> SubnetPlan:
    """The VNet's address plan; a config error (one line) when it cannot work."""
    assert cfg.azure is not None
    vnet = cfg.network.cidr
    if vnet.prefixlen > 26:
        raise key_error("network.cidr", str(vnet), "too small for Azure; need a /26 or larger")
    nodes = cfg.azure.node_subnet_cidr or next(vnet.subnets(new_prefix=max(22, vnet.prefixlen + 1)))
    endpoints = cfg.azure.endpoint_subnet_cidr or _next_block(nodes, ENDPOINT_PREFIX)
    if endpoints is None:
        raise key_error(
            "azure.nodeSubnetCidr",
            str(nodes),
            f"leaves no room for the /{ENDPOINT_PREFIX} endpoint subnet after it (the end of the IPv4 space); "
            "move it or set azure.endpointSubnetCidr",
        )
    for key, subnet in (("azure.nodeSubnetCidr", nodes), ("azure.endpointSubnetCidr", endpoints)):
        if subnet.prefixlen > SMALLEST_SUBNET:
            raise key_error(key, str(subnet), f"smaller than Azure allows; a subnet is a /{SMALLEST_SUBNET} or larger")
        if not subnet.subnet_of(vnet):
            raise key_error(key, str(subnet), f"not inside network.cidr {vnet}")
    if nodes.overlaps(endpoints):
        raise key_error("azure.endpointSubnetCidr", str(endpoints), f"overlaps the node subnet {nodes}")
    for reserved in (POD_CIDR, SERVICE_CIDR):
        if vnet.overlaps(reserved):
            raise key_error(
                "network.cidr",
                str(vnet),
                f"overlaps the AKS overlay/service range {reserved}; pick a 10.x or other private range",
            )
    return SubnetPlan(vnet, nodes, endpoints)


def _next_block(after: ipaddress.IPv4Network, prefix: int) -> ipaddress.IPv4Network | None:
    """The first /`prefix` block that starts after `after` (aligned), or None past the end of IPv4."""
    size = 2 ** (32 - prefix)
    start = -(-(int(after.broadcast_address) + 1) // size) * size
    return ipaddress.IPv4Network((start, prefix)) if start + size <= 2**32 else None


def default() -> AzureConfig:
    raise key_error("azure", "(missing)", "required for cloud=azure: an object with subscriptionId and deployer")


def check(cfg: StackConfig) -> None:
    subnet_plan(cfg)
