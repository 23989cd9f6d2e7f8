"""The plan fakes answer in the installed SDK's shapes: every key of every answer (ids, ARNs,
endpoints, nested objects, invoke results) is an output the SDK declares for that resource type or
invoke, by its camelCase wire name, so a typo or an output the provider renamed fails here instead
of reaching the program as None.

The plans below exercise every resource type and invoke the fakes name (checked against their
source), and the engine itself reports an undeclared key as a plan error (`infra.plan.shapes`).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest

import infra.plan.fakes as plan_fakes
from infra.aws import fakes as aws_fakes
from infra.azure import fakes as azure_fakes
from infra.gcp import fakes as gcp_fakes
from infra.plan import shapes
from tests.harness import plan

FAKES = {"aws": aws_fakes, "gcp": gcp_fakes, "azure-native": azure_fakes}
# Stacks and switches that between them reach every branch of the fakes.
VARIANTS: list[tuple[str, dict[str, Any] | None]] = [
    ("aws-dev", None),
    ("aws-prod", None),  # no egress, admin access entries
    ("aws-dev", {"aws": {"identity": "irsa"}}),  # the OIDC provider
    ("aws-dev-bootstrap", None),  # aws-dev's VPC (NAT, internet gateway) and CodeBuild runners
    ("gcp-dev", None),
    ("gcp-dev", {"gcp": {"identityMode": "gsa"}}),
    ("gcp-dev", {"observability": {"alerts": {"emails": ["oncall@example.com"]}}}),  # notification channels
    ("azure-dev", None),
    ("azure-dev-bootstrap", None),  # azure-dev's resource group, VNet, NAT gateway and runner jobs
    (
        "azure-dev",
        {
            "azure": {"customerManagedKey": True, "privateCluster": True, "managedGrafana": True},
            "cluster": {"deletionProtection": True},
            "observability": {"alerts": {"emails": ["oncall@example.com"]}},  # the action group
        },
    ),
]


@functools.cache
def _answers() -> list[tuple[str, str, dict[str, Any], bool]]:
    """(token, what, answer, is_invoke) for every answer the fakes gave while planning the variants."""
    recorded: list[tuple[str, str, dict[str, Any], bool]] = []
    mp = pytest.MonkeyPatch()
    try:
        for module in FAKES.values():

            def outputs(typ, name, inputs, ctx, _real=module.outputs):
                answer = _real(typ, name, inputs, ctx)
                recorded.append((typ, f"{typ} {name}", answer, False))
                return answer

            def invoke(token, args, ctx, _real=module.invoke):
                answer = _real(token, args, ctx)
                recorded.append((token, f"invoke {token}", answer or {}, True))
                return answer

            mp.setattr(module, "outputs", outputs)
            mp.setattr(module, "invoke", invoke)

        def kubernetes(typ, name, inputs, ctx, _real=plan_fakes._kubernetes):
            answer = _real(typ, name, inputs, ctx)
            recorded.append((typ, f"{typ} {name}", answer, False))
            return answer

        mp.setattr(plan_fakes, "_kubernetes", kubernetes)
        for stack, overrides in VARIANTS:
            plan(stack, overrides)
        # Invokes a fake answers that the program does not call (yet): asked directly.
        asked = {token for token, *_ in recorded}
        ctx = plan_fakes.FakeContext(stack="direct", region="us-east-1")
        for module in FAKES.values():
            for token in sorted(_named(module) - asked):
                if token.rsplit(":", 1)[1][:1].islower():  # an invoke (functions are lowerCamelCase)
                    module.invoke(token, {}, ctx)
    finally:
        mp.undo()
    return recorded


def test_every_answer_has_the_sdks_shape():
    problems = []
    for token, what, answer, invoke in _answers():
        unknown = shapes.unknown_keys(token, answer, invoke=invoke)
        if unknown is None and _custom_resource(token):
            # No SDK class per kind (apiextensions.CustomResource is generic): only metadata is declared.
            unknown = [f"{key}: not in a CustomResource" for key in answer if key != "metadata"]
        if unknown is None:
            problems.append(f"{what}: no SDK type found to check the answer against")
        problems += [f"{what}: {p}" for p in unknown or []]
    assert not problems, "\n".join(problems)


def _custom_resource(token: str) -> bool:
    """A Kubernetes kind outside the SDK's built-in groups (e.g. kubernetes:cilium.io/v2:CiliumNetworkPolicy)."""
    return token.startswith("kubernetes:") and "." in token.split(":")[1].split("/")[0]


def _named(module) -> set[str]:
    """The resource types and invokes a fakes module answers for by name (from its source)."""
    source = Path(module.__file__).read_text()
    pkg = next(p for p, m in FAKES.items() if m is module)
    names = set(re.findall(rf'"({re.escape(pkg)}:[\w/]+:\w+)"', source))
    if module is gcp_fakes:  # branches on the type's kind
        kinds = re.findall(r'kind (?:==|in) \(?("[\w", ]+)\)?:', source)
        names |= {f"gcp:*:{k}" for group in kinds for k in re.findall(r'"(\w+)"', group)}
    if module is azure_fakes:  # tables keyed by "module:Kind"
        names |= {f"azure-native:{k}" for k in (*azure_fakes._ARM, *azure_fakes._SCOPED)}
        names |= {f"azure-native:{k}" for k in re.findall(r'module_kind == "([\w:]+)"', source)}
    return names


@pytest.mark.parametrize("pkg", sorted(FAKES))
def test_the_variants_reach_every_type_and_invoke_the_fakes_name(pkg):
    answered = {token for token, *_ in _answers()}
    answered |= {f"gcp:*:{t.rsplit(':', 1)[1]}" for t in answered if t.startswith("gcp:")}
    missing = sorted(_named(FAKES[pkg]) - answered)
    assert not missing, f"no variant plans these, so their answers are unchecked: {missing}"


def test_a_typo_in_a_fake_fails_the_plan(monkeypatch):
    real = aws_fakes.outputs

    def typo(typ, name, inputs, ctx):
        answer = real(typ, name, inputs, ctx)
        if typ == "aws:eks/cluster:Cluster":
            answer["certificateAuthority"] = {"dta": answer["certificateAuthority"]["data"]}
            answer["endpont"] = answer.pop("endpoint")
        return answer

    monkeypatch.setattr(aws_fakes, "outputs", typo)
    with pytest.raises(AssertionError) as info:
        plan("aws-dev")
    message = str(info.value)
    assert "unexpected error: plan fakes: aws:eks/cluster:Cluster eks: endpont: not an output of" in message
    assert "certificateAuthority.dta: not an output of ClusterCertificateAuthority" in message


def test_a_wrong_container_fails():
    """ARM returns user-assigned identities as a map; a list where the SDK declares a map is caught."""
    import pulumi_azure_native  # noqa: F401  (shapes reads only the SDKs already loaded)

    problems = shapes.unknown_keys(
        "azure-native:storage:StorageAccount", {"identity": {"userAssignedIdentities": ["/subscriptions/x"]}}
    )
    assert problems == ["identity.userAssignedIdentities: list, but the SDK declares a map"]
