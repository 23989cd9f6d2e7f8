"""Azure Monitor for the stack: managed Prometheus, its alert rules and their notifications, the KEDA
operator's identity, container logs, and (a named switch) Azure Managed Grafana.

Metrics (learn.microsoft.com/azure/azure-monitor/containers/kubernetes-monitoring-enable, the ARM
onboarding of Azure/prometheus-collector AddonTerraformTemplate): an Azure Monitor workspace
(Microsoft.Monitor/accounts), a data collection endpoint, a data collection rule that forwards the
`Microsoft-PrometheusMetrics` stream to the workspace, and the rule's association with the cluster; the
cluster's `azureMonitorProfile.metrics` runs the ama-metrics collectors (infra/azure/cluster.py). The
workspace's public query endpoint is off (`publicNetworkAccess: Disabled`): KEDA queries it from the
VNet through a private endpoint (sub-resource `prometheusMetrics`, zone
privatelink.<region>.prometheus.monitor.azure.com; learn.microsoft.com/azure/azure-monitor/essentials/
azure-monitor-workspace-private-endpoint). Ingestion goes to the data collection endpoint's public
ingestion address, authenticated with the cluster's add-on identity; private ingestion needs an Azure
Monitor Private Link Scope, which this stack does not build (docs/azure.md).

Rules: the alert rules of infra/observability/alerts.py as one `PrometheusRuleGroup` (API 2023-03-01,
azure-native 3.29 alertsmanagement) on the workspace, for this cluster, each rule's `for` as an ISO 8601
duration and its severity on Azure's 0-4 scale; with `observability.alerts.emails` an action group
emails them (common alert schema).

KEDA (the AKS add-on, `workloadAutoScalerProfile.keda`): its operator, service account
kube-system/keda-operator, becomes a user-assigned identity through a federated credential; the identity
holds Monitoring Data Reader on the workspace and nothing else.

Logs (Container Insights, the managed `omsagent` add-on with Entra ID auth): a data collection rule sends
ContainerLogV2, KubeEvents and KubePodInventory to the stack's Log Analytics workspace, which keeps them
`azure.logRetentionDays` (30-730), as it keeps the audit logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import alertsmanagement, dashboard, monitor

from infra.azure.endpoints import PrivateEndpoint, PrivateEndpointArgs
from infra.azure.identity import federated_identity
from infra.azure.roles import GRAFANA_ADMIN, MONITORING_DATA_READER, grant, grant_groups

PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"
# Container Insights' "Logs and events" preset (learn.microsoft.com/azure/azure-monitor/containers/
# container-insights-data-collection-configure): container stdout/stderr, Kubernetes events, pod inventory.
LOG_STREAMS = ("Microsoft-ContainerLogV2", "Microsoft-KubeEvents", "Microsoft-KubePodInventory")
# The KEDA add-on runs its operator in kube-system as service account keda-operator
# (learn.microsoft.com/azure/aks/keda-workload-identity).
KEDA_ADDON_NAMESPACE = "kube-system"
KEDA_ADDON_SERVICE_ACCOUNT = "keda-operator"
# Azure alert severities: 0 Critical, 1 Error, 2 Warning, 3 Informational, 4 Verbose.
SEVERITY = {"critical": 0, "error": 1, "warning": 2, "info": 3}
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def prometheus_zone(location: str) -> str:
    """The privatelink zone of an Azure Monitor workspace's query endpoint (region-specific)."""
    return f"privatelink.{location}.prometheus.monitor.azure.com"


def iso_duration(prometheus: str) -> str:
    """A Prometheus duration (`10m`, `1h30m`, `90s`) as ISO 8601 (`PT10M`, `PT1H30M`, `PT1M30S`)."""
    match = _DURATION.match(prometheus)
    if not prometheus or match is None:
        raise ValueError(f"not a Prometheus duration of h/m/s: {prometheus!r}")
    seconds = sum(int(n or 0) * unit for n, unit in zip(match.groups(), (3600, 60, 1), strict=True))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "PT" + "".join(f"{n}{u}" for n, u in ((h, "H"), (m, "M"), (s, "S")) if n) if seconds else "PT0S"


def azure_rule(rule: Mapping[str, Any], action_group_id: pulumi.Input[str] | None) -> dict[str, Any]:
    """One Prometheus alerting rule (infra/observability/alerts.py) as a PrometheusRuleGroup rule."""
    labels = dict(rule.get("labels", {}))
    converted: dict[str, Any] = {
        "alert": rule["alert"],
        "expression": rule["expr"],
        "for_": iso_duration(rule["for"]),
        "severity": SEVERITY[labels.get("severity", "warning")],
        "labels": labels,
        "annotations": dict(rule.get("annotations", {})),
        "enabled": True,
        # Resolved when the condition has been false for 10 minutes (the portal's default).
        "resolve_configuration": {"auto_resolved": True, "time_to_resolve": "PT10M"},
    }
    if action_group_id is not None:
        converted["actions"] = [{"action_group_id": action_group_id}]
    return converted


@dataclass(frozen=True)
class MonitoringArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    stack: str
    subscription_id: str
    cluster_name: str
    cluster_id: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]
    vnet_id: pulumi.Input[str]
    endpoint_subnet_id: pulumi.Input[str]  # the private endpoints' subnet
    log_workspace_id: pulumi.Input[str]  # the stack's Log Analytics workspace (infra/azure/logs.py)
    rules: Sequence[Mapping[str, Any]]  # infra.observability.alerts.rules(cfg, stack)
    rule_interval: str  # the rule group's evaluation interval (Prometheus duration)
    emails: Sequence[str]  # observability.alerts.emails
    grafana: bool  # azure.managedGrafana
    admin_group_ids: Sequence[str]  # get Grafana Admin on the Managed Grafana
    tags: dict[str, str]
    provider: pulumi.ProviderResource


class Monitoring(pulumi.ComponentResource):
    workspace: monitor.AzureMonitorWorkspace
    query_endpoint: pulumi.Output[str]  # the workspace's Prometheus query endpoint (KEDA's serverAddress)
    keda_client_id: pulumi.Output[str]
    ready: list[pulumi.Resource]  # what a query from the cluster waits for (DNS, identity, grant)

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:azure:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        prefix = f"llz-{args.stack}"
        self.workspace = monitor.AzureMonitorWorkspace(
            f"{name}-workspace",
            resource_group_name=args.resource_group_name,
            azure_monitor_workspace_name=prefix,
            location=args.location,
            public_network_access="Disabled",  # queries through the private endpoint below only
            tags=args.tags,
            opts=child,
        )
        self.query_endpoint = self.workspace.metrics.apply(lambda m: m.prometheus_query_endpoint)
        queries = PrivateEndpoint(
            f"{name}-prometheus",
            PrivateEndpointArgs(
                resource_group_name=args.resource_group_name,
                location=args.location,
                vnet_id=args.vnet_id,
                subnet_id=args.endpoint_subnet_id,
                target_id=self.workspace.id,
                group_id="prometheusMetrics",
                zone_name=prometheus_zone(args.location),
                tags=args.tags,
                provider=args.provider,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self._metrics_pipeline(name, args, child)
        self._logs(name, args, child)
        self._rules(name, args, child)
        keda, keda_federation = federated_identity(
            self,
            f"{name}-keda",
            resource_group_name=args.resource_group_name,
            location=args.location,
            oidc_issuer_url=args.oidc_issuer_url,
            namespace=KEDA_ADDON_NAMESPACE,
            service_account=KEDA_ADDON_SERVICE_ACCOUNT,
            tags=args.tags,
            provider=args.provider,
        )
        keda_reader = self._reader(f"{name}-keda-reader", args, keda.principal_id, "keda", child)
        self.keda_client_id = keda.client_id
        self.keda_federation = keda_federation
        self.keda_reader = keda_reader
        if args.grafana:
            self._grafana(name, args, child)
        self.ready = [*queries.ready, keda_federation, keda_reader]
        self.register_outputs(
            {"workspaceId": self.workspace.id, "queryEndpoint": self.query_endpoint, "kedaClientId": keda.client_id}
        )

    def _metrics_pipeline(self, name: str, args: MonitoringArgs, child: pulumi.ResourceOptions) -> None:
        """Data collection endpoint -> rule (Prometheus stream -> workspace) -> association with the cluster."""
        rule_name = f"MSProm-{args.location}-{args.cluster_name}"[:64]
        self.collection_endpoint = monitor.DataCollectionEndpoint(
            f"{name}-dce",
            resource_group_name=args.resource_group_name,
            data_collection_endpoint_name=f"MSProm-{args.location}-{args.cluster_name}"[:44],
            location=args.location,
            kind="Linux",
            network_acls={"public_network_access": "Enabled"},  # ingestion; AMPLS not built (docs/azure.md)
            tags=args.tags,
            opts=child,
        )
        self.collection_rule, self.association = self._collect(
            f"{name}-dcr",
            f"{name}-dcra",
            rule_name,
            rule_name,
            args,
            child,
            description=f"Prometheus metrics of AKS cluster {args.cluster_name} to its Azure Monitor workspace",
            data_collection_endpoint_id=self.collection_endpoint.id,
            data_sources={"prometheus_forwarder": [{"name": "PrometheusDataSource", "streams": [PROMETHEUS_STREAM]}]},
            destinations={
                "monitoring_accounts": [{"name": "MonitoringAccount1", "account_resource_id": self.workspace.id}]
            },
            data_flows=[{"streams": [PROMETHEUS_STREAM], "destinations": ["MonitoringAccount1"]}],
        )

    def _collect(
        self,
        resource: str,
        association: str,
        rule_name: str,
        association_name: str,
        args: MonitoringArgs,
        child: pulumi.ResourceOptions,
        *,
        description: str,
        **spec: Any,
    ) -> tuple[monitor.DataCollectionRule, monitor.DataCollectionRuleAssociation]:
        """A data collection rule (`spec`: sources, destinations, flows) and its association with the cluster."""
        rule = monitor.DataCollectionRule(
            resource,
            resource_group_name=args.resource_group_name,
            data_collection_rule_name=rule_name,
            location=args.location,
            kind="Linux",
            description=description,
            tags=args.tags,
            opts=child,
            **spec,
        )
        link = monitor.DataCollectionRuleAssociation(
            association,
            resource_uri=args.cluster_id,
            association_name=association_name,
            data_collection_rule_id=rule.id,
            description=f"{description}; deleting it stops the collection",
            opts=child,
        )
        return rule, link

    def _logs(self, name: str, args: MonitoringArgs, child: pulumi.ResourceOptions) -> None:
        """Container Insights: the add-on's data collection rule and its association with the cluster."""
        # The association Container Insights looks for by this name (the portal's and ARM onboarding's).
        self.log_rule, self.log_association = self._collect(
            f"{name}-logs-dcr",
            f"{name}-logs-dcra",
            f"MSCI-{args.location}-{args.cluster_name}"[:64],
            "ContainerInsightsExtension",
            args,
            child,
            description=f"Container logs, events and pod inventory of AKS cluster {args.cluster_name}",
            data_sources={
                "extensions": [
                    {
                        "name": "ContainerInsightsExtension",
                        "extension_name": "ContainerInsights",
                        "streams": list(LOG_STREAMS),
                        "extension_settings": {
                            "dataCollectionSettings": {
                                "interval": "1m",
                                "namespaceFilteringMode": "Off",
                                "enableContainerLogV2": True,
                            }
                        },
                    }
                ]
            },
            destinations={"log_analytics": [{"name": "ciworkspace", "workspace_resource_id": args.log_workspace_id}]},
            data_flows=[{"streams": list(LOG_STREAMS), "destinations": ["ciworkspace"]}],
        )

    def _rules(self, name: str, args: MonitoringArgs, child: pulumi.ResourceOptions) -> None:
        self.action_group: monitor.ActionGroup | None = None
        if args.emails:
            self.action_group = monitor.ActionGroup(
                f"{name}-alerts",
                resource_group_name=args.resource_group_name,
                action_group_name=f"{args.stack}-alerts",
                location="Global",
                group_short_name=args.stack[:12],  # at most 12 characters (SMS sender name)
                enabled=True,
                email_receivers=[
                    {"name": f"email-{i}", "email_address": email, "use_common_alert_schema": True}
                    for i, email in enumerate(args.emails)
                ],
                tags=args.tags,
                opts=child,
            )
        action = self.action_group.id if self.action_group is not None else None
        self.rule_group = alertsmanagement.PrometheusRuleGroup(
            f"{name}-rules",
            resource_group_name=args.resource_group_name,
            rule_group_name=f"{args.stack}-serving",
            location=args.location,
            scopes=[self.workspace.id],  # one workspace per group (API 2023-03-01)
            cluster_name=args.cluster_name,  # only this cluster's series
            interval=iso_duration(args.rule_interval),
            enabled=True,
            description="llm-landing-zone serving alerts (infra/observability/alerts.py)",
            rules=[azure_rule(r, action) for r in args.rules],
            tags=args.tags,
            opts=child,
        )

    def _reader(
        self,
        resource: str,
        args: MonitoringArgs,
        principal_id: pulumi.Input[str],
        who: str,
        opts: pulumi.ResourceOptions,
    ) -> pulumi.Resource:
        """Monitoring Data Reader on the Azure Monitor workspace (PromQL queries), nothing more."""
        return grant(
            resource,
            subscription_id=args.subscription_id,
            role=MONITORING_DATA_READER,
            principal_id=principal_id,
            scope=self.workspace.id,
            purpose=(args.stack, "monitoring-data-reader", who),
            opts=opts,
        )

    def _grafana(self, name: str, args: MonitoringArgs, child: pulumi.ResourceOptions) -> None:
        """Azure Managed Grafana (azure.managedGrafana) with the workspace as its Prometheus data source: its
        own identity reads the workspace, through a managed private endpoint (the workspace has no public
        query endpoint), and the admin groups get Grafana Admin."""
        self.grafana = dashboard.Grafana(
            f"{name}-grafana",
            resource_group_name=args.resource_group_name,
            workspace_name=f"llz-{args.stack}"[:23],  # 2-23 characters
            location=args.location,
            sku={"name": "Standard"},
            identity={"type": "SystemAssigned"},
            properties={
                "api_key": "Disabled",  # Entra ID sign-in only
                "deterministic_outbound_ip": "Disabled",
                "public_network_access": "Enabled",  # the UI, behind Entra ID (Grafana Admin/Viewer roles)
                "zone_redundancy": "Disabled",
                "grafana_integrations": {
                    "azure_monitor_workspace_integrations": [{"azure_monitor_workspace_resource_id": self.workspace.id}]
                },
            },
            tags=args.tags,
            opts=child,
        )
        principal = self.grafana.identity.apply(lambda i: i.principal_id)
        self._reader(f"{name}-grafana-reader", args, principal, "grafana", child)
        dashboard.ManagedPrivateEndpoint(
            f"{name}-grafana-prometheus",
            resource_group_name=args.resource_group_name,
            workspace_name=self.grafana.name,
            managed_private_endpoint_name="prometheus",
            location=args.location,
            private_link_resource_id=self.workspace.id,
            private_link_resource_region=args.location,
            group_ids=["prometheusMetrics"],
            request_message="Azure Managed Grafana queries the stack's Azure Monitor workspace",
            opts=child,
        )
        grant_groups(
            f"{name}-grafana-admin",
            args.admin_group_ids,
            subscription_id=args.subscription_id,
            role=GRAFANA_ADMIN,
            scope=self.grafana.id,
            purpose=(args.stack, "grafana-admin"),
            opts=child,
        )
