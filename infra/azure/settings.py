"""Azure's own config section, the VNet address plan and the checks only Azure can make: SDK-free."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from infra.config.base import Cidr, PinnedImage, Section
from infra.config.errors import key_error, message
from infra.config.runner import RunnerBase

if TYPE_CHECKING:
    from infra.config.schema import StackConfig

# Overlay pod range and service range: never routed in the VNet, but must not overlap it.
POD_CIDR = ipaddress.IPv4Network("192.168.0.0/16")
SERVICE_CIDR = ipaddress.IPv4Network("172.16.0.0/16")
DNS_SERVICE_IP = "172.16.0.10"
# How CI may reach the AKS API (cluster.apiAccess): authorized IP ranges, or self-hosted runners
# in Container Apps jobs inside the VNet (infra/azure/runner.py).
API_ACCESS = ("cidr", "runner")
# A workload-profiles Container Apps environment needs a subnet of at least /27 (learn.microsoft.com,
# container-apps/networking: "The minimum required subnet size is /27").
RUNNER_SUBNET_PREFIX = 27

# API Server VNet Integration projects the API server into a subnet delegated to
# Microsoft.ContainerService/managedClusters; AKS asks for at least a /28
# (learn.microsoft.com/azure/aks/api-server-vnet-integration, "subnet size ... minimum /28").
API_SERVER_SUBNET_PREFIX = 28
# What the serving pod's token exchange may reach (Entra ID has no fixed CIDR and no private endpoint):
# `fqdn` = a Cilium FQDN policy (AKS Advanced Container Networking Services) for the Entra ID login host
# only; `open-insecure` = HTTPS to any address (the former default), an explicit insecure choice.
TOKEN_EGRESS = ("fqdn", "open-insecure")
ENTRA_ID_HOSTS = ("login.microsoftonline.com",)  # azidentity's default authority (AZURE_AUTHORITY_HOST)

# Azure's smallest subnet is a /29 (learn.microsoft.com/azure/virtual-network/virtual-networks-faq:
# "The smallest supported IPv4 subnet is /29"); the default endpoint subnet is a /27.
SMALLEST_SUBNET, ENDPOINT_PREFIX = 29, 27


class AzureRunnerConfig(RunnerBase):
    """GitHub Actions runners as Azure Container Apps jobs in the VNet (cluster.apiAccess: runner).

    Two event-driven jobs, `deploy` (up, drift) and `preview` (pull requests), each scaled by KEDA's
    github-runner rule and running as its own user-assigned managed identity; they register with
    a GitHub App whose private key is the bootstrap stack's secret `githubAppKey`.
    """

    github_app_id: int = Field(ge=1)
    github_app_installation_id: int = Field(ge=1)
    # The runner image built from runner/azure/Dockerfile, pushed to your registry, pinned.
    image: PinnedImage
    subnet_cidr: Cidr | None = None  # default: the /27 after the endpoint subnet


WeekDay = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class MaintenanceWindow(Section):
    """When AKS may upgrade the cluster and the node images (planned maintenance, weekly): used for
    both aksManagedAutoUpgradeSchedule and aksManagedNodeOSUpgradeSchedule."""

    day: WeekDay = "Sunday"
    start_time: str = Field(default="02:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    duration_hours: int = Field(default=4, ge=4, le=24)  # the API accepts 4 to 24 hours
    utc_offset: str = Field(default="+00:00", pattern=r"^[+-](0[0-9]|1[0-4]):[0-5][0-9]$")


class GpuUpgrade(Section):
    """How AKS upgrades the GPU pool: a surge node first, a bounded drain, and what to do with a node
    the PodDisruptionBudget will not let drain (one replica: always)."""

    max_surge: str = Field(default="1", pattern=r"^([1-9][0-9]*|[1-9][0-9]?%|100%)$")
    drain_timeout_minutes: int = Field(default=30, ge=1, le=1440)
    # Cordon: the blocked node is cordoned and kept (label kubernetes.azure.com/upgrade-status=Quarantined)
    # with its surge node, so the model keeps serving; Schedule: it stays schedulable, not upgraded.
    undrainable_node_behavior: Literal["Cordon", "Schedule"] = "Cordon"


_GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
Guid = typing.Annotated[str, Field(pattern=_GUID)]


class Principal(Section):
    """An Entra ID principal by object id, with its type: a role assignment whose type does not match
    the principal fails (UnmatchedPrincipalType), and the SDK's default is `User`."""

    principal_id: Guid
    principal_type: Literal["ServicePrincipal", "User", "Group"] = "ServicePrincipal"


_VAULT_ID = (
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w._()]{1,90}"
    r"/providers/Microsoft\.KeyVault/vaults/[A-Za-z0-9-]{3,24}$"
)
_SECRET_NAME = r"^[A-Za-z0-9-]{1,127}$"  # Key Vault secret names: letters, digits and '-'


class DockerHubCredentials(Section):
    """The Docker Hub account the registry's Docker Hub cache rule pulls as (a credential set): two secrets
    in a Key Vault you own (not the stack's own vault, which the stack creates), a user name and an access
    token. Without it the cache pulls anonymously and Docker Hub's anonymous rate limit applies."""

    vault_id: str = Field(pattern=_VAULT_ID)  # the vault's ARM id: the scope of the read grant
    username_secret: str = Field(pattern=_SECRET_NAME)
    password_secret: str = Field(pattern=_SECRET_NAME)  # a Docker Hub personal access token


class AzureConfig(Section):
    """Azure-only settings. Subnet CIDRs default to slices of network.cidr (`subnet_plan`)."""

    subscription_id: Guid
    # Who runs `pulumi up` (CI: the federated app's service principal object id). It gets cluster
    # admin through Azure RBAC from config, never from whoever happens to run the program. Required,
    # except with cluster.apiAccess runner: there the deployer is the deploy runner's managed identity,
    # which <stack>-bootstrap creates and exports (a ServicePrincipal), so this key must be left out.
    deployer: Principal | None = None
    admin_group_ids: tuple[Guid, ...] = ()  # Entra groups that also get cluster admin (Azure RBAC)
    # How the kubeconfig's kubelogin gets tokens: azurecli (a person's `az login`), msi (a runner in
    # the VNet with a managed identity; AZURE_CLIENT_ID picks a user-assigned one), workloadidentity
    # (AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_FEDERATED_TOKEN_FILE). azurecli in CI depends on the
    # az CLI's cached token from a short-lived OIDC assertion, so long runs should use msi. With
    # cluster.apiAccess runner it is msi (the runner's identity); another value there is an error.
    kubelogin_mode: Literal["azurecli", "msi", "workloadidentity"] = "azurecli"
    # API server without a public endpoint; Pulumi must then run from a network that reaches the VNet.
    private_cluster: bool = False
    node_subnet_cidr: Cidr | None = None  # default: first /22 of network.cidr
    endpoint_subnet_cidr: Cidr | None = None  # default: the /27 right after the node subnet
    system_vm_size: str = Field(default="Standard_D4ds_v5", pattern=r"^Standard_[A-Za-z0-9_]+$")
    system_node_count: int = Field(default=2, ge=1, le=100)
    # Both keep the pinned minor version (stable/rapid would move it and fight the pinned kubernetesVersion).
    upgrade_channel: Literal["patch", "node-image"] = "patch"
    # The weights account is encrypted with a Key Vault key (purge-protected vault), as the bucket is
    # with a KMS key on AWS and GCP: mandatory, `false` is a config error (kept as a key for old stacks).
    customer_managed_key: bool = True
    api_server_subnet_cidr: Cidr | None = None  # default: the /28 after the runner's /27 slot
    maintenance: MaintenanceWindow = MaintenanceWindow()
    gpu_upgrade: GpuUpgrade = GpuUpgrade()
    log_retention_days: int = Field(default=90, ge=30, le=730)  # Log Analytics: audit, storage, container logs
    token_egress: Literal["fqdn", "open-insecure"] = "fqdn"  # TOKEN_EGRESS
    runner: AzureRunnerConfig | None = None  # with cluster.apiAccess: runner (built by <stack>-bootstrap)
    # The stack's registry caches Docker Hub (the vLLM image) as this account (infra/azure/registry.py).
    docker_hub_credentials: DockerHubCredentials | None = None
    # Azure Managed Grafana (Standard, billed per instance and active user) on the stack's Azure Monitor
    # workspace; off by default. The dashboard itself is imported from `llz plan --manifests` (docs/azure.md).
    managed_grafana: bool = False


@dataclass(frozen=True)
class SubnetPlan:
    vnet: ipaddress.IPv4Network
    nodes: ipaddress.IPv4Network
    endpoints: ipaddress.IPv4Network
    runner: ipaddress.IPv4Network | None = None  # the CI runners' Container Apps environment
    api_server: ipaddress.IPv4Network | None = None  # API Server VNet Integration (delegated subnet)


def subnet_plan(cfg: StackConfig) -> SubnetPlan:
    """The VNet's address plan; a config error (one line) when it cannot work."""
    assert cfg.azure is not None
    vnet = cfg.network.cidr
    if vnet.prefixlen > 24:
        # nodes, endpoints, the runners' /27 slot and the API server's /28 (subnet_plan)
        raise key_error("network.cidr", str(vnet), "too small for Azure; need a /24 or larger")
    nodes = cfg.azure.node_subnet_cidr or next(vnet.subnets(new_prefix=max(22, vnet.prefixlen + 1)))
    endpoints = cfg.azure.endpoint_subnet_cidr or _next_block(nodes, ENDPOINT_PREFIX)
    if endpoints is None:
        raise key_error(
            "azure.nodeSubnetCidr",
            str(nodes),
            f"leaves no room for the /{ENDPOINT_PREFIX} endpoint subnet after it (the end of the IPv4 space); "
            "move it or set azure.endpointSubnetCidr",
        )
    runner = _runner_subnet(cfg.azure.runner, endpoints)
    api_server = _api_server_subnet(cfg.azure.api_server_subnet_cidr, runner, endpoints)
    named = [("azure.nodeSubnetCidr", nodes), ("azure.endpointSubnetCidr", endpoints)]
    named += [("azure.runner.subnetCidr", runner)] if runner else []
    named += [("azure.apiServerSubnetCidr", api_server)]
    for key, subnet in named:
        if subnet.prefixlen > SMALLEST_SUBNET:
            raise key_error(key, str(subnet), f"smaller than Azure allows; a subnet is a /{SMALLEST_SUBNET} or larger")
        if not subnet.subnet_of(vnet):
            raise key_error(key, str(subnet), f"not inside network.cidr {vnet}")
    if nodes.overlaps(endpoints):
        raise key_error("azure.endpointSubnetCidr", str(endpoints), f"overlaps the node subnet {nodes}")
    for other_key, other in named[:2]:
        if runner and runner.overlaps(other):
            raise key_error("azure.runner.subnetCidr", str(runner), f"overlaps {other_key} {other}")
    for other_key, other in named[:-1]:
        if api_server.overlaps(other):
            raise key_error("azure.apiServerSubnetCidr", str(api_server), f"overlaps {other_key} {other}")
    for reserved in (POD_CIDR, SERVICE_CIDR):
        if vnet.overlaps(reserved):
            raise key_error(
                "network.cidr",
                str(vnet),
                f"overlaps the AKS overlay/service range {reserved}; pick a 10.x or other private range",
            )
    return SubnetPlan(vnet, nodes, endpoints, runner, api_server)


def _api_server_subnet(
    chosen: ipaddress.IPv4Network | None,
    runner: ipaddress.IPv4Network | None,
    endpoints: ipaddress.IPv4Network,
) -> ipaddress.IPv4Network:
    """The API server's delegated subnet: the /28 after the runner subnet, or after the /27 the runner
    would take by default (so adding runners later does not move it)."""
    after = runner or _next_block(endpoints, RUNNER_SUBNET_PREFIX)
    subnet = chosen or (_next_block(after, API_SERVER_SUBNET_PREFIX) if after else None)
    if subnet is None:
        raise key_error(
            "azure.endpointSubnetCidr",
            str(endpoints),
            f"leaves no room for the /{API_SERVER_SUBNET_PREFIX} API server subnet after it; "
            "set azure.apiServerSubnetCidr",
        )
    if subnet.prefixlen > API_SERVER_SUBNET_PREFIX:
        raise key_error(
            "azure.apiServerSubnetCidr",
            str(subnet),
            f"API Server VNet Integration needs a /{API_SERVER_SUBNET_PREFIX} or larger",
        )
    return subnet


def _runner_subnet(runner: AzureRunnerConfig | None, endpoints: ipaddress.IPv4Network) -> ipaddress.IPv4Network | None:
    if runner is None:
        return None
    subnet = runner.subnet_cidr or _next_block(endpoints, RUNNER_SUBNET_PREFIX)
    if subnet is None:
        raise key_error(
            "azure.endpointSubnetCidr",
            str(endpoints),
            f"leaves no room for the /{RUNNER_SUBNET_PREFIX} runner subnet after it (the end of the IPv4 space); "
            "move it or set azure.runner.subnetCidr",
        )
    if subnet.prefixlen > RUNNER_SUBNET_PREFIX:
        raise key_error(
            "azure.runner.subnetCidr",
            str(subnet),
            f"a Container Apps environment needs a /{RUNNER_SUBNET_PREFIX} or larger",
        )
    return subnet


def runner_job_name(stack: str, kind: str) -> str:
    """A runner's Container Apps job (and identity) name: lower-case letters, digits and '-', at
    most 32 characters; shortened with a hash for long stack names."""
    slug = re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-")
    name = f"llz-{slug}-{kind}"
    if len(name) <= 32:
        return name
    digest = hashlib.sha256(stack.encode()).hexdigest()[:6]
    return f"llz-{slug[: 32 - len(kind) - 12].rstrip('-')}-{digest}-{kind}"


def _next_block(after: ipaddress.IPv4Network, prefix: int) -> ipaddress.IPv4Network | None:
    """The first /`prefix` block that starts after `after` (aligned), or None past the end of IPv4."""
    size = 2 ** (32 - prefix)
    start = -(-(int(after.broadcast_address) + 1) // size) * size
    return ipaddress.IPv4Network((start, prefix)) if start + size <= 2**32 else None


def default() -> AzureConfig:
    raise key_error("azure", "(missing)", "required for cloud=azure: an object with subscriptionId and deployer")


def check(cfg: StackConfig) -> None:
    assert cfg.azure is not None
    if cfg.network.egress == "none":
        raise key_error(
            "network.egress",
            "none",
            "not supported on Azure: nodes bootstrap from MCR and the workload-identity token exchange needs "
            "Entra ID, which has no private endpoint (network-isolated AKS needs a private registry cache and a "
            "firewall); use nat",
        )
    subnet_plan(cfg)
    if not cfg.azure.customer_managed_key:
        raise key_error(
            "azure.customerManagedKey",
            False,
            "the weights are always encrypted with a Key Vault key, as with KMS on AWS and GCP; remove the key",
        )
    if cfg.azure.token_egress == "open-insecure" and cfg.environment == "prod":
        raise key_error(
            "azure.tokenEgress",
            "open-insecure",
            "HTTPS from the model server to any address is not allowed when environment=prod; use fqdn",
        )
    deployer_fits_access(cfg)
    hub = cfg.azure.docker_hub_credentials
    if hub is not None and hub.username_secret == hub.password_secret:
        raise key_error(
            "azure.dockerHubCredentials.passwordSecret",
            hub.password_secret,
            "the same secret as usernameSecret; name the secret that holds the Docker Hub access token",
        )
    runners = cfg.azure.runner is not None
    if cfg.role == "bootstrap" and runners and not cfg.github_app_key:
        raise key_error(
            "githubAppKey",
            None,
            "the runners register with the GitHub App azure.runner.githubAppId: set its private key as a "
            "secret of this bootstrap stack (pulumi config set --secret githubAppKey < app.pem)",
        )


def deployer_fits_access(cfg: StackConfig) -> None:
    """Who gets cluster-admin comes from config, or with cluster.apiAccess runner from the bootstrap
    (the deploy runner's managed identity): exactly one of the two, never both."""
    assert cfg.azure is not None
    az, runner = cfg.azure, cfg.cluster.api_access == "runner"
    if runner and az.deployer is not None:
        raise key_error(
            "azure.deployer.principalId",
            az.deployer.principal_id,
            "not used with cluster.apiAccess=runner: the deployer is the deploy runner's managed identity, "
            "which the bootstrap stack creates and grants; remove azure.deployer",
        )
    if not runner and az.deployer is None:
        raise message(
            "azure.deployer is required: {principalId, principalType} of who runs pulumi up (CI's service "
            "principal), which gets cluster-admin (or use cluster.apiAccess=runner)"
        )
    if runner and "kubelogin_mode" in az.model_fields_set and az.kubelogin_mode != "msi":
        raise key_error(
            "azure.kubeloginMode",
            az.kubelogin_mode,
            "with cluster.apiAccess=runner Pulumi runs as the runner's managed identity: msi (or leave it unset)",
        )


def docker_hub_vault_fits(cfg: StackConfig, stack: str) -> None:
    """With cluster.apiAccess runner, the deploy runner assigns roles in the stack's resource group only
    (infra/azure/runner.py): the Docker Hub secrets' vault must be there for it to grant their reads."""
    assert cfg.azure is not None
    hub = cfg.azure.docker_hub_credentials
    if hub is None or cfg.cluster.api_access != "runner":
        return
    group = hub.vault_id.split("/")[4]
    if group.lower() != f"llz-{stack}".lower():
        raise key_error(
            "azure.dockerHubCredentials.vaultId",
            hub.vault_id,
            f"with cluster.apiAccess=runner the vault must be in the stack's resource group llz-{stack} "
            "(the deploy runner may grant roles there only)",
        )


def kubelogin_mode(cfg: StackConfig) -> str:
    """kubelogin --login for the kubeconfig: msi on the in-network runner, else azure.kubeloginMode."""
    assert cfg.azure is not None
    return "msi" if cfg.cluster.api_access == "runner" else cfg.azure.kubelogin_mode
