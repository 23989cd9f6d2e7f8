"""Entra Workload ID: the serving service account becomes a managed identity that reads the weights.

The federated credential trusts tokens from THIS cluster's OIDC issuer for exactly one subject,
`system:serviceaccount:<ns>:<ksa>`; the role assignment gives that identity Storage Blob Data
Reader on the weights container only (not the account), with an ABAC condition that limits
reads and listings to the model's prefix. It grants the identity's `principal_id` (not its
client id) with principal_type ServicePrincipal, so a just-created identity is not rejected
as PrincipalNotFound while Entra ID replicates.

`WeightsWriter` is the first-deploy staging Job's identity, federated to its own service account:
Storage Blob Data Contributor on the container, with a condition that keeps every read, write,
delete and listing inside the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity

from infra.azure.roles import STORAGE_BLOB_DATA_CONTRIBUTOR, STORAGE_BLOB_DATA_READER, grant
from infra.renames import renamed_from

AUDIENCE = "api://AzureADTokenExchange"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
_READ = f"{_BLOBS}/read"
# What Storage Blob Data Contributor may do to a blob besides reading: the writer's condition names them all.
_CHANGE = (f"{_BLOBS}/write", f"{_BLOBS}/add/action", f"{_BLOBS}/delete")


def prefix_condition(prefix: str) -> str:
    """ABAC condition: blob reads only under `prefix/`, listings only with a prefix inside `prefix/`
    (the trailing slash keeps `models/a` from listing `models/a-other`, issue 14 item 5)."""
    return (
        f"((!(ActionMatches{{'{_READ}'}} AND NOT SubOperationMatches{{'Blob.List'}}))"
        f" OR (@Resource[{_BLOBS}:path] StringStartsWith '{prefix}/'))"
        f" AND ((!(ActionMatches{{'{_READ}'}} AND SubOperationMatches{{'Blob.List'}}))"
        f" OR (@Request[{_BLOBS}:prefix] StringStartsWith '{prefix}/'))"
    )


def write_condition(prefix: str) -> str:
    """ABAC condition for the staging Job: reads, writes and deletes only under `prefix/`, listings only
    inside `prefix/` (the trailing slash keeps `models/x` from listing `models/x-other`)."""
    touches = " AND ".join(
        [f"!(ActionMatches{{'{_READ}'}} AND NOT SubOperationMatches{{'Blob.List'}})"]
        + [f"!(ActionMatches{{'{action}'}})" for action in _CHANGE]
    )
    return (
        f"(({touches}) OR (@Resource[{_BLOBS}:path] StringStartsWith '{prefix}/'))"
        f" AND ((!(ActionMatches{{'{_READ}'}} AND SubOperationMatches{{'Blob.List'}}))"
        f" OR (@Request[{_BLOBS}:prefix] StringStartsWith '{prefix}/'))"
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


def federated_identity(
    owner: pulumi.Resource,
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    oidc_issuer_url: pulumi.Input[str],
    namespace: str,
    service_account: str,
    tags: dict[str, str],
    provider: pulumi.ProviderResource,
) -> tuple[managedidentity.UserAssignedIdentity, managedidentity.FederatedIdentityCredential]:
    """A managed identity that exactly `system:serviceaccount:<namespace>:<service_account>` of this cluster
    becomes (the cluster's OIDC issuer, audience api://AzureADTokenExchange)."""
    child = pulumi.ResourceOptions(parent=owner, provider=provider)
    uami = managedidentity.UserAssignedIdentity(
        f"{name}-uami",
        resource_group_name=resource_group_name,
        location=location,
        tags=tags,
        opts=child,
    )
    federation = managedidentity.FederatedIdentityCredential(
        f"{name}-federation",
        resource_group_name=resource_group_name,
        resource_name_=uami.name,
        federated_identity_credential_resource_name=f"{namespace}-{service_account}",
        issuer=oidc_issuer_url,
        subject=f"system:serviceaccount:{namespace}:{service_account}",
        audiences=[AUDIENCE],
        opts=child,
    )
    return uami, federation


def _federated_identity(
    owner: pulumi.Resource, name: str, args: WeightsReaderArgs
) -> tuple[managedidentity.UserAssignedIdentity, managedidentity.FederatedIdentityCredential]:
    return federated_identity(
        owner,
        name,
        resource_group_name=args.resource_group_name,
        location=args.location,
        oidc_issuer_url=args.oidc_issuer_url,
        namespace=args.namespace,
        service_account=args.service_account,
        tags=args.tags,
        provider=args.provider,
    )


def _grant(
    owner: pulumi.Resource,
    name: str,
    args: WeightsReaderArgs,
    uami: managedidentity.UserAssignedIdentity,
    role: str,
    kind: str,
    condition: str,
    description: str,
) -> authorization.RoleAssignment:
    """`role` on the weights container for the identity, under an ABAC `condition` (version 2.0)."""
    return grant(
        f"{name}-weights-{kind}",
        subscription_id=args.subscription_id,
        role=role,
        principal_id=uami.principal_id,
        scope=args.container_id,
        purpose=(pulumi.get_stack(), f"weights-{kind}", args.namespace, args.service_account),
        condition=condition,
        condition_version="2.0",
        description=description,
        opts=pulumi.ResourceOptions(parent=owner, provider=args.provider),
    )


class WeightsReader(pulumi.ComponentResource):
    client_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    federated_credential: managedidentity.FederatedIdentityCredential
    reader: authorization.RoleAssignment

    def __init__(self, name: str, args: WeightsReaderArgs, opts: pulumi.ResourceOptions | None = None):
        opts = renamed_from("llz:azure:ServingIdentity", opts)  # was ServingIdentity: same URNs, no replacement
        super().__init__("llz:azure:WeightsReader", name, None, opts)
        uami, self.federated_credential = _federated_identity(self, name, args)
        description = f"vLLM in {args.namespace}/{args.service_account} reads {args.weights_prefix}/ only"
        condition = prefix_condition(args.weights_prefix)
        self.reader = _grant(self, name, args, uami, STORAGE_BLOB_DATA_READER, "reader", condition, description)
        self.client_id = uami.client_id
        self.principal_id = uami.principal_id
        self.register_outputs({"clientId": uami.client_id, "principalId": uami.principal_id})


class WeightsWriter(pulumi.ComponentResource):
    """The staging Job's identity: Storage Blob Data Contributor on the container, ABAC-limited to the
    model prefix. No key-vault grant: with a customer-managed key the storage account's own identity
    wraps the data keys, never the caller."""

    client_id: pulumi.Output[str]
    federated_credential: managedidentity.FederatedIdentityCredential
    writer: authorization.RoleAssignment

    def __init__(self, name: str, args: WeightsReaderArgs, opts: pulumi.ResourceOptions | None = None):
        # `args`: the reader's facts with the staging Job's service account.
        super().__init__("llz:azure:WeightsWriter", name, None, opts)
        uami, self.federated_credential = _federated_identity(self, name, args)
        description = f"staging Job {args.namespace}/{args.service_account} writes {args.weights_prefix}/ only"
        condition = write_condition(args.weights_prefix)
        self.writer = _grant(self, name, args, uami, STORAGE_BLOB_DATA_CONTRIBUTOR, "writer", condition, description)
        self.client_id = uami.client_id
        self.register_outputs({"clientId": uami.client_id, "principalId": uami.principal_id})
