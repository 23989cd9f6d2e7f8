"""The stack's private registry on Azure (issue 17, infra/azure/registry.py): every pod image comes from
the stack's ACR through a cache rule of its upstream, the registry is hardened (Premium, no admin user,
no public network, no anonymous pull, the stack's Key Vault key), nodes reach it through a private
endpoint whose name resolves privately before a pod pulls, and only the kubelet may pull from it."""

from __future__ import annotations

import pytest

from infra.azure.registry import CACHES, secret_uri
from infra.azure.roles import ACR_PULL, KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER, KEY_VAULT_SECRETS_USER
from infra.conventions import NVIDIA_DEVICE_PLUGIN_IMAGE
from infra.images import parse
from tests.ci_support import cidr_plan
from tests.harness import config_error, dev_plan, plan, program_error

AZ = "azure-native:"
REGISTRY = AZ + "containerregistry:Registry"
CACHE_RULE = AZ + "containerregistry:CacheRule"
CREDENTIAL_SET = AZ + "containerregistry:CredentialSet"
ROLE = AZ + "authorization:RoleAssignment"
POD_OWNERS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:DaemonSet", "kubernetes:batch/v1:Job")
VAULT_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/llz-azure-dev/providers/"
    "Microsoft.KeyVault/vaults/llz-azure-dev-hub"
)
HUB = {"vaultId": VAULT_ID, "usernameSecret": "dockerhub-username", "passwordSecret": "dockerhub-token"}


def _role(resource) -> str:
    return str(resource.get("roleDefinitionId")).rsplit("/", 1)[-1]


def _pod_images(p) -> dict[str, list[str]]:
    """Each pod-owning object's images (init containers and containers), by name."""
    out = {}
    for r in p.resources:
        if r.type in POD_OWNERS:
            spec = r.get("spec.template.spec")
            out[r.name] = [c["image"] for c in [*spec.get("initContainers", []), *spec["containers"]]]
    return out


@pytest.fixture(scope="module")
def dev():
    return dev_plan("azure-dev")


def test_every_pod_image_comes_from_the_stacks_registry(dev):
    server = dev.one(REGISTRY).outputs["loginServer"]
    assert server == f"{dev.one(REGISTRY).get('registryName')}.azurecr.io"
    images = _pod_images(dev)
    assert set(images) == {"llm", "llm-stage", "gpu-device-plugin"}  # vLLM + puller, staging Job, device plugin
    every = [i for group in images.values() for i in group]
    assert len(every) == 4
    for image in every:
        assert image.startswith(f"{server}/"), image
    assert images["gpu-device-plugin"] == [
        f"{server}/nvcr/nvidia/k8s-device-plugin:v0.17.4@sha256:3c54348fe5a57e5700e7d8068e7531d2ef2d5f3ccb70c8f6bac0953432527abd"
    ]
    assert images["llm-stage"] == [f"{server}/ghcr/llm-landing-zone/llz:0.1.0"]
    assert f"{server}/dockerhub/vllm/vllm-openai:v0.32.0" in images["llm"]
    exported = dev.outputs["images"]
    assert exported[NVIDIA_DEVICE_PLUGIN_IMAGE] == images["gpu-device-plugin"][0]
    assert exported["vllm/vllm-openai:v0.32.0"] == f"{server}/dockerhub/vllm/vllm-openai:v0.32.0"
    assert dev.outputs["registry"] == server


def test_a_cache_rule_per_upstream_image_into_its_served_repository(dev):
    rules = {r.get("sourceRepository"): r for r in dev.of_type(CACHE_RULE)}
    assert sorted(rules) == [
        "docker.io/vllm/vllm-openai",
        "ghcr.io/llm-landing-zone/llz",
        "nvcr.io/nvidia/k8s-device-plugin",
    ]
    acr = dev.one(REGISTRY)
    for source, rule in rules.items():
        image = parse(source + ":x")
        assert rule.get("targetRepository") == f"{CACHES[image.host]}/{image.path}"
        assert rule.get("registryName") == acr.get("registryName")
        assert 5 <= len(rule.get("cacheRuleName")) <= 50
    served = {parse(i).path for group in _pod_images(dev).values() for i in group}  # tag and digest dropped
    assert served == {r.get("targetRepository") for r in rules.values()}, "every pulled repository has its rule"


def test_docker_hub_is_pulled_as_the_configured_account(dev):
    credential_set = dev.one(CREDENTIAL_SET)
    assert credential_set.get("loginServer") == "docker.io"
    assert credential_set.get("identity") == {"type": "SystemAssigned"}
    assert credential_set.get("authCredentials") == [
        {
            "name": "Credential1",
            "usernameSecretIdentifier": "https://llz-azure-dev-hub.vault.azure.net/secrets/dockerhub-username",
            "passwordSecretIdentifier": "https://llz-azure-dev-hub.vault.azure.net/secrets/dockerhub-token",
        }
    ]
    hub = next(r for r in dev.of_type(CACHE_RULE) if r.get("sourceRepository").startswith("docker.io/"))
    assert hub.get("credentialSetResourceId") == credential_set.id
    others = [r for r in dev.of_type(CACHE_RULE) if r is not hub]
    assert others and all(r.get("credentialSetResourceId") is None for r in others)
    reads = [r for r in dev.of_type(ROLE) if _role(r) == KEY_VAULT_SECRETS_USER]
    assert sorted(r.get("scope") for r in reads) == [
        f"{VAULT_ID}/secrets/dockerhub-token",
        f"{VAULT_ID}/secrets/dockerhub-username",
    ], "each secret, not the vault"
    for r in reads:
        assert r.get("principalId") == credential_set.outputs["identity"]["principalId"]
        assert r.get("principalType") == "ServicePrincipal"
        assert r.urn in hub.dependencies, "the rule is created once its credential set may read the secrets"


def test_without_docker_hub_credentials_the_cache_is_anonymous_and_the_plan_says_so():
    p = plan(
        "azure-dev",
        {"azure": {"dockerHubCredentials": None}},
        expect_warnings=[r"azure\.dockerHubCredentials is not set: .*rate limit.*vllm/vllm-openai:v0\.32\.0"],
    )
    assert not p.of_type(CREDENTIAL_SET)
    assert all(r.get("credentialSetResourceId") is None for r in p.of_type(CACHE_RULE))
    assert not [r for r in p.of_type(ROLE) if _role(r) == KEY_VAULT_SECRETS_USER]


def test_secret_uri_is_the_vaults_versionless_secret():
    assert secret_uri(VAULT_ID, "a-b") == "https://llz-azure-dev-hub.vault.azure.net/secrets/a-b"


def test_registry_is_hardened_and_encrypted_with_the_stacks_key(dev):
    acr = dev.one(REGISTRY)
    assert acr.get("sku") == {"name": "Premium"}
    assert acr.get("adminUserEnabled") is False
    assert acr.get("anonymousPullEnabled") is False
    assert acr.get("publicNetworkAccess") == "Disabled"
    assert acr.get("dataEndpointEnabled") is True
    assert acr.get("policies.exportPolicy") == {"status": "disabled"}
    assert acr.get("policies.retentionPolicy") == {"days": 7, "status": "enabled"}
    key = dev.one(AZ + "keyvault:Key", "keys-registry")
    identity = dev.one(AZ + "managedidentity:UserAssignedIdentity", "registry-cmk-identity")
    assert acr.get("encryption") == {
        "status": "enabled",
        "keyVaultProperties": {"keyIdentifier": key.outputs["keyUri"], "identity": identity.outputs["clientId"]},
    }
    assert "/versions/" not in key.outputs["keyUri"] and key.outputs["keyUri"].endswith("/keys/registry-cmk")
    assert acr.get("identity") == {"type": "UserAssigned", "userAssignedIdentities": {identity.id: {}}}
    grant = dev.one(ROLE, "registry-cmk-grant")
    assert _role(grant) == KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER
    assert grant.get("scope") == key.id and grant.get("principalId") == identity.outputs["principalId"]
    assert grant.get("principalType") == "ServicePrincipal"
    assert grant.urn in acr.dependencies, "a customer-managed key is accepted only when the registry is created"
    assert key.get("properties.rotationPolicy.lifetimeActions")[0]["action"] == {"type": "rotate"}


def test_private_endpoint_and_privatelink_zone(dev):
    acr = dev.one(REGISTRY)
    endpoint = dev.one(AZ + "network:PrivateEndpoint", "registry-pe-pe")
    assert endpoint.get("privateLinkServiceConnections") == [
        {"name": "registry", "privateLinkServiceId": acr.id, "groupIds": ["registry"]}
    ]
    blob = dev.one(AZ + "network:PrivateEndpoint", "weights-blob-pe")
    assert endpoint.get("subnet") == blob.get("subnet"), "the stack's private-endpoint subnet"
    zone = dev.one(AZ + "privatedns:PrivateZone", "registry-pe-zone")
    assert zone.get("privateZoneName") == "privatelink.azurecr.io"
    link = dev.one(AZ + "privatedns:VirtualNetworkLink", "registry-pe-vnet-link")
    assert link.get("privateZoneName") == "privatelink.azurecr.io"
    assert link.get("resolutionPolicy") == "NxDomainRedirect" and link.get("registrationEnabled") is False
    assert link.get("virtualNetwork") == dev.one(AZ + "privatedns:VirtualNetworkLink", "weights-blob-vnet-link").get(
        "virtualNetwork"
    )
    group = dev.one(AZ + "network:PrivateDnsZoneGroup", "registry-pe-dns")
    assert group.get("privateDnsZoneConfigs") == [{"name": "registry", "privateDnsZoneId": zone.id}]


@pytest.mark.parametrize(
    "owner", ["kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job", "kubernetes:apps/v1:DaemonSet"]
)
def test_pods_wait_for_the_registry_to_resolve_privately_and_to_be_pullable(dev, owner):
    pods = dev.one(owner)
    for name in ("registry-pe-vnet-link", "registry-pe-dns", "registry-kubelet-pull"):
        waited = next(r for r in dev.resources if r.name == name)
        assert waited.urn in pods.dependencies, name
    for rule in dev.of_type(CACHE_RULE):
        assert rule.urn in pods.dependencies


def test_only_the_kubelet_pulls_and_nothing_pushes(dev):
    aks = dev.one(AZ + "containerservice:ManagedCluster")
    acr = dev.one(REGISTRY)
    on_registry = [r for r in dev.of_type(ROLE) if str(r.get("scope")).startswith(acr.id)]
    assert [r.name for r in on_registry] == ["registry-kubelet-pull"]
    pull = on_registry[0]
    assert _role(pull) == ACR_PULL == "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    assert pull.get("scope") == acr.id
    assert pull.get("principalId") == aks.outputs["identityProfile"]["kubeletidentity"]["objectId"]
    assert pull.get("principalType") == "ServicePrincipal"
    acr_roles = {ACR_PULL, "8311e382-0749-4cb8-b61a-304f252e45ec", "c2f4ef07-c644-48eb-af81-4b1b4947fb11"}
    assert [r.name for r in dev.of_type(ROLE) if _role(r) in acr_roles] == ["registry-kubelet-pull"]  # no AcrPush


def test_every_role_assignment_names_its_principal_type(dev):
    assert all(r.get("principalType") for r in dev.of_type(ROLE))


def test_cidr_mode_has_the_same_registry():
    p = cidr_plan("azure-dev")
    server = p.one(REGISTRY).outputs["loginServer"]
    assert all(i.startswith(f"{server}/") for group in _pod_images(p).values() for i in group)
    assert p.one(AZ + "privatedns:VirtualNetworkLink", "registry-pe-vnet-link").get("resolutionPolicy")


def test_deletion_protection_locks_the_registry():
    p = plan("azure-dev", {"cluster": {"deletionProtection": True}})
    lock = p.one(AZ + "authorization:ManagementLockByScope", "registry-lock")
    assert lock.get("scope") == p.one(REGISTRY).id and lock.get("level") == "CanNotDelete"


@pytest.mark.parametrize(
    ("hub", "key", "fragment"),
    [
        ({**HUB, "vaultId": "my-secrets-vault"}, "azure.dockerHubCredentials.vaultId", "does not match"),
        ({**HUB, "usernameSecret": "docker_hub"}, "azure.dockerHubCredentials.usernameSecret", "does not match"),
        ({**HUB, "passwordSecret": "dockerhub-username"}, "azure.dockerHubCredentials.passwordSecret", "same secret"),
        ({**HUB, "passwordSecret": None}, "azure.dockerHubCredentials.passwordSecret", "required"),
    ],
)
def test_docker_hub_credentials_errors_are_one_line(hub, key, fragment):
    message = config_error("azure-dev", {"azure": {"dockerHubCredentials": hub}})
    assert key in message and fragment in message


def test_on_runners_the_secrets_vault_is_in_the_stacks_resource_group():
    elsewhere = {**HUB, "vaultId": VAULT_ID.replace("/llz-azure-dev/", "/my-secrets/")}
    message = program_error("azure-dev", {"azure": {"dockerHubCredentials": elsewhere}})
    assert "azure.dockerHubCredentials.vaultId" in message and "resource group llz-azure-dev" in message
    assert "\n" not in message
    assert cidr_plan("azure-dev", {"azure": {"dockerHubCredentials": elsewhere}}).of_type(CREDENTIAL_SET)
