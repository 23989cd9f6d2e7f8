"""Issue 5: every property of the Azure platform, asserted on what the program registers.

Each test reads the recorded inputs (camelCase) of the real program planned under the mock
engine, and compares cross-resource wiring against the engine's answers (ids, principal ids,
issuer URL) from infra/azure/fakes.py, so dropping or mis-wiring a property fails a test.
"""

from __future__ import annotations

import re

import pytest

# In cidr mode, where the Network is part of the workload (azure-dev itself: tests/test_ci_access.py).
from tests.ci_support import cidr
from tests.ci_support import cidr_plan as plan
from tests.harness import config_error
from weights import uri as weights_uri

STACK = "azure-dev"
AZ = "azure-native:"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SUB = "00000000-0000-0000-0000-000000000000"
SPOT_TAINT = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"


def az(p, kind, name=None):
    return p.one(AZ + kind, name)


@pytest.fixture(scope="module")
def dev():
    return plan(STACK)


@pytest.fixture(scope="module")
def on_demand():
    """Spot off, two authorized ranges, another serving identity: a second plan for the switches."""
    return plan(
        STACK,
        {
            "gpu": {"spot": False, "minNodes": 0, "maxNodes": 3},
            "cluster": {"apiAllowedCidrs": ["198.51.100.0/24", "192.0.2.10/32"]},
            "serving": {"namespace": "inference", "serviceAccount": "reader"},
        },
    )


# --- network ---------------------------------------------------------------------------------


def test_vnet_has_no_inline_subnets_and_three_standalone_ones(dev):
    vnet = az(dev, "network:VirtualNetwork")
    assert "subnets" not in vnet.inputs
    assert vnet.get("addressSpace.addressPrefixes") == ["10.60.0.0/16"]
    subnets = {s.get("subnetName"): s for s in dev.of_type(AZ + "network:Subnet")}
    assert set(subnets) == {"nodes", "private-endpoints", "api-server"}
    for s in subnets.values():
        assert s.get("virtualNetworkName") == vnet.outputs["name"]
        assert s.get("defaultOutboundAccess") is False
    assert subnets["nodes"].get("addressPrefix") == "10.60.0.0/22"
    assert subnets["private-endpoints"].get("addressPrefix") == "10.60.4.0/27"
    assert subnets["private-endpoints"].get("privateEndpointNetworkPolicies") == "Disabled"
    # Azure rejects concurrent writes of two subnets of one VNet.
    assert subnets["nodes"].urn in subnets["private-endpoints"].dependencies
    assert subnets["private-endpoints"].urn in subnets["api-server"].dependencies


def test_nat_egress_is_our_nat_gateway_on_the_node_subnet(dev):
    nat = az(dev, "network:NatGateway")
    ip = az(dev, "network:PublicIPAddress")
    assert nat.get("publicIpAddresses") == [{"id": ip.id}]
    assert ip.get("sku.name") == "Standard"
    nodes = next(s for s in dev.of_type(AZ + "network:Subnet") if s.get("subnetName") == "nodes")
    assert nodes.get("natGateway.id") == nat.id
    assert az(dev, "containerservice:ManagedCluster").get("networkProfile.outboundType") == "userAssignedNATGateway"


def test_egress_none_is_refused_on_azure_with_the_reason():
    """Issue 15 item 2: nodes bootstrap from MCR and the token exchange needs Entra ID (no private
    endpoint), so `egress: none` cannot work without the network-isolated pattern; one line says so."""
    message = config_error(STACK, cidr(STACK, {"network": {"egress": "none"}, "model": {"source": None}}))
    assert "\n" not in message
    assert message.startswith("llm-landing-zone:network.egress = 'none': not supported on Azure")
    assert "Entra ID" in message and "use nat" in message


# --- cluster ---------------------------------------------------------------------------------


def test_cluster_identity_access_and_networking(dev):
    aks = az(dev, "containerservice:ManagedCluster")
    assert aks.get("kubernetesVersion") == "1.35"
    assert aks.get("disableLocalAccounts") is True
    assert aks.get("enableRBAC") is True
    assert aks.get("aadProfile.managed") is True and aks.get("aadProfile.enableAzureRBAC") is True
    assert aks.get("oidcIssuerProfile.enabled") is True
    assert aks.get("securityProfile.workloadIdentity.enabled") is True
    assert aks.get("autoUpgradeProfile.upgradeChannel") == "patch"
    assert aks.get("autoUpgradeProfile.nodeOSUpgradeChannel") == "NodeImage"
    net = aks.get("networkProfile")
    assert net["networkPlugin"] == "azure" and net["networkPluginMode"] == "overlay"
    assert net["networkPolicy"] == "cilium" and net["networkDataplane"] == "cilium"
    subnet = next(s for s in dev.of_type(AZ + "network:Subnet") if s.get("subnetName") == "api-server")
    assert aks.get("apiServerAccessProfile") == {
        "authorizedIPRanges": ["203.0.113.0/24"],
        "enableVnetIntegration": True,
        "subnetId": subnet.id,
    }


def test_authorized_ranges_follow_config(on_demand):
    aks = az(on_demand, "containerservice:ManagedCluster")
    assert aks.get("apiServerAccessProfile.authorizedIPRanges") == ["198.51.100.0/24", "192.0.2.10/32"]


def test_private_cluster_switch():
    aks = az(plan(STACK, {"azure": {"privateCluster": True}}), "containerservice:ManagedCluster")
    access = aks.get("apiServerAccessProfile")
    assert access["enablePrivateCluster"] is True and access["enablePrivateClusterPublicFQDN"] is False
    assert "authorizedIPRanges" not in access


def test_system_pool_inline_only_and_on_the_node_subnet(dev):
    aks = az(dev, "containerservice:ManagedCluster")
    nodes = next(s for s in dev.of_type(AZ + "network:Subnet") if s.get("subnetName") == "nodes")
    (system,) = aks.get("agentPoolProfiles")
    assert system["mode"] == "System" and system["vmSize"] == "Standard_D4ds_v5"
    assert system["vnetSubnetID"] == nodes.id


def test_control_plane_identity_has_network_contributor_on_node_subnet_before_cluster(dev):
    aks = az(dev, "containerservice:ManagedCluster")
    cp = az(dev, "managedidentity:UserAssignedIdentity", "cluster-control-plane")
    grant = az(dev, "authorization:RoleAssignment", "cluster-subnet-network-contributor")
    nodes = next(s for s in dev.of_type(AZ + "network:Subnet") if s.get("subnetName") == "nodes")
    assert aks.get("identity") == {"type": "UserAssigned", "userAssignedIdentities": [cp.id]}
    assert grant.get("principalId") == cp.outputs["principalId"]
    assert grant.get("scope") == nodes.id
    assert grant.get("roleDefinitionId").endswith("/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7")
    assert grant.urn in aks.dependencies


def test_deployer_gets_aks_rbac_admin_on_the_cluster_and_provider_waits_for_it(dev):
    aks = az(dev, "containerservice:ManagedCluster")
    admin = az(dev, "authorization:RoleAssignment", "cluster-deployer-admin")
    assert admin.get("scope") == aks.id
    # From azure.deployer, never from whoever runs the program; the type is explicit (the SDK's
    # default is User, and a service principal deploying with it fails: UnmatchedPrincipalType).
    assert admin.get("principalId") == "11111111-1111-1111-1111-111111111111"
    assert admin.get("principalType") == "ServicePrincipal"
    assert admin.get("roleDefinitionId").endswith("/roleDefinitions/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")
    k8s_provider = dev.one("pulumi:providers:kubernetes")
    assert admin.urn in k8s_provider.dependencies


def test_admin_groups_get_cluster_admin_as_groups():
    group = "22222222-2222-2222-2222-222222222222"
    p = plan(STACK, {"azure": {"adminGroupIds": [group], "deployer": {"principalType": "User"}}})
    aks = az(p, "containerservice:ManagedCluster")
    grants = {a.name: a for a in p.of_type(AZ + "authorization:RoleAssignment") if a.get("scope") == aks.id}
    assert grants[f"cluster-admin-{group}"].get("principalType") == "Group"
    assert grants[f"cluster-admin-{group}"].get("principalId") == group
    assert grants["cluster-deployer-admin"].get("principalType") == "User"
    names = [a.get("roleAssignmentName") for a in grants.values()]
    assert len(set(names)) == len(names)


def test_deletion_protection_locks_cluster_and_account():
    assert plan(STACK).of_type(AZ + "authorization:ManagementLockByScope") == []
    p = plan(STACK, {"cluster": {"deletionProtection": True}})
    locks = {lock.get("scope"): lock for lock in p.of_type(AZ + "authorization:ManagementLockByScope")}
    aks, account = az(p, "containerservice:ManagedCluster"), az(p, "storage:StorageAccount")
    assert set(locks) == {aks.id, account.id, az(p, "containerregistry:Registry").id}  # and the registry (issue 17)
    assert {lock.get("level") for lock in locks.values()} == {"CanNotDelete"}


# --- GPU pool and device plugin ----------------------------------------------------------------


def test_gpu_pool_is_a_separate_user_agent_pool_from_zero(dev):
    aks = az(dev, "containerservice:ManagedCluster")
    pool = az(dev, "containerservice:AgentPool")
    assert all(p["mode"] == "System" for p in aks.get("agentPoolProfiles"))
    assert pool.get("resourceName") == aks.outputs["name"]
    assert pool.get("mode") == "User"
    assert pool.get("vmSize") == "Standard_NC24ads_A100_v4"
    assert pool.get("enableAutoScaling") is True
    assert (pool.get("minCount"), pool.get("maxCount")) == (0, 2)
    assert pool.get("gpuProfile.driver") == "Install"
    assert pool.get("nodeLabels") == {"llz.io/pool": "gpu"}
    assert "nvidia.com/gpu=present:NoSchedule" in pool.get("nodeTaints")
    assert pool.ignore_changes == ["count", "enableEncryptionAtHost"]


def test_spot_pool_declares_the_aks_spot_taint(dev):
    pool = az(dev, "containerservice:AgentPool")
    assert pool.get("scaleSetPriority") == "Spot" and pool.get("scaleSetEvictionPolicy") == "Delete"
    assert SPOT_TAINT in pool.get("nodeTaints")


def test_on_demand_pool_has_no_spot_taint(on_demand):
    pool = az(on_demand, "containerservice:AgentPool")
    assert pool.get("scaleSetPriority") == "Regular"
    assert pool.get("nodeTaints") == ["nvidia.com/gpu=present:NoSchedule"]
    assert pool.get("maxCount") == 3


def _tolerates(tolerations: list[dict], taint: str) -> bool:
    key, rest = taint.split("=", 1)
    value, effect = rest.split(":")
    return any(
        t["key"] == key and t.get("effect") in (effect, None) and (t["operator"] == "Exists" or t.get("value") == value)
        for t in tolerations
    )


@pytest.mark.parametrize("which", ["dev", "on_demand"])
def test_device_plugin_tolerates_every_pool_taint_and_runs_on_the_pool(which, request):
    p = request.getfixturevalue(which)
    pool = az(p, "containerservice:AgentPool")
    ds = p.one("kubernetes:apps/v1:DaemonSet", "gpu-device-plugin")
    spec = ds.get("spec.template.spec")
    assert ds.get("metadata.namespace") == "kube-system"
    assert spec["nodeSelector"] == pool.get("nodeLabels")
    for taint in pool.get("nodeTaints"):
        assert _tolerates(spec["tolerations"], taint), taint
    # NVIDIA's image through the stack's registry cache of nvcr.io (issue 17, tests/test_registry_azure.py)
    registry = az(p, "containerregistry:Registry").outputs["loginServer"]
    assert spec["containers"][0]["image"].startswith(f"{registry}/nvcr/nvidia/k8s-device-plugin:v")
    assert ds.provider.startswith(p.one("pulumi:providers:kubernetes").urn + "::")


def test_serving_pods_tolerate_the_pool_taints(dev):
    pool = az(dev, "containerservice:AgentPool")
    spec = dev.one("kubernetes:apps/v1:Deployment").get("spec.template.spec")
    for taint in pool.get("nodeTaints"):
        assert _tolerates(spec["tolerations"], taint), taint


# --- weights storage and private endpoint ------------------------------------------------------


def test_storage_account_is_entra_only_and_private(dev):
    account = az(dev, "storage:StorageAccount")
    assert account.get("kind") == "StorageV2"
    assert account.get("allowSharedKeyAccess") is False
    assert account.get("publicNetworkAccess") == "Disabled"
    assert account.get("allowBlobPublicAccess") is False
    assert account.get("minimumTlsVersion") == "TLS1_2"
    assert account.get("defaultToOAuthAuthentication") is True
    assert account.get("enableHttpsTrafficOnly") is True
    assert account.get("networkRuleSet.defaultAction") == "Deny"
    assert re.fullmatch(r"[a-z0-9]{3,24}", account.get("accountName"))
    container = az(dev, "storage:BlobContainer")
    assert container.get("publicAccess") == "None"
    assert container.get("accountName") == account.outputs["name"]
    assert dev.of_type(AZ + "storage:Blob") == []  # key-based upload would fail with shared keys off
    service = az(dev, "storage:BlobServiceProperties")
    assert service.get("accountName") == account.outputs["name"] and service.get("blobServicesName") == "default"
    assert service.get("deleteRetentionPolicy") == {"days": 7, "enabled": True}
    assert service.get("containerDeleteRetentionPolicy") == {"days": 7, "enabled": True}


def test_private_endpoint_for_blob_on_the_endpoint_subnet(dev):
    pe = dev.one(AZ + "network:PrivateEndpoint", "weights-blob-pe")
    account = az(dev, "storage:StorageAccount")
    subnet = next(s for s in dev.of_type(AZ + "network:Subnet") if s.get("subnetName") == "private-endpoints")
    assert pe.get("subnet.id") == subnet.id
    (conn,) = pe.get("privateLinkServiceConnections")
    assert conn["groupIds"] == ["blob"]
    assert conn["privateLinkServiceId"] == account.id


def test_privatelink_zone_is_linked_to_the_vnet_and_the_zone_group_writes_the_record(dev):
    zone = dev.one(AZ + "privatedns:PrivateZone", "weights-blob-zone")
    link = dev.one(AZ + "privatedns:VirtualNetworkLink", "weights-blob-vnet-link")
    group = dev.one(AZ + "network:PrivateDnsZoneGroup", "weights-blob-dns")
    pe = dev.one(AZ + "network:PrivateEndpoint", "weights-blob-pe")
    vnet = az(dev, "network:VirtualNetwork")
    assert zone.get("privateZoneName") == "privatelink.blob.core.windows.net"
    assert zone.get("location") == "global"
    assert link.get("privateZoneName") == zone.outputs["name"]
    assert link.get("virtualNetwork.id") == vnet.id
    assert link.get("registrationEnabled") is False
    assert group.get("privateEndpointName") == pe.outputs["name"]
    assert group.get("privateDnsZoneConfigs.0.privateDnsZoneId") == zone.id
    assert "/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net" in zone.id


def test_weights_account_is_always_encrypted_with_its_key_vault_key():
    """Issue 15 item 4: a customer-managed key as on AWS and GCP, not a switch (false is refused)."""
    message = config_error(STACK, cidr(STACK, {"azure": {"customerManagedKey": False}}))
    assert message.startswith("llm-landing-zone:azure.customerManagedKey = false:")
    p = plan(STACK)
    vault, key = az(p, "keyvault:Vault"), az(p, "keyvault:Key", "keys-weights")
    account = az(p, "storage:StorageAccount")
    uami = az(p, "managedidentity:UserAssignedIdentity", "weights-cmk-identity")
    grant = az(p, "authorization:RoleAssignment", "weights-cmk-grant")
    assert vault.get("properties.enablePurgeProtection") is True
    assert vault.get("properties.enableRbacAuthorization") is True
    assert account.get("encryption.keySource") == "Microsoft.Keyvault"
    assert account.get("encryption.keyVaultProperties") == {
        "keyName": key.outputs["name"],
        "keyVaultUri": f"https://{vault.get('vaultName')}.vault.azure.net/",
    }
    assert account.get("encryption.encryptionIdentity.encryptionUserAssignedIdentity") == uami.id
    assert account.get("identity.userAssignedIdentities") == [uami.id]
    assert grant.get("scope") == key.id and grant.get("principalId") == uami.outputs["principalId"]
    assert grant.urn in account.dependencies


# --- workload identity -------------------------------------------------------------------------


@pytest.mark.parametrize(("which", "ns", "sa"), [("dev", "llm", "vllm"), ("on_demand", "inference", "reader")])
def test_federated_credential_trusts_exactly_the_serving_account_of_this_cluster(which, ns, sa, request):
    p = request.getfixturevalue(which)
    fic = az(p, "managedidentity:FederatedIdentityCredential", "serving-identity-federation")
    uami = az(p, "managedidentity:UserAssignedIdentity", "serving-identity-uami")
    aks = az(p, "containerservice:ManagedCluster")
    assert fic.get("subject") == f"system:serviceaccount:{ns}:{sa}"
    assert fic.get("issuer") == aks.outputs["oidcIssuerProfile"]["issuerURL"]
    assert fic.get("issuer").startswith("https://eastus.oic.prod-aks.azure.com/") and fic.get("issuer").endswith("/")
    assert fic.get("audiences") == ["api://AzureADTokenExchange"]
    assert fic.get("resourceName") == uami.outputs["name"]


def test_reader_role_is_principal_scoped_to_the_container_with_a_guid_name(dev):
    ra = az(dev, "authorization:RoleAssignment", "serving-identity-weights-reader")
    uami = az(dev, "managedidentity:UserAssignedIdentity", "serving-identity-uami")
    container = az(dev, "storage:BlobContainer")
    assert ra.get("principalId") == uami.outputs["principalId"] != uami.outputs["clientId"]
    assert ra.get("principalType") == "ServicePrincipal"
    assert ra.get("roleDefinitionId") == (
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
    )
    assert ra.get("scope") == container.id
    assert ra.get("scope").endswith("/blobServices/default/containers/weights")
    assert GUID.match(ra.get("roleAssignmentName"))
    assert "StringStartsWith 'models/deepseek-r1-distill-llama-8b/'" in ra.get("condition")
    assert ra.get("conditionVersion") == "2.0"


def test_role_assignment_names_are_stable_across_runs(dev, on_demand):
    names = lambda p: {r.name: r.get("roleAssignmentName") for r in p.of_type(AZ + "authorization:RoleAssignment")}  # noqa: E731
    first, again = names(dev), names(plan(STACK))
    assert first == again
    assert all(GUID.match(n) for n in first.values())
    # another serving identity is another grant
    assert names(on_demand)["serving-identity-weights-reader"] != first["serving-identity-weights-reader"]


def test_serving_service_account_and_pod_get_the_workload_identity_binding(dev):
    uami = az(dev, "managedidentity:UserAssignedIdentity", "serving-identity-uami")
    account = az(dev, "storage:StorageAccount")
    sa = dev.one("kubernetes:core/v1:ServiceAccount", "llm-sa")
    assert sa.get("metadata.annotations") == {"azure.workload.identity/client-id": uami.outputs["clientId"]}
    pod = dev.one("kubernetes:apps/v1:Deployment").get("spec.template")
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert "azure.workload.identity/use" not in (pod["metadata"].get("annotations") or {})
    assert "azure.workload.identity/use" not in (sa.get("metadata.labels") or {})
    envs = [e for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"] for e in c.get("env", [])]
    assert {"name": "AZURE_STORAGE_ACCOUNT_NAME", "value": account.outputs["name"]} in envs


# --- exports and providers ---------------------------------------------------------------------


def test_exports_name_the_azure_resources(dev):
    out = dev.outputs
    account = out["storageAccount"]
    # Operators paste it as it is into `llz weights push`: the blob URL names the account too.
    assert out["weightsUri"] == f"https://{account}.blob.core.windows.net/weights/models/deepseek-r1-distill-llama-8b"
    assert weights_uri.parse(out["weightsUri"]) == weights_uri.WeightsUri(
        "az", "weights", "models/deepseek-r1-distill-llama-8b", account
    )
    assert out["resourceGroup"] == az(dev, "resources:ResourceGroup").outputs["name"]
    assert out["clusterName"] == az(dev, "containerservice:ManagedCluster").outputs["name"]
    assert out["storageAccount"] == az(dev, "storage:StorageAccount").outputs["name"]
    assert out["container"] == "weights"
    assert out["kubeconfig"] == "[secret]"


def test_every_azure_resource_uses_the_one_azure_provider_and_a_component_parent(dev):
    azure_provider = dev.one("pulumi:providers:azure-native")
    assert azure_provider.get("subscriptionId") == SUB and azure_provider.get("location") == "eastus"
    resources = [r for r in dev.resources if r.type.startswith(AZ)]
    assert len(resources) >= 20
    for r in resources:
        assert r.provider.startswith(azure_provider.urn + "::"), r.urn
        assert dev.by_urn(r.parent).type.startswith("llz:azure:"), r.urn
