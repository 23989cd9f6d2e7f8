"""The policy rule guarding issue 18's AWS monitoring (`aws-monitoring-cmk`) on the REAL aws-dev / aws-prod
plans: clean as shipped, and a workspace or alert topic without its customer managed key is caught."""

from __future__ import annotations

import pytest

from infra.plan import policy
from infra.policy_rules import RULES
from tests.harness import dev_plan
from tests.test_policy_aws_plan import _fresh, _one

RULE = "aws-monitoring-cmk"


PLANTED = [
    ("aws-dev", "aws:amp/workspace:Workspace", "monitoring-workspace", "kmsKeyArn"),
    ("aws-prod", "aws:sns/topic:Topic", "monitoring-alerts", "kmsMasterKeyId"),
]


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_shipped_aws_stacks_encrypt_their_monitoring(stack):
    assert [f for f in policy.check(dev_plan(stack).resources) if f["rule"] == RULE] == []


def test_the_rule_is_in_the_pack_and_mandatory():
    (rule,) = [r for r in RULES if r.name == RULE]
    assert rule.severity == "mandatory"


@pytest.mark.parametrize(("stack", "type_", "name", "field"), PLANTED, ids=[p[2] for p in PLANTED])
def test_a_monitoring_resource_without_its_key_is_caught(stack, type_, name, field):
    p = _fresh(stack)
    _one(p, type_, name).inputs.pop(field)
    hits = [f for f in policy.check(p.resources) if f["rule"] == RULE]
    assert [f["urn"].rsplit("::", 1)[1] for f in hits] == [name]
    assert dev_plan(stack).policy == [], "the cached plan must not be mutated"
