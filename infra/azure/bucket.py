"""The weights store: a StorageV2 account that only Entra ID identities can use, from the VNet only.

Shared keys are off (no account key, no SAS), so nothing but Entra ID RBAC can read a blob;
public network access is off, so reads come through the private endpoint. `storage.Blob` is
never used to upload weights: it authenticates with the account key, which is disabled
(KeyBasedAuthenticationNotPermitted); weights are pushed out of band with Entra ID.
The account is encrypted with its key in the stack's Key Vault (infra/azure/kms.py), reached
through a user-assigned identity holding only the crypto-service role on that key.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import storage

from infra.azure.kms import key_user
from infra.azure.roles import delete_lock

CONTAINER = "weights"


@dataclass(frozen=True)
class WeightsStorageArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: str  # 3-24 lowercase letters/digits, globally unique
    subscription_id: str
    key_name: pulumi.Input[str]  # the account's key in the stack's vault (infra/azure/kms.py)
    key_id: pulumi.Input[str]  # its resource id: the scope of the account identity's grant
    vault_uri: pulumi.Input[str]
    lock: bool  # a CanNotDelete lock on the account (deletion protection)
    tags: dict[str, str]
    provider: pulumi.ProviderResource


class WeightsStorage(pulumi.ComponentResource):
    account: storage.StorageAccount
    container: storage.BlobContainer
    account_name: pulumi.Output[str]
    container_name: pulumi.Output[str]
    blob_service_id: pulumi.Output[str]
    container_id: pulumi.Output[str]  # the role-assignment scope: {account}/blobServices/default/containers/{name}

    def __init__(self, name: str, args: WeightsStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:WeightsStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        # The account's identity may wrap and unwrap with its key only, and exists before the account.
        uami, key_grant = key_user(
            name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            subscription_id=args.subscription_id,
            key_id=args.key_id,
            owner=args.account_name,
            tags=args.tags,
            opts=child,
        )
        encryption = {
            "key_source": "Microsoft.Keyvault",
            "require_infrastructure_encryption": True,  # double encryption; only settable at creation
            "services": {"blob": {"enabled": True, "key_type": "Account"}},
            # No key_version: the account follows the key's newest version.
            "key_vault_properties": {"key_name": args.key_name, "key_vault_uri": args.vault_uri},
            "encryption_identity": {"encryption_user_assigned_identity": uami.id},
        }
        identity = {"type": "UserAssigned", "user_assigned_identities": [uami.id]}
        account_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[key_grant]))
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
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            resource_group_name=args.resource_group_name,
            account_name=self.account.name,
            blob_services_name="default",
            delete_retention_policy={"enabled": True, "days": 7},
            container_delete_retention_policy={"enabled": True, "days": 7},
            # Versions: an overwritten or deleted weights file can be restored, as on S3 and GCS.
            is_versioning_enabled=True,
            opts=child,
        )
        # ... and previous versions go after 30 days, as the other clouds' non-current versions do
        # (learn.microsoft.com lifecycle-management-overview: actions.version.delete).
        storage.ManagementPolicy(
            f"{name}-lifecycle",
            resource_group_name=args.resource_group_name,
            account_name=self.account.name,
            management_policy_name="default",
            policy={
                "rules": [
                    {
                        "name": "expire-previous-versions",
                        "enabled": True,
                        "type": "Lifecycle",
                        "definition": {
                            "actions": {"version": {"delete": {"days_after_creation_greater_than": 30}}},
                            "filters": {"blob_types": ["blockBlob"]},
                        },
                    }
                ]
            },
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
        self.blob_service_id = blob_service.id  # the diagnostic settings' scope (StorageRead/StorageWrite)
        self.register_outputs(
            {"accountName": self.account.name, "containerName": self.container.name, "containerId": self.container.id}
        )
