"""The landing zone's policy rules: plain functions over plain resource data.

`evaluate(resources)` is what `llz plan` runs; `crossguard.policies()` wraps the same rules for the
Pulumi CrossGuard pack. Nothing here imports Pulumi, so the plan stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import aws, azure, baseline, gcp, kubernetes
from .model import SECRET, UNKNOWN, Finding, Res, Rule, Stack

RULES: tuple[Rule, ...] = (*aws.RULES, *gcp.RULES, *azure.RULES, *kubernetes.RULES, *baseline.RULES)
# Written and tested, not enforced: the program does not keep these promises yet (docs/policy-ci.md).
PENDING: tuple[Rule, ...] = (*baseline.PENDING, *kubernetes.PENDING)

__all__ = ["PENDING", "RULES", "SECRET", "UNKNOWN", "Finding", "Res", "Rule", "Stack", "evaluate"]


def evaluate(resources: Iterable[Res], rules: Iterable[Rule] = RULES) -> list[Finding]:
    """Every finding of `rules` over one program's resources, in a stable order."""
    stack = Stack(resources)
    findings: list[Finding] = []
    for rule in rules:
        for res in stack.resources:
            findings.extend(rule.run_resource(res))
        findings.extend(rule.run_stack(stack))
    return sorted(findings, key=lambda f: (f.rule, f.urn, f.message))
