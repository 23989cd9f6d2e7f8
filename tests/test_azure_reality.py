"""Issue 15: what a real Azure deploy hits, asserted on the recorded inputs of the real program.

Each test names its item; each fails if the fix regresses (the input goes, or a wiring points
elsewhere). The plans are azure-dev in cidr mode (the Network in the workload), and azure-dev as
shipped (runner mode, the network in azure-dev-bootstrap) where the bootstrap contract matters.
"""

from __future__ import annotations

import pytest

from infra import catalog
from infra.azure.settings import ENTRA_ID_HOSTS
from infra.cost import cost as stack_cost
from infra.cost import report
from tests.ci_support import bootstrap_plan, cidr
from tests.ci_support import cidr_plan as plan
from tests.harness import config_error, dev_plan, parse

STACK = "azure-dev"
AZ = "azure-native:"
SECRET = "-----BEGIN RSA PRIVATE KEY-----\nMII\n-----END RSA PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def dev():
    return plan(STACK)


def _subnet(p, name):
    return next(s for s in p.of_type(AZ + "network:Subnet") if s.get("subnetName") == name)


def _role(res) -> str:
    return res.get("roleDefinitionId").rsplit("/", 1)[-1]


# --- item 1: nodes join through API Server VNet Integration -------------------------------------


def test_api_server_is_vnet_integrated_on_a_delegated_subnet(dev):
    aks = dev.one(AZ + "containerservice:ManagedCluster")
    subnet = _subnet(dev, "api-server")
    assert subnet.get("addressPrefix") == "10.60.4.64/28"  # after the runners' /27 slot (10.60.4.32/27)
    assert subnet.get("delegations") == [
        {"name": "aks-api-server", "serviceName": "Microsoft.ContainerService/managedClusters"}
    ]
    assert aks.get("apiServerAccessProfile.enableVnetIntegration") is True
    assert aks.get("apiServerAccessProfile.subnetId") == subnet.id
    # the control plane manages the API server's load balancer there: Network Contributor, before the cluster
    cp = dev.one(AZ + "managedidentity:UserAssignedIdentity", "cluster-control-plane")
    grant = dev.one(AZ + "authorization:RoleAssignment", "cluster-api-server-subnet-network-contributor")
    assert grant.get("scope") == subnet.id and grant.get("principalId") == cp.outputs["principalId"]
    assert _role(grant) == "4d97b98b-1d4f-4787-a291-c67834d212e7"
    assert grant.urn in aks.dependencies


def test_private_cluster_keeps_vnet_integration():
    aks = plan(STACK, {"azure": {"privateCluster": True}}).one(AZ + "containerservice:ManagedCluster")
    assert aks.get("apiServerAccessProfile.enablePrivateCluster") is True
    assert aks.get("apiServerAccessProfile.enableVnetIntegration") is True


def test_runner_mode_reads_the_api_server_subnet_from_the_bootstrap():
    boot = bootstrap_plan(STACK, githubAppKey=SECRET)
    subnet = _subnet(boot, "api-server")
    runners = _subnet(boot, "ci-runners")
    assert subnet.urn in runners.dependencies  # one subnet write per VNet at a time
    assert boot.outputs["apiServerSubnetId"] == subnet.id
    aks = dev_plan(STACK).one(AZ + "containerservice:ManagedCluster")
    assert aks.get("apiServerAccessProfile.subnetId") == subnet.id


def test_api_server_subnet_must_be_a_28_inside_the_vnet():
    message = config_error(STACK, cidr(STACK, {"azure": {"apiServerSubnetCidr": "10.60.4.64/29"}}))
    assert "azure.apiServerSubnetCidr = '10.60.4.64/29'" in message and "/28 or larger" in message
    message = config_error(STACK, cidr(STACK, {"azure": {"apiServerSubnetCidr": "10.60.4.0/28"}}))
    assert "azure.apiServerSubnetCidr = '10.60.4.0/28'" in message and "overlaps" in message


# --- item 2: egress none is refused ---------------------------------------------------------------


def test_egress_none_is_one_line_that_says_why():
    message = config_error(STACK, cidr(STACK, {"network": {"egress": "none"}, "model": {"source": None}}))
    assert message.startswith("llm-landing-zone:network.egress = 'none': not supported on Azure")
    assert "Entra ID" in message and "\n" not in message


# --- item 3: upgrades that finish -----------------------------------------------------------------


def test_gpu_pool_upgrade_settings_and_defaults(dev):
    pool = dev.one(AZ + "containerservice:AgentPool")
    assert pool.get("upgradeSettings") == {
        "maxSurge": "1",
        "drainTimeoutInMinutes": 30,
        "undrainableNodeBehavior": "Cordon",
    }


def test_gpu_pool_upgrade_settings_come_from_config():
    upgrade = {"maxSurge": "50%", "drainTimeoutMinutes": 90, "undrainableNodeBehavior": "Schedule"}
    pool = plan(STACK, {"azure": {"gpuUpgrade": upgrade}}).one(AZ + "containerservice:AgentPool")
    assert pool.get("upgradeSettings") == {
        "maxSurge": "50%",
        "drainTimeoutInMinutes": 90,
        "undrainableNodeBehavior": "Schedule",
    }
    message = config_error(STACK, cidr(STACK, {"azure": {"gpuUpgrade": {"undrainableNodeBehavior": "Fail"}}}))
    assert "azure.gpuUpgrade.undrainableNodeBehavior" in message


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (None, {"day": "Sunday", "start": "02:00", "hours": 4, "offset": "+00:00"}),
        (
            {"day": "Wednesday", "startTime": "22:30", "durationHours": 6, "utcOffset": "+05:30"},
            {"day": "Wednesday", "start": "22:30", "hours": 6, "offset": "+05:30"},
        ),
    ],
)
def test_maintenance_windows_for_both_upgrade_channels(window, expected):
    p = plan(STACK, {"azure": {"maintenance": window}} if window else None)
    aks = p.one(AZ + "containerservice:ManagedCluster")
    configs = {c.get("configName"): c for c in p.of_type(AZ + "containerservice:MaintenanceConfiguration")}
    assert set(configs) == {"aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"}
    for config in configs.values():
        assert config.get("resourceName") == aks.outputs["name"]
        assert config.get("maintenanceWindow") == {
            "schedule": {"weekly": {"dayOfWeek": expected["day"], "intervalWeeks": 1}},
            "durationHours": expected["hours"],
            "startTime": expected["start"],
            "utcOffset": expected["offset"],
        }


@pytest.mark.parametrize(
    ("window", "key"),
    [
        ({"durationHours": 2}, "azure.maintenance.durationHours"),
        ({"startTime": "25:00"}, "azure.maintenance.startTime"),
        ({"day": "Funday"}, "azure.maintenance.day"),
    ],
)
def test_bad_maintenance_window_is_one_line(window, key):
    assert key in config_error(STACK, cidr(STACK, {"azure": {"maintenance": window}}))


# --- item 4: secrets and disks --------------------------------------------------------------------


def test_kms_etcd_encryption_with_a_private_vault_key(dev):
    aks = dev.one(AZ + "containerservice:ManagedCluster")
    vault = dev.one(AZ + "keyvault:Vault")
    key = dev.one(AZ + "keyvault:Key", "keys-etcd")
    assert aks.get("securityProfile.azureKeyVaultKms") == {
        "enabled": True,
        "keyId": key.outputs["keyUriWithVersion"],
        "keyVaultNetworkAccess": "Private",
        "keyVaultResourceId": vault.id,
    }
    assert vault.get("properties.publicNetworkAccess") == "Disabled"
    assert vault.get("properties.enablePurgeProtection") is True
    cp = dev.one(AZ + "managedidentity:UserAssignedIdentity", "cluster-control-plane")
    grants = {g.name: g for g in dev.of_type(AZ + "authorization:RoleAssignment") if g.name.startswith("cluster-kms")}
    assert _role(grants["cluster-kms-key"]) == "12338af0-0e69-4776-bea7-57ae8d297424"  # Key Vault Crypto User
    assert grants["cluster-kms-key"].get("scope") == key.id
    assert _role(grants["cluster-kms-vault"]) == "f25e0fa2-a7c8-4377-a976-54943a77a395"  # Key Vault Contributor
    assert grants["cluster-kms-vault"].get("scope") == vault.id
    for g in grants.values():
        assert g.get("principalId") == cp.outputs["principalId"] and g.urn in aks.dependencies
    # a private KMS vault needs API Server VNet Integration (learn.microsoft.com use-kms-etcd-encryption)
    assert aks.get("apiServerAccessProfile.enableVnetIntegration") is True


def test_encryption_at_host_on_both_pools_and_ephemeral_system_disk(dev):
    aks = dev.one(AZ + "containerservice:ManagedCluster")
    (system,) = aks.get("agentPoolProfiles")
    assert system["enableEncryptionAtHost"] is True
    assert system["osDiskType"] == "Ephemeral" and system["osDiskSizeGB"] == 64  # D4ds_v5: 150 GiB temp disk
    pool = dev.one(AZ + "containerservice:AgentPool")
    assert pool.get("enableEncryptionAtHost") is True
    assert "osDiskType" not in pool.inputs  # AKS picks Ephemeral where the size's cache disk holds it
    # live pools keep what ARM cannot change after creation
    for field in ("osDiskType", "osDiskSizeGB", "enableEncryptionAtHost"):
        assert f"agentPoolProfiles[0].{field}" in aks.ignore_changes
    assert "enableEncryptionAtHost" in pool.ignore_changes


def test_system_size_without_a_local_disk_keeps_a_managed_os_disk():
    aks = plan(STACK, {"azure": {"systemVmSize": "Standard_D4s_v5"}}).one(AZ + "containerservice:ManagedCluster")
    (system,) = aks.get("agentPoolProfiles")
    assert "osDiskType" not in system and system["enableEncryptionAtHost"] is True


def test_weights_key_and_etcd_key_share_the_vault(dev):
    vault = dev.one(AZ + "keyvault:Vault")
    keys = {k.name: k for k in dev.of_type(AZ + "keyvault:Key")}
    assert set(keys) == {"keys-weights", "keys-etcd", "keys-registry"}  # the registry's key: issue 17
    for key in keys.values():
        assert key.get("vaultName") == vault.outputs["name"] and key.get("properties.kty") == "RSA"
    account = dev.one(AZ + "storage:StorageAccount")
    assert account.get("encryption.keySource") == "Microsoft.Keyvault"
    assert account.get("encryption.keyVaultProperties.keyName") == keys["keys-weights"].outputs["name"]


def test_the_vault_and_weights_key_keep_their_old_urns_through_aliases(dev):
    """They were children of WeightsStorage('weights') with azure.customerManagedKey: no replacement."""
    vault = dev.one(AZ + "keyvault:Vault")
    key = dev.one(AZ + "keyvault:Key", "keys-weights")
    for res, old in ((vault, "weights-vault"), (key, "weights-key")):
        (alias,) = [a for a in res.aliases if "name" in a]  # the SDK adds its own type aliases
        assert alias["name"] == old and alias["parentUrn"].endswith("::llz:azure:WeightsStorage::weights")


# --- item 5: private DNS that is really ready -----------------------------------------------------


def test_serving_waits_for_the_vnet_link_and_it_falls_back_to_public_dns(dev):
    link = dev.one(AZ + "privatedns:VirtualNetworkLink", "weights-blob-vnet-link")
    assert link.get("resolutionPolicy") == "NxDomainRedirect"
    records = dev.one(AZ + "network:PrivateDnsZoneGroup", "weights-blob-dns")
    deployment = dev.one("kubernetes:apps/v1:Deployment")
    assert link.urn in deployment.dependencies and records.urn in deployment.dependencies
    stage = dev.one("kubernetes:batch/v1:Job")
    assert link.urn in stage.dependencies


# --- item 6: the model server's egress ------------------------------------------------------------


def test_token_egress_is_an_fqdn_policy_by_default(dev):
    aks = dev.one(AZ + "containerservice:ManagedCluster")
    assert aks.get("networkProfile.advancedNetworking") == {
        "enabled": True,
        "security": {"enabled": True, "advancedNetworkPolicies": "FQDN"},
        "observability": {"enabled": False},
    }
    egress = dev.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llm-egress")
    cidrs = [peer["ipBlock"]["cidr"] for rule in egress.get("spec.egress") for peer in rule["to"] if "ipBlock" in peer]
    assert "0.0.0.0/0" not in cidrs  # no open HTTPS from the model server
    policy = dev.one("kubernetes:cilium.io/v2:CiliumClusterwideNetworkPolicy")
    spec = policy.get("spec")
    assert spec["endpointSelector"]["matchLabels"] == {
        "k8s:io.kubernetes.pod.namespace": "llm",
        "azure.workload.identity/use": "true",
    }
    fqdn = next(rule for rule in spec["egress"] if "toFQDNs" in rule)
    assert fqdn["toFQDNs"] == [{"matchName": h} for h in ENTRA_ID_HOSTS] == [{"matchName": "login.microsoftonline.com"}]
    assert fqdn["toPorts"] == [{"ports": [{"port": "443", "protocol": "TCP"}]}]
    dns = next(rule for rule in spec["egress"] if "toEndpoints" in rule)
    assert dns["toPorts"][0]["rules"] == {"dns": [{"matchPattern": "*"}]}  # toFQDNs learns from the proxy
    assert policy.urn in dev.one("kubernetes:apps/v1:Deployment").dependencies


def test_open_token_egress_is_a_named_insecure_choice_and_not_in_prod():
    p = plan(STACK, {"azure": {"tokenEgress": "open-insecure"}})
    assert p.of_type("kubernetes:cilium.io/v2:CiliumClusterwideNetworkPolicy") == []
    assert "advancedNetworking" not in p.one(AZ + "containerservice:ManagedCluster").get("networkProfile")
    egress = p.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llm-egress")
    assert {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]} in egress.get(
        "spec.egress"
    )
    message = config_error(STACK, cidr(STACK, {"environment": "prod", "azure": {"tokenEgress": "open-insecure"}}))
    assert message.startswith("llm-landing-zone:azure.tokenEgress = 'open-insecure':") and "prod" in message


# --- item 7: audit and logs -----------------------------------------------------------------------


def test_audit_logs_for_the_cluster_and_the_weights_blob_service(dev):
    workspace = dev.one(AZ + "operationalinsights:Workspace")
    assert workspace.get("retentionInDays") == 90 and workspace.get("features.disableLocalAuth") is True
    aks = dev.one(AZ + "containerservice:ManagedCluster")
    service = dev.one(AZ + "storage:BlobServiceProperties")
    settings = {d.get("resourceUri"): d for d in dev.of_type(AZ + "monitor:DiagnosticSetting")}
    assert set(settings) == {aks.id, service.id}
    assert service.id.endswith("/blobServices/default")
    logs = {uri: [(x["category"], x["enabled"]) for x in d.get("logs")] for uri, d in settings.items()}
    assert logs[aks.id] == [("kube-audit-admin", True), ("guard", True)]
    assert logs[service.id] == [("StorageRead", True), ("StorageWrite", True), ("StorageDelete", True)]
    for d in settings.values():
        assert d.get("workspaceId") == workspace.id and d.get("logAnalyticsDestinationType") == "Dedicated"


def test_log_retention_comes_from_config():
    p = plan(STACK, {"azure": {"logRetentionDays": 365}})
    assert p.one(AZ + "operationalinsights:Workspace").get("retentionInDays") == 365
    assert "azure.logRetentionDays" in config_error(STACK, cidr(STACK, {"azure": {"logRetentionDays": 7}}))


# --- item 8: H200 in the catalog ------------------------------------------------------------------


def test_nd_h200_v5_is_in_the_catalog_with_a_dated_price():
    (h200,) = [i for i in catalog.CATALOG if i.name == "Standard_ND96isr_H200_v5"]
    assert (h200.cloud, h200.gpu_model, h200.gpus, h200.gpu_memory_gb) == ("azure", "H200-141GB", 8, 141)
    assert h200.price is not None and h200.price.as_of == "2026-04" and h200.price.estimate


def test_deepseek_r1_in_fp8_fits_one_h200_node():
    model = {"name": "deepseek-ai/DeepSeek-R1", "paramsBillions": 671, "dtype": "fp8", "tensorParallelSize": 8}
    model |= {"maxModelLen": 8192}
    cfg = parse(STACK, {"model": model, "gpu": {"instanceType": "Standard_ND96isr_H200_v5"}})
    assert report(cfg)["fit"]["fits"]


def test_cost_estimate_says_acns_is_not_in_it():
    note = "Advanced Container Networking Services (azure.tokenEgress fqdn) is billed per node, not included"
    assert note in stack_cost(parse(STACK))["notes"]
    assert note not in stack_cost(parse(STACK, {"azure": {"tokenEgress": "open-insecure"}}))["notes"]


# --- issue 14 item 5: the reader's listing prefix ends in '/' --------------------------------------


def test_reader_listing_prefix_ends_with_a_slash(dev):
    reader = dev.one(AZ + "authorization:RoleAssignment", "serving-identity-weights-reader")
    condition = reader.get("condition")
    listing = "@Request[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:prefix] StringStartsWith"
    assert f"{listing} 'models/deepseek-r1-distill-llama-8b/'" in condition
    assert "'models/deepseek-r1-distill-llama-8b')" not in condition  # models/x would also list models/x-other
