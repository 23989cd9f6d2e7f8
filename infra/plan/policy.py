"""Run the policy rules (policy/rules, shared with the CrossGuard pack) over a recorded plan.

Imports only the plain rule functions, never pulumi_policy (whose PolicyPack starts a gRPC
server), so checking a plan costs milliseconds.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from infra.plan.stackfile import ROOT

if TYPE_CHECKING:
    from infra.plan.engine import Resource


def check(resources: Iterable[Resource]) -> list[dict[str, str]]:
    """The findings as `{"rule", "severity", "urn", "message"}`, empty when clean."""
    if str(ROOT) not in sys.path:  # policy/ is a sibling of infra/ in the checkout, not an installed package
        sys.path.insert(0, str(ROOT))
    from policy import rules

    views = [rules.Res(r.type, r.urn, r.name, r.inputs, r.parent, tuple(r.dependencies)) for r in resources]
    return [f.as_dict() for f in rules.evaluate(views)]


def mandatory(findings: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    return [f for f in findings if f["severity"] == "mandatory"]
