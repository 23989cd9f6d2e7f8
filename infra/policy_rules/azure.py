"""Azure rules: the weights storage account behind a private endpoint, AKS identity and API access,
and role assignments scoped below the storage account."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .model import Res, Rule, Stack, allowlist, as_list, dig, is_true, known, not_false, not_true, unknown_along

STORAGE_ACCOUNT = ("azure-native:storage:StorageAccount",)
BLOB_CONTAINER = ("azure-native:storage:BlobContainer",)
PRIVATE_ENDPOINT = ("azure-native:network:PrivateEndpoint",)
MANAGED_CLUSTER = ("azure-native:containerservice:ManagedCluster",)
ROLE_ASSIGNMENT = ("azure-native:authorization:RoleAssignment",)

# Scopes at or above a storage account: management group, subscription, resource group, the account.
_BROAD_SCOPES = (
    (re.compile(r"^/$|^/providers/microsoft\.management/managementgroups/[^/]+/?$"), "a management group"),
    (re.compile(r"^/subscriptions/[^/]+/?$"), "the subscription"),
    (re.compile(r"^/subscriptions/[^/]+/resourcegroups/[^/]+/?$"), "a resource group"),
    (
        re.compile(r"/providers/microsoft\.storage/storageaccounts/[^/]+(/blobservices/default)?/?$"),
        "the storage account",
    ),
)


def _blob_public(res: Res) -> Iterator[str]:
    if res.type in STORAGE_ACCOUNT and not_false(res.props.get("allowBlobPublicAccess")):
        yield "allowBlobPublicAccess must be false"
    access = res.props.get("publicAccess")
    if res.type in BLOB_CONTAINER and known(access) and access not in (None, "None"):
        yield f"container publicAccess is {access!r}; must be 'None'"


def _shared_key(res: Res) -> Iterator[str]:
    if not_false(res.props.get("allowSharedKeyAccess")):
        yield "allowSharedKeyAccess must be false (Entra ID only, no account keys)"


def _tls(res: Res) -> Iterator[str]:
    version = res.props.get("minimumTlsVersion")
    if known(version) and version not in ("TLS1_2", "TLS1_3"):
        yield f"minimumTlsVersion is {version or 'not set'}; must be TLS1_2 (or newer)"


def _public_network(res: Res) -> Iterator[str]:
    value = res.props.get("publicNetworkAccess")
    if known(value) and value != "Disabled":
        yield f"publicNetworkAccess is {value or 'not set'}; must be 'Disabled' (reach it through the private endpoint)"


def _connections(endpoint: Res) -> list:
    return as_list(endpoint.props.get("privateLinkServiceConnections")) + as_list(
        endpoint.props.get("manualPrivateLinkServiceConnections")
    )


def _private_endpoint(stack: Stack) -> Iterator[tuple[Res, str]]:
    endpoints = stack.of_type(*PRIVATE_ENDPOINT)
    connections = [c for pe in endpoints for c in _connections(pe)]
    if any(not known(c) or not all(known(g) for g in as_list(dig(c, "groupIds"))) for c in connections):
        return  # an endpoint's target is unknown during preview: can't tell which account it serves
    for account in stack.of_type(*STORAGE_ACCOUNT):
        name = account.props.get("accountName")
        endpoints = [
            pe
            for pe in stack.of_type(*PRIVATE_ENDPOINT)
            for c in _connections(pe)
            if "blob" in as_list(dig(c, "groupIds"))
            and (
                account.urn in pe.dependencies
                or (
                    isinstance(name, str)
                    and str(dig(c, "privateLinkServiceId", "")).lower().endswith(f"/{name.lower()}")
                )
            )
        ]
        if not endpoints:
            yield (
                account,
                "storage account has no private endpoint for 'blob' (network.PrivateEndpoint, groupIds ['blob'])",
            )


def _local_accounts(res: Res) -> Iterator[str]:
    if not_true(res.props.get("disableLocalAccounts")):
        yield "disableLocalAccounts must be true (Entra ID only, no static admin kubeconfig)"


def _workload_identity(res: Res) -> Iterator[str]:
    if not_true(res.get("oidcIssuerProfile.enabled")):
        yield "oidcIssuerProfile.enabled must be true"
    if not_true(res.get("securityProfile.workloadIdentity.enabled")):
        yield "securityProfile.workloadIdentity.enabled must be true"


def _api_restricted(res: Res) -> Iterator[str]:
    if is_true(res.get("apiServerAccessProfile.enablePrivateCluster")):
        return
    if unknown_along(res.props, "apiServerAccessProfile.authorizedIPRanges"):
        return  # unknown during preview
    ranges = as_list(res.get("apiServerAccessProfile.authorizedIPRanges"))
    yield from allowlist(ranges, "apiServerAccessProfile.authorizedIPRanges (or set enablePrivateCluster)")


# The one exception: a bootstrap stack's CI runners (llz:azure:Runner) act on their stack's own
# resource group; the deploy runner's RBAC administration is limited by an ABAC condition to the
# roles the workload assigns (infra/azure/runner.py). Never the subscription, never elsewhere.
_RUNNER_COMPONENT = "llz:azure:Runner$"


def _scope(res: Res) -> Iterator[str]:
    scope = res.props.get("scope")
    if not (isinstance(scope, str) and known(scope)):
        return
    for pattern, what in _BROAD_SCOPES:
        if pattern.search(scope.lower()):
            if what == "a resource group" and _RUNNER_COMPONENT in res.urn and _runner_grant_is_bounded(res):
                return
            yield f"role assignment scoped to {what}; scope it below the account (the container)"
            return


def _runner_grant_is_bounded(res: Res) -> bool:
    """A runner's group-scope grant names a service principal, and delegation carries a condition."""
    fields = ("roleDefinitionId", "principalType", "condition", "conditionVersion")
    if not all(known(res.props.get(f)) for f in fields):
        return True  # unknown during preview: can't tell (checked again at `pulumi up`)
    role = str(res.props.get("roleDefinitionId", "")).rsplit("/", 1)[-1].lower()
    delegates = role in ("f58310d9-a9f6-439a-9e8d-f62e7b41a168", "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9")
    owner = role == "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
    conditioned = bool(res.props.get("condition")) and res.props.get("conditionVersion") == "2.0"
    return res.props.get("principalType") == "ServicePrincipal" and not owner and (conditioned or not delegates)


RULES = [
    Rule(
        "azure-storage-no-public-blob",
        "Storage accounts disallow public blob access; containers are not public.",
        types=(*STORAGE_ACCOUNT, *BLOB_CONTAINER),
        check=_blob_public,
    ),
    Rule(
        "azure-storage-no-shared-key",
        "Storage accounts disable shared key access.",
        types=STORAGE_ACCOUNT,
        check=_shared_key,
    ),
    Rule("azure-storage-tls12", "Storage accounts require TLS 1.2 or newer.", types=STORAGE_ACCOUNT, check=_tls),
    Rule(
        "azure-storage-no-public-network",
        "Storage accounts disable public network access.",
        types=STORAGE_ACCOUNT,
        check=_public_network,
    ),
    Rule(
        "azure-storage-private-endpoint",
        "Every storage account has a blob private endpoint.",
        check_stack=_private_endpoint,
    ),
    Rule("azure-aks-local-accounts", "AKS local accounts are disabled.", types=MANAGED_CLUSTER, check=_local_accounts),
    Rule(
        "azure-aks-workload-identity",
        "AKS has the OIDC issuer and workload identity on.",
        types=MANAGED_CLUSTER,
        check=_workload_identity,
    ),
    Rule(
        "azure-aks-api-restricted",
        "The AKS API server is private or limited to authorized IP ranges.",
        types=MANAGED_CLUSTER,
        check=_api_restricted,
    ),
    Rule(
        "azure-role-assignment-scope",
        "Role assignments are scoped below the storage account, never to the account, group or subscription.",
        types=ROLE_ASSIGNMENT,
        check=_scope,
    ),
]


# --- issue 15: what a real AKS deploy needs (audit logs, KMS, host encryption, DNS, upgrades) -------
AGENT_POOL = ("azure-native:containerservice:AgentPool",)
DIAGNOSTIC_SETTING = ("azure-native:monitor:DiagnosticSetting",)
BLOB_SERVICE = ("azure-native:storage:BlobServiceProperties",)
VNET_LINK = ("azure-native:privatedns:VirtualNetworkLink",)
MAINTENANCE = ("azure-native:containerservice:MaintenanceConfiguration",)
CLUSTER_AUDIT = ("kube-audit-admin", "guard")
BLOB_AUDIT = ("StorageRead", "StorageWrite")


def _enabled_categories(setting: Res) -> set[str]:
    return {
        str(dig(log, "category"))
        for log in as_list(setting.props.get("logs"))
        if is_true(dig(log, "enabled")) and dig(log, "category")
    }


def _sends_to_workspace(setting: Res) -> bool:
    return bool(setting.props.get("workspaceId"))


def _missing_logs(settings: list[Res], wanted: tuple[str, ...]) -> list[str]:
    sent = set().union(*(_enabled_categories(s) for s in settings if _sends_to_workspace(s))) if settings else set()
    return [c for c in wanted if c not in sent]


def _diagnostics(stack: Stack) -> Iterator[tuple[Res, str]]:
    """Each AKS cluster sends kube-audit-admin and guard, each storage account's blob service
    StorageRead and StorageWrite, to a Log Analytics workspace."""
    settings = stack.of_type(*DIAGNOSTIC_SETTING)
    for cluster in stack.of_type(*MANAGED_CLUSTER):
        attached = stack.attached(cluster, DIAGNOSTIC_SETTING, "resourceUri")
        missing = _missing_logs(attached, CLUSTER_AUDIT)
        if missing:
            yield cluster, f"no diagnostic setting sends {', '.join(missing)} to a Log Analytics workspace"
    for account in stack.of_type(*STORAGE_ACCOUNT):
        services = [s for s in stack.of_type(*BLOB_SERVICE) if account.urn in s.dependencies]
        name = str(account.props.get("accountName", "")).lower()
        attached = [
            d
            for d in settings
            if any(s.urn in d.dependencies for s in services)
            or (name and f"/storageaccounts/{name}/blobservices/" in str(d.props.get("resourceUri", "")).lower())
        ]
        missing = _missing_logs(attached, BLOB_AUDIT)
        if missing:
            yield account, f"no diagnostic setting on its blob service sends {', '.join(missing)} to a workspace"


def _kms(res: Res) -> Iterator[str]:
    if not_true(res.get("securityProfile.azureKeyVaultKms.enabled")):
        yield "securityProfile.azureKeyVaultKms.enabled must be true (secrets encrypted with a Key Vault key)"
    access = res.get("securityProfile.azureKeyVaultKms.keyVaultNetworkAccess")
    if access == "Private" and not_true(res.get("apiServerAccessProfile.enableVnetIntegration")):
        yield "a private KMS key vault needs apiServerAccessProfile.enableVnetIntegration"


def _host_encryption(res: Res) -> Iterator[str]:
    if res.type in MANAGED_CLUSTER:
        for i, pool in enumerate(as_list(res.props.get("agentPoolProfiles"))):
            if not_true(dig(pool, "enableEncryptionAtHost")):
                yield f"agentPoolProfiles[{i}].enableEncryptionAtHost must be true"
    elif not_true(res.props.get("enableEncryptionAtHost")):
        yield "enableEncryptionAtHost must be true (temp disks and caches encrypted on the host)"


def _vnet_integration(res: Res) -> Iterator[str]:
    if not_true(res.get("apiServerAccessProfile.enableVnetIntegration")):
        yield (
            "apiServerAccessProfile.enableVnetIntegration must be true: nodes reach the API server privately "
            "(behind a NAT gateway a public API server must otherwise list the NAT IP)"
        )


def _link_resolution(res: Res) -> Iterator[str]:
    zone = res.props.get("privateZoneName")
    if isinstance(zone, str) and known(zone) and zone.startswith("privatelink."):
        policy = res.props.get("resolutionPolicy")
        if known(policy) and policy != "NxDomainRedirect":
            yield f"resolutionPolicy is {policy or 'not set'}; NxDomainRedirect keeps other accounts' names resolvable"


def _pool_upgrades(res: Res) -> Iterator[str]:
    if res.props.get("mode") == "System":
        return
    for field in ("maxSurge", "drainTimeoutInMinutes", "undrainableNodeBehavior"):
        value = res.get(f"upgradeSettings.{field}")
        if value is None:
            yield f"upgradeSettings.{field} is not set (a drain the PDB blocks fails the pool)"


def _maintenance(stack: Stack) -> Iterator[tuple[Res, str]]:
    for cluster in stack.of_type(*MANAGED_CLUSTER):
        channels = [
            (cluster.get("autoUpgradeProfile.upgradeChannel"), "aksManagedAutoUpgradeSchedule"),
            (cluster.get("autoUpgradeProfile.nodeOSUpgradeChannel"), "aksManagedNodeOSUpgradeSchedule"),
        ]
        configs = {c.props.get("configName") for c in stack.attached(cluster, MAINTENANCE, "resourceName")}
        for channel, config in channels:
            if known(channel) and channel not in (None, "none", "None", "Unmanaged") and config not in configs:
                yield cluster, f"auto-upgrade channel {channel} has no {config} maintenance window"


# --- issue 17: the stack's container registry ------------------------------------------------------
CONTAINER_REGISTRY = ("azure-native:containerregistry:Registry",)


def _acr_admin_user(res: Res) -> Iterator[str]:
    if not_false(res.props.get("adminUserEnabled")):
        yield "adminUserEnabled must be false (a shared admin password; nodes pull with Entra ID and AcrPull)"


def _acr_anonymous_pull(res: Res) -> Iterator[str]:
    if is_true(res.props.get("anonymousPullEnabled")):
        yield "anonymousPullEnabled must be false (anyone who reaches the registry could pull)"


MONITOR_WORKSPACE = ("azure-native:monitor:AzureMonitorWorkspace",)


def _managed_prometheus(res: Res) -> Iterator[str]:
    enabled = dig(res.props, "azureMonitorProfile.metrics.enabled")
    if known(enabled) and not is_true(enabled):
        yield "azureMonitorProfile.metrics.enabled must be true (Azure Monitor managed Prometheus: the alerts and KEDA)"


def _container_insights(res: Res) -> Iterator[str]:
    oms = dig(res.props, "addonProfiles.omsagent")
    if not known(oms):
        return
    if not isinstance(oms, dict) or not is_true(oms.get("enabled")):
        yield "addonProfiles.omsagent must be enabled (Container Insights: container logs to Log Analytics)"
        return
    auth = (oms.get("config") or {}).get("useAADAuth")
    if known(auth) and str(auth).lower() != "true":
        yield f"addonProfiles.omsagent.config.useAADAuth is {auth!r}; must be 'true' (managed identity, no keys)"


# Not yet in RULES (so not yet in `llz plan` nor the CrossGuard pack): every rule in RULES needs its
# compliant shape and planted case in tests/policy_cases.py, which the policy owner maintains; until
# they are added there, tests/test_policy_azure_plan.py runs these on the real azure-dev plan.
# Turning them on is `RULES += REALITY_RULES`.
REALITY_RULES = [
    Rule(
        "azure-diagnostic-settings",
        "AKS audit (kube-audit-admin, guard) and blob access (StorageRead, StorageWrite) logs go to Log Analytics.",
        check_stack=_diagnostics,
    ),
    Rule("azure-aks-kms-etcd", "AKS encrypts secrets with a Key Vault key (KMS).", types=MANAGED_CLUSTER, check=_kms),
    Rule(
        "azure-aks-encryption-at-host",
        "Every AKS node pool encrypts at host.",
        types=(*MANAGED_CLUSTER, *AGENT_POOL),
        check=_host_encryption,
    ),
    Rule(
        "azure-aks-api-vnet-integration",
        "The AKS API server is VNet-integrated (nodes join privately).",
        types=MANAGED_CLUSTER,
        check=_vnet_integration,
    ),
    Rule(
        "azure-privatelink-resolution",
        "privatelink zone links fall back to public DNS (resolutionPolicy NxDomainRedirect).",
        types=VNET_LINK,
        check=_link_resolution,
    ),
    Rule(
        "azure-pool-upgrade-settings",
        "User node pools set surge, drain timeout and undrainable-node behaviour.",
        types=AGENT_POOL,
        check=_pool_upgrades,
    ),
    Rule(
        "azure-aks-maintenance-window",
        "Every AKS auto-upgrade channel has a planned maintenance window.",
        check_stack=_maintenance,
    ),
    Rule(
        "azure-acr-admin-user",
        "Container registries have the admin user disabled.",
        types=CONTAINER_REGISTRY,
        check=_acr_admin_user,
    ),
    Rule(
        "azure-acr-no-public-network",
        "Container registries disable public network access (reached through their private endpoint).",
        types=CONTAINER_REGISTRY,
        check=_public_network,
    ),
    Rule(
        "azure-acr-anonymous-pull",
        "Container registries do not allow anonymous pull.",
        types=CONTAINER_REGISTRY,
        check=_acr_anonymous_pull,
    ),
    # issue 18 (observability on AKS)
    Rule(
        "azure-monitor-workspace-private",
        "Azure Monitor workspaces disable public query access (queried through their private endpoint).",
        types=MONITOR_WORKSPACE,
        check=_public_network,
    ),
    Rule(
        "azure-aks-managed-prometheus",
        "AKS sends its metrics to Azure Monitor managed Prometheus.",
        types=MANAGED_CLUSTER,
        check=_managed_prometheus,
    ),
    Rule(
        "azure-aks-container-insights",
        "AKS sends container logs to Log Analytics (Container Insights with Entra ID auth).",
        types=MANAGED_CLUSTER,
        check=_container_insights,
    ),
]
