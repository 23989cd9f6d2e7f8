"""The policy rules inside `llz plan`: the shipped stacks are clean, the insecure switches are caught
end to end, and the CLI reports findings (JSON, text, markdown) and fails only on mandatory ones."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from infra.plan import cli as plan_cli
from infra.plan import policy, stackfile
from infra.plan.engine import Plan
from infra.policy_rules import RULES
from tests.harness import DEV_STACKS, ROOT, dev_plan, plan


@pytest.mark.parametrize("stack", stackfile.stack_names(ROOT))
def test_shipped_stack_is_policy_clean(stack):
    findings = dev_plan(stack).policy
    assert findings == [], "\n".join(f"{f['rule']} {f['urn']}: {f['message']}" for f in findings)


def _first(p: Plan, type_: str):
    return next(r for r in p.resources if r.type == type_)


def _drop(p: Plan, type_: str) -> None:
    p.resources = [r for r in p.resources if r.type != type_]


def _strip_container_hardening(p: Plan) -> None:
    deployment = next(r for r in p.resources if r.type == "kubernetes:apps/v1:Deployment" and r.name == "llm")
    for container in deployment.inputs["spec"]["template"]["spec"]["containers"]:
        container["securityContext"] = {}


# Violations planted on the REAL dev plans: the rules read the shapes the platforms register.
PLANTED = {
    "aws-dev": [
        (
            lambda p: _first(p, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs.update(
                blockPublicAcls=False
            ),
            "aws-s3-public-access-block",
        ),
        (lambda p: _drop(p, "aws:s3/bucketPolicy:BucketPolicy"), "aws-s3-tls-only"),
        (
            lambda p: _first(p, "aws:eks/cluster:Cluster").inputs["vpcConfig"].update(publicAccessCidrs=["0.0.0.0/0"]),
            "aws-eks-public-endpoint",
        ),
    ],
    "gcp-dev": [
        (
            lambda p: _first(p, "gcp:storage/bucket:Bucket").inputs.update(publicAccessPrevention="inherited"),
            "gcp-bucket-public-access-prevention",
        ),
        (
            lambda p: _first(p, "gcp:container/cluster:Cluster").inputs.pop("workloadIdentityConfig"),
            "gcp-gke-workload-identity",
        ),
    ],
    "azure-dev": [
        (
            lambda p: _first(p, "azure-native:storage:StorageAccount").inputs.update(publicNetworkAccess="Enabled"),
            "azure-storage-no-public-network",
        ),
        (lambda p: _drop(p, "azure-native:network:PrivateEndpoint"), "azure-storage-private-endpoint"),
    ],
}
KUBERNETES = [
    (_strip_container_hardening, "k8s-no-privilege-escalation"),
    (_strip_container_hardening, "k8s-drop-capabilities"),
    (lambda p: _drop(p, "kubernetes:networking.k8s.io/v1:NetworkPolicy"), "k8s-network-policy"),
]


@pytest.mark.parametrize("stack", DEV_STACKS)
def test_rules_apply_to_the_real_resources(stack):
    """Each resource rule of the stack's cloud (and Kubernetes) finds resources of its types to check,
    so a clean result means checked, not skipped."""
    p = dev_plan(stack)
    prefixes = (stack.split("-")[0] + "-", "k8s-")
    for rule in (r for r in RULES if r.name.startswith(prefixes) and r.check is not None):
        assert any(rule.applies(r.type) for r in p.resources), f"{rule.name}: nothing to check in {stack}"


@pytest.mark.parametrize(
    ("stack", "mutate", "rule"),
    [(s, m, r) for s in DEV_STACKS for m, r in PLANTED[s] + KUBERNETES],
    ids=[f"{s}-{r}" for s in DEV_STACKS for _, r in PLANTED[s] + KUBERNETES],
)
def test_violation_planted_on_the_dev_plan_is_caught(stack, mutate, rule):
    p = dev_plan(stack)
    mutate(p)
    assert rule in {f["rule"] for f in policy.check(p.resources)}


@pytest.fixture(scope="module")
def insecure_plan():
    """aws-dev with both insecure switches on: config allows them, policy must still flag them."""
    return plan(
        "aws-dev",
        {
            "cluster": {"apiAllowedCidrs": ["0.0.0.0/0"]},
            "serving": {"expose": "public-lb", "allowedCidrs": ["198.51.100.0/24"]},
            "insecure": {"publicApiEndpoint": True, "publicLoadBalancer": True},
        },
    )


def test_insecure_switches_are_policy_violations(insecure_plan):
    by_rule = {f["rule"]: f for f in insecure_plan.policy}
    assert {"aws-eks-public-endpoint", "k8s-no-public-loadbalancer"} <= set(by_rule)
    assert insecure_plan.by_urn(by_rule["aws-eks-public-endpoint"]["urn"]).type == "aws:eks/cluster:Cluster"
    assert insecure_plan.by_urn(by_rule["k8s-no-public-loadbalancer"]["urn"]).type == "kubernetes:core/v1:Service"
    assert all(f["severity"] == "mandatory" for f in by_rule.values())


def _run(monkeypatch, the_plan, tmp_path, *extra: str) -> int:
    monkeypatch.setattr(plan_cli, "run_program", lambda _stack_file: the_plan)
    parser = argparse.ArgumentParser()
    plan_cli.add_arguments(parser)
    args = parser.parse_args(
        [
            "-C",
            str(ROOT),
            "--stack",
            "aws-dev",
            "--json",
            str(tmp_path / "plan.json"),
            "--markdown",
            str(tmp_path / "pr.md"),
            *extra,
        ]
    )
    return plan_cli.run(args)


def test_cli_fails_on_mandatory_violation_and_reports_it(monkeypatch, tmp_path, capsys, insecure_plan):
    assert _run(monkeypatch, insecure_plan, tmp_path) == 3
    out, err = capsys.readouterr()
    assert "aws-dev: policy violation [k8s-no-public-loadbalancer]" in err
    assert "policy: " in out and "k8s-no-public-loadbalancer" in out
    written = json.loads((tmp_path / "plan.json").read_text())
    assert written["policy"] == insecure_plan.policy
    assert {"rule", "severity", "urn", "message"} == set(written["policy"][0])
    markdown = (tmp_path / "pr.md").read_text()
    assert "**Policy:**" in markdown and "| mandatory | `aws-eks-public-endpoint` |" in markdown


def test_cli_advisory_only_reports(monkeypatch, tmp_path, capsys, insecure_plan):
    assert _run(monkeypatch, insecure_plan, tmp_path, "--policy", "advisory") == 0
    _, err = capsys.readouterr()
    assert "policy violation [aws-eks-public-endpoint]" in err


def test_cli_clean_plan_has_empty_policy_list(monkeypatch, tmp_path, capsys):
    assert _run(monkeypatch, dev_plan("aws-dev"), tmp_path) == 0
    assert json.loads((tmp_path / "plan.json").read_text())["policy"] == []
    assert "**Policy:** clean" in (tmp_path / "pr.md").read_text()
    assert "policy: clean" in capsys.readouterr().out


def test_plan_never_loads_pulumi_policy():
    """The pack's SDK (gRPC server on PolicyPack) stays out of `llz plan`."""
    code = (
        "import sys; from infra.plan import policy, cli; policy.check([]); "
        "assert 'infra.policy_rules' in sys.modules; assert 'pulumi_policy' not in sys.modules, 'pulumi_policy loaded'"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
