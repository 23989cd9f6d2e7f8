"""Alerts, dashboard and log retention on Google Cloud's managed services.

`Monitoring` registers, from the one definition in infra/observability/:
  - one Cloud Monitoring email `NotificationChannel` per `observability.alerts.emails` address;
  - one `AlertPolicy` per alert rule (infra.observability.alerts.rules), each a PromQL condition
    that Cloud Monitoring evaluates over Managed Service for Prometheus data and that notifies
    those channels;
  - one Cloud Monitoring `Dashboard` with the panels of infra/observability/panels.py as PromQL
    charts.
`log_retention` sets the retention of the project's `_Default` log bucket (container, system and
Data Access audit logs land there).

Why Cloud Monitoring alerting and not GKE's managed rule evaluator (ClusterRules): the managed
evaluator sends to a managed Alertmanager that has no receiver until someone puts an Alertmanager
config with an SMTP server into a Secret; an alerting policy delivers email itself, and shows
incidents in the console. The rules are evaluated once (here), never also in the cluster.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.observability import alerts
from infra.observability.panels import Panel

# Prometheus rule severity -> AlertPolicy.severity ("Possible values are: CRITICAL, ERROR,
# WARNING": pulumi-gcp monitoring.AlertPolicy docstring). `info` (the idle-GPU cost alert) has no
# lower level in Cloud Monitoring than WARNING.
SEVERITY = {"critical": "CRITICAL", "error": "ERROR", "warning": "WARNING", "info": "WARNING"}
# The rule group's `interval` ("1m"): AlertPolicyConditionConditionPrometheusQueryLanguage.evaluation_interval
# "should be taken from the enclosing rule group" and must be a multiple of 30 s (docstring).
RULE_GROUP_INTERVAL = "1m"
# Rate window of the dashboard's PromQL (Cloud Monitoring has no `$__rate_interval`): 5 minutes
# spans 20 scrapes at the PodMonitoring's 15 s.
RATE_WINDOW = "5m"
# Grafana unit -> Cloud Monitoring `unitOverride` (MetricDescriptor.unit, UCUM: "1" dimensionless,
# "%" percent, "10^2.%" a 0..1 ratio displayed as a percentage: cloud.google.com/monitoring/api/
# ref_v3/rest/v3/projects.metricDescriptors#MetricDescriptor.FIELDS.unit).
UNITS = {"reqps": "1/s", "s": "s", "short": "1", "percent": "%", "percentunit": "10^2.%"}
COLUMNS = 48  # mosaicLayout grid width; two charts a row
_DURATION = re.compile(r"^([0-9]+)([smh])$")
_LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def seconds(duration: str) -> str:
    """A Prometheus rule duration (`10m`) as a protobuf Duration (`600s`), the format of the
    condition's `duration` and `evaluation_interval`."""
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"not a Prometheus duration this module converts: {duration!r}")
    return f"{int(match[1]) * {'s': 1, 'm': 60, 'h': 3600}[match[2]]}s"


def legend(grafana: str) -> str:
    """A Grafana legend (`{{pod}}`) as a Cloud Monitoring legendTemplate (`${metric.labels.pod}`:
    Dashboard DataSet.legendTemplate interpolates labels as ${...})."""
    return _LEGEND_LABEL.sub(lambda m: "${metric.labels." + m[1] + "}", grafana)


def dashboard_json(title: str, panels: Sequence[Panel]) -> dict[str, Any]:
    """The Cloud Monitoring dashboard (projects.dashboards, v1): one line chart per panel, one PromQL
    data set per query (xyChart.dataSets[].timeSeriesQuery.prometheusQuery)."""
    width, height = COLUMNS // 2, 16
    tiles = []
    for i, panel in enumerate(panels):
        data_sets = [
            {
                "timeSeriesQuery": {"prometheusQuery": expr, "unitOverride": UNITS[panel.unit]},
                "plotType": "LINE",
                "legendTemplate": legend(name),
                "targetAxis": "Y1",
            }
            for expr, name in panel.exprs(RATE_WINDOW)
        ]
        tiles.append(
            {
                "xPos": (i % 2) * width,
                "yPos": (i // 2) * height,
                "width": width,
                "height": height,
                "widget": {
                    "title": panel.title,
                    "xyChart": {
                        "dataSets": data_sets,
                        "chartOptions": {"mode": "COLOR"},
                        "yAxis": {"scale": "LINEAR"},
                    },
                },
            }
        )
    return {"displayName": title, "mosaicLayout": {"columns": COLUMNS, "tiles": tiles}}


def _condition(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The rule as a PromQL condition (pulumi-gcp AlertPolicyConditionConditionPrometheusQueryLanguage;
    cloud.google.com/monitoring/promql/create-promql-alerts: `query` is "equivalent to the expr
    field from a standard Prometheus alerting rule", and a policy with a PromQL condition has only
    that one condition)."""
    return {
        "query": rule["expr"],
        "duration": seconds(rule["for"]),
        "evaluation_interval": seconds(RULE_GROUP_INTERVAL),
        "labels": dict(rule["labels"]),
        "rule_group": alerts.GROUP,
        "alert_rule": rule["alert"],
        # The vLLM, DCGM and pod-state series exist only once a pod or GPU node has been scraped;
        # without this, creating the policy on a fresh stack fails metric validation ("allows
        # alerting policies to be defined on metrics that do not yet exist", docstring).
        "disable_metric_validation": True,
    }


@dataclass(frozen=True)
class MonitoringArgs:
    project: str
    stack: str
    rules: Sequence[Mapping[str, Any]]  # infra.observability.alerts.rules(cfg, stack)
    emails: Sequence[str]  # observability.alerts.emails
    dashboard_title: str
    panels: Sequence[Panel]  # infra.observability.panels.panels(cfg)
    labels: Mapping[str, str]  # user labels (lower-case values) on policies and channels


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


class Monitoring(pulumi.ComponentResource):
    channels: list[gcp.monitoring.NotificationChannel]
    policies: dict[str, gcp.monitoring.AlertPolicy]
    dashboard: gcp.monitoring.Dashboard

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Named by the address, not its position: reordering emails replaces nothing. No verification
        # call is made: NotificationChannel.verificationStatus stays unset for "a type that does not
        # require verification" (pulumi-gcp docstring); that email is such a type is to be checked on a
        # live project (docs/gcp.md, "Not verifiable here").
        self.channels = [
            gcp.monitoring.NotificationChannel(
                f"{name}-email-{_short(email)}",
                project=args.project,
                type="email",
                display_name=f"llm-landing-zone {args.stack}: {email}",
                labels={"email_address": email},
                user_labels=dict(args.labels),
                opts=child,
            )
            for email in args.emails
        ]
        if not self.channels:
            pulumi.log.info(
                f"{name}: observability.alerts.emails is empty: alert policies open incidents in Cloud "
                "Monitoring but notify nobody",
                self,
            )
        self.policies = {}
        for rule in args.rules:
            alert = rule["alert"]
            self.policies[alert] = gcp.monitoring.AlertPolicy(
                f"{name}-{alert}",
                project=args.project,
                # The API's convention for a PromQL condition's policy: "{rule group name}/{alert name}"
                # (AlertPolicy.displayName, projects.alertPolicies reference).
                display_name=f"{alerts.GROUP}/{alert}",
                combiner="OR",  # one condition per policy: the rule
                conditions=[{"display_name": alert, "condition_prometheus_query_language": _condition(rule)}],
                severity=SEVERITY[rule["labels"]["severity"]],
                documentation={"content": rule["annotations"]["summary"], "mime_type": "text/markdown"},
                notification_channels=[c.name for c in self.channels],
                user_labels=dict(args.labels),
                opts=child,
            )
        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=args.project,
            dashboard_json=json.dumps(dashboard_json(args.dashboard_title, args.panels)),
            opts=child,
        )
        self.register_outputs({"policies": sorted(self.policies), "dashboard": self.dashboard.id})


def log_retention(project: str, days: int, opts: pulumi.ResourceOptions) -> gcp.logging.ProjectBucketConfig:
    """The project's `_Default` log bucket keeps logs `days` days (gcp.logRetentionDays):
    container logs (loggingConfig WORKLOADS), system and control-plane logs, Data Access audit logs.
    The config keeps `days` in 1..3650 (infra.gcp.settings). The bucket always exists; this resource adopts
    it, and deleting the resource leaves the bucket as it is (pulumi-gcp ProjectBucketConfig note).
    `_Required` (Admin Activity audit logs, 400 days) cannot be changed."""
    return gcp.logging.ProjectBucketConfig(
        "log-retention",
        project=project,
        location="global",
        bucket_id="_Default",
        retention_days=days,
        opts=opts,
    )
