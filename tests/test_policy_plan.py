"""The policy rules inside `llz plan`: the shipped stacks are clean, the insecure switches are caught
end to end, and the CLI reports findings (JSON, text, markdown) and fails only on mandatory ones."""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys

import pytest

from infra.plan import cli as plan_cli
from infra.plan import policy, stackfile
from infra.plan.engine import Plan
from infra.policy_rules import PENDING, RULES, evaluate
from tests import policy_plan_cases as ppc
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


# Rules over resources a stack's program does not create: they guard additions. Their real-plan case
# (tests/policy_plan_cases.py) adds such a resource to the shipped plan.
NOT_CREATED = {
    "gcp-dev": {"k8s-no-wildcard-rbac"},  # no RBAC role (the firewall rule admits the control plane to KEDA)
    "azure-dev": {"azure-no-internet-ingress", "k8s-no-wildcard-rbac"},  # no NSG
    "aws-dev": set(),
}


@pytest.mark.parametrize("stack", DEV_STACKS)
def test_rules_apply_to_the_real_resources(stack):
    """Each resource rule of the stack's cloud (and Kubernetes) finds resources of its types to check,
    so a clean result means checked, not skipped."""
    p = dev_plan(stack)
    prefixes = (stack.split("-")[0] + "-", "k8s-")
    for rule in (r for r in RULES if r.name.startswith(prefixes) and r.check is not None):
        applies = any(rule.applies(r.type) for r in p.resources)
        assert applies != (rule.name in NOT_CREATED[stack]), f"{rule.name}: nothing to check in {stack}"


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


# --- every rule, proven on the real plans (issue 16, item 12) ---------------------------------------

BY_NAME = {r.name: r for r in RULES}


def _views(p: Plan) -> list:
    from infra.policy_rules import Res

    return [Res(r.type, r.urn, r.name, r.inputs, r.parent, tuple(r.dependencies)) for r in p.resources]


@pytest.mark.parametrize("case", ppc.CASES, ids=[c.id for c in ppc.CASES])
def test_rule_catches_a_violation_planted_on_a_real_plan(case):
    """The shipped plan is clean for the rule; the planted value (at the path the platform
    registers) is caught at the resource it was planted on, through `llz plan`'s checker."""
    p = dev_plan(case.stack)
    rule = BY_NAME[case.rule]
    assert evaluate(_views(p), [rule]) == [], f"{case.rule} already fires on the shipped {case.stack}"
    at = case.mutate(p)
    found = [f for f in policy.check(p.resources) if f["rule"] == case.rule]
    assert at.urn in {f["urn"] for f in found}, f"{case.rule} missed {at.name}; found {found}"


def _other_owners_cases() -> str:
    """Rules the cloud owners prove in their own tests/test_policy_<cloud>_plan.py (named there)."""
    mine = {"test_policy_plan.py", "test_policy_rules.py"}
    return "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_policy_*_plan.py") if p.name not in mine)


def test_every_rule_has_a_violation_planted_on_a_real_plan():
    proven = {c.rule for c in ppc.CASES}
    elsewhere = _other_owners_cases()
    missing = [r.name for r in RULES if r.name not in proven and f'"{r.name}"' not in elsewhere]
    assert missing == [], f"no real-plan case for {missing} (tests/policy_plan_cases.py)"
    assert {c.rule for c in ppc.CASES} <= set(BY_NAME), "a case names a rule that does not exist"


@pytest.mark.parametrize("name", sorted(ppc.PENDING_FIXES))
def test_pending_rule_catches_todays_plan_and_the_planted_fix_quiets_it(name):
    """A promise the program does not keep yet: its rule fires on today's shipped plan, and planting
    the fix on that plan makes it quiet (so the rule reads the path the fix will set)."""
    rule = next(r for r in PENDING if r.name == name)
    stack, fix = ppc.PENDING_FIXES[name]
    p = dev_plan(stack)
    assert evaluate(_views(p), [rule]), f"{name} no longer fires on {stack}: enforce it (move it to RULES)"
    fix(p)
    assert evaluate(_views(p), [rule]) == []


def test_pending_rules_are_listed_and_not_enforced():
    assert {r.name for r in PENDING} == set(ppc.PENDING_FIXES)
    assert not {r.name for r in PENDING} & set(BY_NAME)


# --- values unknown during preview never crash a rule nor become a finding (item 10) -------------------


def _subtrees(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _subtrees(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _subtrees(value, (*path, i))


def _replace(node, path, value):
    node = copy.deepcopy(node)
    if not path:
        return value
    parent = node
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return node


@pytest.mark.parametrize("stack", stackfile.stack_names(ROOT))
def test_unknown_values_never_crash_a_rule_nor_become_a_finding(stack):
    """Every input of every resource of the shipped plan, and every object and list on the way to
    it, replaced in turn by the value CrossGuard hands a rule for an unknown (UNKNOWN): no rule
    raises, and none reports a finding the known plan does not have. Stack rules see the whole
    program with that one resource changed."""
    from infra.policy_rules import PENDING as pending
    from infra.policy_rules import UNKNOWN, Res, Stack

    rules = (*RULES, *pending)
    resource_rules = [r for r in rules if r.check is not None]
    stack_rules = [r for r in rules if r.check_stack is not None]
    views = _views(dev_plan(stack))
    baseline = {(f.rule, f.urn) for f in evaluate(views, rules)}
    checked = 0
    for i, res in enumerate(views):
        for path in list(_subtrees(dict(res.props)))[1:]:  # the inputs object itself is always known
            props = _replace(dict(res.props), path, UNKNOWN)
            changed = Res(res.type, res.urn, res.name, props, res.parent, res.dependencies)
            found = [f for r in resource_rules for f in r.run_resource(changed)]
            if res.type.startswith(("kubernetes:", "aws:", "gcp:", "azure-native:")) and stack_rules:
                whole = Stack([*views[:i], changed, *views[i + 1 :]])
                found += [f for r in stack_rules for f in r.run_stack(whole)]
            new = {(f.rule, f.urn, f.message) for f in found if (f.rule, f.urn) not in baseline}
            assert not new, f"{res.type} {res.name}: {'.'.join(map(str, path))} unknown -> {sorted(new)}"
            checked += 1
    assert checked > 200


@pytest.fixture(scope="module")
def crossguard_on_real_plans(tmp_path_factory) -> dict:
    """The real-plan cases (and the clean shipped plans) replayed through the CrossGuard policies in
    the pack's own virtualenv, as plain resources."""
    from tests.test_policy_rules import _pack_python

    scenarios = {}
    for stack in stackfile.stack_names(ROOT):
        scenarios[f"clean:{stack}"] = dev_plan(stack)
    for case in ppc.CASES:
        p = dev_plan(case.stack)
        at = case.mutate(p)
        scenarios[f"case:{case.id}"] = p
        scenarios[f"at:{case.id}"] = at.urn
    payload = {
        sid: [
            {
                "type": r.type,
                "urn": r.urn,
                "name": r.name,
                "props": r.inputs,
                "parent": r.parent,
                "dependencies": list(r.dependencies),
            }
            for r in p.resources
        ]
        for sid, p in scenarios.items()
        if isinstance(p, Plan)
    }
    path = tmp_path_factory.mktemp("crossguard") / "plans.json"
    path.write_text(json.dumps(payload, default=str))
    result = subprocess.run(
        [str(_pack_python()), "-m", "tests.policy_cases", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["findings"]
    return {"findings": report, "at": {k[3:]: v for k, v in scenarios.items() if k.startswith("at:")}}


@pytest.mark.parametrize("stack", stackfile.stack_names(ROOT))
def test_shipped_stack_is_clean_through_crossguard(stack, crossguard_on_real_plans):
    assert crossguard_on_real_plans["findings"][f"clean:{stack}"] == []


@pytest.mark.parametrize("case", ppc.CASES, ids=[c.id for c in ppc.CASES])
def test_crossguard_catches_the_violation_planted_on_a_real_plan(case, crossguard_on_real_plans):
    at = crossguard_on_real_plans["at"][case.id]
    hits = [f for f in crossguard_on_real_plans["findings"][f"case:{case.id}"] if f[0] == case.rule and f[1] == at]
    assert hits, f"{case.rule} missed {at} in the pack"
