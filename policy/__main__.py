"""CrossGuard pack: `pulumi preview --policy-pack policy`. Constructing PolicyPack starts the
analyzer's gRPC server and blocks, so this file does nothing else.

The rules ship inside the project's package (infra/policy_rules, which `llz plan` runs too). The
pack's own virtualenv (PulumiPolicy.yaml) holds only pulumi-policy, so they are imported from the
checkout this pack sits in; infra/policy_rules imports nothing beyond the standard library."""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, for infra.policy_rules

from infra.policy_rules.crossguard import policies

PolicyPack(
    name="llm-landing-zone",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policies(),
)
