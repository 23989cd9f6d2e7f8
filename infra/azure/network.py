"""Resource group, VNet and its standalone subnets (nodes, private endpoints, the API server's), and egress.

Subnets are standalone `network.Subnet` resources and the VNet declares no inline `subnets`:
mixing the two makes each side delete the other's subnets. With Azure CNI overlay pods take
their IPs from the overlay range, so the node subnet only has to hold the nodes. The API server
subnet is delegated to AKS for API Server VNet Integration: the control plane gets an internal load
balancer there, and nodes reach it privately (without it, nodes behind the NAT gateway reach a public
API server from the NAT IP, which must then be in the authorized ranges; MicrosoftDocs
api-server-authorized-ip-ranges, azure-docs #111834).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
from pulumi_azure_native import network, resources

from infra.azure.settings import SubnetPlan


@dataclass(frozen=True)
class NetworkArgs:
    stack: str
    location: str
    subnets: SubnetPlan
    egress: Literal["nat", "none"]
    tags: dict[str, str]
    provider: pulumi.ProviderResource


class Network(pulumi.ComponentResource):
    resource_group_name: pulumi.Output[str]
    vnet_id: pulumi.Output[str]
    vnet_name: pulumi.Output[str]
    node_subnet_id: pulumi.Output[str]
    endpoint_subnet_id: pulumi.Output[str]
    api_server_subnet_id: pulumi.Output[str]
    last_subnet: network.Subnet  # the last subnet written (ARM takes one subnet write per VNet at a time)
    nat_gateway_id: pulumi.Output[str] | None  # None with egress none
    egress_ip: pulumi.Output[str] | None  # the NAT gateway's static public IP

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        group = resources.ResourceGroup(
            f"{name}-rg", resource_group_name=f"llz-{args.stack}", location=args.location, tags=args.tags, opts=child
        )
        rg = group.name
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=rg,
            location=args.location,
            address_space={"address_prefixes": [str(args.subnets.vnet)]},
            tags=args.tags,
            opts=child,
        )
        nat_gateway = egress_ip = None
        if args.egress == "nat":
            # A NAT gateway we own (outboundType userAssignedNATGateway): stable egress IP, no node public IPs.
            egress_ip = network.PublicIPAddress(
                f"{name}-nat-ip",
                resource_group_name=rg,
                location=args.location,
                sku={"name": "Standard", "tier": "Regional"},
                public_ip_allocation_method="Static",
                public_ip_address_version="IPv4",
                tags=args.tags,
                opts=child,
            )
            nat_gateway = network.NatGateway(
                f"{name}-nat",
                resource_group_name=rg,
                location=args.location,
                sku={"name": "Standard"},
                public_ip_addresses=[{"id": egress_ip.id}],
                idle_timeout_in_minutes=10,
                tags=args.tags,
                opts=child,
            )
        nodes = network.Subnet(
            f"{name}-nodes",
            resource_group_name=rg,
            virtual_network_name=vnet.name,
            subnet_name="nodes",
            address_prefix=str(args.subnets.nodes),
            nat_gateway={"id": nat_gateway.id} if nat_gateway else None,
            default_outbound_access=False,  # no implicit internet egress: only the NAT gateway (or none)
            opts=child,
        )
        endpoints = network.Subnet(
            f"{name}-endpoints",
            resource_group_name=rg,
            virtual_network_name=vnet.name,
            subnet_name="private-endpoints",
            address_prefix=str(args.subnets.endpoints),
            private_endpoint_network_policies="Disabled",
            default_outbound_access=False,
            # Azure rejects concurrent subnet writes on one VNet (AnotherOperationInProgress).
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[nodes])),
        )
        assert args.subnets.api_server is not None  # infra.azure.settings.subnet_plan always plans it
        api_server = network.Subnet(
            f"{name}-api-server",
            resource_group_name=rg,
            virtual_network_name=vnet.name,
            subnet_name="api-server",
            address_prefix=str(args.subnets.api_server),
            # learn.microsoft.com/azure/aks/api-server-vnet-integration: a subnet delegated to AKS.
            delegations=[{"name": "aks-api-server", "service_name": "Microsoft.ContainerService/managedClusters"}],
            default_outbound_access=False,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[endpoints])),
        )
        self.resource_group_name = rg
        self.vnet_id, self.vnet_name = vnet.id, vnet.name
        self.last_subnet = api_server
        self.api_server_subnet_id = api_server.id
        self.nat_gateway_id = nat_gateway.id if nat_gateway else None
        self.egress_ip = egress_ip.ip_address if egress_ip else None
        self.node_subnet_id = nodes.id
        self.endpoint_subnet_id = endpoints.id
        self.register_outputs(
            {
                "resourceGroupName": rg,
                "vnetId": vnet.id,
                "nodeSubnetId": nodes.id,
                "endpointSubnetId": endpoints.id,
                "apiServerSubnetId": api_server.id,
            }
        )
