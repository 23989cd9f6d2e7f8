"""Customer-managed keys in one Key Vault: one for the weights account, one for Kubernetes secrets
(KMS etcd encryption), one for the container registry (infra/azure/registry.py), as GCP's
infra/gcp/kms.py and AWS's KMS keys.

The vault uses Azure RBAC, soft delete and purge protection (Azure Storage requires it for a
customer-managed key) and takes no public traffic: Azure Storage reaches it as a trusted service
(`bypass: AzureServices`; azure-native 3.29 VaultProperties `public_network_access`: "disabled" blocks
all traffic "except private endpoint traffic and that that originates from trusted services"), the
API server through the private link AKS creates for a private KMS vault (keyVaultNetworkAccess
`Private`, which needs API Server VNet Integration:
learn.microsoft.com/azure/aks/use-kms-etcd-encryption). Keys are created through ARM (the management
plane), which the vault's network rules do not block. Who may use each key is granted by its user:
the storage account's identity (infra/azure/bucket.py), the cluster's (infra/azure/cluster.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, keyvault, managedidentity

from infra.azure.roles import KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER, grant

# The vault and the weights key were children of WeightsStorage("weights") (azure.customerManagedKey).
_OLD_PARENT = ("weights", "llz:azure:WeightsStorage")


@dataclass(frozen=True)
class KeysArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    vault_name: str  # 3-24 characters, globally unique
    tenant_id: pulumi.Input[str]
    tags: dict[str, str]
    provider: pulumi.ProviderResource


class Keys(pulumi.ComponentResource):
    vault: keyvault.Vault
    weights_key: keyvault.Key
    etcd_key: keyvault.Key
    registry_key: keyvault.Key
    vault_uri: pulumi.Output[str]

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:Keys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        old_parent = pulumi.create_urn(*_OLD_PARENT)
        self.vault = keyvault.Vault(
            f"{name}-vault",
            resource_group_name=args.resource_group_name,
            vault_name=args.vault_name,
            location=args.location,
            properties={
                "tenant_id": args.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "enable_rbac_authorization": True,
                "enable_soft_delete": True,
                "soft_delete_retention_in_days": 90,
                "enable_purge_protection": True,  # Azure Storage requires it for customer-managed keys
                "public_network_access": "Disabled",
                "network_acls": {"default_action": "Deny", "bypass": "AzureServices"},
            },
            tags=args.tags,
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(aliases=[pulumi.Alias(name="weights-vault", parent=old_parent)])
            ),
        )
        # The weights key as it was (wrap/unwrap: Azure Storage wraps its data keys); the etcd key also
        # encrypts and decrypts (the AKS KMS plugin's calls).
        wrap = ["wrapKey", "unwrapKey"]
        old_key = pulumi.Alias(name="weights-key", parent=old_parent)
        self.weights_key = _key(f"{name}-weights", "weights-cmk", wrap, args, self.vault, child, old_key)
        self.etcd_key = _key(f"{name}-etcd", "etcd-kms", [*wrap, "encrypt", "decrypt"], args, self.vault, child)
        # ACR wraps its data keys with the registry's key (get, wrapKey, unwrapKey: the Key Vault Crypto
        # Service Encryption User role its identity holds).
        self.registry_key = _key(f"{name}-registry", "registry-cmk", wrap, args, self.vault, child)
        self.vault_uri = self.vault.properties.apply(lambda p: p.vault_uri)
        self.register_outputs({"vaultId": self.vault.id, "vaultUri": self.vault_uri})


ROTATE_AFTER = "P90D"  # as the other clouds' keys


def _key(
    name: str,
    key_name: str,
    ops: list[str],
    args: KeysArgs,
    vault: keyvault.Vault,
    child: pulumi.ResourceOptions,
    alias: pulumi.Alias | None = None,
) -> keyvault.Key:
    """An RSA-3072 key that Key Vault rotates every 90 days (a new version; versions never expire, so
    the version AKS's KMS plugin holds in its key id keeps working until `pulumi refresh` + `up` hands
    the cluster the new one; the weights account follows the versionless key by itself). ARM creates a
    key's first version only: a key that already exists keeps its policy (docs/azure.md, "Keys")."""
    return keyvault.Key(
        name,
        resource_group_name=args.resource_group_name,
        vault_name=vault.name,
        key_name=key_name,
        properties={
            "kty": "RSA",
            "key_size": 3072,
            "key_ops": ops,
            "rotation_policy": {
                "lifetime_actions": [{"action": {"type": "rotate"}, "trigger": {"time_after_create": ROTATE_AFTER}}],
            },
        },
        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(aliases=[alias] if alias else None)),
    )


def key_user(
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    subscription_id: str,
    key_id: pulumi.Input[str],
    owner: str,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> tuple[managedidentity.UserAssignedIdentity, authorization.RoleAssignment]:
    """The user-assigned identity a resource encrypts with (`<name>-cmk-identity`) and its grant to wrap and
    unwrap with one key only (`<name>-cmk-grant`, Key Vault Crypto Service Encryption User on the key): the
    resource (`owner`, its globally unique name) must depend on the grant, since its key is checked then."""
    identity = managedidentity.UserAssignedIdentity(
        f"{name}-cmk-identity", resource_group_name=resource_group_name, location=location, tags=tags, opts=opts
    )
    key_grant = grant(
        f"{name}-cmk-grant",
        subscription_id=subscription_id,
        role=KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
        principal_id=identity.principal_id,
        scope=key_id,
        purpose=(owner, "cmk"),
        opts=opts,
    )
    return identity, key_grant
