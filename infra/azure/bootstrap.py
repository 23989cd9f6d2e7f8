"""The Azure side of `<stack>-bootstrap`: the workload's resource group and VNet, and its
Container Apps runners (cluster.apiAccess: runner).

`build(cfg)` is the bootstrap program: the very `Network` component the workload builds in cidr
mode (same logical name, same resource group `llz-<stack>`, same address plan), plus the
`Runner` on its own subnet. The workload uses `infra.azure.runner.from_bootstrap` instead.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import Provider, authorization

from infra.azure.network import Network, NetworkArgs
from infra.azure.runner import Runner, RunnerArgs, exports
from infra.azure.settings import subnet_plan
from infra.config import roles
from infra.config.schema import StackConfig
from infra.conventions import tags as project_tags

# What the workload reads from the bootstrap stack (a test plans both and checks each is exported).
OUTPUTS = (
    "resourceGroupName",
    "vnetId",
    "nodeSubnetId",
    "endpointSubnetId",
    "apiServerSubnetId",
    "runnerEgressIp",
    "deployPrincipalId",
    "previewPrincipalId",
)


def build(cfg: StackConfig) -> dict[str, Any]:
    az = cfg.azure
    assert az is not None and az.runner is not None and cfg.github_app_key  # checked by infra.config
    workload = roles.workload_of(pulumi.get_stack())
    assert workload is not None  # infra.config.roles checked the name
    subnets = subnet_plan(cfg)
    assert subnets.runner is not None
    tags = project_tags(pulumi.get_stack())
    provider = Provider("azure", subscription_id=az.subscription_id, location=cfg.region)
    client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(provider=provider))
    # The same component, logical name and arguments infra/azure/platform.py uses in cidr mode.
    net = Network(
        "network",
        NetworkArgs(
            stack=workload,
            location=cfg.region,
            subnets=subnets,
            egress=cfg.network.egress,
            tags=tags,
            provider=provider,
        ),
    )
    runner = Runner(
        "runner",
        RunnerArgs(
            stack=workload,
            resource_group_name=net.resource_group_name,
            resource_group_id=pulumi.Output.concat(
                "/subscriptions/", az.subscription_id, "/resourceGroups/", net.resource_group_name
            ),
            location=cfg.region,
            subscription_id=az.subscription_id,
            tenant_id=client.tenant_id,
            vnet_name=net.vnet_name,
            vnet_cidr=str(subnets.vnet),
            subnet_cidr=str(subnets.runner),
            after_subnet=net.last_subnet,
            nat_gateway_id=net.nat_gateway_id,
            app_key=cfg.github_app_key,
            settings=az.runner,
            tags=tags,
            provider=provider,
        ),
    )
    return {
        "region": cfg.region,
        "resourceGroupName": net.resource_group_name,
        "vnetId": net.vnet_id,
        "nodeSubnetId": net.node_subnet_id,
        "endpointSubnetId": net.endpoint_subnet_id,
        "apiServerSubnetId": net.api_server_subnet_id,
        "runnerEgressIp": net.egress_ip,
        **exports(runner),
    }
