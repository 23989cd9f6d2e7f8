"""The GCP rules for issue 14's security items (infra/policy_rules/gcp.REALITY_RULES, enforced) on the REAL
gcp-dev plan: clean as shipped, and each catches its violation planted into the recorded inputs."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from infra.plan.engine import Plan, Resource
from infra.policy_rules import evaluate
from infra.policy_rules.gcp import REALITY_RULES
from infra.policy_rules.model import Res
from tests.harness import dev_plan


def _views(p: Plan) -> list[Res]:
    return [Res(r.type, r.urn, r.name, r.inputs, r.parent, tuple(r.dependencies)) for r in p.resources]


def _findings(p: Plan) -> set[tuple[str, str]]:
    return {(f.rule, f.urn) for f in evaluate(_views(p), REALITY_RULES)}


def _one(p: Plan, type_: str, name: str) -> Resource:
    return p.one(type_, name)


@pytest.fixture()
def fresh() -> Plan:
    return copy.deepcopy(dev_plan("gcp-dev"))


def test_the_pending_rules_are_clean_on_gcp_dev():
    assert _findings(dev_plan("gcp-dev")) == set()


def _drop_flow_logs(p: Plan) -> str:
    subnet = _one(p, "gcp:compute/subnetwork:Subnetwork", "net-nodes")
    subnet.inputs.pop("logConfig")
    return subnet.urn


def _drop_audit(p: Plan) -> str:
    p.resources = [r for r in p.resources if r.type != "gcp:projects/iAMAuditConfig:IAMAuditConfig"]
    return _one(p, "gcp:storage/bucket:Bucket", "weights-bucket").urn


def _reads_only(p: Plan) -> str:
    audit = _one(p, "gcp:projects/iAMAuditConfig:IAMAuditConfig", "storage-audit-logs")
    audit.inputs["auditLogConfigs"] = [{"logType": "ADMIN_READ"}]
    return _one(p, "gcp:storage/bucket:Bucket", "weights-bucket").urn


def _plain_boot_disk(p: Plan) -> str:
    pool = _one(p, "gcp:container/nodePool:NodePool", "gpu-pool")
    pool.inputs["nodeConfig"].pop("bootDiskKmsKey")
    return pool.urn


def _unscoped_list(p: Plan) -> str:
    reader = _one(p, "gcp:storage/bucketIAMMember:BucketIAMMember", "serving-identity-reader")
    condition = reader.inputs["condition"]
    condition["expression"] = condition["expression"].replace('-8b/")', '-8b")')
    return reader.urn


PLANTED: list[tuple[Callable[[Plan], str], str]] = [
    (_drop_flow_logs, "gcp-subnet-flow-logs"),
    (_drop_audit, "gcp-storage-data-access-logs"),
    (_reads_only, "gcp-storage-data-access-logs"),
    (_plain_boot_disk, "gcp-gpu-boot-disk-cmek"),
    (_unscoped_list, "gcp-list-prefix-scoped"),
]


@pytest.mark.parametrize(("mutate", "rule"), PLANTED, ids=[f"{m.__name__}-{r}" for m, r in PLANTED])
def test_planted_violation_is_caught(fresh, mutate, rule):
    urn = mutate(fresh)
    assert (rule, urn) in _findings(fresh)


def test_every_pending_rule_has_a_planted_violation():
    assert {r.name for r in REALITY_RULES} == {rule for _, rule in PLANTED}


def test_the_system_pool_without_gpus_needs_no_boot_disk_key():
    """The boot-disk rule is about GPU pools (the weights); the system pool has no accelerator."""
    p = dev_plan("gcp-dev")
    system = _one(p, "gcp:container/nodePool:NodePool", "gke-system")
    assert "bootDiskKmsKey" not in system.inputs["nodeConfig"]
    assert not [f for f in evaluate(_views(p), REALITY_RULES) if f.urn == system.urn]
