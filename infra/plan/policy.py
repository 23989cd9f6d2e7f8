"""Run the policy rules (infra/policy_rules, shared with the CrossGuard pack) over a recorded plan.

Imports only the plain rule functions, never pulumi_policy (whose PolicyPack starts a gRPC
server), so checking a plan costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from infra import policy_rules as rules

if TYPE_CHECKING:
    from infra.plan.engine import Resource


def check(resources: Iterable[Resource]) -> list[dict[str, str]]:
    """The findings as `{"rule", "severity", "urn", "message"}`, empty when clean."""
    views = [rules.Res(r.type, r.urn, r.name, r.inputs, r.parent, tuple(r.dependencies)) for r in resources]
    return [f.as_dict() for f in rules.evaluate(views)]


def mandatory(findings: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    return [f for f in findings if f["severity"] == "mandatory"]
