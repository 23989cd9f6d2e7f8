"""What `infra.aws.platform.build` hands the serving component: the Platform, with its outputs resolved."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import built_platform


def _build(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run build() for aws-dev under the mocks; return the Platform and its resolved outputs."""
    with built_platform("aws-dev", overrides) as (platform, engine):
        resolve = engine.resolve
        return {
            "platform": platform,
            "kubeconfig": resolve(platform.kubeconfig),
            "kubeconfig_secret": engine.is_secret(platform.kubeconfig),
            "weights_uri": resolve(platform.weights_uri),
            "exports": {k: resolve(v) for k, v in platform.exports.items()},
            "annotations": {k: resolve(v) for k, v in platform.identity.service_account_annotations.items()},
            "ready": [r._name for r in platform.ready],
            "recorded": {r.urn: r for r in engine.recorded},
        }


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return _build()


def _cluster(recorded):
    return next(r for r in recorded.values() if r.type == "aws:eks/cluster:Cluster")


def test_kubeconfig_is_a_secret_built_from_the_cluster_outputs(built):
    assert built["kubeconfig_secret"] is True
    kubeconfig = json.loads(built["kubeconfig"])
    cluster = _cluster(built["recorded"])
    entry = kubeconfig["clusters"][0]["cluster"]
    assert entry["server"] == cluster.outputs["endpoint"]
    assert entry["certificate-authority-data"] == cluster.outputs["certificateAuthority"]["data"]
    user = kubeconfig["users"][0]["user"]["exec"]
    assert user["command"] == "aws"
    assert user["args"][:4] == ["eks", "get-token", "--cluster-name", "llz-aws-dev"]
    assert "--region" in user["args"] and "us-east-1" in user["args"]


def test_weights_uri_and_exports(built):
    bucket = next(
        r for r in built["recorded"].values() if r.type == "aws:s3/bucket:Bucket" and r.name == "weights"
    ).outputs["bucket"]
    assert built["weights_uri"] == f"s3://{bucket}/models/deepseek-r1-distill-llama-8b"
    exports = built["exports"]
    assert exports["clusterName"] == "llz-aws-dev"
    assert exports["bucketName"] == bucket
    assert exports["region"] == "us-east-1"
    assert exports["weightsRoleArn"].startswith("arn:aws:iam::123456789012:role/")
    assert exports["vpcId"].startswith("vpc-")


def test_identity_scheduling_and_lb(built):
    platform = built["platform"]
    assert platform.identity.namespace == "llm" and platform.identity.service_account == "vllm"
    assert platform.identity.env == {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    assert built["annotations"] == {}, "Pod Identity needs no service-account annotation"
    assert platform.gpu.node_selector == {"llz.io/pool": "gpu"}
    assert [t.as_k8s() for t in platform.gpu.tolerations] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert platform.internal_lb_annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] == "true"
    assert platform.internal_lb_annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"


def test_ready_is_gpu_nodes_autoscaler_device_plugin_and_identity_binding(built):
    assert built["ready"] == ["gpu-nodes", "cluster-autoscaler", "gpu-device-plugin", "serving-identity-association"]


def test_egress_is_s3_prefix_list_and_the_pod_identity_agent(built):
    egress = built["platform"].egress
    agent = [e for e in egress if e.cidr == "169.254.170.23/32"]
    assert len(agent) == 1 and list(agent[0].ports) == [80]
    s3 = [e for e in egress if e.cidr != "169.254.170.23/32"]
    assert s3 and all(list(e.ports) == [443] and "S3" in e.why for e in s3)
    assert "52.216.0.0/15" in {e.cidr for e in s3}  # from the region's S3 prefix list
    assert "0.0.0.0/0" not in {e.cidr for e in egress}


def test_irsa_platform_annotates_the_service_account_and_allows_sts():
    irsa = _build({"aws": {"identity": "irsa"}})
    role = next(
        r for r in irsa["recorded"].values() if r.type == "aws:iam/role:Role" and r.name == "serving-identity-role"
    )
    assert irsa["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}
    assert irsa["exports"]["identityMode"] == "irsa"
    assert irsa["platform"].identity.env == {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_STS_REGIONAL_ENDPOINTS": "regional",
    }
    cidrs = {(e.cidr, tuple(e.ports)) for e in irsa["platform"].egress}
    # the STS endpoint's fixed address in each private subnet (issue 13 item 3), not the whole VPC
    assert {("10.40.31.244/32", (443,)), ("10.40.63.244/32", (443,))} <= cidrs
    assert ("10.40.0.0/16", (443,)) not in cidrs and not any(c == "169.254.170.23/32" for c, _ in cidrs)
