"""What Azure would answer, for `llz plan` (mock engine). Imports no SDK.

`outputs()` returns the computed attributes the program reads back: ARM ids with the real
provider namespaces and parent paths, the names ARM echoes, the cluster's OIDC issuer URL and
FQDN, managed identities' client/principal/tenant ids. `invoke()` answers getClientConfig and
listManagedClusterUserCredentials (a base64 kubeconfig, as AKS returns it). Every value is
derived from the stack and logical name, so two plans are byte-identical.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from infra.azure.settings import runner_job_name

# type -> (input holding the resource's own name, ARM path below the resource group; {name} and inputs)
_ARM: dict[str, tuple[str, str]] = {
    "network:VirtualNetwork": ("virtualNetworkName", "Microsoft.Network/virtualNetworks/{name}"),
    "network:Subnet": ("subnetName", "Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{name}"),
    "network:PublicIPAddress": ("publicIpAddressName", "Microsoft.Network/publicIPAddresses/{name}"),
    "network:NatGateway": ("natGatewayName", "Microsoft.Network/natGateways/{name}"),
    "network:PrivateEndpoint": ("privateEndpointName", "Microsoft.Network/privateEndpoints/{name}"),
    "network:PrivateDnsZoneGroup": (
        "privateDnsZoneGroupName",
        "Microsoft.Network/privateEndpoints/{privateEndpointName}/privateDnsZoneGroups/{name}",
    ),
    "privatedns:PrivateZone": ("privateZoneName", "Microsoft.Network/privateDnsZones/{name}"),
    "privatedns:VirtualNetworkLink": (
        "virtualNetworkLinkName",
        "Microsoft.Network/privateDnsZones/{privateZoneName}/virtualNetworkLinks/{name}",
    ),
    "containerservice:ManagedCluster": ("resourceName", "Microsoft.ContainerService/managedClusters/{name}"),
    "containerservice:AgentPool": (
        "agentPoolName",
        "Microsoft.ContainerService/managedClusters/{resourceName}/agentPools/{name}",
    ),
    "storage:StorageAccount": ("accountName", "Microsoft.Storage/storageAccounts/{name}"),
    "app:ManagedEnvironment": ("environmentName", "Microsoft.App/managedEnvironments/{name}"),
    "app:Job": ("jobName", "Microsoft.App/jobs/{name}"),
    "storage:BlobServiceProperties": (
        "blobServicesName",
        "Microsoft.Storage/storageAccounts/{accountName}/blobServices/{name}",
    ),
    "storage:BlobContainer": (
        "containerName",
        "Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{name}",
    ),
    "managedidentity:UserAssignedIdentity": ("resourceName", "Microsoft.ManagedIdentity/userAssignedIdentities/{name}"),
    "managedidentity:FederatedIdentityCredential": (
        "federatedIdentityCredentialResourceName",
        "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}/federatedIdentityCredentials/{name}",
    ),
    "keyvault:Vault": ("vaultName", "Microsoft.KeyVault/vaults/{name}"),
    "keyvault:Key": ("keyName", "Microsoft.KeyVault/vaults/{vaultName}/keys/{name}"),
    "containerregistry:Registry": ("registryName", "Microsoft.ContainerRegistry/registries/{name}"),
    "containerregistry:CacheRule": (
        "cacheRuleName",
        "Microsoft.ContainerRegistry/registries/{registryName}/cacheRules/{name}",
    ),
    "containerregistry:CredentialSet": (
        "credentialSetName",
        "Microsoft.ContainerRegistry/registries/{registryName}/credentialSets/{name}",
    ),
    # Azure Monitor (infra/azure/monitoring.py)
    "monitor:AzureMonitorWorkspace": ("azureMonitorWorkspaceName", "Microsoft.Monitor/accounts/{name}"),
    "monitor:DataCollectionEndpoint": (
        "dataCollectionEndpointName",
        "Microsoft.Insights/dataCollectionEndpoints/{name}",
    ),
    "monitor:DataCollectionRule": ("dataCollectionRuleName", "Microsoft.Insights/dataCollectionRules/{name}"),
    "monitor:ActionGroup": ("actionGroupName", "Microsoft.Insights/actionGroups/{name}"),
    "alertsmanagement:PrometheusRuleGroup": (
        "ruleGroupName",
        "Microsoft.AlertsManagement/prometheusRuleGroups/{name}",
    ),
    "dashboard:Grafana": ("workspaceName", "Microsoft.Dashboard/grafana/{name}"),
    "dashboard:ManagedPrivateEndpoint": (
        "managedPrivateEndpointName",
        "Microsoft.Dashboard/grafana/{workspaceName}/managedPrivateEndpoints/{name}",
    ),
}
# Extension resources: their id hangs off `scope`.
_SCOPED = {
    "authorization:RoleAssignment": ("roleAssignmentName", "Microsoft.Authorization/roleAssignments"),
    "authorization:ManagementLockByScope": ("lockName", "Microsoft.Authorization/locks"),
    "monitor:DataCollectionRuleAssociation": ("associationName", "Microsoft.Insights/dataCollectionRuleAssociations"),
}
# The input an extension resource names its target by (default `scope`).
_TARGET = {"monitor:DataCollectionRuleAssociation": "resourceUri"}


def _guid(ctx: Any, *parts: str) -> str:
    d = ctx.digest(*parts, length=32)
    return f"{d[:8]}-{d[8:12]}-4{d[13:16]}-8{d[17:20]}-{d[20:32]}"


def fqdn(ctx: Any, cluster: str) -> str:
    return f"{cluster}-{ctx.digest('fqdn', cluster, length=8)}.hcp.{ctx.region}.azmk8s.io"


def _identity(ctx: Any, name: str) -> dict[str, str]:
    """A managed identity's ids, as a UserAssignedIdentity resource and ARM's identity maps return them."""
    return {"clientId": _guid(ctx, "client", name), "principalId": _guid(ctx, "principal", name)}


def _extra(module_kind: str, name: str, inputs: dict[str, Any], ctx: Any, arm_id: str) -> dict[str, Any]:
    if module_kind == "containerservice:ManagedCluster":
        issuer = f"https://{ctx.region}.oic.prod-aks.azure.com/{ctx.azure_tenant_id}/{_guid(ctx, 'oidc', name)}/"
        private = (inputs.get("apiServerAccessProfile") or {}).get("enablePrivateCluster")
        host = fqdn(ctx, name)
        return {
            "fqdn": None if private else host,
            "privateFQDN": host.replace(".hcp.", ".privatelink.") if private else None,
            "oidcIssuerProfile": {
                "enabled": True,
                "issuerURL": issuer,
            },
            "nodeResourceGroup": f"MC_{inputs.get('resourceGroupName')}_{name}_{ctx.region}",
            "identityProfile": {
                "kubeletidentity": {
                    "clientId": _guid(ctx, "client", f"{name}-agentpool"),
                    "objectId": _guid(ctx, "principal", f"{name}-agentpool"),
                    "resourceId": arm_id,
                }
            },
            "provisioningState": "Succeeded",
        }
    if module_kind == "managedidentity:UserAssignedIdentity":
        return {**_identity(ctx, name), "tenantId": ctx.azure_tenant_id}
    if module_kind == "network:PublicIPAddress":  # a documentation address (RFC 5737), per name
        return {"ipAddress": f"198.51.100.{int(ctx.digest('ip', name, length=2), 16) % 254 + 1}"}
    if module_kind == "storage:StorageAccount":
        return {
            "primaryEndpoints": {
                "blob": f"https://{name}.blob.core.windows.net/",
                "dfs": f"https://{name}.dfs.core.windows.net/",
            }
        }
    if module_kind == "keyvault:Vault":
        return {"properties": {**(inputs.get("properties") or {}), "vaultUri": f"https://{name}.vault.azure.net/"}}
    if module_kind == "containerregistry:Registry":  # login server: the lower-cased name (ARM's answer)
        server = name.lower()
        return {
            "loginServer": f"{server}.azurecr.io",
            "dataEndpointHostNames": [f"{server}.{ctx.region}.data.azurecr.io"],
        }
    if module_kind == "monitor:AzureMonitorWorkspace":  # the Prometheus query endpoint ARM returns
        query = f"https://{name}-{ctx.digest('amw', name, length=4)}.{ctx.region}.prometheus.monitor.azure.com"
        return {"metrics": {"prometheusQueryEndpoint": query, "internalId": f"mac_{_guid(ctx, 'amw', name)}"}}
    if module_kind == "keyvault:Key":
        uri = f"https://{inputs.get('vaultName')}.vault.azure.net/keys/{name}"
        return {"keyUri": uri, "keyUriWithVersion": f"{uri}/{ctx.digest('key', name, length=32)}"}
    return {}


def outputs(typ: str, name: str, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    module_kind = typ.split(":", 1)[1]
    subscription = f"/subscriptions/{ctx.azure_subscription_id}"
    if module_kind == "resources:ResourceGroup":
        group = inputs.get("resourceGroupName") or ctx.physical_name(typ, name)
        return {"id": f"{subscription}/resourceGroups/{group}", "name": group, "location": inputs.get("location")}
    if module_kind in _SCOPED:
        key, path = _SCOPED[module_kind]
        own = inputs.get(key) or _guid(ctx, typ, name)
        target = inputs.get(_TARGET.get(module_kind, "scope"))
        return {"id": f"{target}/providers/{path}/{own}", "name": own}
    key, path = _ARM.get(module_kind, ("", f"Microsoft.{module_kind.replace(':', '/')}s/{{name}}"))
    own = inputs.get(key) or ctx.physical_name(typ, name)
    group = inputs.get("resourceGroupName") or ctx.physical_name(typ, name)
    arm_id = f"{subscription}/resourceGroups/{group}/providers/{path.format_map({**_as_names(inputs), 'name': own})}"
    identity = _identity_map(inputs, ctx, arm_id)
    return {"id": arm_id, "name": own, **identity, **_extra(module_kind, own, inputs, ctx, arm_id)}


def _identity_map(inputs: dict[str, Any], ctx: Any, arm_id: str) -> dict[str, Any]:
    """ARM takes user-assigned identities as a list of ids but returns a map id -> client/principal; a
    system-assigned identity comes back with its principal id (one per resource)."""
    identity = inputs.get("identity")
    if isinstance(identity, dict) and identity.get("type") == "SystemAssigned":  # its own identity's ids
        return {"identity": {**identity, "principalId": _guid(ctx, "principal", arm_id)}}
    if not isinstance(identity, dict) or not isinstance(identity.get("userAssignedIdentities"), list):
        return {}
    assigned = {i: _identity(ctx, i) for i in identity["userAssignedIdentities"]}
    return {"identity": {**identity, "userAssignedIdentities": assigned}}


def _as_names(inputs: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in inputs.items() if isinstance(v, str)}


def _kubeconfig(ctx: Any, cluster: str) -> str:
    """The exec-format kubeconfig AKS returns for an Entra ID cluster (JSON is valid YAML)."""
    ca = base64.b64encode(f"fake CA of {cluster}".encode()).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": f"https://{fqdn(ctx, cluster)}:443", "certificate-authority-data": ca},
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": f"clusterUser_{cluster}"}}],
        "current-context": cluster,
        "users": [
            {
                "name": f"clusterUser_{cluster}",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "kubelogin",
                        "args": [
                            "get-token",
                            "--login",
                            "devicecode",
                            "--server-id",
                            "6dae42f8-4368-4678-94ff-3960e28e3630",
                        ],
                    }
                },
            }
        ],
    }
    return base64.b64encode(json.dumps(doc).encode()).decode()


def bootstrap_outputs(ctx: Any) -> dict[str, Any]:
    """What `<stack>-bootstrap` exports (infra/azure/bootstrap.py), with the ids this module gives
    that stack's resources, so the workload's plan reads what the bootstrap's plan would export."""
    b = dataclasses.replace(ctx, stack=f"{ctx.stack}-bootstrap")
    group = {"resourceGroupName": f"llz-{ctx.stack}"}
    vnet = outputs("azure-native:network:VirtualNetwork", "network-vnet", group, b)

    def subnet(name: str, subnet_name: str) -> str:
        inputs = {**group, "virtualNetworkName": vnet["name"], "subnetName": subnet_name}
        return outputs("azure-native:network:Subnet", name, inputs, b)["id"]

    nat_ip = outputs("azure-native:network:PublicIPAddress", "network-nat-ip", group, b).get("ipAddress")
    return {
        "region": ctx.region,
        "resourceGroupName": group["resourceGroupName"],
        "vnetId": vnet["id"],
        "nodeSubnetId": subnet("network-nodes", "nodes"),
        "endpointSubnetId": subnet("network-endpoints", "private-endpoints"),
        "apiServerSubnetId": subnet("network-api-server", "api-server"),
        "runnerEgressIp": nat_ip if ctx.egress == "nat" else None,
        **{
            f"{kind}{field}": _identity(b, runner_job_name(ctx.stack, kind))[key]
            for kind in ("deploy", "preview")
            for field, key in (("PrincipalId", "principalId"), ("ClientId", "clientId"))
        },
    }


def invoke(token: str, args: dict[str, Any], ctx: Any) -> dict[str, Any] | None:
    if token == "azure-native:authorization:getClientConfig":
        return {
            "subscriptionId": ctx.azure_subscription_id,
            "tenantId": ctx.azure_tenant_id,
            "clientId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "objectId": "11111111-2222-4333-8444-555555555555",
        }
    if token == "azure-native:containerservice:listManagedClusterUserCredentials":
        cluster = args.get("resourceName", "")
        return {"kubeconfigs": [{"name": "clusterUser", "value": _kubeconfig(ctx, cluster)}]}
    return None  # no fake: the engine reports it
