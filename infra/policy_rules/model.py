"""What a rule sees and what it reports, with no dependency on Pulumi or pulumi_policy.

The same rules run in two places: the CrossGuard pack (policy/__main__.py, during `pulumi
preview/up`) and the offline plan (`llz plan`). Each side converts its own resource objects into
`Res` (inputs as registered: camelCase keys), so a rule is a plain function over plain data.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from infra.conventions import SECRET  # stdlib-only modules: the CrossGuard pack can import them
from infra.internet import covers_the_internet

Severity = Literal["mandatory", "advisory"]

# Placeholders for values a rule cannot see: not yet known during `pulumi preview` (the CrossGuard
# adapter maps pulumi_policy's sentinels to UNKNOWN), or a secret (the plan masks them as SECRET).
UNKNOWN = "[unknown]"


@dataclass(frozen=True)
class Res:
    """One registered resource: its type token, URN, inputs (camelCase), parent and dependencies."""

    type: str
    urn: str
    name: str
    props: Mapping[str, Any]
    parent: str | None = None
    dependencies: tuple[str, ...] = ()

    def get(self, path: str, default: Any = None) -> Any:
        return dig(self.props, path, default)


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    urn: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "severity": self.severity, "urn": self.urn, "message": self.message}


class Stack:
    """The whole program's resources, with the lookups stack-level rules need."""

    def __init__(self, resources: Iterable[Res]) -> None:
        self.resources = list(resources)
        self._by_urn = {r.urn: r for r in self.resources}

    def of_type(self, *types: str) -> list[Res]:
        return [r for r in self.resources if r.type in types]

    def by_urn(self, urn: str | None) -> Res | None:
        return self._by_urn.get(urn) if urn else None

    def ancestors(self, res: Res) -> Iterator[Res]:
        seen: set[str] = set()
        parent = self.by_urn(res.parent)
        while parent is not None and parent.urn not in seen:
            seen.add(parent.urn)
            yield parent
            parent = self.by_urn(parent.parent)

    def attached(self, target: Res, types: Sequence[str], prop: str, value: Any = None) -> list[Res]:
        """Resources of `types` pointing at `target`: they depend on it, or their `prop` equals `value`
        (e.g. a BucketPublicAccessBlock whose `bucket` is the bucket's name, given as a plain string)."""
        return [
            r
            for r in self.of_type(*types)
            if target.urn in r.dependencies or (known(value) and value is not None and r.props.get(prop) == value)
        ]


ResourceCheck = Callable[[Res], Iterable[str]]
StackCheck = Callable[[Stack], Iterable[tuple[Res, str]]]


@dataclass(frozen=True)
class Rule:
    """A named check. `check` runs per resource of `types`; `check_stack` sees the whole program.

    A rule with a stack part becomes a StackValidationPolicy in the pack (running its resource part
    too); a rule with only a resource part becomes a ResourceValidationPolicy.
    """

    name: str
    description: str
    severity: Severity = "mandatory"
    types: tuple[str, ...] = ()
    check: ResourceCheck | None = None
    check_stack: StackCheck | None = None

    def applies(self, token: str) -> bool:
        return token in self.types or "*" in self.types

    def run_resource(self, res: Res) -> list[Finding]:
        if self.check is None or not self.applies(res.type):
            return []
        return [Finding(self.name, self.severity, res.urn, m) for m in self.check(res)]

    def run_stack(self, stack: Stack) -> list[Finding]:
        if self.check_stack is None:
            return []
        return [Finding(self.name, self.severity, r.urn, m) for r, m in self.check_stack(stack)]


# --- helpers for reading props safely (any shape, unknowns, secrets) --------------------------


def known(value: Any) -> bool:
    """False for a value no rule can judge: unknown during preview, or a masked secret."""
    return value not in (UNKNOWN, SECRET) if isinstance(value, str) else True


def dig(node: Any, path: str, default: Any = None) -> Any:
    """A nested value by dotted path (`vpcConfig.publicAccessCidrs`, list indexes as numbers). A value
    that cannot be judged on the way (unknown during preview, masked) is the answer: what lies below
    it is as unknown as it is, never "missing"."""
    for part in path.split("."):
        if isinstance(node, str) and not known(node):
            return node
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, Sequence) and not isinstance(node, str) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


def unknown_along(node: Any, path: str) -> bool:
    """True when a value on the way to `path` (or at it) cannot be judged: unknown during preview,
    or masked. A rule then says nothing about that path, as "missing" would be a false finding."""
    for part in path.split("."):
        if not known(node):
            return True
        node = dig(node, part)
        if node is None:
            return False
    return not known(node)


def as_list(value: Any) -> list[Any]:
    """A list, whatever arrives: None is empty, one value is a list of one. An unknown list during
    preview arrives as UNKNOWN and becomes [UNKNOWN], so read its items with `mapping`/`known`."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def mapping(value: Any) -> Mapping[str, Any]:
    """An object, or {} for anything else: an object unknown during preview arrives as the string
    UNKNOWN, whose `.get` would raise AttributeError (so `x.get(...) or {}` is never safe)."""
    return value if isinstance(value, Mapping) else {}


def mappings(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a list (unknown items and unknown lists dropped)."""
    return [v for v in as_list(value) if isinstance(v, Mapping)]


def is_true(value: Any) -> bool:
    """True only for an explicit true (the SDK sends provider inputs as strings, hence "true")."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def not_true(value: Any) -> bool:
    """A setting that must be true and is missing or false (unknown is not a violation)."""
    return known(value) and not is_true(value)


def not_false(value: Any) -> bool:
    """A setting that must be false and is missing or true (unknown is not a violation)."""
    return known(value) and not is_false(value)


def json_doc(value: Any) -> Any:
    """A JSON document given as a string (IAM policies) or already as data; None if unreadable."""
    if isinstance(value, str):
        if not known(value):
            return None
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def allowlist(cidrs: Sequence[Any], field: str) -> Iterator[str]:
    """A control-plane allowlist must name CIDRs: empty means open to all, as does 0.0.0.0/0."""
    if not cidrs:
        yield f"{field} is empty, so the endpoint is open to 0.0.0.0/0; list the allowed CIDRs"
        return
    everyone = [c for c in cidrs if isinstance(c, str) and c.strip() in ("0.0.0.0/0", "::/0", "*", "Internet", "any")]
    if everyone:
        yield f"{field} includes {', '.join(everyone)}; list the allowed CIDRs"
        return
    networks = []
    for c in cidrs:
        try:
            networks.append(ipaddress.IPv4Network(str(c).strip(), strict=False))
        except ValueError:
            continue  # not an IPv4 CIDR (a placeholder, an IPv6 range): other rules judge it
    if networks and covers_the_internet(networks):
        yield f"{field} ({', '.join(str(n) for n in networks)}) covers the whole internet; list the allowed CIDRs"
