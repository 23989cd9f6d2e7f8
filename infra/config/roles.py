"""Stack roles: a workload stack, or the small `<workload>-bootstrap` stack its CI runner lives in.

With `cluster.apiAccess: runner`, `pulumi up` of the workload runs on a runner inside the
workload's network, so that network and the runner cannot belong to the workload stack: the
first run would need the runner before it exists, and a run could replace or destroy the network
it runs in. They belong to `<workload>-bootstrap` (`llm-landing-zone:role: bootstrap`), applied
first from GitHub-hosted runners; the workload reads its outputs through a StackReference
(docs/first-deploy.md).

A bootstrap stack's file holds only its role and its own secrets: its config is the workload's
stack file with the bootstrap's own keys on top, so the two can never disagree about the network.
Imports no SDK (the errors module, which imports pulumi, is loaded only to raise).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from infra.conventions import PROJECT

ROLE_KEY = f"{PROJECT}:role"
BOOTSTRAP = "bootstrap"
SUFFIX = "-bootstrap"


def is_bootstrap(config: Mapping[str, str]) -> bool:
    return config.get(ROLE_KEY) == BOOTSTRAP


def workload_of(stack: str) -> str | None:
    """`aws-dev` for `aws-dev-bootstrap`; None for a name without the suffix."""
    return stack.removesuffix(SUFFIX) if stack.endswith(SUFFIX) and len(stack) > len(SUFFIX) else None


def bootstrap_of(stack: str) -> str:
    return f"{stack}{SUFFIX}"


def with_workload(stack: str, config: Mapping[str, str], read: Callable[[str], Mapping[str, str]]) -> dict[str, str]:
    """The engine config of `stack`; for a bootstrap stack, its workload's (from `read`) under its own."""
    if not is_bootstrap(config):
        return dict(config)
    from infra.config.errors import key_error

    workload = workload_of(stack)
    if workload is None:
        raise key_error(
            "role", BOOTSTRAP, f"a bootstrap stack is named <workload stack>{SUFFIX}; this one is {stack!r}"
        )
    try:
        base = read(workload)
    except FileNotFoundError:
        raise key_error(
            "role", BOOTSTRAP, f"the workload stack {workload!r} has no stack file (stacks/Pulumi.{workload}.yaml)"
        ) from None
    return {**base, **config}
