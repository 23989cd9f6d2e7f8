"""Metrics, alerts and the autoscaler's query identity on AWS (issue 18): Amazon Managed Service for
Prometheus fed by its agentless managed collector.

* **Workspace**: encrypted with a stack key whose policy lets AMP use it only through the service
  (`kms:ViaService aps.<region>.amazonaws.com`); its rule-evaluation and alert-manager logs go to a
  KMS-encrypted CloudWatch log group kept `aws.logRetentionDays` (AMP user guide,
  "AMP-logging-configuration"). It keeps samples 150 days (AMP's default).
* **Collector**: `aws.amp.Scraper` with the EKS cluster as its source. The cluster's authentication
  mode is `API`, so AMP creates the scraper's access entry itself (AMP user guide, AMP-collector-how-to:
  "Configure Amazon EKS for scraper access with access entries"); no aws-auth mapping, no ClusterRole
  of ours. Its network interfaces live in two subnets of their own (`Network`, `settings.collector_subnets`)
  with the cluster security group, so the serving NetworkPolicy admits exactly those two CIDRs
  (`Platform.metrics.collector_cidrs`) and no other pod of the VPC. It scrapes every 30 s (the
  collector's minimum): the vLLM pods of the serving namespace (port `http`, `/metrics`), NVIDIA's DCGM
  exporter (a DaemonSet here: the EKS GPU AMIs run none) and kube-state-metrics (the EKS community
  add-on), each series labelled `namespace`, `pod`, `container` (kube-state-metrics keeps its own).
* **Rules and notifications**: one rule groups namespace holding `infra.observability.alerts.rule_groups`
  as it is; the alert manager routes every alert to an SNS topic (KMS-encrypted) whose policy lets only
  this workspace publish (`aws:SourceArn` + `aws:SourceAccount`, AMP user guide,
  "AMP-alertmanager-receiver-AMPpermission"); `observability.alerts.emails` subscribe by email (each
  recipient confirms the subscription from the mail SNS sends).
* **Autoscaler identity**: KEDA's operator (namespace `keda`, service account `keda-operator`) signs its
  Prometheus queries with SigV4 as a role that may only query this workspace (KEDA docs, Prometheus
  scaler, "Amazon Managed Service for Prometheus": `podIdentity.provider: aws`, trigger metadata
  `awsRegion` and `identityOwner: operator`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import yaml

from infra import kube
from infra.aws.audit import Account
from infra.aws.iam import key_policy, key_use
from infra.aws.identity import bind_service_account, workload_trust
from infra.conventions import DCGM_LABELS, DCGM_NAMESPACE, DCGM_PORT
from infra.platform import Toleration

SCRAPE_INTERVAL = "30s"  # the managed collector's minimum (AMP user guide, "Scraper configuration")
# The EKS community add-on (EKS user guide, community-addons: add-on and namespace `kube-state-metrics`).
KSM_ADDON = KSM_NAMESPACE = "kube-state-metrics"
KSM_PORT = 8080
# What KEDA's Prometheus scaler calls on AMP (the Prometheus-compatible query APIs).
QUERY_ACTIONS = ["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"]
# AMP use of the workspace key (AMP user guide, "Encryption at rest"): data keys and the grants it
# keeps on the key for the workspace's lifetime.
WORKSPACE_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
# AMP publishing to the encrypted topic (AMP user guide, AMP-alertmanager-receiver-AMPpermission, SSE).
TOPIC_KEY_ACTIONS = ["kms:GenerateDataKey*", "kms:Decrypt"]


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors/aliases: the collector's configuration as a reader (and AMP) sees it."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _keep(label: str, regex: str) -> dict[str, Any]:
    return {"source_labels": [label], "action": "keep", "regex": regex}


def _copy(label: str, target: str) -> dict[str, Any]:
    return {"source_labels": [label], "target_label": target, "action": "replace"}


_POD_LABELS = [
    _copy("__meta_kubernetes_namespace", "namespace"),
    _copy("__meta_kubernetes_pod_name", "pod"),
    _copy("__meta_kubernetes_pod_container_name", "container"),
    _copy("__meta_kubernetes_pod_node_name", "node"),
]


def _pod_label(key: str) -> str:
    """Prometheus's meta label of a pod label key (non-alphanumerics become `_`)."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in key)


def scrape_config(namespace: str, selector: Mapping[str, str], port_name: str) -> str:
    """The collector's Prometheus configuration: the serving pods, the DCGM exporter, kube-state-metrics."""
    serving = [_keep(_pod_label(k), v) for k, v in sorted(selector.items())]
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": "vllm",
                "metrics_path": "/metrics",
                "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
                "relabel_configs": [
                    *serving,
                    _keep("__meta_kubernetes_pod_container_port_name", port_name),
                    *_POD_LABELS,
                ],
            },
            {
                # GPU series carry the pod/namespace/container the GPU is allocated to (the exporter's
                # Kubernetes mode): those win over the exporter pod's own; `node` is the GPU's node.
                "job_name": "dcgm-exporter",
                "honor_labels": True,
                "metrics_path": "/metrics",
                "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [DCGM_NAMESPACE]}}],
                "relabel_configs": [
                    *[_keep(_pod_label(k), v) for k, v in sorted(DCGM_LABELS.items())],
                    _keep("__meta_kubernetes_pod_container_port_number", str(DCGM_PORT)),
                    _copy("__meta_kubernetes_pod_node_name", "node"),
                ],
            },
            {
                # The series describe other pods: their namespace/pod/container labels win.
                "job_name": "kube-state-metrics",
                "honor_labels": True,
                "metrics_path": "/metrics",
                "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [KSM_NAMESPACE]}}],
                "relabel_configs": [_keep("__meta_kubernetes_pod_container_port_number", str(KSM_PORT))],
            },
        ],
    }
    return yaml.dump(config, Dumper=_PlainDumper, sort_keys=False)


def alert_manager_definition(topic_arn: str, region: str) -> str:
    """AMP's alert manager file: every alert to the SNS topic, SigV4 in this region (required by AMP,
    AMP user guide, AMP-alertmanager-receiver-config), grouped by alert and stack."""
    config = {
        "route": {"receiver": "sns", "group_by": ["alertname", "stack"], "repeat_interval": "4h"},
        "receivers": [
            {
                "name": "sns",
                "sns_configs": [
                    {
                        "topic_arn": topic_arn,
                        "sigv4": {"region": region},
                        "subject": "[{{ .Status }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.stack }})",
                        "message": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
                    }
                ],
            }
        ],
    }
    return yaml.safe_dump({"alertmanager_config": yaml.safe_dump(config, sort_keys=False)}, sort_keys=False)


def topic_policy(topic_arn: str, workspace_arn: str, account_id: str) -> str:
    """Only this workspace's alert manager may publish (confused-deputy guard), and only over TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AmpAlertManagerPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "aps.amazonaws.com"},
                    "Action": ["sns:Publish", "sns:GetTopicAttributes"],
                    "Resource": topic_arn,
                    "Condition": {
                        "ArnEquals": {"aws:SourceArn": workspace_arn},
                        "StringEquals": {"aws:SourceAccount": account_id},
                    },
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def query_policy(workspace_arn: str) -> str:
    """KEDA's rights: the Prometheus query APIs on this workspace, nothing else."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "QueryWorkspace", "Effect": "Allow", "Action": QUERY_ACTIONS, "Resource": workspace_arn}
            ],
        }
    )


def topic_arn(account: Account, stack: str) -> str:
    return f"arn:{account.partition}:sns:{account.region}:{account.account_id}:{topic_name(stack)}"


def topic_name(stack: str) -> str:
    return f"llz-{stack}-alerts"


def monitoring_key_policy(admin_arns: Sequence[str], account: Account, stack: str) -> str:
    """The workspace and topic key: administered by the deployer and admins; used by AMP only through the
    service (the deployer creates the workspace, so AMP acts with its rights), and by AMP's alert
    manager to publish to the encrypted topic: only for this topic (SNS's encryption context names it,
    SNS developer guide, sns-key-management) and this account."""
    aps = f"aps.{account.region}.amazonaws.com"
    return key_policy(
        list(admin_arns),
        [
            key_use(
                "AmpWorkspaceThroughService",
                {"AWS": sorted(set(admin_arns))},
                WORKSPACE_KEY_ACTIONS,
                {"StringEquals": {"kms:ViaService": aps, "kms:CallerAccount": account.account_id}},
            ),
            key_use(
                "AmpAlertManagerTopic",
                {"Service": "aps.amazonaws.com"},
                TOPIC_KEY_ACTIONS,
                {
                    "StringEquals": {
                        "aws:SourceAccount": account.account_id,
                        "kms:EncryptionContext:aws:sns:topicArn": topic_arn(account, stack),
                    }
                },
            ),
        ],
    )


@dataclass(frozen=True)
class MonitoringArgs:
    account: Account
    stack: str
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str] | None  # IRSA: the cluster's provider
    identity: Literal["pod-identity", "irsa"]
    pod_identity_agent: pulumi.Resource
    collector_subnet_ids: Sequence[pulumi.Input[str]]  # the collector's own subnets (infra/aws/network.py)
    collector_cidrs: Sequence[str]  # their CIDRs: the serving NetworkPolicy's collector peer
    key_admin_arns: Sequence[str]
    logs_key_arn: pulumi.Input[str]
    log_retention_days: int
    namespace: str  # the serving namespace
    selector: Mapping[str, str]  # the serving pods' labels
    port_name: str  # the serving container's metrics port
    rules_yaml: str  # infra.observability.alerts.rule_groups, as YAML
    emails: Sequence[str]
    keda_namespace: str
    keda_service_account: str
    gpu_node_selector: Mapping[str, str]
    gpu_tolerations: Sequence[Toleration]
    dcgm_image: pulumi.Input[str]
    system_nodes: pulumi.Resource  # kube-state-metrics' pods need a node


class Monitoring(pulumi.ComponentResource):
    workspace: aws.amp.Workspace
    query_endpoint: pulumi.Output[str]  # what KEDA's serverAddress is (no trailing slash)
    topic: aws.sns.Topic
    keda_role_arn: pulumi.Output[str]
    keda_binding: pulumi.Resource
    keda_annotations: dict[str, pulumi.Input[str]]
    collector_cidrs: list[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = args.account

        key = aws.kms.Key(
            f"{name}-key",
            description="llm-landing-zone: Amazon Managed Prometheus workspace and alert topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=monitoring_key_policy(args.key_admin_arns, account, args.stack),
            opts=child,
        )
        # AMP writes rule-evaluation and alert-manager errors here; created first, encrypted, retained.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-amp-logs",
            name=f"/aws/vendedlogs/prometheus/llz-{args.stack}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        self.workspace = aws.amp.Workspace(
            f"{name}-workspace",
            alias=f"llz-{args.stack}",
            kms_key_arn=key.arn,
            logging_configuration={"log_group_arn": log_group.arn.apply(lambda arn: f"{arn}:*")},
            # The collector tags its destination workspace; declaring the tag keeps `up` from removing it
            # (pulumi_aws amp.Scraper docs, "Ignoring changes to Prometheus Workspace destination").
            tags={"AMPAgentlessScraper": ""},
            opts=child,
        )
        self.query_endpoint = self.workspace.prometheus_endpoint.apply(lambda url: url.rstrip("/"))

        self.collector_cidrs = list(args.collector_cidrs)
        # The DCGM exporter on every GPU node (the EKS GPU AMIs ship the driver, not the exporter).
        kube.dcgm_exporter(
            f"{name}-dcgm-exporter", args.gpu_node_selector, args.gpu_tolerations, args.dcgm_image, child
        )
        aws.eks.Addon(
            f"{name}-{KSM_ADDON}",
            cluster_name=args.cluster_name,
            addon_name=KSM_ADDON,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.system_nodes]),
        )
        scraper = aws.amp.Scraper(
            f"{name}-collector",
            alias=f"llz-{args.stack}",
            source={
                "eks": {
                    "cluster_arn": args.cluster_arn,
                    "subnet_ids": list(args.collector_subnet_ids),
                    "security_group_ids": [args.cluster_security_group_id],
                }
            },
            destination={"amp": {"workspace_arn": self.workspace.arn}},
            scrape_configuration=scrape_config(args.namespace, args.selector, args.port_name),
            opts=child,
        )
        aws.amp.ScraperLoggingConfiguration(
            f"{name}-collector-logs",
            scraper_id=scraper.id,
            logging_destination={"cloudwatch_logs": {"log_group_arn": log_group.arn.apply(lambda a: f"{a}:*")}},
            opts=child,
        )

        aws.amp.RuleGroupNamespace(
            f"{name}-rules",
            name="llz-serving",
            workspace_id=self.workspace.id,
            data=args.rules_yaml,
            opts=child,
        )
        self.topic = aws.sns.Topic(f"{name}-alerts", name=topic_name(args.stack), kms_master_key_id=key.arn, opts=child)
        topic_access = aws.sns.TopicPolicy(
            f"{name}-alerts-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(self.topic.arn, self.workspace.arn).apply(
                lambda v: topic_policy(v[0], v[1], account.account_id)
            ),
            opts=child,
        )
        for i, email in enumerate(args.emails):
            aws.sns.TopicSubscription(
                f"{name}-alerts-email-{i}", topic=self.topic.arn, protocol="email", endpoint=email, opts=child
            )
        aws.amp.AlertManagerDefinition(
            f"{name}-alertmanager",
            workspace_id=self.workspace.id,
            definition=self.topic.arn.apply(lambda arn: alert_manager_definition(arn, account.region)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[topic_access]),
        )

        self._keda_identity(name, args)
        self.register_outputs(
            {"workspaceArn": self.workspace.arn, "queryEndpoint": self.query_endpoint, "alertsTopicArn": self.topic.arn}
        )

    def _keda_identity(self, name: str, args: MonitoringArgs) -> None:
        """The KEDA operator's role: query this workspace only, bound to keda/keda-operator."""
        child = pulumi.ResourceOptions(parent=self)
        ns, sa = args.keda_namespace, args.keda_service_account
        trust = workload_trust(args.identity, args.cluster_arn, args.oidc_provider_arn, args.oidc_issuer, ns, sa)
        role = aws.iam.Role(
            f"{name}-keda",
            assume_role_policy=trust,
            description=f"llm-landing-zone: {ns}/{sa} queries the stack's Managed Prometheus workspace",
            opts=child,
        )
        attached = aws.iam.RolePolicy(
            f"{name}-keda-query", role=role.id, policy=self.workspace.arn.apply(query_policy), opts=child
        )
        self.keda_role_arn = role.arn
        self.keda_binding, self.keda_annotations = bind_service_account(
            f"{name}-keda-association",
            args.identity,
            args.cluster_name,
            ns,
            sa,
            role.arn,
            attached,
            args.pod_identity_agent,
            self,
        )
