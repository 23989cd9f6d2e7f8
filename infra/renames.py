"""Component renames without replacement: an alias to the old type keeps a deployed stack's URNs.

The engine derives each child's old URN from its parent's aliases, so one alias on the component
covers everything under it. tests/test_plan_stability.py checks every shipped stack against the
plan taken before the rename.
"""

from __future__ import annotations

import pulumi


def renamed_from(old_type: str, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """`opts` plus an alias to `old_type` (same name, parent, stack and project)."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=old_type)]))
