"""What a deployed stack's engine would compare: each resource's URN, inputs and lifecycle options.

`python -m tests.plan_snapshot DIR` writes one JSON file per shipped stack. The files in
tests/data/plan-before-house/ were written from the code before the "one house" refactoring
(commit 277e065); tests/test_plan_stability.py plans the stacks now and compares (`compare`), so
a moved or renamed component that would make Pulumi replace a deployed resource fails a test.

How the engine finds a resource's old state (pulumi/pulumi, step_generator.go `generateAliases`):
its current URN, each alias it declares (a URN, or a spec whose unset fields default to the
resource's current name, type, parent, project and stack), and, for each old URN of its parent,
the URN it would have had under that parent (`inheritedChildAlias`: same type, and a name that
started with the parent's name takes the parent's old name as its prefix), also for each own
alias. Under the mock engine the SDK sends aliases as specs and leaves that multiplying-out to the
engine, which the mock does not do, so `old_urns` computes it here. URNs are formed as the mock
monitor forms them (its `make_urn`: the parent's last type, `$`, the type), the scheme the
snapshot was recorded with; for this program's depth (components directly under the stack) it is
the engine's scheme too.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.plan import stackfile
from infra.plan.engine import Plan, Resource, run_program
from tests.harness import ROOT

Snapshot = dict[str, dict[str, Any]]


def snapshot(plan: Plan) -> Snapshot:
    return {
        r.urn: {"inputs": r.inputs, "ignoreChanges": sorted(r.ignore_changes), "protect": r.protect}
        for r in plan.resources
    }


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for stack in stackfile.stack_names(ROOT):
        data = snapshot(run_program(stackfile.load(stack, ROOT)))
        (out / f"{stack}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


# --- URNs and aliases -----------------------------------------------------------------------------


def split_urn(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, qualified type, name) of `urn:pulumi:<stack>::<project>::<qualified type>::<name>`."""
    head, project, qualified, name = urn.split("::", 3)
    return head.removeprefix("urn:pulumi:"), project, qualified, name


def make_urn(stack: str, project: str, parent: str | None, type_: str, name: str) -> str:
    """A URN as pulumi.runtime.mocks.MockMonitor.make_urn forms it."""
    if parent:
        type_ = split_urn(parent)[2].split("$")[-1] + "$" + type_
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


class OldUrns:
    """Every URN under which the engine would look for each planned resource's old state."""

    def __init__(self, plan: Plan) -> None:
        self.by_urn = {r.urn: r for r in plan.resources}
        self._memo: dict[str, frozenset[str]] = {}

    def of(self, urn: str) -> frozenset[str]:
        if urn not in self._memo:
            resource = self.by_urn.get(urn)  # None: the stack itself, or a URN the program never registered
            self._memo[urn] = self._compute(resource) if resource else frozenset({urn})
        return self._memo[urn]

    def _compute(self, resource: Resource) -> frozenset[str]:
        stack, project, _, _ = split_urn(resource.urn)
        parent = resource.parent
        found = {resource.urn}
        own: list[tuple[str, str]] = []  # (type, name) of each own alias, multiplied by the parent's old URNs
        for alias in resource.aliases:
            if "urn" in alias:
                found.add(alias["urn"])
                _, _, qualified, name = split_urn(alias["urn"])
                own.append((qualified.split("$")[-1], name))
                continue
            type_, name = alias.get("type") or resource.type, alias.get("name") or resource.name
            if alias.get("noParent"):  # the SDK parents a top-level resource to the stack
                old_parent: str | None = f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"
            else:
                old_parent = alias.get("parentUrn") or parent
            found.add(make_urn(alias.get("stack") or stack, alias.get("project") or project, old_parent, type_, name))
            own.append((type_, name))
        if parent:
            parent_name = split_urn(parent)[3]
            for old_parent in self.of(parent) - {parent}:
                old_parent_name = split_urn(old_parent)[3]
                for type_, name in [(resource.type, resource.name), *own]:
                    if name.startswith(parent_name):
                        name = old_parent_name + name[len(parent_name) :]
                    found.add(make_urn(stack, project, old_parent, type_, name))
        return frozenset(found)


# --- the comparison ---------------------------------------------------------------------------------

ANY: Any = type("ANY", (), {"__repr__": lambda self: "ANY"})()
ABSENT: Any = type("ABSENT", (), {"__repr__": lambda self: "(absent)"})()


def _glob(pattern: str, text: str) -> bool:
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), text) is not None


@dataclass(frozen=True)
class Intended:
    """One intended difference: on stacks matching `stacks`, for resources whose `type::name` (the new
    one) matches `resource`, at `path` (as the report prints it, e.g. `inputs.metadata.labels["llz.io/pool"]`;
    `*` matches anything), from `old` to `new` (ANY: any value; ABSENT: no such key). `why` is required."""

    resource: str
    why: str
    path: str = ""
    old: Any = ANY
    new: Any = ANY
    stacks: str = "*"

    def matches(self, stack: str, resource: str, path: str = "", old: Any = ANY, new: Any = ANY) -> bool:
        return (
            _glob(self.stacks, stack)
            and _glob(self.resource, resource)
            and _glob(self.path, path)
            and (self.old is ANY or self.old == old)
            and (self.new is ANY or self.new == new)
        )


def _key(key: str) -> str:
    return f".{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"[{json.dumps(key)}]"


def diff(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, old, new) for every leaf where two JSON values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from diff(old.get(key, ABSENT), new.get(key, ABSENT), path + _key(key))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from diff(a, b, f"{path}[{i}]")
    elif old != new or type(old) is not type(new):
        yield path.lstrip("."), old, new


def _translate(value: Any, urns: dict[str, str]) -> Any:
    """Resource references (recorded as URNs) in the new inputs, as the URNs they had before."""
    if isinstance(value, dict):
        return {k: _translate(v, urns) for k, v in value.items()}
    if isinstance(value, list):
        return [_translate(v, urns) for v in value]
    return urns.get(value, value) if isinstance(value, str) else value


@dataclass
class Comparison:
    stack: str
    matched: dict[str, str] = field(default_factory=dict)  # old URN -> new URN
    missing: list[str] = field(default_factory=list)  # old URNs no new resource answers for
    claimed_twice: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)  # new URNs not allowed
    gone_allowed: list[str] = field(default_factory=list)
    new_allowed: list[str] = field(default_factory=list)
    changed: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # (new URN, path, old, new)
    changed_allowed: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    used: list[Intended] = field(default_factory=list)  # the allow-list entries that explained something

    def problems(self) -> list[str]:
        out = [f"  missing (would be deleted and created again): {u}" for u in self.missing]
        out += [f"  one old URN, several new resources (the engine refuses): {u}" for u in self.claimed_twice]
        out += [f"  new, not in the allow-list: {u}" for u in self.new]
        out += [f"  changed: {u}\n      {p}: {o!r} -> {n!r}" for u, p, o, n in self.changed]
        return out

    def __str__(self) -> str:
        problems = self.problems()
        if not problems:
            return f"{self.stack}: {len(self.matched)} resources as before"
        return (
            f"{self.stack}: {len(problems)} difference(s) from the snapshot that no allow-list entry explains "
            "(add an alias for a moved or renamed resource, or an Intended entry with the reason):\n"
            + "\n".join(problems)
        )


def _label(r: Resource) -> str:
    return f"{r.type}::{r.name}"


def compare(
    stack: str,
    before: Snapshot,
    plan: Plan,
    changes: Iterable[Intended] = (),
    new: Iterable[Intended] = (),
    gone: Iterable[Intended] = (),
) -> Comparison:
    """Match each planned resource to its old URN (directly or through aliases) and compare what the
    engine would diff; differences an `Intended` entry explains are allowed (and counted as used)."""
    changes, new, gone = list(changes), list(new), list(gone)
    result = Comparison(stack)
    olds = OldUrns(plan)
    claims: dict[str, list[Resource]] = {}
    for r in plan.resources:
        candidates = olds.of(r.urn)
        hit = r.urn if r.urn in before else next((u for u in sorted(candidates) if u in before), None)
        if hit is None:
            allowed = [i for i in new if i.matches(stack, _label(r))]
            (result.new_allowed if allowed else result.new).append(r.urn)
            result.used.extend(allowed)
        else:
            claims.setdefault(hit, []).append(r)
    for old_urn in sorted(before):
        if old_urn not in claims:
            _, _, qualified, name = split_urn(old_urn)
            allowed = [i for i in gone if i.matches(stack, f"{qualified.split('$')[-1]}::{name}")]
            (result.gone_allowed if allowed else result.missing).append(old_urn)
            result.used.extend(allowed)
        elif len(claims[old_urn]) > 1:
            result.claimed_twice.append(f"{old_urn} <- {[r.urn for r in claims[old_urn]]}")
        else:
            result.matched[old_urn] = claims[old_urn][0].urn
    back = {new_urn: old_urn for old_urn, new_urn in result.matched.items()}
    now = snapshot(plan)
    for old_urn, new_urn in result.matched.items():
        r = olds.by_urn[new_urn]
        for path, a, b in diff(before[old_urn], _translate(now[new_urn], back)):
            allowed = [i for i in changes if i.matches(stack, _label(r), path, a, b)]
            (result.changed_allowed if allowed else result.changed).append((new_urn, path, a, b))
            result.used.extend(allowed)
    return result


if __name__ == "__main__":
    main(sys.argv[1])
