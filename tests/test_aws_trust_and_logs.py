"""Trust, keys and audit logs on AWS (issue 13 items 4 and 5), on the recorded inputs of the shipped stacks."""

from __future__ import annotations

import json

import pytest

from tests.harness import config_error, dev_plan, plan

ROLE = "aws:iam/role:Role"
KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ACCOUNT = "123456789012"


def doc(resource, key: str = "policy") -> dict:
    return json.loads(resource.inputs[key])


def trust(p, name: str) -> dict:
    (statement,) = doc(p.one(ROLE, name), "assumeRolePolicy")["Statement"]
    return statement


# --- item 4: trust ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "namespace", "account"),
    [
        ("serving-identity-role", "llm", "vllm"),
        ("cluster-autoscaler-role", "kube-system", "cluster-autoscaler"),
        ("weights-stager-role", "llm", "vllm-stager"),
    ],
)
def test_pod_identity_roles_trust_one_service_account_of_this_cluster(role, namespace, account):
    p = dev_plan("aws-dev")
    statement = trust(p, role)
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(statement["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-arn": p.one("aws:eks/cluster:Cluster").outputs["arn"],
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": account,
        }
    }


def test_flow_logs_role_is_guarded_against_the_confused_deputy():
    statement = trust(dev_plan("aws-prod"), "network-flow-logs")
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc-flow-log/*"},
    }


def test_cluster_role_trusts_eks_for_this_cluster_only():
    statement = trust(dev_plan("aws-dev"), "eks-cluster")
    assert statement["Principal"] == {"Service": "eks.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/llz-aws-dev"},
    }


def test_node_role_keeps_the_plain_ec2_trust():
    statement = trust(dev_plan("aws-dev"), "eks-node")
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"} and "Condition" not in statement


# --- item 4: key policies -----------------------------------------------------------------------------


def _statements(policy: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy["Statement"]}


def _no_root(policy: dict) -> None:
    for s in policy["Statement"]:
        principals = s["Principal"].get("AWS", []) if isinstance(s["Principal"], dict) else [s["Principal"]]
        principals = [principals] if isinstance(principals, str) else principals
        assert not any(p == "*" or p.endswith(":root") for p in principals), s
        assert "kms:*" not in s["Action"], s


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_every_key_has_an_explicit_policy_without_the_account_root(stack):
    p = dev_plan(stack)
    policies = {k.name: doc(k) for k in p.of_type(KEY) if "policy" in k.inputs}
    policies |= {kp.name: doc(kp) for kp in p.of_type("aws:kms/keyPolicy:KeyPolicy")}
    keys = {k.name for k in p.of_type(KEY)}
    covered = {name for name in keys if name in policies} | (
        {"weights-key"} if "weights-key-policy" in policies else set()
    )
    assert covered == keys, f"keys without an explicit policy: {keys - covered}"
    for policy in policies.values():
        _no_root(policy)
        admin = _statements(policy)["KeyAdministration"]
        assert "kms:PutKeyPolicy" not in admin["Action"] and "kms:Put*" in admin["Action"]  # the deployer keeps it
        assert not any(a in admin["Action"] for a in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"))


def test_weights_key_admins_readers_and_writers():
    p = plan("aws-prod", {"aws": {"weightsWriterArns": [f"arn:aws:iam::{ACCOUNT}:role/weights-pusher"]}})
    policy = _statements(doc(p.one("aws:kms/keyPolicy:KeyPolicy", "weights-key-policy")))
    assert policy["KeyAdministration"]["Principal"]["AWS"] == [
        f"arn:aws:iam::{ACCOUNT}:role/llz-deployer",
        f"arn:aws:iam::{ACCOUNT}:role/platform-admin",
    ]
    via_s3 = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    read = policy["ReadWeights"]
    assert read["Principal"] == {"AWS": p.one(ROLE, "serving-identity-role").outputs["arn"]}
    assert read["Action"] == ["kms:Decrypt"] and read["Condition"] == via_s3
    write = policy["WriteWeights"]
    assert write["Principal"] == {"AWS": [f"arn:aws:iam::{ACCOUNT}:role/weights-pusher"]}
    assert write["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]  # SSE-KMS PutObject + multipart uploads
    assert write["Condition"] == via_s3
    # writers may read (push reads the manifest) from outside the VPC endpoint
    deny = next(
        s
        for s in doc(p.one("aws:s3/bucketPolicy:BucketPolicy", "weights-policy"))["Statement"]
        if "Sid" in s and s["Sid"] == "DenyReadsOutsideVpcEndpoint"
    )
    assert f"arn:aws:iam::{ACCOUNT}:role/weights-pusher" in deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]


def test_the_staging_jobs_role_may_write_with_the_weights_key():
    p = dev_plan("aws-dev")
    write = _statements(doc(p.one("aws:kms/keyPolicy:KeyPolicy", "weights-key-policy")))["WriteWeights"]
    assert write["Principal"] == {"AWS": [p.one(ROLE, "weights-stager-role").outputs["arn"]]}
    assert p.one("aws:kms/keyPolicy:KeyPolicy").inputs["keyId"] == p.one(KEY, "weights-key").outputs["keyId"]


def test_secrets_key_is_used_by_the_cluster_role_only():
    p = dev_plan("aws-prod")
    policy = _statements(doc(p.one(KEY, "eks-secrets")))
    use = policy["ClusterRoleUse"]
    assert use["Principal"] == {"AWS": p.one(ROLE, "eks-cluster").outputs["arn"]}
    assert set(use["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"}
    assert set(policy) == {"KeyAdministration", "ClusterRoleUse"}


def test_writer_arns_are_validated():
    error = config_error("aws-dev", {"aws": {"weightsWriterArns": ["someone"]}})
    assert "aws.weightsWriterArns" in error and "someone" in error


# --- item 5: audit and logs ---------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "days"), [("aws-dev", 90), ("aws-prod", 365)])
def test_log_groups_are_encrypted_with_a_logs_key_and_kept_as_configured(stack, days):
    p = dev_plan(stack)
    groups = p.of_type(LOG_GROUP)
    assert groups, "no log group planned"
    keys = {k.outputs["arn"]: k for k in p.of_type(KEY)}
    for group in groups:
        assert group.inputs["retentionInDays"] == days, group.name
        key = keys[group.inputs["kmsKeyId"]]  # a customer-managed key of this stack
        logs = _statements(doc(key))["CloudWatchLogsEncrypt"]
        assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
        assert logs["Condition"] == {
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*"}
        }
    control_plane = p.one(LOG_GROUP, "eks-logs")
    assert control_plane.urn in p.one("aws:eks/cluster:Cluster").dependencies  # before EKS creates its own


def test_retention_comes_from_config_and_is_validated():
    p = plan("aws-dev", {"aws": {"logRetentionDays": 731}})
    assert {g.inputs["retentionInDays"] for g in p.of_type(LOG_GROUP)} == {731}
    lifecycle = p.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "audit-lifecycle")
    assert lifecycle.inputs["rules"][0]["expiration"] == {"days": 731}
    error = config_error("aws-dev", {"aws": {"logRetentionDays": 100}})
    assert "aws.logRetentionDays" in error and "100" in error


def test_bootstrap_flow_logs_too():
    p = dev_plan("aws-dev-bootstrap")
    group = p.one(LOG_GROUP, "network-flow-logs")
    assert (
        group.inputs["retentionInDays"] == 90
        and group.inputs["kmsKeyId"] == p.one(KEY, "network-flow-logs").outputs["arn"]
    )
    runner = p.one(LOG_GROUP, "runner-logs")  # the CodeBuild runners' logs: same key, same retention
    assert runner.inputs["kmsKeyId"] == group.inputs["kmsKeyId"] and runner.inputs["retentionInDays"] == 90
    admins = _statements(doc(p.one(KEY, "network-flow-logs")))["KeyAdministration"]["Principal"]["AWS"]
    assert f"arn:aws:iam::{ACCOUNT}:role/llz-aws-dev-deploy" in admins  # the deployer, from config
    assert f"arn:aws:iam::{ACCOUNT}:role/deployer" in admins  # and the role running the bootstrap (KMS lockout check)


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_cloudtrail_records_weights_object_events_into_a_private_encrypted_log_bucket(stack):
    p = dev_plan(stack)
    trail = p.one("aws:cloudtrail/trail:Trail")
    weights = p.one("aws:s3/bucket:Bucket", "weights").outputs["arn"]
    log_bucket = p.one("aws:s3/bucket:Bucket", "audit")
    assert (
        trail.inputs["s3BucketName"]
        == log_bucket.outputs["bucket"]
        != p.one("aws:s3/bucket:Bucket", "weights").outputs["bucket"]
    )
    (selector,) = trail.inputs["advancedEventSelectors"]
    fields = {f["field"]: f for f in selector["fieldSelectors"]}
    assert fields["eventCategory"]["equals"] == ["Data"]
    assert fields["resources.type"]["equals"] == ["AWS::S3::Object"]
    assert fields["resources.ARN"]["startsWiths"] == [f"{weights}/"]  # reads and writes of the weights, nothing else
    assert trail.inputs["enableLogFileValidation"] is True
    key = p.one(KEY, "audit-key")
    assert trail.inputs["kmsKeyId"] == key.outputs["arn"]
    describe = _statements(doc(key))["CloudTrailDescribeKey"]
    assert describe["Action"] == ["kms:DescribeKey"] and "StringLike" not in describe["Condition"]
    cloudtrail = _statements(doc(key))["CloudTrailEncrypt"]
    assert cloudtrail["Action"] == ["kms:GenerateDataKey*"]
    assert cloudtrail["Condition"]["StringEquals"] == {
        "aws:SourceArn": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/llz-{stack}-weights"
    }
    # the log bucket: private, KMS, versioned, lifecycle-managed, TLS only, CloudTrail for this trail only
    pab = p.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-public-access").inputs
    assert all(
        pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    sse = p.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "audit-sse")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key.outputs["arn"],
    }
    assert (
        p.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "audit-lifecycle").inputs["rules"][0][
            "status"
        ]
        == "Enabled"
    )
    policy = _statements(doc(p.one("aws:s3/bucketPolicy:BucketPolicy", "audit-policy")))
    assert policy["DenyInsecureTransport"]["Effect"] == "Deny"
    assert policy["CloudTrailWrite"]["Condition"]["StringEquals"]["aws:SourceArn"].endswith(
        f"trail/llz-{stack}-weights"
    )
    assert p.one("aws:s3/bucketPolicy:BucketPolicy", "audit-policy").urn in trail.dependencies
