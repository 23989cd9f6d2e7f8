"""The policy rules that guard issue 13's security items, on the REAL aws-dev / aws-prod plans: clean
as shipped, and each planted violation is caught (the shapes the AWS platform registers)."""

from __future__ import annotations

import copy
import json

import pytest

from infra.plan import policy
from infra.plan.engine import Plan
from infra.policy_rules import RULES
from tests.harness import dev_plan

NEW_RULES = (
    "aws-s3-endpoint-policy",
    "aws-log-group-kms",
    "aws-s3-access-logging",
    "aws-kms-key-policy",
    "aws-ecr-template-kms",
)
TEMPLATE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"


def _fresh(stack: str) -> Plan:
    p = copy.copy(dev_plan(stack))
    p.resources = copy.deepcopy(dev_plan(stack).resources)
    return p


def _one(p: Plan, type_: str, name: str):
    return next(r for r in p.resources if r.type == type_ and r.name == name)


def _drop(p: Plan, type_: str, name: str | None = None) -> None:
    p.resources = [r for r in p.resources if not (r.type == type_ and (name is None or r.name == name))]


def _s3_endpoint(p: Plan):
    return _one(p, "aws:ec2/vpcEndpoint:VpcEndpoint", "endpoints-s3")


def _open_endpoint_policy(p: Plan) -> None:
    doc = json.loads(_s3_endpoint(p).inputs["policy"])
    del doc["Statement"][0]["Condition"]  # s3:* on * for any account's bucket
    _s3_endpoint(p).inputs["policy"] = json.dumps(doc)


def _root_in_weights_key(p: Plan) -> None:
    kp = _one(p, "aws:kms/keyPolicy:KeyPolicy", "weights-key-policy")
    doc = json.loads(kp.inputs["policy"])
    doc["Statement"].append(
        {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    kp.inputs["policy"] = json.dumps(doc)


PLANTED = [
    ("aws-dev", lambda p: _s3_endpoint(p).inputs.pop("policy"), "aws-s3-endpoint-policy", "endpoints-s3"),
    ("aws-prod", _open_endpoint_policy, "aws-s3-endpoint-policy", "endpoints-s3"),
    (
        "aws-dev",
        lambda p: _one(p, "aws:cloudwatch/logGroup:LogGroup", "eks-logs").inputs.pop("kmsKeyId"),
        "aws-log-group-kms",
        "eks-logs",
    ),
    (
        "aws-prod",
        lambda p: _one(p, "aws:cloudwatch/logGroup:LogGroup", "network-flow-logs").inputs.pop("kmsKeyId"),
        "aws-log-group-kms",
        "network-flow-logs",
    ),
    ("aws-dev", lambda p: _drop(p, "aws:cloudwatch/logGroup:LogGroup", "eks-logs"), "aws-log-group-kms", "eks"),
    ("aws-dev", lambda p: _drop(p, "aws:cloudtrail/trail:Trail"), "aws-s3-access-logging", "weights"),
    (
        "aws-prod",
        lambda p: _one(p, "aws:cloudtrail/trail:Trail", "audit-trail").inputs.pop("advancedEventSelectors"),
        "aws-s3-access-logging",
        "weights",
    ),
    ("aws-dev", lambda p: _drop(p, "aws:kms/keyPolicy:KeyPolicy"), "aws-kms-key-policy", "weights-key"),
    ("aws-prod", _root_in_weights_key, "aws-kms-key-policy", "weights-key-policy"),
    (
        "aws-prod",
        lambda p: _one(p, "aws:kms/key:Key", "eks-secrets").inputs.pop("policy"),
        "aws-kms-key-policy",
        "eks-secrets",
    ),
    # issue 17: the ECR caches' creation templates
    (
        "aws-dev",
        lambda p: _one(p, TEMPLATE, "registry-dockerhub").inputs.pop("encryptionConfigurations"),
        "aws-ecr-template-kms",
        "registry-dockerhub",
    ),
    (
        "aws-prod",
        lambda p: _one(p, TEMPLATE, "registry-ghcr").inputs.__setitem__(
            "encryptionConfigurations", [{"encryptionType": "AES256"}]
        ),
        "aws-ecr-template-kms",
        "registry-ghcr",
    ),
    (
        "aws-prod",
        lambda p: _one(p, TEMPLATE, "registry-k8s").inputs.pop("imageTagMutability"),
        "aws-ecr-template-kms",
        "registry-k8s",
    ),
]


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod", "aws-dev-bootstrap"])
def test_shipped_aws_stacks_pass_the_new_rules(stack):
    findings = [f for f in policy.check(dev_plan(stack).resources) if f["rule"] in NEW_RULES]
    assert findings == []


def test_the_new_rules_are_in_the_pack():
    assert set(NEW_RULES) <= {r.name for r in RULES}
    assert all(next(r for r in RULES if r.name == n).severity == "mandatory" for n in NEW_RULES)


@pytest.mark.parametrize(("stack", "mutate", "rule", "at"), PLANTED, ids=[f"{s}-{r}-{a}" for s, _, r, a in PLANTED])
def test_planted_violation_on_the_real_plan_is_caught(stack, mutate, rule, at):
    p = _fresh(stack)
    mutate(p)
    hits = [f for f in policy.check(p.resources) if f["rule"] == rule]
    assert hits, f"{rule} missed the violation in {stack}"
    assert any(f["urn"].endswith(f"::{at}") for f in hits), hits
    assert dev_plan(stack).policy == [], "the cached plan must not be mutated"
