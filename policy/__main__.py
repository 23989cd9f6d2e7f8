"""CrossGuard pack: `pulumi preview --policy-pack policy`. Constructing PolicyPack starts the
analyzer's gRPC server and blocks, so this file does nothing else; the rules live in rules/."""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules.crossguard import policies

PolicyPack(
    name="llm-landing-zone",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policies(),
)
