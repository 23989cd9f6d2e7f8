"""Issue 18 on AKS: Azure Monitor managed Prometheus, its alert rules and notifications, the KEDA add-on's
identity, GPU metrics, container logs and the optional Managed Grafana, asserted on the inputs the real
azure-dev program registers (infra/azure/monitoring.py, infra/azure/metrics.py)."""

from __future__ import annotations

import pytest

from infra.azure import monitoring
from infra.azure.gpu_pool import POOL_LABEL, pool_taints
from infra.azure.metrics import KSM_KEEP
from infra.azure.roles import GRAFANA_ADMIN, MONITORING_DATA_READER
from infra.conventions import DCGM_EXPORTER_IMAGE
from infra.observability import alerts, signals
from tests.harness import config_error, dev_plan, parse, plan, platform_of

STACK = "azure-dev"
AZ = "azure-native:"


def az(p, kind, name=None):
    return p.one(AZ + kind, name)


@pytest.fixture(scope="module")
def dev():
    return dev_plan(STACK)


@pytest.fixture(scope="module")
def with_emails():
    return plan(
        STACK,
        {
            "observability": {"alerts": {"emails": ["oncall@example.com", "ml-team@example.com"]}},
            "azure": {"managedGrafana": True, "adminGroupIds": ["11111111-2222-4333-8444-555555555555"]},
            "serving": {"replicas": {"min": 1, "max": 2}},  # autoscaled: the ScaledObject
            "gpu": {"maxNodes": 3},
        },
    )


def _workspace(p):
    return az(p, "monitor:AzureMonitorWorkspace")


# --- the metrics pipeline ------------------------------------------------------------------------


def test_workspace_has_no_public_query_endpoint_and_a_private_one_in_the_vnet(dev):
    ws = _workspace(dev)
    assert ws.get("publicNetworkAccess") == "Disabled"
    assert ws.get("azureMonitorWorkspaceName") == f"llz-{STACK}"
    pe = az(dev, "network:PrivateEndpoint", "monitoring-prometheus-pe")
    [connection] = pe.get("privateLinkServiceConnections")
    assert connection["privateLinkServiceId"] == ws.id
    assert connection["groupIds"] == ["prometheusMetrics"]
    assert pe.get("subnet.id") == az(dev, "network:PrivateEndpoint", "weights-blob-pe").get("subnet.id")
    zone = az(dev, "privatedns:PrivateZone", "monitoring-prometheus-zone")
    assert zone.get("privateZoneName") == "privatelink.eastus.prometheus.monitor.azure.com"
    link = az(dev, "privatedns:VirtualNetworkLink", "monitoring-prometheus-vnet-link")
    assert link.get("privateZoneName") == zone.outputs["name"]


def test_collection_endpoint_rule_and_association_wire_the_cluster_to_the_workspace(dev):
    ws, cluster = _workspace(dev), az(dev, "containerservice:ManagedCluster")
    dce = az(dev, "monitor:DataCollectionEndpoint")
    dcr = az(dev, "monitor:DataCollectionRule", "monitoring-dcr")
    assert dcr.get("dataCollectionEndpointId") == dce.id
    [source] = dcr.get("dataSources.prometheusForwarder")
    assert source["streams"] == ["Microsoft-PrometheusMetrics"]
    [dest] = dcr.get("destinations.monitoringAccounts")
    assert dest["accountResourceId"] == ws.id
    assert dcr.get("dataFlows") == [{"streams": ["Microsoft-PrometheusMetrics"], "destinations": [dest["name"]]}]
    dcra = az(dev, "monitor:DataCollectionRuleAssociation", "monitoring-dcra")
    assert dcra.get("resourceUri") == cluster.id
    assert dcra.get("dataCollectionRuleId") == dcr.id


def test_cluster_runs_managed_prometheus_keda_and_container_insights(dev):
    cluster = az(dev, "containerservice:ManagedCluster")
    assert cluster.get("azureMonitorProfile.metrics.enabled") is True
    assert cluster.get("workloadAutoScalerProfile.keda.enabled") is True
    oms = cluster.get("addonProfiles.omsagent")
    assert oms["enabled"] is True
    assert oms["config"] == {
        "logAnalyticsWorkspaceResourceID": az(dev, "operationalinsights:Workspace").id,
        "useAADAuth": "true",  # the add-on's managed identity, no workspace keys
    }


# --- GPU metrics and kube-state-metrics ------------------------------------------------------------


def test_dcgm_exporter_runs_on_the_gpu_pool_from_the_registry_cache(dev):
    ds = dev.one("kubernetes:apps/v1:DaemonSet", "monitoring-dcgm-exporter")
    spec = ds.get("spec.template.spec")
    assert spec["nodeSelector"] == dict(POOL_LABEL)
    assert spec["tolerations"] == [t.as_k8s() for t in pool_taints(parse(STACK).gpu.spot)]
    [container] = spec["containers"]
    registry = dev.outputs["registry"]
    assert container["image"] == dev.outputs["images"][DCGM_EXPORTER_IMAGE]
    assert container["image"].startswith(f"{registry}/nvcr/nvidia/k8s/dcgm-exporter:")
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"  # Hostname = the node
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # the DaemonSet waits for the registry's cache rules (the nvcr.io one serves this image) and the GPU pool
    rules = {r.urn for r in dev.of_type(AZ + "containerregistry:CacheRule")}
    assert rules and rules <= set(ds.dependencies)
    assert az(dev, "containerservice:AgentPool").urn in ds.dependencies


def test_pod_monitor_makes_ama_metrics_scrape_the_exporter(dev):
    ds = dev.one("kubernetes:apps/v1:DaemonSet", "monitoring-dcgm-exporter")
    pm = dev.one("kubernetes:azmonitoring.coreos.com/v1:PodMonitor", "monitoring-dcgm-monitor")
    assert pm.get("apiVersion") == "azmonitoring.coreos.com/v1"
    assert pm.get("kind") == "PodMonitor"
    assert pm.get("metadata.namespace") == ds.get("metadata.namespace")
    assert pm.get("spec.selector.matchLabels") == ds.get("spec.template.metadata.labels")
    [endpoint] = pm.get("spec.podMetricsEndpoints")
    port = ds.get("spec.template.spec.containers.0.ports.0")
    assert endpoint["port"] == port["name"]


def test_kube_state_metrics_keeps_the_init_container_waiting_reason(dev):
    cm = dev.one("kubernetes:core/v1:ConfigMap", "monitoring-ama-metrics-settings")
    assert cm.get("metadata") == {"name": "ama-metrics-settings-configmap", "namespace": "kube-system"}
    assert cm.get("data.schema-version") == "v2"
    settings = cm.get("data.cluster-metrics")
    assert 'kubestate = "kube_pod_init_container_status_waiting_reason"' in settings
    assert "minimal-ingestion-profile: |-\n  enabled = true" in settings
    # the rules' init-container series is the one kept (the minimal profile keeps the container one)
    assert signals.INIT_WAITING_REASON.name in KSM_KEEP


# --- rules and notifications -----------------------------------------------------------------------


def test_rule_group_holds_the_converted_alert_rules_for_this_cluster(dev):
    group = az(dev, "alertsmanagement:PrometheusRuleGroup")
    assert group.get("scopes") == [_workspace(dev).id]
    assert group.get("clusterName") == az(dev, "containerservice:ManagedCluster").get("resourceName")
    assert group.get("interval") == "PT1M"
    expected = alerts.rules(parse(STACK), STACK)
    got = group.get("rules")
    assert [r["alert"] for r in got] == [r["alert"] for r in expected]
    severity = {"critical": 0, "warning": 2, "info": 3}
    for rule, want in zip(got, expected, strict=True):
        assert rule["expression"] == want["expr"]
        assert rule["for"] == "PT" + want["for"].upper()  # 10m -> PT10M (every rule's `for` is in minutes)
        assert rule["severity"] == severity[want["labels"]["severity"]]
        assert rule["labels"] == want["labels"]
        assert rule["annotations"] == want["annotations"]
        assert "actions" not in rule  # azure-dev sets no observability.alerts.emails


def test_emails_from_config_become_an_action_group_every_rule_notifies(with_emails):
    group = az(with_emails, "monitor:ActionGroup")
    receivers = group.get("emailReceivers")
    assert [r["emailAddress"] for r in receivers] == ["oncall@example.com", "ml-team@example.com"]
    assert all(r["useCommonAlertSchema"] is True for r in receivers)
    assert len(group.get("groupShortName")) <= 12
    for rule in az(with_emails, "alertsmanagement:PrometheusRuleGroup").get("rules"):
        assert rule["actions"] == [{"actionGroupId": group.id}]


def test_no_emails_no_action_group(dev):
    assert dev.of_type(AZ + "monitor:ActionGroup") == []


@pytest.mark.parametrize(
    ("prometheus", "iso"),
    [("10m", "PT10M"), ("90m", "PT1H30M"), ("1440m", "PT24H"), ("1h", "PT1H"), ("30s", "PT30S"), ("0m", "PT0S")],
)
def test_iso_duration(prometheus, iso):
    assert monitoring.iso_duration(prometheus) == iso


@pytest.mark.parametrize("bad", ["", "10", "5d", "m"])
def test_iso_duration_rejects_what_it_cannot_convert(bad):
    with pytest.raises(ValueError):
        monitoring.iso_duration(bad)


# --- KEDA ------------------------------------------------------------------------------------------


def _keda_identity(p):
    return az(p, "managedidentity:UserAssignedIdentity", "monitoring-keda-uami")


def test_keda_operator_becomes_its_identity_through_this_clusters_issuer(dev):
    fed = az(dev, "managedidentity:FederatedIdentityCredential", "monitoring-keda-federation")
    assert fed.get("subject") == "system:serviceaccount:kube-system:keda-operator"
    assert fed.get("issuer") == dev.outputs["oidcIssuerUrl"]
    assert fed.get("audiences") == ["api://AzureADTokenExchange"]
    assert fed.get("resourceName") == _keda_identity(dev).outputs["name"]


def test_keda_identity_may_only_read_the_workspace(dev):
    principal = _keda_identity(dev).outputs["principalId"]
    grants = [r for r in dev.of_type(AZ + "authorization:RoleAssignment") if r.get("principalId") == principal]
    assert len(grants) == 1
    [reader] = grants
    assert reader.get("roleDefinitionId").endswith(f"/roleDefinitions/{MONITORING_DATA_READER}")
    assert reader.get("scope") == _workspace(dev).id
    assert reader.get("principalType") == "ServicePrincipal"


def test_keda_operator_is_annotated_with_the_identity_and_restarted_after_the_grant(dev):
    client_id = _keda_identity(dev).outputs["clientId"]
    sa = dev.one("kubernetes:core/v1:ServiceAccountPatch", "monitoring-keda-operator-sa")
    assert sa.get("metadata.name") == "keda-operator" and sa.get("metadata.namespace") == "kube-system"
    assert sa.get("metadata.annotations") == {"azure.workload.identity/client-id": client_id}
    restart = dev.one("kubernetes:apps/v1:DeploymentPatch", "monitoring-keda-operator-restart")
    assert restart.get("metadata.name") == "keda-operator"
    assert restart.get("spec.template.metadata.annotations") == {"llz.io/keda-identity": client_id}
    federation = az(dev, "managedidentity:FederatedIdentityCredential", "monitoring-keda-federation")
    reader = az(dev, "authorization:RoleAssignment", "monitoring-keda-reader")
    assert {federation.urn, reader.urn, sa.urn} <= set(restart.dependencies)


# --- what the serving component gets (Platform.metrics) -----------------------------------------------


def test_platform_hands_serving_the_podmonitor_kind_the_collectors_and_the_scaler():
    m = platform_of(STACK).metrics
    assert (m.monitor.api_version, m.monitor.kind) == ("azmonitoring.coreos.com/v1", "PodMonitor")
    assert m.monitor_endpoints_field == "podMetricsEndpoints"
    assert (m.collector_namespace, dict(m.collector_pod_labels)) == ("kube-system", {"rsName": "ama-metrics"})
    assert list(m.collector_cidrs) == []
    assert set(m.scaler.pod_identity) == {"provider", "identityId"}
    assert m.scaler.pod_identity["provider"] == "azure-workload"
    assert dict(m.scaler.metadata) == {} and dict(m.scaler.series_labels) == {}  # one workspace per cluster


def test_serving_scrapes_through_a_podmonitor_and_admits_ama_metrics(dev):
    pm = dev.one("kubernetes:azmonitoring.coreos.com/v1:PodMonitor", "llm-scrape")
    assert pm.get("metadata.namespace") == "llm"
    [endpoint] = pm.get("spec.podMetricsEndpoints")
    assert endpoint["path"] == "/metrics" and "endpoints" not in pm.get("spec")
    ingress = dev.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llm-ingress")
    peers = [peer for rule in ingress.get("spec.ingress") for peer in rule["from"]]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"rsName": "ama-metrics"}},
    } in peers


def test_keda_scales_on_the_queue_in_the_workspace_as_its_identity(with_emails):
    p = with_emails
    scaled = p.one("kubernetes:keda.sh/v1alpha1:ScaledObject")
    [trigger] = scaled.get("spec.triggers")
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["serverAddress"] == p.outputs["prometheusQueryEndpoint"]
    assert trigger["metadata"]["serverAddress"] == _workspace(p).outputs["metrics"]["prometheusQueryEndpoint"]
    auth = p.one("kubernetes:keda.sh/v1alpha1:TriggerAuthentication")
    assert auth.get("spec.podIdentity") == {
        "provider": "azure-workload",
        "identityId": _keda_identity(p).outputs["clientId"],
    }
    assert trigger["authenticationRef"]["name"] == auth.get("metadata.name")
    # KEDA's identity is bound (federation, grant, operator restarted) and the query endpoint resolves
    # privately before the scaler exists
    waited = {r.name for r in p.resources if r.urn in scaled.dependencies}
    assert {
        "monitoring-keda-federation",
        "monitoring-keda-reader",
        "monitoring-keda-operator-restart",
        "monitoring-prometheus-dns",
        "monitoring-prometheus-vnet-link",
    } <= waited
    assert p.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler") == []


# --- logs ------------------------------------------------------------------------------------------


def test_container_insights_sends_container_logs_to_the_stacks_workspace(dev):
    la = az(dev, "operationalinsights:Workspace")
    dcr = az(dev, "monitor:DataCollectionRule", "monitoring-logs-dcr")
    [ext] = dcr.get("dataSources.extensions")
    assert ext["extensionName"] == "ContainerInsights"
    assert "Microsoft-ContainerLogV2" in ext["streams"]
    assert ext["extensionSettings"]["dataCollectionSettings"]["enableContainerLogV2"] is True
    [dest] = dcr.get("destinations.logAnalytics")
    assert dest["workspaceResourceId"] == la.id
    dcra = az(dev, "monitor:DataCollectionRuleAssociation", "monitoring-logs-dcra")
    assert dcra.get("associationName") == "ContainerInsightsExtension"
    assert dcra.get("resourceUri") == az(dev, "containerservice:ManagedCluster").id
    assert dcra.get("dataCollectionRuleId") == dcr.id


def test_container_logs_keep_the_workspace_retention(dev):
    la = az(dev, "operationalinsights:Workspace")
    assert la.get("retentionInDays") == parse(STACK).azure.log_retention_days == 90
    assert (
        plan(STACK, {"azure": {"logRetentionDays": 400}})
        .one(AZ + "operationalinsights:Workspace")
        .get("retentionInDays")
        == 400
    )


@pytest.mark.parametrize("days", [29, 731])
def test_a_retention_log_analytics_refuses_fails_with_one_line(days):
    error = config_error(STACK, {"azure": {"logRetentionDays": days}})
    assert "azure.logRetentionDays" in error and str(days) in error


def test_audit_logs_stay_on(dev):
    settings = {r.name: r for r in dev.of_type(AZ + "monitor:DiagnosticSetting")}
    cluster = settings["audit-cluster"]
    assert {c["category"] for c in cluster.get("logs") if c["enabled"]} == {"kube-audit-admin", "guard"}
    assert cluster.get("resourceUri") == az(dev, "containerservice:ManagedCluster").id


# --- Managed Grafana (azure.managedGrafana) --------------------------------------------------------


def test_grafana_is_off_by_default(dev):
    assert dev.of_type(AZ + "dashboard:Grafana") == []
    assert parse(STACK).azure.managed_grafana is False


def test_grafana_reads_the_workspace_privately_with_its_own_identity(with_emails):
    grafana = az(with_emails, "dashboard:Grafana")
    ws = _workspace(with_emails)
    assert grafana.get("identity.type") == "SystemAssigned"
    assert grafana.get("properties.apiKey") == "Disabled"
    assert grafana.get("properties.grafanaIntegrations.azureMonitorWorkspaceIntegrations") == [
        {"azureMonitorWorkspaceResourceId": ws.id}
    ]
    principal = grafana.outputs["identity"]["principalId"]
    [reader] = [
        r for r in with_emails.of_type(AZ + "authorization:RoleAssignment") if r.get("principalId") == principal
    ]
    assert reader.get("roleDefinitionId").endswith(MONITORING_DATA_READER)
    assert reader.get("scope") == ws.id
    mpe = az(with_emails, "dashboard:ManagedPrivateEndpoint")
    assert mpe.get("privateLinkResourceId") == ws.id
    assert mpe.get("groupIds") == ["prometheusMetrics"]
    [admin] = [r for r in with_emails.of_type(AZ + "authorization:RoleAssignment") if r.get("scope") == grafana.id]
    assert admin.get("roleDefinitionId").endswith(GRAFANA_ADMIN)
    assert admin.get("principalType") == "Group"


# --- cost ------------------------------------------------------------------------------------------


def test_plan_shows_the_monitoring_parts_and_their_price(dev, with_emails):
    notes = " ".join(dev.sizing["cost"]["notes"])
    assert "managed Prometheus" in notes and "Container Insights logs" in notes
    assert "Managed Grafana" not in notes
    assert "Managed Grafana" in " ".join(with_emails.sizing["cost"]["notes"])
