"""Built-in Azure role ids, role assignments with deterministic names, and deletion locks.

ARM wants the FULL role-definition id (a bare GUID is rejected) and a GUID as the assignment
name; deriving that GUID from stable inputs (uuid5) keeps the name unchanged across runs, so an
update never replaces (briefly revokes) a grant.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi_azure_native import authorization

STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
# KMS etcd encryption (learn.microsoft.com/azure/aks/use-kms-etcd-encryption, RBAC vault): the cluster's
# identity needs Key Vault Crypto User on the key, and with a private vault Key Vault Contributor on the
# vault (AKS creates the vault's private link for the API server).
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
KEY_VAULT_CONTRIBUTOR = "f25e0fa2-a7c8-4377-a976-54943a77a395"
# The stack's registry (infra/azure/registry.py): the kubelet pulls (AcrPull, built-in roles list:
# 7f951dda-4ed3-4680-a7ca-43fe172d538d, not 7f951dff-…), a cache rule's credential set reads its
# Docker Hub secrets (Key Vault Secrets User).
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
# Querying an Azure Monitor workspace's Prometheus endpoint (KEDA's scaler, Managed Grafana): Monitoring Data
# Reader (built-in roles list; keda.sh/docs/2.21/scalers/prometheus "Azure Monitor Managed Service for
# Prometheus"). Grafana Admin on a Managed Grafana lets the admin groups in (built-in roles list, Monitor).
MONITORING_DATA_READER = "b0d8363b-8ddd-447d-831f-62ca05bff136"
GRAFANA_ADMIN = "22926164-76b3-42b3-bc55-97df8dab3e41"

_NAMESPACE = uuid.UUID("5d1c0c7e-3c1a-4f0e-9a57-6c6c7a1e2b11")  # llm-landing-zone role assignments


def role_definition_id(subscription_id: str, role: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def role_assignment_name(subscription_id: str, *parts: str) -> str:
    """A GUID that is the same on every run for the same subscription and purpose."""
    return str(uuid.uuid5(_NAMESPACE, "/".join((subscription_id, *parts))))


def grant(
    resource_name: str,
    *,
    subscription_id: str,
    role: str,
    principal_id: pulumi.Input[str],
    scope: pulumi.Input[str],
    purpose: tuple[str, ...],
    opts: pulumi.ResourceOptions,
    principal_type: str | None = "ServicePrincipal",
    **extra: Any,
) -> authorization.RoleAssignment:
    """Grant `role` to a principal at `scope`; `purpose` makes the stable GUID name."""
    return authorization.RoleAssignment(
        resource_name,
        role_assignment_name=role_assignment_name(subscription_id, *purpose),
        role_definition_id=role_definition_id(subscription_id, role),
        principal_id=principal_id,
        principal_type=principal_type,
        scope=scope,
        opts=opts,
        **extra,
    )


def grant_groups(
    resource_prefix: str,
    groups: Sequence[str],
    *,
    subscription_id: str,
    role: str,
    scope: pulumi.Input[str],
    purpose: tuple[str, ...],
    opts: pulumi.ResourceOptions,
) -> list[authorization.RoleAssignment]:
    """`role` at `scope` for each Entra group (resource `<prefix>-<group>`, purpose `(*purpose, group)`)."""
    return [
        grant(
            f"{resource_prefix}-{group}",
            subscription_id=subscription_id,
            role=role,
            principal_id=group,
            scope=scope,
            purpose=(*purpose, group),
            principal_type="Group",
            opts=opts,
        )
        for group in groups
    ]


def delete_lock(resource_name: str, scope: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
    """A CanNotDelete lock: Azure refuses to delete the resource until the lock is removed."""
    authorization.ManagementLockByScope(
        resource_name,
        scope=scope,
        lock_name="llz-cannot-delete",
        level="CanNotDelete",
        notes="deletion protection (cluster.deletionProtection / environment prod)",
        opts=opts,
    )
