"""Azure config keys: defaults, one-line errors before anything is registered, and the kubeconfig."""

from __future__ import annotations

import json
import runpy

import pytest
from pulumi.runtime.sync_await import _sync_await

from infra.config import loader
from infra.config.errors import ConfigError
from infra.config.schema import StackConfig
from infra.plan.engine import mocked_engine
from infra.plan.stackfile import ROOT
from tests.ci_support import cidr, cidr_plan
from tests.harness import stack_file

STACK = "azure-dev"


def _parse(overrides: dict) -> StackConfig:
    return loader.parse(loader.from_pulumi_config(stack_file(STACK, overrides).config))


def test_defaults_are_the_secure_ones():
    az = _parse({}).azure
    assert az is not None
    assert az.private_cluster is False and az.customer_managed_key is False
    assert az.upgrade_channel == "patch"
    assert az.node_subnet_cidr is None and az.endpoint_subnet_cidr is None


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"azure": {"upgradeChannel": "rapid"}}, ["azure.upgradeChannel", "'rapid'", "'patch' or 'node-image'"]),
        ({"azure": {"systemVmSize": "D4"}}, ["azure.systemVmSize", "'D4'"]),
        ({"azure": {"privateClustr": True}}, ["azure.privateClustr", "not a known key", "privateCluster"]),
        ({"azure": {"nodeSubnetCidr": "10.60.0.0/33"}}, ["azure.nodeSubnetCidr"]),
    ],
)
def test_bad_azure_key_is_one_line(overrides, fragments):
    with pytest.raises(ConfigError) as info:
        _parse(overrides)
    message = str(info.value)
    assert "\n" not in message
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
        ({"network": {"cidr": "10.60.0.0/28"}}, ["network.cidr = '10.60.0.0/28'", "/26 or larger"]),
    ],
)
def test_bad_address_plan_fails_as_one_line_before_anything_is_registered(overrides, fragments):
    sf = stack_file(STACK, overrides)
    with mocked_engine(sf.project, sf.stack, sf.config) as (monitor, run, _):
        with pytest.raises(ConfigError) as info:
            run(lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))
        assert monitor.recorded == []
    message = str(info.value)
    assert "\n" not in message.strip()
    for fragment in fragments:
        assert fragment in message


def test_explicit_subnets_are_used():
    p = cidr_plan(STACK, {"azure": {"nodeSubnetCidr": "10.60.64.0/20", "endpointSubnetCidr": "10.60.200.0/28"}})
    prefixes = {s.get("subnetName"): s.get("addressPrefix") for s in p.of_type("azure-native:network:Subnet")}
    assert prefixes == {"nodes": "10.60.64.0/20", "private-endpoints": "10.60.200.0/28"}


def test_kubeconfig_is_secret_and_uses_kubelogin_against_the_cluster_server():
    import infra.azure.platform

    sf = stack_file(STACK, cidr(STACK))  # kubelogin --login azurecli; on the runner: tests/test_ci_access.py
    cfg = loader.parse(loader.from_pulumi_config(sf.config))
    with mocked_engine(sf.project, sf.stack, sf.config) as (monitor, run, errors):
        built = []
        run(lambda: built.append(infra.azure.platform.build(cfg)))
        kubeconfig = built[0].kubeconfig
        assert _sync_await(kubeconfig.is_secret()) is True
        doc = json.loads(_sync_await(kubeconfig.future()))
        assert errors.messages == []
    aks = next(r for r in monitor.recorded if r.type == "azure-native:containerservice:ManagedCluster")
    (cluster,) = doc["clusters"]
    assert cluster["cluster"]["server"] == f"https://{aks.outputs['fqdn']}:443"
    assert cluster["cluster"]["certificate-authority-data"]
    (user,) = doc["users"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "kubelogin"
    assert exec_["args"][:3] == ["get-token", "--login", "azurecli"]
    assert "6dae42f8-4368-4678-94ff-3960e28e3630" in exec_["args"]
    assert "token" not in user["user"] and "client-key-data" not in user["user"]
