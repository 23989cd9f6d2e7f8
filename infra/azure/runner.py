"""Self-hosted GitHub Actions runners as Azure Container Apps jobs in the VNet, and what the
cluster grants them (cluster.apiAccess: runner).

`Runner` (in the `<stack>-bootstrap` stack): a subnet delegated to `Microsoft.App/environments`
(a workload-profiles environment needs a /27 and supports egress through the NAT gateway;
learn.microsoft.com container-apps/networking), an internal Container Apps environment on it,
and per kind (`deploy` for up and drift, `preview` for pull requests) a user-assigned managed
identity and an event-driven `app.Job` (azure-native 3.29.0 `app.Job`: `trigger_type: Event`,
`event_trigger_config.scale.rules[]`) scaled by KEDA's `github-runner` rule (keda.sh scalers
github-runner: `owner`, `runnerScope`, `repos`, `labels`, `applicationID`, `installationID`, the
`appKey` trigger parameter), which counts queued jobs with the runner's label. Each execution
is one ephemeral runner (runner/azure/entrypoint.sh: a just-in-time registration through the
GitHub App, one job, exit). The identity is the one Pulumi uses there: `ARM_USE_MSI` for the
azure-native provider (fixed for Container Apps' identity endpoint in pulumi-azure-native 3.8,
pulumi/pulumi-azure-native#4223) and `kubelogin get-token --login msi` for the cluster, which
reads `AZURE_CLIENT_ID` and uses azidentity's ManagedIdentityCredential (Azure/kubelogin
pkg/internal/token/msicredential.go), so it does not depend on the az CLI's cached 5-minute
OIDC assertion that breaks `--login azurecli` in long runs.

What Pulumi may do there is granted here, on the stack's own resource group and nothing wider:
deploy gets Contributor and Role Based Access Control Administrator constrained by an ABAC
condition to the roles the workload assigns (`WORKLOAD_ROLES`; learn.microsoft.com "Delegate Azure
role assignment management using conditions"), plus Key Vault Crypto Officer (it creates the
stack's Key Vault keys); preview gets Reader. These are the one place the policy pack admits a resource-group
scope (`azure-role-assignment-scope`: role assignments inside `llz:azure:Runner`), so the first
deploy needs no grant by hand and runs through in one workflow run.

`RunnerAccess` (in the workload stack): the preview identity gets cluster-admin through Azure
RBAC on this cluster, because `pulumi preview` diffs Kubernetes objects by server-side dry-run,
which Kubernetes authorizes like the write itself, and the Cluster User role to list its
kubeconfig; the deploy identity is the deployer (`Cluster`'s deployer grant).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import app, managedidentity, network

from infra import bootstrap, ci
from infra.azure.roles import (
    ACR_PULL,
    AKS_RBAC_CLUSTER_ADMIN,
    GRAFANA_ADMIN,
    KEY_VAULT_CONTRIBUTOR,
    KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    KEY_VAULT_CRYPTO_USER,
    KEY_VAULT_SECRETS_USER,
    MONITORING_DATA_READER,
    NETWORK_CONTRIBUTOR,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    STORAGE_BLOB_DATA_READER,
    grant,
)
from infra.azure.settings import AzureRunnerConfig, runner_job_name
from infra.config.runner import proxy_variables

AKS_CLUSTER_USER = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"  # Azure Kubernetes Service Cluster User Role
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"  # Role Based Access Control Administrator
KEY_VAULT_CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"  # creates the customer-managed key
# Every role the workload program assigns (a test keeps this complete): all the deploy runner may assign.
WORKLOAD_ROLES = (
    NETWORK_CONTRIBUTOR,
    AKS_RBAC_CLUSTER_ADMIN,
    AKS_CLUSTER_USER,
    STORAGE_BLOB_DATA_READER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,  # the staging Job's writer, limited to the model prefix by ABAC
    KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    KEY_VAULT_CRYPTO_USER,  # the cluster identity's KMS key (etcd encryption)
    KEY_VAULT_CONTRIBUTOR,  # the cluster identity's private-link setup on the vault (KMS, private vault)
    ACR_PULL,  # the kubelet's pull from the stack's registry (issue 17)
    KEY_VAULT_SECRETS_USER,  # the registry's Docker Hub credential set reads its two secrets
    MONITORING_DATA_READER,  # KEDA's (and Managed Grafana's) queries to the Azure Monitor workspace (issue 18)
    GRAFANA_ADMIN,  # azure.adminGroupIds on the optional Managed Grafana (azure.managedGrafana)
)
APP_KEY_SECRET = "github-app-key"
RUNNER_CPU, RUNNER_MEMORY = 2.0, "4Gi"  # a Consumption replica: at most 4 vCPU / 8 GiB
# Direct even through a proxy: the managed-identity endpoint, and the AKS API (private DNS).
_DIRECT = ("localhost", "127.0.0.1", "169.254.169.254", ".azmk8s.io")


def scale_rule(settings: AzureRunnerConfig, label: str) -> dict[str, object]:
    """KEDA github-runner: one execution per queued job with this runner's label."""
    owner, repo = settings.repository.split("/")
    return {
        "name": "github-runner",
        "type": "github-runner",
        "metadata": {
            "githubApiURL": "https://api.github.com",
            "owner": owner,
            "runnerScope": "repo",
            "repos": repo,
            "labels": label,
            "targetWorkflowQueueLength": "1",
            "applicationID": str(settings.github_app_id),
            "installationID": str(settings.github_app_installation_id),
        },
        "auth": [{"trigger_parameter": "appKey", "secret_ref": APP_KEY_SECRET}],
    }


def assign_only(roles: tuple[str, ...]) -> str:
    """An ABAC condition: role assignments may be written and deleted for these roles only."""
    attribute = "Microsoft.Authorization/roleAssignments:RoleDefinitionId"
    only = f"ForAnyOfAnyValues:GuidEquals {{{', '.join(roles)}}}"
    return (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        f"(@Request[{attribute}] {only})) "
        "AND ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        f"(@Resource[{attribute}] {only}))"
    )


def proxy_env(proxy: str | None, vnet_cidr: str) -> list[dict[str, str]]:
    """Container environment variables for the egress proxy (none without one)."""
    return [{"name": k, "value": v} for k, v in proxy_variables(proxy, (*_DIRECT, vnet_cidr)).items()]


@dataclass(frozen=True)
class RunnerArgs:
    stack: str  # the workload stack the runners serve
    resource_group_name: pulumi.Input[str]
    resource_group_id: pulumi.Input[str]  # the scope of the runners' rights
    location: str
    subscription_id: str
    tenant_id: pulumi.Input[str]
    vnet_name: pulumi.Input[str]
    vnet_cidr: str
    subnet_cidr: str
    after_subnet: pulumi.Resource  # ARM rejects concurrent subnet writes on one VNet
    nat_gateway_id: pulumi.Input[str] | None
    app_key: pulumi.Input[str]  # the GitHub App's private key (a secret)
    settings: AzureRunnerConfig
    tags: Mapping[str, str]
    provider: pulumi.ProviderResource


class Runner(pulumi.ComponentResource):
    environment: app.ManagedEnvironment
    identities: dict[str, managedidentity.UserAssignedIdentity]
    jobs: dict[str, app.Job]

    def __init__(self, name: str, args: RunnerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:Runner", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        s, tags = args.settings, dict(args.tags)
        subnet = network.Subnet(
            f"{name}-subnet",
            resource_group_name=args.resource_group_name,
            virtual_network_name=args.vnet_name,
            subnet_name="ci-runners",
            address_prefix=args.subnet_cidr,
            delegations=[{"name": "container-apps", "service_name": "Microsoft.App/environments"}],
            nat_gateway={"id": args.nat_gateway_id} if args.nat_gateway_id else None,
            default_outbound_access=False,  # out through the NAT gateway (or the proxy) only
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[args.after_subnet])),
        )
        self.environment = app.ManagedEnvironment(
            f"{name}-env",
            resource_group_name=args.resource_group_name,
            environment_name=f"llz-{args.stack}-runners"[:60],
            location=args.location,
            # Internal: no public endpoint (jobs take no inbound traffic anyway).
            vnet_configuration={"infrastructure_subnet_id": subnet.id, "internal": True},
            workload_profiles=[{"name": "Consumption", "workload_profile_type": "Consumption"}],
            zone_redundant=False,
            tags=tags,
            opts=child,
        )
        secret = pulumi.Output.secret(args.app_key)
        self.identities, self.jobs = {}, {}
        for kind in ci.KINDS:
            label, name_ = ci.runner_name(args.stack, kind), runner_job_name(args.stack, kind)
            identity = managedidentity.UserAssignedIdentity(
                f"{name}-{kind}",
                resource_group_name=args.resource_group_name,
                resource_name_=name_,
                location=args.location,
                tags=tags,
                opts=child,
            )
            env = [
                {"name": "GITHUB_REPOSITORY", "value": s.repository},
                {"name": "GITHUB_APP_ID", "value": str(s.github_app_id)},
                {"name": "GITHUB_APP_INSTALLATION_ID", "value": str(s.github_app_installation_id)},
                {"name": "GITHUB_APP_KEY", "secret_ref": APP_KEY_SECRET},
                {"name": "RUNNER_LABELS", "value": label},
                # The identity Pulumi and kubelogin use (no OIDC login in the job).
                {"name": "AZURE_CLIENT_ID", "value": identity.client_id},
                {"name": "AZURE_TENANT_ID", "value": args.tenant_id},
                {"name": "ARM_USE_MSI", "value": "true"},
                {"name": "ARM_CLIENT_ID", "value": identity.client_id},
                {"name": "ARM_TENANT_ID", "value": args.tenant_id},
                {"name": "ARM_SUBSCRIPTION_ID", "value": args.subscription_id},
                *proxy_env(s.egress_proxy, args.vnet_cidr),
            ]
            registry = s.image.split("/", 1)[0]
            self.jobs[kind] = app.Job(
                f"{name}-{kind}",
                resource_group_name=args.resource_group_name,
                job_name=name_,
                location=args.location,
                environment_id=self.environment.id,
                workload_profile_name="Consumption",
                identity={"type": "UserAssigned", "user_assigned_identities": [identity.id]},
                configuration={
                    "trigger_type": "Event",
                    "replica_timeout": s.timeout_minutes * 60,  # seconds; above the job's 90 minutes
                    "replica_retry_limit": 0,  # a failed runner is not restarted into a finished job
                    "secrets": [{"name": APP_KEY_SECRET, "value": secret}],
                    # Pull the image as the runner's identity (AcrPull on your registry, granted once).
                    "registries": [{"server": registry, "identity": identity.id}]
                    if registry.endswith(".azurecr.io")
                    else None,
                    "event_trigger_config": {
                        "parallelism": 1,
                        "replica_completion_count": 1,
                        "scale": {
                            "min_executions": 0,
                            "max_executions": s.max_runners,
                            "polling_interval": 30,
                            "rules": [scale_rule(s, label)],
                        },
                    },
                },
                template={
                    "containers": [
                        {
                            "name": "runner",
                            "image": s.image,
                            "resources": {"cpu": RUNNER_CPU, "memory": RUNNER_MEMORY},
                            "env": env,
                        }
                    ]
                },
                tags=tags,
                opts=child,
            )
            self.identities[kind] = identity
        self._grant_rights(name, args, child)
        self.register_outputs({f"{k}PrincipalId": i.principal_id for k, i in self.identities.items()})

    def _grant_rights(self, name: str, args: RunnerArgs, opts: pulumi.ResourceOptions) -> None:
        """What Pulumi may do on each runner, on the stack's resource group only."""
        rights = {
            "deploy": [
                (CONTRIBUTOR, "contributor", {}),
                (
                    RBAC_ADMINISTRATOR,
                    "rbac-admin",
                    {"condition": assign_only(WORKLOAD_ROLES), "condition_version": "2.0"},
                ),
                (KEY_VAULT_CRYPTO_OFFICER, "key-officer", {}),  # the workload creates its Key Vault keys
            ],
            "preview": [(READER, "reader", {})],
        }
        for kind, grants in rights.items():
            for role, purpose, extra in grants:
                grant(
                    f"{name}-{kind}-{purpose}",
                    subscription_id=args.subscription_id,
                    role=role,
                    principal_id=self.identities[kind].principal_id,
                    scope=args.resource_group_id,
                    purpose=(f"llz-{args.stack}", "runner", kind, purpose),
                    opts=opts,
                    **extra,
                )


def exports(runner: Runner) -> dict[str, object]:
    return {
        "deployPrincipalId": runner.identities["deploy"].principal_id,
        "deployClientId": runner.identities["deploy"].client_id,
        "previewPrincipalId": runner.identities["preview"].principal_id,
        "previewClientId": runner.identities["preview"].client_id,
        "runnerJobs": [j.name for j in runner.jobs.values()],
    }


@dataclass(frozen=True)
class BootstrapNetwork:
    """The bootstrap's network as the workload's platform code uses a `Network`."""

    resource_group_name: pulumi.Output[str]
    vnet_id: pulumi.Output[str]
    node_subnet_id: pulumi.Output[str]
    endpoint_subnet_id: pulumi.Output[str]
    api_server_subnet_id: pulumi.Output[str]
    egress_ip: pulumi.Output[str | None]
    deploy_principal_id: pulumi.Output[str]
    preview_principal_id: pulumi.Output[str]


def from_bootstrap() -> BootstrapNetwork:
    ref = bootstrap.reference()
    return BootstrapNetwork(
        resource_group_name=ref.require_output("resourceGroupName"),
        vnet_id=ref.require_output("vnetId"),
        node_subnet_id=ref.require_output("nodeSubnetId"),
        endpoint_subnet_id=ref.require_output("endpointSubnetId"),
        api_server_subnet_id=ref.require_output("apiServerSubnetId"),
        egress_ip=ref.get_output("runnerEgressIp"),
        deploy_principal_id=ref.require_output("deployPrincipalId"),
        preview_principal_id=ref.require_output("previewPrincipalId"),
    )


@dataclass(frozen=True)
class RunnerAccessArgs:
    subscription_id: str
    cluster_id: pulumi.Input[str]
    cluster_name: str
    preview_principal_id: pulumi.Input[str]
    provider: pulumi.ProviderResource


class RunnerAccess(pulumi.ComponentResource):
    """The preview runner's access to the workload's cluster (the deploy runner is its deployer)."""

    def __init__(self, name: str, args: RunnerAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:RunnerAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        for role, purpose in ((AKS_RBAC_CLUSTER_ADMIN, "preview-admin"), (AKS_CLUSTER_USER, "preview-user")):
            grant(
                f"{name}-{purpose}",
                subscription_id=args.subscription_id,
                role=role,
                principal_id=args.preview_principal_id,
                scope=args.cluster_id,
                purpose=(args.cluster_name, purpose),
                opts=child,
            )
        self.register_outputs({})


def api_ranges(cidrs: list[str], network: BootstrapNetwork) -> pulumi.Output[list[str]]:
    """The AKS authorized ranges: the runners reach a public API server from the NAT gateway's IP
    (learn.microsoft.com api-server-authorized-ip-ranges: with a NAT gateway, add its IP); with
    a proxy (egress none) from the proxy's, which must be in cluster.apiAllowedCidrs."""
    return network.egress_ip.apply(lambda ip: [*cidrs, *([f"{ip}/32"] if ip else [])])
