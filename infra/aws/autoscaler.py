"""Cluster Autoscaler: what grows the GPU group from zero when a vLLM pod is pending (and back).

EKS, unlike GKE and AKS, has no built-in node-group autoscaler, so with `gpu.minNodes: 0` a
serving pod would stay Pending forever. This runs the upstream AWS example (auto-discovery by
the ASG tags EKS puts on managed node groups) as typed Kubernetes objects on the system nodes,
with its own Pod Identity role that may only resize/terminate this cluster's groups.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws.iam import pod_identity_trust

NAME = "cluster-autoscaler"
NAMESPACE = "kube-system"
METRICS_PORT = 8085  # metrics and /health-check
# Latest patch we know of per Kubernetes minor (CA's minor must match the cluster's); else .0.
_READ = ["watch", "list", "get"]
# The upstream ClusterRole (cloudprovider/aws/examples/cluster-autoscaler-autodiscover.yaml),
# plus read access to volumeattachments and DRA objects that newer releases watch.
CLUSTER_RULES = [
    {"api_groups": [""], "resources": ["events", "endpoints"], "verbs": ["create", "patch"]},
    {"api_groups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"api_groups": [""], "resources": ["pods/status"], "verbs": ["update"]},
    {"api_groups": [""], "resources": ["endpoints"], "resource_names": [NAME], "verbs": ["get", "update"]},
    {"api_groups": [""], "resources": ["nodes"], "verbs": [*_READ, "update"]},
    {
        "api_groups": [""],
        "resources": [
            "namespaces",
            "pods",
            "services",
            "replicationcontrollers",
            "persistentvolumeclaims",
            "persistentvolumes",
        ],
        "verbs": _READ,
    },
    {"api_groups": ["extensions"], "resources": ["replicasets", "daemonsets"], "verbs": _READ},
    {"api_groups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["watch", "list"]},
    {"api_groups": ["apps"], "resources": ["statefulsets", "replicasets", "daemonsets"], "verbs": _READ},
    {
        "api_groups": ["storage.k8s.io"],
        "resources": ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"],
        "verbs": _READ,
    },
    {
        "api_groups": ["resource.k8s.io"],
        "resources": ["resourceclaims", "resourceslices", "deviceclasses"],
        "verbs": _READ,
    },
    {"api_groups": ["batch", "extensions"], "resources": ["jobs"], "verbs": [*_READ, "patch"]},
    {"api_groups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    {
        "api_groups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "resource_names": [NAME],
        "verbs": ["get", "update"],
    },
]
NAMESPACE_RULES = [
    {"api_groups": [""], "resources": ["configmaps"], "verbs": ["create", "list", "watch"]},
    {
        "api_groups": [""],
        "resources": ["configmaps"],
        "resource_names": ["cluster-autoscaler-status", "cluster-autoscaler-priority-expander"],
        "verbs": ["delete", "get", "update", "watch"],
    },
]


def autoscaler_policy(cluster_name: str) -> str:
    """Describe calls have no resource-level permissions; resizing is limited to this cluster's ASGs."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Discover",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations",
                        "autoscaling:DescribeScalingActivities",
                        "autoscaling:DescribeTags",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:GetInstanceTypesFromInstanceRequirements",
                        "eks:DescribeNodegroup",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "ResizeOwnGroups",
                    "Effect": "Allow",
                    "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
                    },
                },
            ],
        }
    )


def command(cluster_name: str) -> list[str]:
    return [
        "./cluster-autoscaler",
        "--cloud-provider=aws",
        f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{cluster_name}",
        "--balance-similar-node-groups",
        "--expander=least-waste",
        "--skip-nodes-with-system-pods=false",
        # vLLM pods keep weights in an emptyDir; without this an idle GPU node is never removed.
        "--skip-nodes-with-local-storage=false",
        "--stderrthreshold=info",
        "--v=2",
    ]


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    cluster_name: str
    cluster: pulumi.Input[str]  # the cluster's name output, so the association waits for it
    cluster_arn: pulumi.Input[str]  # the trust admits only this cluster's session tag
    region: str
    image: pulumi.Input[str]
    node_selector: dict[str, str]  # the system group
    system_nodes: pulumi.Resource  # the Deployment's pod needs a node to become ready
    pod_identity_agent: pulumi.Resource


class ClusterAutoscaler(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:ClusterAutoscaler", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "llm-landing-zone"}

        trust = pulumi.Output.from_input(args.cluster_arn).apply(lambda arn: pod_identity_trust(arn, NAMESPACE, NAME))
        role = aws.iam.Role(f"{name}-role", assume_role_policy=trust, opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-policy", role=role.id, policy=autoscaler_policy(args.cluster_name), opts=child
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-association",
            cluster_name=args.cluster,
            namespace=NAMESPACE,
            service_account=NAME,
            role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.pod_identity_agent, policy]),
        )

        meta = {"name": NAME, "namespace": NAMESPACE, "labels": labels}
        account = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta, opts=child)
        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}-cluster-role", metadata={"name": NAME, "labels": labels}, rules=CLUSTER_RULES, opts=child
        )
        subjects = [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-cluster-role",
            metadata={"name": NAME, "labels": labels},
            role_ref={
                "api_group": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_role.metadata.name,
            },
            subjects=subjects,
            opts=child,
        )
        ns_role = k8s.rbac.v1.Role(f"{name}-role", metadata=meta, rules=NAMESPACE_RULES, opts=child)
        k8s.rbac.v1.RoleBinding(
            f"{name}-role",
            metadata=meta,
            role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "Role", "name": ns_role.metadata.name},
            subjects=subjects,
            opts=child,
        )
        health_probe = {"http_get": {"path": "/health-check", "port": METRICS_PORT}, "period_seconds": 10}
        self.deployment = k8s.apps.v1.Deployment(
            name,
            metadata=meta,
            spec={
                "replicas": 1,
                "selector": {"match_labels": {"app.kubernetes.io/name": NAME}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "service_account_name": account.metadata.name,
                        "priority_class_name": "system-cluster-critical",
                        "node_selector": args.node_selector,
                        "security_context": {
                            "run_as_non_root": True,
                            "run_as_user": 65534,
                            "seccomp_profile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": NAME,
                                "image": args.image,
                                "command": command(args.cluster_name),
                                # IMDS is unreachable from pods (hop limit 1): region from env.
                                "env": [{"name": "AWS_REGION", "value": args.region}],
                                "ports": [{"name": "metrics", "container_port": METRICS_PORT}],
                                "liveness_probe": health_probe,
                                "readiness_probe": health_probe,
                                "resources": {
                                    "requests": {"cpu": "100m", "memory": "600Mi"},
                                    "limits": {"memory": "600Mi"},
                                },
                                "security_context": {
                                    "allow_privilege_escalation": False,
                                    "read_only_root_filesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                            }
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[association, args.system_nodes]),
        )
        self.register_outputs({"deployment": self.deployment.metadata.name})
