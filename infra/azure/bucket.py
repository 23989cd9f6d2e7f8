"""The weights store: a StorageV2 account that only Entra ID identities can use, from the VNet only.

Shared keys are off (no account key, no SAS), so nothing but Entra ID RBAC can read a blob;
public network access is off, so reads come through the private endpoint. `storage.Blob` is
never used to upload weights: it authenticates with the account key, which is disabled
(KeyBasedAuthenticationNotPermitted); weights are pushed out of band with Entra ID.
With `azure.customerManagedKey` the account is encrypted with a key in a purge-protected Key
Vault, reached through a user-assigned identity holding only the crypto-service role on that key.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import keyvault, managedidentity, storage

from infra.azure.roles import KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER, delete_lock, grant

CONTAINER = "weights"


@dataclass(frozen=True)
class WeightsStorageArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: str  # 3-24 lowercase letters/digits, globally unique
    subscription_id: str
    tenant_id: pulumi.Input[str]
    customer_managed_key: bool
    vault_name: str  # used only with customer_managed_key
    lock: bool  # a CanNotDelete lock on the account (deletion protection)
    tags: dict[str, str]
    provider: pulumi.ProviderResource


class WeightsStorage(pulumi.ComponentResource):
    account: storage.StorageAccount
    container: storage.BlobContainer
    account_name: pulumi.Output[str]
    container_name: pulumi.Output[str]
    container_id: pulumi.Output[str]  # the role-assignment scope: {account}/blobServices/default/containers/{name}

    def __init__(self, name: str, args: WeightsStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:WeightsStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        encryption: dict = {
            "key_source": "Microsoft.Storage",
            "require_infrastructure_encryption": True,  # double encryption; only settable at creation
            "services": {"blob": {"enabled": True, "key_type": "Account"}},
        }
        identity = None
        account_opts = child
        if args.customer_managed_key:
            cmk = _CustomerManagedKey(name, args, child)
            identity = {"type": "UserAssigned", "user_assigned_identities": [cmk.identity_id]}
            encryption |= {
                "key_source": "Microsoft.Keyvault",
                "key_vault_properties": {"key_name": cmk.key_name, "key_vault_uri": cmk.vault_uri},
                "encryption_identity": {"encryption_user_assigned_identity": cmk.identity_id},
            }
            account_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cmk.grant]))
        self.account = storage.StorageAccount(
            f"{name}-account",
            resource_group_name=args.resource_group_name,
            account_name=args.account_name,
            location=args.location,
            kind="StorageV2",
            sku={"name": "Standard_ZRS"},
            access_tier="Hot",
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            minimum_tls_version="TLS1_2",
            enable_https_traffic_only=True,
            public_network_access="Disabled",
            network_rule_set={"default_action": "Deny", "bypass": "None"},
            allow_cross_tenant_replication=False,
            is_local_user_enabled=False,
            is_sftp_enabled=False,
            encryption=encryption,
            identity=identity,
            tags=args.tags,
            opts=account_opts,
        )
        if args.lock:
            delete_lock(f"{name}-lock", self.account.id, child)
        # Soft delete: an accidental `rm` of a model (or of the container) is recoverable for a week.
        storage.BlobServiceProperties(
            f"{name}-blob-service",
            resource_group_name=args.resource_group_name,
            account_name=self.account.name,
            blob_services_name="default",
            delete_retention_policy={"enabled": True, "days": 7},
            container_delete_retention_policy={"enabled": True, "days": 7},
            opts=child,
        )
        self.container = storage.BlobContainer(
            f"{name}-container",
            resource_group_name=args.resource_group_name,
            account_name=self.account.name,
            container_name=CONTAINER,
            public_access="None",
            opts=child,
        )
        self.account_name = self.account.name
        self.container_name = self.container.name
        self.container_id = self.container.id
        self.register_outputs(
            {"accountName": self.account.name, "containerName": self.container.name, "containerId": self.container.id}
        )


class _CustomerManagedKey:
    """Key Vault (RBAC, purge protection, trusted-services-only network) + RSA key + the account's identity."""

    def __init__(self, name: str, args: WeightsStorageArgs, child: pulumi.ResourceOptions):
        vault = keyvault.Vault(
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
                "network_acls": {"default_action": "Deny", "bypass": "AzureServices"},
            },
            tags=args.tags,
            opts=child,
        )
        key = keyvault.Key(
            f"{name}-key",
            resource_group_name=args.resource_group_name,
            vault_name=vault.name,
            key_name="weights-cmk",
            properties={"kty": "RSA", "key_size": 3072, "key_ops": ["wrapKey", "unwrapKey"]},
            opts=child,
        )
        uami = managedidentity.UserAssignedIdentity(
            f"{name}-cmk-identity",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=args.tags,
            opts=child,
        )
        self.grant = grant(
            f"{name}-cmk-grant",
            subscription_id=args.subscription_id,
            role=KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
            principal_id=uami.principal_id,
            scope=key.id,
            purpose=(args.account_name, "cmk"),
            opts=child,
        )
        self.identity_id = uami.id
        self.key_name = key.name
        self.vault_uri = vault.properties.apply(lambda p: p.vault_uri)
