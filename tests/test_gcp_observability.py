"""GKE observability on Google Cloud's managed services (issue 18), asserted on the recorded inputs
of the gcp-dev plan: Cloud Monitoring alert policies equal to the promtool-tested rules, email
channels from config, the dashboard's PromQL from the one panel definition, the _Default log
bucket's retention, the KEDA operator's metrics identity and the Platform's metrics wiring."""

from __future__ import annotations

import json
import re

import pytest

from infra.conventions import KEDA_IMAGES, KEDA_VERSION
from infra.gcp import footprint, monitoring
from infra.observability import alerts, dashboard, panels, signals
from infra.plan.engine import Plan
from tests.harness import built_platform, config_error, dev_plan, parse, plan, program_error

STACK = "gcp-dev"
PROJECT, NUMBER = "my-llm-project", "487134576253"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
BUCKET_CONFIG = "gcp:logging/projectBucketConfig:ProjectBucketConfig"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
EMAILS = ["oncall@example.com", "ml-platform@example.org"]


@pytest.fixture(scope="module")
def dev() -> Plan:
    return dev_plan(STACK)


@pytest.fixture(scope="module")
def with_emails() -> Plan:
    return plan(STACK, {"observability": {"alerts": {"emails": EMAILS}}})


def _condition(policy) -> dict:
    (condition,) = policy.get("conditions")
    return condition["conditionPrometheusQueryLanguage"]


# --- alerts -----------------------------------------------------------------------------------------


def test_one_alert_policy_per_rule_with_the_rules_promql_and_for(dev):
    rules = alerts.rules(parse(STACK), STACK)
    policies = {p.name: p for p in dev.of_type(POLICY)}
    assert sorted(policies) == sorted(f"monitoring-{r['alert']}" for r in rules)
    for rule in rules:
        policy = policies[f"monitoring-{rule['alert']}"]
        condition = _condition(policy)
        assert condition["query"] == rule["expr"]
        minutes = int(rule["for"].removesuffix("m"))
        assert condition["duration"] == f"{minutes * 60}s"
        assert condition["evaluationInterval"] == "60s"  # the rule group's interval: 1m
        assert condition["ruleGroup"] == alerts.GROUP
        assert condition["alertRule"] == rule["alert"]
        assert condition["labels"] == rule["labels"]
        assert condition["disableMetricValidation"] is True  # series appear only after the first scrape
        assert policy.get("combiner") == "OR"
        assert policy.get("displayName") == f"{alerts.GROUP}/{rule['alert']}"  # the API's convention
        assert policy.get("severity") == monitoring.SEVERITY[rule["labels"]["severity"]]
        assert policy.get("documentation.content") == rule["annotations"]["summary"]


def test_alert_thresholds_from_config_reach_the_policies():
    p = plan(STACK, {"observability": {"alerts": {"ttftP95Seconds": 0.75, "queueMinutes": 7}}})
    ttft = _condition(p.one(POLICY, "monitoring-LlmTimeToFirstTokenSlow"))
    assert ttft["query"].endswith("> 0.75")
    assert _condition(p.one(POLICY, "monitoring-LlmQueueGrowing"))["duration"] == "420s"


def test_severities_are_cloud_monitoring_values(dev):
    # pulumi-gcp AlertPolicy.severity: CRITICAL, ERROR, WARNING
    assert {p.get("severity") for p in dev.of_type(POLICY)} <= {"CRITICAL", "ERROR", "WARNING"}
    assert dev.one(POLICY, "monitoring-LlmServerCrashLooping").get("severity") == "CRITICAL"


def test_no_emails_no_channels_and_policies_notify_nobody(dev):
    assert dev.of_type(CHANNEL) == []
    assert all(p.get("notificationChannels") == [] for p in dev.of_type(POLICY))


def test_each_email_is_a_channel_every_policy_notifies(with_emails):
    channels = with_emails.of_type(CHANNEL)
    assert sorted(c.get("labels.email_address") for c in channels) == sorted(EMAILS)
    assert {c.get("type") for c in channels} == {"email"}
    names = sorted(c.outputs["name"] for c in channels)
    assert all(re.fullmatch(rf"projects/{PROJECT}/notificationChannels/[0-9]+", n) for n in names)
    for policy in with_emails.of_type(POLICY):
        assert sorted(policy.get("notificationChannels")) == names


def test_channels_are_named_by_address_so_reordering_replaces_nothing(with_emails):
    reordered = plan(STACK, {"observability": {"alerts": {"emails": list(reversed(EMAILS))}}})
    assert sorted(c.name for c in reordered.of_type(CHANNEL)) == sorted(c.name for c in with_emails.of_type(CHANNEL))


def test_rules_are_evaluated_once_by_cloud_monitoring_not_also_in_the_cluster(dev):
    assert dev.of_type("kubernetes:monitoring.googleapis.com/v1:ClusterRules") == []
    assert dev.of_type("kubernetes:monitoring.googleapis.com/v1:Rules") == []
    assert len(dev.of_type("kubernetes:monitoring.googleapis.com/v1:PodMonitoring")) == 1


def test_monitoring_resources_wait_for_the_monitoring_api(dev):
    api = dev.one("gcp:projects/service:Service", "apis-enabled-monitoring")
    for r in [*dev.of_type(POLICY), dev.one(DASHBOARD)]:
        assert api.urn in r.dependencies, r.name
    logging_api = dev.one("gcp:projects/service:Service", "apis-enabled-logging")
    assert logging_api.urn in dev.one(BUCKET_CONFIG).dependencies


# --- dashboard --------------------------------------------------------------------------------------


def _board(p: Plan) -> dict:
    return json.loads(p.one(DASHBOARD).get("dashboardJson"))


def test_dashboard_has_the_panels_of_the_one_definition(dev):
    cfg = parse(STACK)
    board = _board(dev)
    tiles = board["mosaicLayout"]["tiles"]
    defs = panels.panels(cfg)
    assert [t["widget"]["title"] for t in tiles] == [p.title for p in defs]
    assert [t["widget"]["title"] for t in tiles] == [title for title, _, _ in dashboard.panels(cfg)]  # Grafana's too
    for tile, panel in zip(tiles, defs, strict=True):
        data_sets = tile["widget"]["xyChart"]["dataSets"]
        assert [d["timeSeriesQuery"]["prometheusQuery"] for d in data_sets] == [
            e for e, _ in panel.exprs(monitoring.RATE_WINDOW)
        ]
        assert {d["timeSeriesQuery"]["unitOverride"] for d in data_sets} == {monitoring.UNITS[panel.unit]}
    assert board["displayName"] == f"LLM serving: {cfg.model.served_name} ({STACK})"


def test_dashboard_covers_requests_latency_tokens_queue_kv_and_gpu(dev):
    queries = " ".join(
        d["timeSeriesQuery"]["prometheusQuery"]
        for t in _board(dev)["mosaicLayout"]["tiles"]
        for d in t["widget"]["xyChart"]["dataSets"]
    )
    served = parse(STACK).model.served_name
    for series in (*signals.VLLM, signals.GPU_UTIL, signals.GPU_MEMORY_USED, signals.GPU_MEMORY_FREE):
        assert series.name in queries, series.name
    assert f'model_name="{served}"' in queries
    for q in ("0.5", "0.95"):
        assert f"histogram_quantile({q}, sum by (le) (rate({signals.TTFT.name}" in queries
        assert f"histogram_quantile({q}, sum by (le) (rate({signals.LATENCY.name}" in queries


def test_dashboard_queries_name_only_real_series_and_no_grafana_variables(dev):
    known = {s.name for s in vars(signals).values() if isinstance(s, signals.Series)}
    for tile in _board(dev)["mosaicLayout"]["tiles"]:
        for data_set in tile["widget"]["xyChart"]["dataSets"]:
            query = data_set["timeSeriesQuery"]["prometheusQuery"]
            assert "$__" not in query  # Grafana's variables mean nothing to Cloud Monitoring
            names = set(re.findall(r"(vllm:[a-z0-9_:]+|DCGM_[A-Z0-9_]+|kube_[a-z0-9_]+)", query))
            assert names and names <= known, query
            assert "{{" not in data_set["legendTemplate"]


def test_legends_become_cloud_monitoring_templates():
    assert monitoring.legend("{{Hostname}}") == "${metric.labels.Hostname}"
    assert monitoring.legend("p95") == "p95"


def test_durations_convert_to_protobuf_seconds():
    assert [monitoring.seconds(d) for d in ("30s", "5m", "1h")] == ["30s", "300s", "3600s"]
    with pytest.raises(ValueError):
        monitoring.seconds("5d")


# --- logs -------------------------------------------------------------------------------------------


def test_default_log_bucket_keeps_logs_for_the_configured_days(dev):
    bucket = dev.one(BUCKET_CONFIG)
    assert bucket.get("bucketId") == "_Default"
    assert bucket.get("location") == "global"
    assert bucket.get("project") == PROJECT
    assert bucket.get("retentionDays") == parse(STACK).gcp.log_retention_days == 90


def test_log_retention_follows_config():
    p = plan(STACK, {"gcp": {"logRetentionDays": 400}})
    assert p.one(BUCKET_CONFIG).get("retentionDays") == 400


@pytest.mark.parametrize("days", [0, 3651])
def test_log_retention_outside_cloud_logging_fails_with_one_line(days):
    message = program_error(STACK, {"gcp": {"logRetentionDays": days}})
    assert "gcp.logRetentionDays" in message and str(days) in message
    assert ("3650" if days else "1") in message


def test_log_retention_at_the_limits_is_accepted():
    for days in (1, 3650):
        assert parse(STACK, {"gcp": {"logRetentionDays": days}}).gcp.log_retention_days == days


def test_workload_logs_and_storage_audit_logs_stay_on(dev):
    cluster = dev.one("gcp:container/cluster:Cluster")
    assert "WORKLOADS" in cluster.get("loggingConfig.enableComponents")
    audit = dev.one("gcp:projects/iAMAuditConfig:IAMAuditConfig")
    assert {c["logType"] for c in audit.get("auditLogConfigs")} == {"ADMIN_READ", "DATA_READ", "DATA_WRITE"}


# --- cost -------------------------------------------------------------------------------------------


def test_cost_notes_price_metrics_and_logs_with_their_source():
    cfg = parse(STACK, {"gcp": {"logRetentionDays": 120}})
    notes = footprint.footprint(cfg).notes
    metrics, logs = notes
    expected = footprint.VLLM_SERIES_PER_REPLICA * 240 * 730 / 1e6 * footprint.USD_PER_MILLION_SAMPLES
    assert f"${expected:.2f}/month per replica" in metrics
    assert "cloud.google.com/stackdriver/pricing" in metrics and "cloud.google.com/stackdriver/pricing" in logs
    assert "gcp.logRetentionDays 120 keeps them 90 days past the 30 included" in logs


def test_plan_shows_the_cost_notes(dev):
    notes = dev.sizing["cost"]["notes"]
    assert any(n.startswith("metrics (Managed Service for Prometheus") for n in notes)
    assert any(n.startswith("logs (Cloud Logging") for n in notes)


def test_config_error_for_retention_is_one_line():
    message = config_error(STACK, {"gcp": {"logRetentionDays": 4000}})
    assert message.startswith("llm-landing-zone:gcp.logRetentionDays = 4000")


# --- KEDA on a private cluster --------------------------------------------------------------------


def test_control_plane_reaches_kedas_metrics_server_and_webhooks_only(dev):
    rule = dev.one("gcp:compute/firewall:Firewall", "gke-control-plane-to-webhooks")
    assert rule.get("direction") == "INGRESS"
    assert rule.get("allows") == [{"protocol": "tcp", "ports": ["6443", "9443"]}]
    assert rule.get("sourceRanges") == ["10.0.0.2/32"]  # the PSC control plane's address (plan fake)
    nodes = dev.one("gcp:serviceaccount/account:Account", "nodes-sa").outputs["email"]
    assert rule.get("targetServiceAccounts") == [nodes]


def test_a_peering_control_plane_is_admitted_by_its_range():
    p = plan(STACK, {"gcp": {"masterIpv4CidrBlock": "172.16.0.16/28"}})
    rule = p.one("gcp:compute/firewall:Firewall", "gke-control-plane-to-webhooks")
    assert rule.get("sourceRanges") == ["172.16.0.16/28"]


KEDA_PRINCIPAL = (
    f"principal://iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/"
    f"{PROJECT}.svc.id.goog/subject/ns/keda/sa/keda-operator"
)


def test_kedas_operator_may_only_read_monitoring_as_its_own_principal(dev):
    binding = dev.one(PROJECT_IAM, "keda-identity-monitoring-viewer")
    assert binding.get("member") == KEDA_PRINCIPAL
    assert binding.get("role") == "roles/monitoring.viewer"
    assert binding.get("project") == PROJECT
    assert dev.one("gcp:container/cluster:Cluster").urn in binding.dependencies  # the pool exists
    assert [b for b in dev.of_type(PROJECT_IAM) if b.get("member") == KEDA_PRINCIPAL] == [binding]


def test_keda_is_installed_from_the_stacks_registry_after_the_system_pool(dev):
    release = dev.one("kubernetes:helm.sh/v3:Release", "keda")
    assert release.get("namespace") == "keda" and release.get("version") == KEDA_VERSION
    images = release.get("values.image")
    registry = f"us-central1-docker.pkg.dev/{PROJECT}/llz-gcp-dev-ghcr"
    assert {c: v["registry"] + "/" + v["repository"] for c, v in images.items()} == {
        "keda": f"{registry}/kedacore/keda",
        "metricsApiServer": f"{registry}/kedacore/keda-metrics-apiserver",
        "webhooks": f"{registry}/kedacore/keda-admission-webhooks",
    }
    for component, ref in KEDA_IMAGES.items():  # the pinned tag (and digest) rides along
        assert ref.endswith(":" + images[component]["tag"]) and images[component]["tag"].startswith(KEDA_VERSION)
    assert release.get("values.serviceAccount.operator.name") == "keda-operator"
    assert release.get("values.serviceAccount.operator.annotations") == {}  # direct federation: no GSA
    pool = dev.one("gcp:container/nodePool:NodePool", "gke-system")
    firewall = dev.one("gcp:compute/firewall:Firewall", "gke-control-plane-to-webhooks")
    assert pool.urn in release.dependencies and firewall.urn in release.dependencies


def test_platform_scales_through_keda_on_managed_prometheus():
    with built_platform(STACK) as (platform, e):
        metrics = platform.metrics
        assert (metrics.monitor.api_version, metrics.monitor.kind) == ("monitoring.googleapis.com/v1", "PodMonitoring")
        scaler = metrics.scaler
        assert e.resolve(scaler.server_address) == (
            f"https://monitoring.googleapis.com/v1/projects/{PROJECT}/location/global/prometheus"
        )
        assert dict(scaler.pod_identity) == {"provider": "gcp"}
        assert e.resolve(scaler.series_labels["cluster"]) == "llz-gcp-dev"
        ready = {r._name for r in scaler.ready}
        assert ready == {"keda", "keda-identity-monitoring-viewer"}


def test_the_scaled_object_queries_this_clusters_queue_in_managed_prometheus(dev):
    (scaled,) = dev.of_type("kubernetes:keda.sh/v1alpha1:ScaledObject")
    (trigger,) = scaled.get("spec.triggers")
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["serverAddress"].startswith("https://monitoring.googleapis.com/v1/projects/")
    assert 'cluster="llz-gcp-dev"' in trigger["metadata"]["query"]
    (auth,) = dev.of_type("kubernetes:keda.sh/v1alpha1:TriggerAuthentication")
    assert auth.get("spec.podIdentity") == {"provider": "gcp"}
    assert dev.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler") == []  # KEDA owns the HPA
