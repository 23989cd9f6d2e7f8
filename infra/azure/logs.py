"""Audit logs: a Log Analytics workspace and the diagnostic settings that send it the AKS API
server's audit trail and the weights account's blob access log.

AKS: `kube-audit-admin` (every write to the API, without the get/list noise of `kube-audit`) and
`guard` (Entra ID and Azure RBAC authorization decisions); storage: `StorageRead`, `StorageWrite`
and `StorageDelete` on the blob service (the categories of Microsoft.Storage/storageAccounts/
blobServices; learn.microsoft.com azure/aks/monitor-aks-reference, azure/storage/blobs/
monitor-blobs-reference). Resource-specific tables (`Dedicated`), and the retention is the
workspace's (`azure.logRetentionDays`): per-setting retention policies are deprecated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor, operationalinsights

CLUSTER_LOGS = ("kube-audit-admin", "guard")
BLOB_LOGS = ("StorageRead", "StorageWrite", "StorageDelete")


@dataclass(frozen=True)
class AuditLogsArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    workspace_name: str
    retention_days: int
    tags: dict[str, str]
    provider: pulumi.ProviderResource


class AuditLogs(pulumi.ComponentResource):
    """The workspace first (the cluster's Container Insights add-on names it), then `audit()` sends it the
    cluster's and the weights account's logs once those exist."""

    workspace: operationalinsights.Workspace

    def __init__(self, name: str, args: AuditLogsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:AuditLogs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.workspace = operationalinsights.Workspace(
            f"{name}-workspace",
            resource_group_name=args.resource_group_name,
            workspace_name=args.workspace_name,
            location=args.location,
            sku={"name": "PerGB2018"},
            retention_in_days=args.retention_days,
            features={"disable_local_auth": True},  # Entra ID only, no shared workspace keys
            tags=args.tags,
            opts=child,
        )
        self._name, self._child = name, child
        self.workspace_name = args.workspace_name
        self.register_outputs({"workspaceId": self.workspace.id})

    def audit(self, cluster_id: pulumi.Input[str], blob_service_id: pulumi.Input[str]) -> None:
        """The AKS API server's audit trail and the blob access log (`blob_service_id`: the account's
        blobServices/default)."""
        self._send(f"{self._name}-cluster", cluster_id, CLUSTER_LOGS, self._child)
        self._send(f"{self._name}-weights-blob", blob_service_id, BLOB_LOGS, self._child)

    def _send(
        self, name: str, resource: pulumi.Input[str], categories: Sequence[str], opts: pulumi.ResourceOptions
    ) -> monitor.DiagnosticSetting:
        return monitor.DiagnosticSetting(
            name,
            name="llz-audit",
            resource_uri=resource,
            workspace_id=self.workspace.id,
            log_analytics_destination_type="Dedicated",
            logs=[{"category": c, "enabled": True} for c in categories],
            opts=opts,
        )
