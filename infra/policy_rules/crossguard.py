"""The rules as Pulumi CrossGuard policies (imported only by the pack, never by `llz plan`).

A rule with only a resource part becomes a ResourceValidationPolicy over the resource's inputs; a
rule with a stack part (e.g. "every bucket has a public access block") becomes a
StackValidationPolicy over the whole stack, running its resource part on each resource too.
Values not known during preview become UNKNOWN, which the rules treat as "can't tell".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    proxy,
)

from . import RULES, evaluate
from .model import UNKNOWN, Res, Rule

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}
_SENTINELS = frozenset(
    {
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_STRING_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_ARCHIVE_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
    }
)


def _read(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except proxy.UnknownValueError:
        return UNKNOWN


def plain(value: Any) -> Any:
    """pulumi_policy's unknown-checking props as plain dicts/lists, each unknown as UNKNOWN."""
    if isinstance(value, Mapping):
        return {key: _read(value, key) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_read(value, i) for i in range(len(value))]
    return UNKNOWN if value in _SENTINELS else value


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies(args.resource_type):
            return
        res = Res(args.resource_type, args.urn, args.name, plain(args.props))
        for finding in rule.run_resource(res):
            report_violation(finding.message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=LEVELS[rule.severity],
        validate=validate,
    )


def _stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            Res(
                r.resource_type,
                r.urn,
                r.name,
                plain(r.props),
                r.parent.urn if r.parent is not None else None,
                tuple(d.urn for d in r.dependencies),
            )
            for r in args.resources
        ]
        for finding in evaluate(resources, [rule]):
            report_violation(finding.message, finding.urn)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=LEVELS[rule.severity],
        validate=validate,
    )


def policies(rules: Sequence[Rule] = RULES) -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [_stack_policy(r) if r.check_stack else _resource_policy(r) for r in rules]
