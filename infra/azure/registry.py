"""The stack's Azure Container Registry: the images the nodes pull, cached from their upstreams.

One Premium registry (private endpoints and customer-managed keys need Premium) that takes no public
traffic, has no admin user and no anonymous pull, and is encrypted with its own key in the stack's
Key Vault (infra/azure/kms.py) through a user-assigned identity holding only the crypto-service role
on that key. ACR can take a customer-managed key only when a registry is created and never turns it
off (learn.microsoft.com/azure/container-registry/tutorial-customer-managed-keys: "You can currently
enable a customer-managed key only while creating a registry"), so the key and its grant exist before
the registry. The key id is versionless: the registry follows Key Vault's 90-day rotation.

Nodes reach it through a private endpoint in the endpoint subnet with the `privatelink.azurecr.io`
zone (the same PrivateEndpoint as the weights account's: the Deployment waits for the zone's VNet
link and A records). Dedicated data endpoints (`<registry>.<region>.data.azurecr.io`) are on, so the
layer downloads come from this registry's own endpoint, not a shared one.

Cache rules (artifact cache) map an upstream repository to a repository here, one rule per image the
stack runs: `docker.io/vllm/vllm-openai` -> `dockerhub/vllm/vllm-openai`, `ghcr.io/llm-landing-zone/llz`
-> `ghcr/llm-landing-zone/llz`, `nvcr.io/nvidia/k8s-device-plugin` -> `nvcr/nvidia/k8s-device-plugin`.
ACR fetches the image on its side on the first pull and serves the cached copy after that. Docker
Hub is pulled as the account in `azure.dockerHubCredentials` (a credential set reading two Key Vault
secrets with its own system identity), anonymously otherwise (with a warning: rate limits).

The AKS kubelet identity holds AcrPull on this registry only: nothing in the cluster can push.
ACR has no immutable-tag property and no built-in scanning: tags are locked per repository with
`az acr repository update --write-enabled false`, scanning is Microsoft Defender for Containers (a
subscription plan), untagged manifests go after RETENTION_DAYS (docs/azure.md, "Registry").

Argument names and enums are azure-native 3.29's: containerregistry.Registry (API 2023-01-01-preview:
`policies.retention_policy`, `policies.export_policy`, `encryption.key_vault_properties.{key_identifier,
identity}` with the identity's client id, `identity.user_assigned_identities` a map id -> {}),
CacheRule (API 2024-11-01-preview: `source_repository`, `target_repository`,
`credential_set_resource_id`) and CredentialSet (API 2023-01-01-preview: `login_server`, `identity`,
`auth_credentials[].name` "Credential1" with `username/password_secret_identifier` Key Vault secret URIs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerregistry

from infra.azure.endpoints import PrivateEndpoint, PrivateEndpointArgs
from infra.azure.kms import key_user
from infra.azure.roles import ACR_PULL, KEY_VAULT_SECRETS_USER, delete_lock, grant
from infra.azure.settings import DockerHubCredentials
from infra.images import DOCKER_HUB, parse

ZONE = "privatelink.azurecr.io"
# Upstream host -> the repository prefix its cache rules write under (ACR's artifact cache supports these
# upstreams: Docker Hub, GitHub Container Registry, NVIDIA's nvcr.io, registry.k8s.io among others).
CACHES = {"docker.io": "dockerhub", "ghcr.io": "ghcr", "nvcr.io": "nvcr", "registry.k8s.io": "k8s"}
RETENTION_DAYS = 7  # untagged manifests (a retagged image's old manifest) are purged after a week
DOCKER_HUB_RATE_LIMIT = (
    "azure.dockerHubCredentials is not set: the registry's Docker Hub cache pulls anonymously, and Docker "
    "Hub's anonymous pull rate limit (per source IP) can fail the first pull of {images}; set "
    "azure.dockerHubCredentials (docs/azure.md, Registry)"
)


@dataclass(frozen=True)
class RegistryArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    registry_name: str  # 5-50 letters and digits, globally unique (<name>.azurecr.io)
    subscription_id: str
    key_uri: pulumi.Input[str]  # the registry's key, versionless (follows rotation)
    key_id: pulumi.Input[str]  # its resource id: the scope of the registry identity's grant
    kubelet_object_id: pulumi.Input[str]  # the AKS kubelet identity: the only puller
    vnet_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]  # the private-endpoint subnet
    images: tuple[str, ...]  # the upstream references the stack runs
    docker_hub: DockerHubCredentials | None
    lock: bool  # a CanNotDelete lock on the registry (deletion protection)
    tags: dict[str, str]
    provider: pulumi.ProviderResource


def rule_name(prefix: str, path: str) -> str:
    """A cache rule's name: letters, digits and '-', 5 to 50 characters."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", f"{prefix}-{path}")[:50].rstrip("-")


def secret_uri(vault_id: str, secret: str) -> str:
    """The versionless URI of a secret in the vault with this ARM id (public Azure cloud)."""
    return f"https://{vault_id.rsplit('/', 1)[-1]}.vault.azure.net/secrets/{secret}"


class Registry(pulumi.ComponentResource):
    registry: containerregistry.Registry
    endpoint: PrivateEndpoint
    cache_rules: dict[str, containerregistry.CacheRule]  # source repository -> its rule
    pull: pulumi.Resource  # the kubelet's AcrPull
    images: dict[str, pulumi.Output[str]]  # upstream reference -> reference in this registry
    ready: list[pulumi.Resource]  # what a pod pulling from here waits for

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        uami, key_grant = key_user(
            name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            subscription_id=args.subscription_id,
            key_id=args.key_id,
            owner=args.registry_name,
            tags=args.tags,
            opts=child,
        )
        self.registry = containerregistry.Registry(
            f"{name}-acr",
            resource_group_name=args.resource_group_name,
            registry_name=args.registry_name,
            location=args.location,
            sku={"name": "Premium"},
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access="Disabled",
            network_rule_set={"default_action": "Deny"},
            # Trusted Microsoft services (Defender's image scanning among them) may still reach it.
            network_rule_bypass_options="AzureServices",
            data_endpoint_enabled=True,
            policies={
                "retention_policy": {"days": RETENTION_DAYS, "status": "enabled"},
                # No `az acr import`/export pipelines out of the registry (needs public access disabled).
                "export_policy": {"status": "disabled"},
            },
            encryption={
                "status": "enabled",
                "key_vault_properties": {"key_identifier": args.key_uri, "identity": uami.client_id},
            },
            identity=uami.id.apply(lambda i: {"type": "UserAssigned", "user_assigned_identities": {i: {}}}),
            tags=args.tags,
            # The key is only accepted at creation: the registry must not exist before its grant does.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[key_grant])),
        )
        if args.lock:
            delete_lock(f"{name}-lock", self.registry.id, child)
        self.endpoint = PrivateEndpoint(
            f"{name}-pe",
            PrivateEndpointArgs(
                resource_group_name=args.resource_group_name,
                location=args.location,
                vnet_id=args.vnet_id,
                subnet_id=args.subnet_id,
                target_id=self.registry.id,
                group_id="registry",
                zone_name=ZONE,
                tags=args.tags,
                provider=args.provider,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        upstream = [parse(ref) for ref in args.images]
        hub_credentials = self._docker_hub(name, args, child) if args.docker_hub else None
        if args.docker_hub is None and any(i.host == DOCKER_HUB for i in upstream):
            hub_images = ", ".join(
                sorted({ref for ref, i in zip(args.images, upstream, strict=True) if i.host == DOCKER_HUB})
            )
            pulumi.log.warn(DOCKER_HUB_RATE_LIMIT.format(images=hub_images), self)
        self.cache_rules = {}
        self.images = {}
        for ref, image in zip(args.images, upstream, strict=True):
            prefix = CACHES.get(image.host)
            if prefix is None:
                continue  # a team's own registry: pulled as it is
            source = f"{image.host}/{image.path}"
            if source not in self.cache_rules:
                credentials = hub_credentials if image.host == DOCKER_HUB else None
                self.cache_rules[source] = containerregistry.CacheRule(
                    f"{name}-{rule_name(prefix, image.path)}",
                    resource_group_name=args.resource_group_name,
                    registry_name=self.registry.name,
                    cache_rule_name=rule_name(prefix, image.path),
                    source_repository=source,
                    target_repository=f"{prefix}/{image.path}",
                    credential_set_resource_id=credentials[0].id if credentials else None,
                    opts=pulumi.ResourceOptions.merge(
                        child, pulumi.ResourceOptions(depends_on=credentials[1] if credentials else None)
                    ),
                )
            self.images[ref] = self.registry.login_server.apply(
                lambda server, image=image, prefix=prefix: image.under(f"{server}/{prefix}")
            )
        # Nodes pull, nothing pushes: the kubelet's identity gets AcrPull on this registry and nothing else.
        self.pull = grant(
            f"{name}-kubelet-pull",
            subscription_id=args.subscription_id,
            role=ACR_PULL,
            principal_id=args.kubelet_object_id,
            principal_type="ServicePrincipal",
            scope=self.registry.id,
            purpose=(args.registry_name, "kubelet", "pull"),
            opts=child,
        )
        self.ready = [*self.endpoint.ready, self.pull, *self.cache_rules.values()]
        self.register_outputs({"loginServer": self.registry.login_server, "images": self.images})

    def _docker_hub(
        self, name: str, args: RegistryArgs, child: pulumi.ResourceOptions
    ) -> tuple[containerregistry.CredentialSet, list[pulumi.Resource]]:
        """The credential set the Docker Hub cache rule pulls with, and its identity's read grants on the
        two secrets (each scoped to its secret, not the vault)."""
        hub = args.docker_hub
        assert hub is not None
        credential_set = containerregistry.CredentialSet(
            f"{name}-dockerhub-credentials",
            resource_group_name=args.resource_group_name,
            registry_name=self.registry.name,
            credential_set_name="dockerhub",
            login_server=DOCKER_HUB,
            identity={"type": "SystemAssigned"},
            auth_credentials=[
                {
                    "name": "Credential1",
                    "username_secret_identifier": secret_uri(hub.vault_id, hub.username_secret),
                    "password_secret_identifier": secret_uri(hub.vault_id, hub.password_secret),
                }
            ],
            opts=child,
        )
        principal = credential_set.identity.apply(lambda i: i.principal_id if i else None)
        grants: list[pulumi.Resource] = [
            grant(
                f"{name}-dockerhub-{kind}",
                subscription_id=args.subscription_id,
                role=KEY_VAULT_SECRETS_USER,
                principal_id=principal,
                principal_type="ServicePrincipal",
                scope=f"{hub.vault_id}/secrets/{secret}",
                purpose=(args.registry_name, "dockerhub", kind),
                opts=child,
            )
            for kind, secret in (("username", hub.username_secret), ("password", hub.password_secret))
        ]
        return credential_set, grants
