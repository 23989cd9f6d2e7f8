"""Container logs to CloudWatch Logs (issue 18 item 5): the `amazon-cloudwatch-observability` EKS add-on
(Fluent Bit for the logs, the CloudWatch agent for Container Insights), writing into log groups the
stack creates first, so they are KMS-encrypted and keep `aws.logRetentionDays` instead of
being created unencrypted and kept for ever.

The log group names are the add-on's (CloudWatch user guide, "Send logs to CloudWatch Logs" /
Container Insights: `/aws/containerinsights/<cluster>/application`, `/dataplane`, `/host`, and
`/performance` for Container Insights' own events). Its identity is a role with AWS's
`CloudWatchAgentServerPolicy`, bound to the add-on's `amazon-cloudwatch/cloudwatch-agent` service
account through the add-on's own Pod Identity association (add-on 3.1.0 and later) or, with
`aws.identity: irsa`, the add-on's service-account role. The agent's GPU metrics are turned off
(`accelerated_compute_metrics: false`): GPU metrics come from the stack's DCGM exporter into Managed
Prometheus (infra/aws/monitoring.py), and two exporters on one node would both claim port 9400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.aws.identity import workload_trust

ADDON = "amazon-cloudwatch-observability"
NAMESPACE, SERVICE_ACCOUNT = "amazon-cloudwatch", "cloudwatch-agent"
LOG_GROUPS = ("application", "dataplane", "host", "performance")
# The add-on's configuration schema (`aws eks describe-addon-configuration`): container logs on,
# Container Insights without the agent's own NVIDIA metrics.
ADDON_CONFIGURATION = {
    "containerLogs": {"enabled": True},
    "agent": {
        "config": {
            "logs": {
                "metrics_collected": {
                    "kubernetes": {"enhanced_container_insights": True, "accelerated_compute_metrics": False}
                }
            }
        }
    },
}


def log_group_names(cluster_name: str) -> list[str]:
    return [f"/aws/containerinsights/{cluster_name}/{group}" for group in LOG_GROUPS]


@dataclass(frozen=True)
class ContainerLogsArgs:
    cluster_name: str  # the log group names are built from it before the cluster exists
    cluster: pulumi.Input[str]  # the cluster's name as an output (the add-on waits for it)
    cluster_arn: pulumi.Input[str]
    partition: str
    identity: Literal["pod-identity", "irsa"]
    oidc_issuer: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str] | None
    pod_identity_agent: pulumi.Resource
    logs_key_arn: pulumi.Input[str]
    retention_days: int
    system_nodes: pulumi.Resource


class ContainerLogs(pulumi.ComponentResource):
    addon: aws.eks.Addon
    log_groups: list[aws.cloudwatch.LogGroup]

    def __init__(self, name: str, args: ContainerLogsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:ContainerLogs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.log_groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-{group}",
                name=group_name,
                retention_in_days=args.retention_days,
                kms_key_id=args.logs_key_arn,
                opts=child,
            )
            for group, group_name in zip(LOG_GROUPS, log_group_names(args.cluster_name), strict=True)
        ]
        trust = workload_trust(
            args.identity, args.cluster_arn, args.oidc_provider_arn, args.oidc_issuer, NAMESPACE, SERVICE_ACCOUNT
        )
        role = aws.iam.Role(
            f"{name}-agent",
            assume_role_policy=trust,
            description=f"llm-landing-zone: {NAMESPACE}/{SERVICE_ACCOUNT} writes container logs and Container Insights",
            opts=child,
        )
        policy = aws.iam.RolePolicyAttachment(
            f"{name}-agent-policy",
            role=role.name,
            policy_arn=f"arn:{args.partition}:iam::aws:policy/CloudWatchAgentServerPolicy",
            opts=child,
        )
        binding = (
            {"service_account_role_arn": role.arn}
            if args.identity == "irsa"
            else {"pod_identity_associations": [{"service_account": SERVICE_ACCOUNT, "role_arn": role.arn}]}
        )
        self.addon = aws.eks.Addon(
            f"{name}-addon",
            cluster_name=args.cluster,
            addon_name=ADDON,
            configuration_values=json.dumps(ADDON_CONFIGURATION),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*self.log_groups, policy, args.pod_identity_agent, args.system_nodes]
            ),
            **binding,
        )
        self.register_outputs({"logGroups": [g.name for g in self.log_groups]})
