"""The seam between a workload stack and its `<stack>-bootstrap` stack (cluster.apiAccess: runner).

The bootstrap stack (`llm-landing-zone:role: bootstrap`, `infra/<cloud>/bootstrap.py`) builds the
network and the CI runners and exports what the workload needs; the workload reads those exports
through ONE StackReference, made here. Why two stacks, in infra/config/roles.py and
docs/first-deploy.md. Imports only the Pulumi core SDK.
"""

from __future__ import annotations

import pulumi

from infra.config import roles

# The bootstrap exports the workload reads (its contract; tests/test_ci_access.py plans both
# stacks and checks every key is exported). Per cloud, in infra/<cloud>/bootstrap.py: OUTPUTS.


def stack_name() -> str:
    """`<organization>/<project>/<this stack>-bootstrap`: Pulumi Cloud and self-managed backends
    (whose organization is the literal `organization`) both accept this fully qualified form."""
    org = pulumi.get_organization() or "organization"
    return f"{org}/{pulumi.get_project()}/{roles.bootstrap_of(pulumi.get_stack())}"


def reference() -> pulumi.StackReference:
    return pulumi.StackReference("bootstrap", stack_name=stack_name())
