"""Entra Workload ID: the serving service account becomes a managed identity that reads the weights.

The federated credential trusts tokens from THIS cluster's OIDC issuer for exactly one subject,
`system:serviceaccount:<ns>:<ksa>`; the role assignment gives that identity Storage Blob Data
Reader on the weights container only (not the account), with an ABAC condition that limits
reads and listings to the model's prefix. It grants the identity's `principal_id` (not its
client id) with principal_type ServicePrincipal, so a just-created identity is not rejected
as PrincipalNotFound while Entra ID replicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity

from infra.azure.roles import STORAGE_BLOB_DATA_READER, grant

AUDIENCE = "api://AzureADTokenExchange"
_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"


def prefix_condition(prefix: str) -> str:
    """ABAC condition: blob reads only under `prefix/`, listings only with a prefix inside it."""
    return (
        f"((!(ActionMatches{{'{_READ}'}} AND NOT SubOperationMatches{{'Blob.List'}}))"
        f" OR (@Resource[{_BLOBS}:path] StringStartsWith '{prefix}/'))"
        f" AND ((!(ActionMatches{{'{_READ}'}} AND SubOperationMatches{{'Blob.List'}}))"
        f" OR (@Request[{_BLOBS}:prefix] StringStartsWith '{prefix}'))"
    )


@dataclass(frozen=True)
class WeightsReaderArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    subscription_id: str
    oidc_issuer_url: pulumi.Input[str]  # the cluster's, exactly as AKS returns it (trailing slash included)
    namespace: str
    service_account: str
    container_id: pulumi.Input[str]  # {account id}/blobServices/default/containers/{name}
    weights_prefix: str
    tags: dict[str, str]
    provider: pulumi.ProviderResource


class WeightsReader(pulumi.ComponentResource):
    client_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    federated_credential: managedidentity.FederatedIdentityCredential
    reader: authorization.RoleAssignment

    def __init__(self, name: str, args: WeightsReaderArgs, opts: pulumi.ResourceOptions | None = None):
        # Renamed from ServingIdentity: the alias keeps deployed stacks' URNs (no replacement).
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="llz:azure:ServingIdentity")])
        )
        super().__init__("llz:azure:WeightsReader", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        uami = managedidentity.UserAssignedIdentity(
            f"{name}-uami",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=args.tags,
            opts=child,
        )
        self.federated_credential = managedidentity.FederatedIdentityCredential(
            f"{name}-federation",
            resource_group_name=args.resource_group_name,
            resource_name_=uami.name,
            federated_identity_credential_resource_name=f"{args.namespace}-{args.service_account}",
            issuer=args.oidc_issuer_url,
            subject=f"system:serviceaccount:{args.namespace}:{args.service_account}",
            audiences=[AUDIENCE],
            opts=child,
        )
        self.reader = grant(
            f"{name}-weights-reader",
            subscription_id=args.subscription_id,
            role=STORAGE_BLOB_DATA_READER,
            principal_id=uami.principal_id,
            scope=args.container_id,
            purpose=(pulumi.get_stack(), "weights-reader", args.namespace, args.service_account),
            condition=prefix_condition(args.weights_prefix),
            condition_version="2.0",
            description=f"vLLM in {args.namespace}/{args.service_account} reads {args.weights_prefix}/ only",
            opts=child,
        )
        self.client_id = uami.client_id
        self.principal_id = uami.principal_id
        self.register_outputs({"clientId": uami.client_id, "principalId": uami.principal_id})
