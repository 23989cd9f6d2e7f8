"""Plan renderings: the resource tree (text), the stable JSON plan, Kubernetes manifests."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from infra.plan.engine import Plan, Resource

_K8S_TOKEN = re.compile(r"^kubernetes:(?P<group>[\w.-]+)/(?P<version>v[\w]+):(?P<kind>\w+)$")
_MAX_KEY_INPUTS = 3


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and value != ""


def _key_inputs(resource: Resource) -> str:
    """A few identifying inputs for the tree: names first, then the first scalars."""
    inputs = resource.inputs
    picked: list[tuple[str, Any]] = []
    meta = inputs.get("metadata") if isinstance(inputs.get("metadata"), dict) else {}
    for key in ("name", "namespace"):
        if _scalar(meta.get(key)):
            picked.append((f"metadata.{key}", meta[key]))
    for key, value in inputs.items():
        if len(picked) >= _MAX_KEY_INPUTS:
            break
        if _scalar(value) and key not in ("apiVersion", "kind"):
            picked.append((key, value))
    text = "  ".join(f"{k}={v}" for k, v in picked)
    return text if len(text) <= 110 else text[:107] + "..."


def tree(plan: Plan) -> str:
    lines = [f"{plan.project}  stack={plan.stack}  cloud={plan.cloud}"]
    by_parent: dict[str | None, list[Resource]] = {}
    urns = {r.urn for r in plan.resources}
    for r in plan.resources:
        by_parent.setdefault(r.parent if r.parent in urns else None, []).append(r)

    def walk(parent: str | None, prefix: str) -> None:
        children = by_parent.get(parent, [])
        for i, r in enumerate(children):
            last = i == len(children) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{r.type}  {r.name}  {_key_inputs(r)}".rstrip())
            walk(r.urn, prefix + ("   " if last else "│  "))

    walk(None, "")
    if plan.outputs:
        lines.append("outputs:")
        lines.extend(f"  {k}: {json.dumps(v) if not isinstance(v, str) else v}" for k, v in plan.outputs.items())
    lines.extend(sizing_lines(plan))
    lines.extend(policy_lines(plan))
    lines.append(summary(plan))
    return "\n".join(lines)


def _money(totals: dict[str, float] | None) -> str:
    return f"${totals['perHour']:,.2f}/h  ${totals['perMonth']:,.0f}/month" if totals else "n/a"


def _fit_text(fit: dict[str, Any]) -> str:
    chosen = " (auto)" if fit["auto"] else ""
    nodes = fit.get("nodesPerReplica", 1)  # a multi-node replica: N nodes, pipeline parallel N
    group = f" x {nodes} nodes per replica, pipelineParallelSize {nodes}" if nodes > 1 else ""
    return (
        f"{fit['instanceType']}{chosen} {fit['gpu']}{group}, tensorParallelSize {fit['tensorParallelSize']}: "
        f"needs {fit['neededGiB']:.1f} of {fit['availableGiB']:.1f} GiB (weights {fit['weightsGiB']:.1f}, "
        f"KV {fit['kvCacheGiBPerSequence']:.1f} per full-length sequence, runtime {fit['runtimeGiB']:.1f}); "
        f"KV cache {fit['kvCacheTokens']} tokens = {fit['fullLengthSequences']} full-length sequence(s) "
        f"for maxNumSeqs {fit['maxNumSeqs']}; KV shape {fit['kvShape']}"
    )


def _scenarios(cost: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("min", cost["atMinReplicas"]), ("max", cost["atMaxReplicas"])]


def sizing_lines(plan: Plan) -> list[str]:
    """The fit of the model on the GPUs and the cost estimate, for the text plan."""
    if not plan.sizing:
        return []
    fit, cost = plan.sizing["fit"], plan.sizing["cost"]
    instance = cost["instance"]
    lines = [
        f"fit: {_fit_text(fit)}",
        f"cost (ESTIMATE, {cost['currency']}, {cost['referenceRegion']} list prices, billed {cost['billing']}; "
        f"{instance['type']} ${instance['onDemandPerHour']}/h on-demand"
        + (f", ${instance['spotPerHour']}/h spot" if instance["spotPerHour"] is not None else ", spot unknown")
        + (" [price is an estimate]" if instance["priceIsEstimate"] else "")
        + ")",
    ]
    for label, s in _scenarios(cost):
        lines.append(
            f"  {label} {s['replicas']} replica(s), {s['gpuNodes']} GPU node(s): "
            f"on-demand {_money(s['onDemand'])}  spot {_money(s['spot'])}"
        )
    fixed = ", ".join(f"{f['count']} x {f['item']} ${f['usdPerHour']:g}/h" for f in cost["atMinReplicas"]["fixed"])
    lines.append(f"  fixed parts (in the totals): {fixed}")
    lines.append(f"  excludes: {cost['excludes']}")
    lines.extend(f"  note: {note}" for note in cost["notes"])
    return lines


def policy_lines(plan: Plan) -> list[str]:
    """The policy findings (infra/policy_rules), one per line; one line when clean."""
    if not plan.policy:
        return ["policy: clean"]
    lines = [f"policy: {len(plan.policy)} finding(s)"]
    lines += [f"  {f['severity']:<9} {f['rule']}  {f['urn']}\n            {f['message']}" for f in plan.policy]
    return lines


def summary(plan: Plan) -> str:
    counts = Counter(r.type for r in plan.resources)
    parts = ", ".join(f"{n} {t}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{len(plan.resources)} resources: {parts}"


def markdown(plan: Plan) -> str:
    """A summary for a pull-request comment: resources by type and the stack outputs."""
    counts = Counter(r.type for r in plan.resources)
    lines = [
        f"### `{plan.stack}` ({plan.cloud}): {len(plan.resources)} resources",
        "",
        "| resources | type |",
        "|---:|---|",
        *(f"| {n} | `{t}` |" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
    ]
    if plan.outputs:
        lines += ["", "| output | value |", "|---|---|"]
        lines += [f"| `{k}` | `{v if isinstance(v, str) else json.dumps(v)}` |" for k, v in plan.outputs.items()]
    if plan.sizing:
        cost = plan.sizing["cost"]
        lines += ["", f"**Fit:** {_fit_text(plan.sizing['fit'])}", ""]
        lines += [
            f"| cost estimate ({cost['referenceRegion']}, billed {cost['billing']}) | replicas | GPU nodes "
            "| on-demand | spot |",
            "|---|---:|---:|---|---|",
        ]
        lines += [
            f"| at {label} replicas | {s['replicas']} | {s['gpuNodes']} "
            f"| {_money(s['onDemand'])} | {_money(s['spot'])} |"
            for label, s in _scenarios(cost)
        ]
        lines += ["", f"Estimate from catalog list prices; excludes {cost['excludes']}."]
        lines += [f"Note: {note}" for note in cost["notes"]]
    lines += ["", *policy_markdown(plan)]
    return "\n".join(lines) + "\n"


def policy_markdown(plan: Plan) -> list[str]:
    """The policy findings as a table for the PR comment."""
    if not plan.policy:
        return ["**Policy:** clean"]
    lines = [f"**Policy:** {len(plan.policy)} finding(s)", "", "| severity | rule | resource | message |"]
    lines.append("|---|---|---|---|")
    lines += [
        f"| {f['severity']} | `{f['rule']}` | `{f['urn'].rsplit('::', 1)[-1]}` | {f['message'].replace('|', '/')} |"
        for f in plan.policy
    ]
    return lines


def as_json(plan: Plan) -> dict[str, Any]:
    return {
        "stack": plan.stack,
        "cloud": plan.cloud,
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "provider": r.provider,
                "id": r.id,
                "inputs": r.inputs,
                "outputs": r.outputs,
                "dependencies": r.dependencies,
                "ignoreChanges": r.ignore_changes,
            }
            for r in plan.resources
        ],
        "outputs": plan.outputs,
        "policy": plan.policy,
        "warnings": plan.warnings,
        "fit": plan.sizing.get("fit"),
        "cost": plan.sizing.get("cost"),
    }


def manifests(plan: Plan) -> list[dict[str, Any]]:
    """Every Kubernetes object the program registers, as the API server would receive it. Server-side
    apply patches (`DeploymentPatch`, ...) of objects the cluster already runs (an AKS add-on's) are
    partial objects, not objects of their own: they are left out."""
    objects = []
    for r in plan.resources:
        match = _K8S_TOKEN.match(r.type)
        if not match or not r.custom or match["kind"].endswith("Patch"):
            continue
        group, version = match["group"], match["version"]
        obj = dict(r.inputs)
        obj["apiVersion"] = version if group == "core" else f"{group}/{version}"
        obj["kind"] = match["kind"]
        metadata = dict(obj.get("metadata") or {})
        metadata.setdefault("name", r.outputs.get("metadata", {}).get("name", r.name))
        obj["metadata"] = metadata
        objects.append({"apiVersion": obj.pop("apiVersion"), "kind": obj.pop("kind"), **obj})
    return objects


def write_manifests(plan: Plan, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for i, obj in enumerate(manifests(plan)):
        meta = obj["metadata"]
        stem = "-".join(p for p in (meta.get("namespace"), obj["kind"].lower(), meta["name"]) if p)
        path = directory / f"{i:02d}-{stem}.yaml"
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        written.append(path)
    return written
