"""Plans for `cluster.apiAccess` (docs/first-deploy.md).

The shipped aws-dev and azure-dev deploy from CI runners inside their network, so their network
lives in `<stack>-bootstrap` and the workload reads it through a StackReference. The platform
tests that assert the network itself plan those stacks in `cidr` mode (`cidr_plan`), where the
same Network component is part of the workload; tests/test_ci_access.py covers the split.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from infra.conventions import SECRET
from infra.plan.engine import Plan, run_program
from tests import harness

# The cidr-mode variant of each shipped runner-mode stack: the API from apiAllowedCidrs, no runner,
# and the deployer from config as on the other shipped stacks (the placeholders of aws-prod and of
# azure-dev before it moved to runner mode).
CIDR_DEPLOYER = {
    "aws-dev": {"deployerRoleArn": "arn:aws:iam::123456789012:role/llz-deployer"},
    "azure-dev": {
        "deployer": {"principalId": "11111111-1111-1111-1111-111111111111", "principalType": "ServicePrincipal"}
    },
}
CIDR_MODE: dict[str, dict[str, Any]] = {
    "aws-dev": {"cluster": {"apiAccess": "cidr"}, "aws": {"runner": None, **CIDR_DEPLOYER["aws-dev"]}},
    "azure-dev": {"cluster": {"apiAccess": "cidr"}, "azure": {"runner": None, **CIDR_DEPLOYER["azure-dev"]}},
}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def cidr(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """`overrides` on top of the stack's cidr-mode variant (None deletes a key, as in the harness)."""
    return deep_merge(CIDR_MODE.get(stack, {}), overrides or {})


def cidr_plan(stack: str, overrides: dict[str, Any] | None = None) -> Plan:
    return harness.plan(stack, cidr(stack, overrides))


def bootstrap_plan(stack: str, overrides: dict[str, Any] | None = None, **own: str) -> Plan:
    """Plan `<stack>-bootstrap` for workload `stack` with `overrides` (its own keys in `own`)."""
    sf = harness.stack_file(stack, overrides)
    config = {**sf.config, "llm-landing-zone:role": "bootstrap"}
    config |= {f"llm-landing-zone:{k}": v for k, v in own.items()}
    secrets = tuple(k for k, v in config.items() if v == SECRET)
    return run_program(dataclasses.replace(sf, stack=f"{stack}-bootstrap", config=config, secret_keys=secrets))
