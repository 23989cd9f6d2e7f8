"""Private Endpoint for a PaaS service, with the privatelink DNS zone that makes its name resolve.

A private endpoint alone is not enough: without the `privatelink.*` zone linked to the VNet and
the DNS zone group that writes the A record, the account name still resolves to its public IP,
and with public network access disabled every request returns 403. Workloads wait for the
zone's VNet link as well as the A record (`ready`): before the link exists the name still resolves
publicly. The link's resolution policy `NxDomainRedirect` makes a name the private zone does not
hold (another account's private endpoint in another VNet) fall back to public DNS instead of
NXDOMAIN (azure-native 3.29 privatedns.VirtualNetworkLink `resolution_policy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns


@dataclass(frozen=True)
class PrivateEndpointArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    vnet_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    target_id: pulumi.Input[str]  # the resource the endpoint connects to (e.g. the storage account)
    group_id: str  # sub-resource: "blob", "vault", ...
    zone_name: str  # e.g. privatelink.blob.core.windows.net
    tags: dict[str, str]
    provider: pulumi.ProviderResource


class PrivateEndpoint(pulumi.ComponentResource):
    endpoint_id: pulumi.Output[str]
    zone_id: pulumi.Output[str]
    dns_record: network.PrivateDnsZoneGroup  # workloads must wait for it: it writes the A record
    vnet_link: privatedns.VirtualNetworkLink  # and for the link: without it the zone is not used
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: PrivateEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:PrivateEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        zone = privatedns.PrivateZone(
            f"{name}-zone",
            resource_group_name=args.resource_group_name,
            private_zone_name=args.zone_name,
            location="global",
            tags=args.tags,
            opts=child,
        )
        self.vnet_link = privatedns.VirtualNetworkLink(
            f"{name}-vnet-link",
            resource_group_name=args.resource_group_name,
            private_zone_name=zone.name,
            virtual_network={"id": args.vnet_id},
            registration_enabled=False,
            resolution_policy="NxDomainRedirect",
            location="global",
            tags=args.tags,
            opts=child,
        )
        endpoint = network.PrivateEndpoint(
            f"{name}-pe",
            resource_group_name=args.resource_group_name,
            location=args.location,
            subnet={"id": args.subnet_id},
            private_link_service_connections=[
                {"name": args.group_id, "private_link_service_id": args.target_id, "group_ids": [args.group_id]}
            ],
            tags=args.tags,
            opts=child,
        )
        self.dns_record = network.PrivateDnsZoneGroup(
            f"{name}-dns",
            resource_group_name=args.resource_group_name,
            private_endpoint_name=endpoint.name,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[{"name": args.group_id, "private_dns_zone_id": zone.id}],
            opts=child,
        )
        self.ready = [self.vnet_link, self.dns_record]
        self.endpoint_id = endpoint.id
        self.zone_id = zone.id
        self.register_outputs({"endpointId": endpoint.id, "zoneId": zone.id})
