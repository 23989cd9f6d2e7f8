"""Azure config keys: defaults, one-line errors before anything is registered, and the kubeconfig."""

from __future__ import annotations

import json

import pytest

from tests.ci_support import cidr, cidr_plan
from tests.harness import built_platform, config_error, parse, program_error

STACK = "azure-dev"


def test_defaults_are_the_secure_ones():
    az = parse(STACK).azure
    assert az is not None
    assert az.private_cluster is False and az.customer_managed_key is True  # mandatory (issue 15 item 4)
    assert az.token_egress == "fqdn" and az.log_retention_days == 90
    assert az.gpu_upgrade.undrainable_node_behavior == "Cordon" and az.gpu_upgrade.max_surge == "1"
    assert az.upgrade_channel == "patch"
    assert az.node_subnet_cidr is None and az.endpoint_subnet_cidr is None


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"azure": {"upgradeChannel": "rapid"}}, ["azure.upgradeChannel", "'rapid'", "'patch' or 'node-image'"]),
        ({"azure": {"systemVmSize": "D4"}}, ["azure.systemVmSize", "'D4'"]),
        ({"azure": {"privateClustr": True}}, ["azure.privateClustr", "not a known key", "privateCluster"]),
        ({"azure": {"nodeSubnetCidr": "10.60.0.0/33"}}, ["azure.nodeSubnetCidr"]),
        ({"azure": {"deployer": None}}, ["azure.deployer is required"]),
        ({"azure": {"deployer": {"principalType": "App"}}}, ["azure.deployer.principalType", "'ServicePrincipal'"]),
        ({"azure": {"adminGroupIds": ["admins"]}}, ["azure.adminGroupIds[0]", "'admins'", "does not match"]),
        ({"azure": {"kubeloginMode": "devicecode"}}, ["azure.kubeloginMode", "'devicecode'", "'azurecli'"]),
    ],
)
def test_bad_azure_key_is_one_line(overrides, fragments):
    message = config_error(STACK, cidr(STACK, overrides))  # azure-dev as cidr mode, with azure.deployer
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"azure": {"nodeSubnetCidr": "10.61.0.0/22"}}, ["azure.nodeSubnetCidr = '10.61.0.0/22'", "10.60.0.0/16"]),
        (
            {"azure": {"nodeSubnetCidr": "10.60.0.0/22", "endpointSubnetCidr": "10.60.1.0/27"}},
            ["azure.endpointSubnetCidr = '10.60.1.0/27'", "overlaps the node subnet"],
        ),
        ({"network": {"cidr": "192.168.0.0/20"}}, ["network.cidr = '192.168.0.0/20'", "192.168.0.0/16"]),
        ({"network": {"cidr": "10.60.0.0/28"}}, ["network.cidr = '10.60.0.0/28'", "/24 or larger"]),
    ],
)
def test_bad_address_plan_fails_as_one_line_before_anything_is_registered(overrides, fragments):
    message = program_error(STACK, overrides)
    for fragment in fragments:
        assert fragment in message


def test_explicit_subnets_are_used():
    p = cidr_plan(STACK, {"azure": {"nodeSubnetCidr": "10.60.64.0/20", "endpointSubnetCidr": "10.60.200.0/28"}})
    prefixes = {s.get("subnetName"): s.get("addressPrefix") for s in p.of_type("azure-native:network:Subnet")}
    # the API server's /28 follows the runners' /27 slot after the endpoint subnet
    assert prefixes == {
        "nodes": "10.60.64.0/20",
        "private-endpoints": "10.60.200.0/28",
        "api-server": "10.60.200.64/28",
    }


@pytest.mark.parametrize("mode", [None, "msi", "workloadidentity"])
def test_kubeconfig_is_secret_and_uses_kubelogin_against_the_cluster_server(mode):
    overrides = cidr(STACK, {"azure": {"kubeloginMode": mode}} if mode else None)  # the runner: test_ci_access
    with built_platform(STACK, overrides) as (platform, engine):
        assert engine.is_secret(platform.kubeconfig)
        doc = json.loads(engine.resolve(platform.kubeconfig))
    aks = engine.plan().one("azure-native:containerservice:ManagedCluster")
    (cluster,) = doc["clusters"]
    assert cluster["cluster"]["server"] == f"https://{aks.outputs['fqdn']}:443"
    assert cluster["cluster"]["certificate-authority-data"]
    (user,) = doc["users"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "kubelogin"
    assert exec_["args"][:3] == ["get-token", "--login", mode or "azurecli"]  # azure.kubeloginMode
    assert "6dae42f8-4368-4678-94ff-3960e28e3630" in exec_["args"]
    assert "token" not in user["user"] and "client-key-data" not in user["user"]


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (
            {"azure": {"deployer": {"principalId": "11111111-1111-1111-1111-111111111111"}}},
            [
                "azure.deployer.principalId = '11111111-",
                "not used with cluster.apiAccess=runner",
                "remove azure.deployer",
            ],
        ),
        ({"azure": {"kubeloginMode": "azurecli"}}, ["azure.kubeloginMode = 'azurecli'", "msi (or leave it unset)"]),
    ],
)
def test_runner_mode_takes_the_deployer_from_the_bootstrap_and_conflicts_are_one_line(overrides, fragments):
    """With cluster.apiAccess runner the deploy runner's identity is the deployer and kubelogin uses
    msi; a config that says otherwise is refused, not silently overridden."""
    assert parse(STACK).azure.deployer is None  # the shipped azure-dev (runner mode) has none
    assert parse(STACK, {"azure": {"kubeloginMode": "msi"}}).azure.kubelogin_mode == "msi"
    message = config_error(STACK, overrides)
    for fragment in fragments:
        assert fragment in message
