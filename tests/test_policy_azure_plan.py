"""Issue 15's security items (and issue 17's registry rules) as policy rules (infra/policy_rules/azure.py REALITY_RULES): clean on the
real azure-dev plans (runner mode as shipped, and cidr mode), and each violation planted on the real
plan's recorded inputs is caught by its rule, pointing at the resource that breaks it."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from infra.plan.engine import Plan
from infra.policy_rules import Res, evaluate
from infra.policy_rules.azure import REALITY_RULES
from tests.ci_support import cidr_plan
from tests.harness import dev_plan

AZ = "azure-native:"


def findings(p: Plan) -> list:
    views = [Res(r.type, r.urn, r.name, r.inputs, r.parent, tuple(r.dependencies)) for r in p.resources]
    return evaluate(views, REALITY_RULES)


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {"runner": dev_plan("azure-dev"), "cidr": cidr_plan("azure-dev")}


@pytest.mark.parametrize("mode", ["runner", "cidr"])
def test_real_azure_plans_are_clean(plans, mode):
    assert findings(plans[mode]) == []


def _one(p: Plan, kind: str):
    return next(r for r in p.resources if r.type == AZ + kind)


def _drop(p: Plan, kind: str, test: Callable = lambda r: True) -> None:
    p.resources = [r for r in p.resources if not (r.type == AZ + kind and test(r))]


def _no_guard(p: Plan) -> None:
    aks = _one(p, "containerservice:ManagedCluster")
    for d in p.resources:
        if d.type == AZ + "monitor:DiagnosticSetting" and d.inputs.get("resourceUri") == aks.id:
            d.inputs["logs"] = [x for x in d.inputs["logs"] if x["category"] != "guard"]


def _no_blob_write_log(p: Plan) -> None:
    service = _one(p, "storage:BlobServiceProperties")
    for d in p.resources:
        if d.type == AZ + "monitor:DiagnosticSetting" and service.urn in d.dependencies:
            d.inputs["logs"] = [{**x, "enabled": x["category"] != "StorageWrite"} for x in d.inputs["logs"]]


def _system_pool(p: Plan, **fields) -> None:
    _one(p, "containerservice:ManagedCluster").inputs["agentPoolProfiles"][0].update(fields)


PLANTED = [
    (_no_guard, "azure-diagnostic-settings", "containerservice:ManagedCluster", "guard"),
    (
        lambda p: _drop(p, "monitor:DiagnosticSetting", lambda r: "blobServices" in r.inputs["resourceUri"]),
        "azure-diagnostic-settings",
        "storage:StorageAccount",
        "StorageRead",
    ),
    (_no_blob_write_log, "azure-diagnostic-settings", "storage:StorageAccount", "StorageWrite"),
    (
        lambda p: _one(p, "containerservice:ManagedCluster").inputs["securityProfile"].pop("azureKeyVaultKms"),
        "azure-aks-kms-etcd",
        "containerservice:ManagedCluster",
        "azureKeyVaultKms.enabled",
    ),
    (
        lambda p: _system_pool(p, enableEncryptionAtHost=False),
        "azure-aks-encryption-at-host",
        "containerservice:ManagedCluster",
        "agentPoolProfiles[0].enableEncryptionAtHost",
    ),
    (
        lambda p: _one(p, "containerservice:AgentPool").inputs.pop("enableEncryptionAtHost"),
        "azure-aks-encryption-at-host",
        "containerservice:AgentPool",
        "enableEncryptionAtHost",
    ),
    (
        lambda p: (
            _one(p, "containerservice:ManagedCluster").inputs["apiServerAccessProfile"].pop("enableVnetIntegration")
        ),
        "azure-aks-api-vnet-integration",
        "containerservice:ManagedCluster",
        "enableVnetIntegration",
    ),
    (
        lambda p: (
            _one(p, "containerservice:ManagedCluster").inputs["apiServerAccessProfile"].pop("enableVnetIntegration")
        ),
        "azure-aks-kms-etcd",
        "containerservice:ManagedCluster",
        "private KMS key vault needs",
    ),
    (
        lambda p: _one(p, "privatedns:VirtualNetworkLink").inputs.pop("resolutionPolicy"),
        "azure-privatelink-resolution",
        "privatedns:VirtualNetworkLink",
        "not set",
    ),
    (
        lambda p: _one(p, "containerservice:AgentPool").inputs["upgradeSettings"].pop("undrainableNodeBehavior"),
        "azure-pool-upgrade-settings",
        "containerservice:AgentPool",
        "undrainableNodeBehavior",
    ),
    (
        lambda p: _drop(
            p,
            "containerservice:MaintenanceConfiguration",
            lambda r: r.inputs["configName"] == "aksManagedNodeOSUpgradeSchedule",
        ),
        "azure-aks-maintenance-window",
        "containerservice:ManagedCluster",
        "NodeImage has no aksManagedNodeOSUpgradeSchedule",
    ),
    # issue 17: the registry
    (
        lambda p: _one(p, "containerregistry:Registry").inputs.update(adminUserEnabled=True),
        "azure-acr-admin-user",
        "containerregistry:Registry",
        "adminUserEnabled must be false",
    ),
    (
        lambda p: _one(p, "containerregistry:Registry").inputs.pop("adminUserEnabled"),
        "azure-acr-admin-user",
        "containerregistry:Registry",
        "adminUserEnabled must be false",
    ),
    (
        lambda p: _one(p, "containerregistry:Registry").inputs.update(publicNetworkAccess="Enabled"),
        "azure-acr-no-public-network",
        "containerregistry:Registry",
        "publicNetworkAccess is Enabled",
    ),
    (
        lambda p: _one(p, "containerregistry:Registry").inputs.pop("publicNetworkAccess"),
        "azure-acr-no-public-network",
        "containerregistry:Registry",
        "not set",
    ),
    (
        lambda p: _one(p, "containerregistry:Registry").inputs.update(anonymousPullEnabled=True),
        "azure-acr-anonymous-pull",
        "containerregistry:Registry",
        "anonymousPullEnabled must be false",
    ),
    # issue 18
    (
        lambda p: _one(p, "monitor:AzureMonitorWorkspace").inputs.update(publicNetworkAccess="Enabled"),
        "azure-monitor-workspace-private",
        "monitor:AzureMonitorWorkspace",
        "publicNetworkAccess is Enabled",
    ),
    (
        lambda p: _one(p, "monitor:AzureMonitorWorkspace").inputs.pop("publicNetworkAccess"),
        "azure-monitor-workspace-private",
        "monitor:AzureMonitorWorkspace",
        "not set",
    ),
    (
        lambda p: _one(p, "containerservice:ManagedCluster").inputs.pop("azureMonitorProfile"),
        "azure-aks-managed-prometheus",
        "containerservice:ManagedCluster",
        "azureMonitorProfile.metrics.enabled must be true",
    ),
    (
        lambda p: _one(p, "containerservice:ManagedCluster").inputs["addonProfiles"]["omsagent"].update(enabled=False),
        "azure-aks-container-insights",
        "containerservice:ManagedCluster",
        "must be enabled",
    ),
    (
        lambda p: _one(p, "containerservice:ManagedCluster").inputs.pop("addonProfiles"),
        "azure-aks-container-insights",
        "containerservice:ManagedCluster",
        "must be enabled",
    ),
    (
        lambda p: (
            _one(p, "containerservice:ManagedCluster")
            .inputs["addonProfiles"]["omsagent"]["config"]
            .update(useAADAuth="false")
        ),
        "azure-aks-container-insights",
        "containerservice:ManagedCluster",
        "useAADAuth is 'false'",
    ),
]


@pytest.mark.parametrize(("mutate", "rule", "kind", "fragment"), PLANTED, ids=[f"{c[1]}-{c[3]}" for c in PLANTED])
@pytest.mark.parametrize("mode", ["runner", "cidr"])
def test_planted_violation_on_the_real_plan_is_caught(plans, mode, mutate, rule, kind, fragment):
    p = copy.deepcopy(plans[mode])
    mutate(p)
    target = _one(p, kind)
    hits = [f for f in findings(p) if f.rule == rule]
    assert [f.urn for f in hits] == [target.urn], hits
    assert fragment in hits[0].message


def test_every_reality_rule_has_a_planted_violation():
    assert {r.name for r in REALITY_RULES} == {c[1] for c in PLANTED}
