"""Cluster Autoscaler on EKS: what lets the GPU group grow from zero, with its own narrow role."""

from __future__ import annotations

import json

import pytest

from infra.plan.engine import Plan
from tests.harness import dev_plan, plan

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@pytest.fixture(scope="module")
def dev() -> Plan:
    return dev_plan("aws-dev")


def _autoscaler(p: Plan):
    return next(r for r in p.of_type(DEPLOYMENT) if r.get("metadata.name") == "cluster-autoscaler")


def test_deployment_discovers_this_clusters_groups_and_runs_on_system_nodes(dev):
    ca = _autoscaler(dev)
    assert ca.get("metadata.namespace") == "kube-system"
    pod = ca.get("spec.template.spec")
    assert pod["serviceAccountName"] == "cluster-autoscaler"
    system = dev.one("aws:eks/nodeGroup:NodeGroup", "eks-system")
    assert pod["nodeSelector"] == system.inputs["labels"] == {"llz.io/pool": "system"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    # the release matching 1.35 through the stack's ECR cache of registry.k8s.io (issue 17), by tag: the
    # cache does not fill on a first pull by digest (aws/containers-roadmap#2837), tags there are immutable
    cached = "123456789012.dkr.ecr.us-east-1.amazonaws.com/llz-aws-dev-k8s/autoscaling/cluster-autoscaler:v1.35.2"
    assert container["image"] == cached
    cmd = container["command"]
    assert "--cloud-provider=aws" in cmd
    assert (
        "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/llz-aws-dev"
        in cmd
    )
    assert "--skip-nodes-with-local-storage=false" in cmd  # else GPU nodes with an emptyDir never scale down
    assert {"name": "AWS_REGION", "value": "us-east-1"} in container["env"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/health-check"
    association = next(
        r
        for r in dev.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if r.inputs["namespace"] == "kube-system"
    )
    assert association.inputs["serviceAccount"] == "cluster-autoscaler"
    assert association.urn in ca.dependencies
    assert system.urn in ca.dependencies  # its pod needs a system node to become ready


def test_role_may_only_resize_this_clusters_groups(dev):
    role = dev.one("aws:iam/role:Role", "cluster-autoscaler-role")
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policy = json.loads(dev.one("aws:iam/rolePolicy:RolePolicy", "cluster-autoscaler-policy").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    resize = by_sid["ResizeOwnGroups"]
    assert set(resize["Action"]) == {
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    }
    assert resize["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/llz-aws-dev": "owned"}}
    for s in policy["Statement"]:
        assert all(a.split(":")[0] in ("autoscaling", "ec2", "eks") for a in s["Action"]), s
        assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in s["Action"]) or s is resize


def test_rbac_binds_the_upstream_roles_to_its_service_account(dev):
    binding = dev.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
    assert binding.get("subjects") == [
        {"kind": "ServiceAccount", "name": "cluster-autoscaler", "namespace": "kube-system"}
    ]
    assert binding.get("roleRef.name") == "cluster-autoscaler"
    rules = dev.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").get("rules")
    nodes = next(r for r in rules if r["resources"] == ["nodes"])
    assert set(nodes["verbs"]) == {"watch", "list", "get", "update"}
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in rules)


def test_can_be_turned_off_or_pointed_at_a_mirror():
    off = plan("aws-dev", {"aws": {"clusterAutoscaler": False}})
    assert not [r for r in off.of_type(DEPLOYMENT) if r.get("metadata.name") == "cluster-autoscaler"]
    assert not off.of_type("llz:aws:ClusterAutoscaler")
    mirror = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cluster-autoscaler:v1.35.1"
    mirrored = plan("aws-dev", {"aws": {"clusterAutoscalerImage": mirror}})
    assert _autoscaler(mirrored).get("spec.template.spec.containers.0.image") == mirror
