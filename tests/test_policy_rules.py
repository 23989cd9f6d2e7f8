"""Every rule catches a violation planted on an otherwise compliant program, through both runners:
the offline plan's `evaluate` (in-process) and the CrossGuard policies, called with pulumi_policy's
own argument objects in the pack's own virtualenv (policy/requirements.txt), with no gRPC server."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.policy_rules import RULES, evaluate
from tests import policy_cases as pc
from tests.harness import ROOT

PACK_VENV = ROOT / ".test-tools" / "policy-venv"
REQUIREMENTS = ROOT / "policy" / "requirements.txt"


def _pack_python() -> Path:
    """The pack's virtualenv, as `pulumi preview --policy-pack policy` builds it (made once, kept)."""
    python = PACK_VENV / "bin" / "python"
    stamp = PACK_VENV / ".requirements-sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not (python.exists() and stamp.exists() and stamp.read_text() == digest):
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(PACK_VENV)],
            [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
        ]
        for cmd in steps:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                pytest.fail(f"could not build the policy pack's virtualenv ({' '.join(cmd)}):\n{result.stderr}")
        stamp.write_text(digest)
    return python


@pytest.fixture(scope="module")
def crossguard() -> dict:
    result = subprocess.run(
        [str(_pack_python()), "-m", "tests.policy_cases"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def plan_findings(program: pc.Program) -> list[list[str]]:
    return [[f.rule, f.urn, f.message] for f in evaluate(pc.resources(program))]


@pytest.mark.parametrize("name", pc.PROGRAMS)
def test_compliant_program_is_clean(name, crossguard):
    assert plan_findings(pc.program(name)) == []
    assert crossguard["findings"][f"clean:{name}"] == []


@pytest.mark.parametrize(("cid", "name", "mutate"), pc.COMPLIANT, ids=[c[0] for c in pc.COMPLIANT])
def test_compliant_variation_is_clean(cid, name, mutate, crossguard):
    assert plan_findings(pc.program(name, mutate)) == []
    assert crossguard["findings"][f"variation:{cid}"] == []


@pytest.mark.parametrize("case", pc.CASES, ids=[c.id for c in pc.CASES])
def test_planted_violation_is_caught(case, crossguard):
    program = pc.program(case.program, case.mutate)
    at = pc.urn(program if case.at in program else pc.program(case.program), case.at)
    for runner, findings in (
        ("plan", plan_findings(program)),
        ("crossguard", crossguard["findings"][f"case:{case.id}"]),
    ):
        hits = [f for f in findings if f[0] == case.rule and f[1] == at]
        assert hits and all(f[2] for f in hits), f"{runner}: {case.rule} did not flag {case.at}; got {findings}"


def test_every_rule_has_a_planted_violation():
    """On a hand-written program here, or on a real plan (tests/policy_plan_cases.py, replayed through
    both runners by tests/test_policy_plan.py, or a cloud owner's own real-plan test)."""
    from tests import policy_plan_cases as ppc
    from tests.test_policy_plan import _other_owners_cases

    assert {c.rule for c in pc.CASES} <= {r.name for r in RULES}
    proven = {c.rule for c in pc.CASES} | {c.rule for c in ppc.CASES}
    elsewhere = _other_owners_cases()  # a cloud owner's tests/test_policy_<cloud>_plan.py
    assert [r.name for r in RULES if r.name not in proven and f'"{r.name}"' not in elsewhere] == []


@pytest.mark.parametrize("case", pc.SECRET_CASES, ids=[c.id for c in pc.SECRET_CASES])
def test_secrets_are_judged_as_each_runner_receives_them(case, crossguard):
    """The same cases on both paths: `llz plan` sees a Pulumi secret masked (SECRET); the pack's real
    analyzer receives it on the wire as the engine sends it and reads its plaintext. Both judge the
    name; only the pack can judge a masked value's shape."""
    findings = evaluate(pc.resources(pc.secret_program(case, wire=False)))
    assert ("k8s-no-plain-secret-env" in {f.rule for f in findings}) is case.plan
    assert crossguard["grpc"]["secrets"][case.id] is case.pack


def test_pack_entry_point_registers_every_rule(crossguard):
    """policy/__main__.py, run as Pulumi runs it, hands PolicyPack one policy per rule at its severity."""
    *policies, pack = crossguard["pack"]
    assert pack == {"pack": "llm-landing-zone", "level": "mandatory"}
    assert [p["name"] for p in policies] == [r.name for r in RULES]
    for policy, rule in zip(policies, RULES, strict=True):
        assert policy["level"] == rule.severity
        assert policy["kind"] == ("StackValidationPolicy" if rule.check_stack else "ResourceValidationPolicy")


def test_pack_over_grpc_as_the_engine_calls_it(crossguard):
    """The pack's real analyzer server (started as the CLI starts it) lists every rule and reports the
    planted violations: Analyze for a resource policy, AnalyzeStack for a stack policy."""
    report = crossguard["grpc"]
    mandatory, urns = report["mandatory"], report["urns"]
    assert [name for name, _ in report["policies"]] == [r.name for r in RULES]
    assert report["analyze"] == [["aws-eks-public-endpoint", urns["eks"], mandatory]]
    assert report["analyzeStack"] == [["aws-s3-public-access-block", urns["weights-pab"], mandatory]]


def test_unknown_values_during_preview_are_not_violations(crossguard):
    """During `pulumi preview` a policy document built from ARNs is unknown: CrossGuard must not fail it
    (it is checked again at `pulumi up`, when the value is known)."""
    assert crossguard["findings"]["unknown:preview"] == []
    assert crossguard["findings"]["unknown:preview-booleans"] == []


def test_every_rule_is_documented_with_its_severity():
    table = (ROOT / "docs" / "policy-ci.md").read_text()
    for rule in RULES:
        assert f"| `{rule.name}` | {rule.severity} |" in table, f"{rule.name} missing from docs/policy-ci.md"
