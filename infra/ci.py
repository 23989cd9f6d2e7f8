"""Which stacks CI touches, and which runner each workflow job of each stack uses: one place for the
CI side of `cluster.apiAccess` and of the repository variable `LLZ_STACKS`.

`python -m infra.ci` (the `stacks` job of up.yml, preview.yml and drift.yml) prints:

    all=["aws-dev", "aws-dev-bootstrap", ...]      every stack file: the offline `llz plan` (no credential)
    list=[...]                                      the stacks named by LLZ_STACKS: drift checks
    previews=[...]                                  listed stacks that are not prod: `pulumi preview` on PRs
    bootstrap=[...]  workloads=[...]                listed: up.yml, bootstrap stacks first
    prod=[...]                                      listed prod workloads: previewed after merge, before `up`
    runners={"aws-dev": {"deploy": "codebuild-llz-aws-dev-deploy-<run id>-<attempt>",
                         "preview": "...", "identity": true}, ...}

**Which stacks.** CI previews, deploys and drift-checks only the stacks the repository variable
`LLZ_STACKS` names (a JSON list, or names separated by spaces or commas); unset means none, so a
fresh fork or clone never touches a cloud. A listed stack whose file (or, for a bootstrap stack,
its workload's file) still holds a `REPLACE` placeholder fails the job with one line: the shipped
example stacks are never deployed as they are. A listed `cluster.apiAccess: runner` workload needs
its `<stack>-bootstrap` listed too. A stack is prod when `llm-landing-zone:environment` is `prod`
(a bootstrap stack takes its workload's): pull requests never preview it (docs/policy-ci.md). In a
public repository (`REPOSITORY_PRIVATE=false`, from the event) pull requests preview no stack whose
preview runner is self-hosted either: GitHub advises self-hosted runners for private repositories
only, and a PR's code would run there with the runner's identity.

**Which runner.** Two runners per stack, two identities: `deploy` (up, the post-merge preview of prod
and the drift check: code from main) and `preview` (pull requests: code nobody has reviewed yet, so
it never holds deploy rights). `identity: true` means the runner's own cloud identity runs Pulumi
(no OIDC login in the job). A repository variable LLZ_RUNNERS (JSON, {"<stack>": "<label>"} or
{"<stack>": {"deploy": …, "preview": …}}) overrides a stack's labels, e.g. a larger runner with a
static egress IP for `cluster.apiAccess: cidr`. GitHub does not resolve environment-level variables
in `runs-on` (actions/runner#2472, github/docs#33389), so both are repository (or organization)
variables.

Imports only PyYAML (through `infra.plan.stackfile`), so the workflow needs no project install.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.config import roles
from infra.conventions import PROJECT
from infra.plan import stackfile

KINDS = ("deploy", "preview")  # deploy: up, post-merge preview, drift (code from main); preview: pull requests
# The workflows (their `name:`) whose jobs each runner kind takes; AWS filters its webhook on them.
WORKFLOWS = {"deploy": ("up", "drift"), "preview": ("preview",)}
HOSTED = "ubuntu-latest"  # GitHub-hosted: bootstrap stacks, and apiAccess cidr/dns
PROD = "prod"  # llm-landing-zone:environment of a stack pull requests never preview
# A placeholder the shipped example stacks mark for the user to replace (on a config line, not in a
# comment-only line, whose prose says "Replace the placeholders marked REPLACE").
PLACEHOLDER = re.compile(r"\bREPLACE\b")


class StackListError(ValueError):
    """LLZ_STACKS names a stack CI must not touch; the message is the one line the job prints."""


def runner_name(stack: str, kind: str) -> str:
    """The CodeBuild project / the Container Apps runner label of a stack's runner of `kind`."""
    return f"llz-{stack}-{kind}"


def runs_on(cloud: str, stack: str, kind: str, run_id: str, run_attempt: str) -> str:
    """The `runs-on` label a job needs to land on the stack's in-network runner of `kind`: the
    cloud's `RUNNER_LABEL` (in `infra/<cloud>/__init__.py`, which imports nothing) filled in."""
    template = importlib.import_module(f"infra.{cloud}").RUNNER_LABEL
    return template.format(name=runner_name(stack, kind), run_id=run_id, run_attempt=run_attempt)


def _value(config: Mapping[str, str], key: str) -> Any:
    raw = config.get(f"{PROJECT}:{key}")
    if isinstance(raw, str) and raw[:1] in "[{":
        return json.loads(raw)
    return raw


def _runner_mode(config: Mapping[str, str]) -> bool:
    return not roles.is_bootstrap(config) and (_value(config, "cluster") or {}).get("apiAccess") == "runner"


def stack_runners(stack: str, config: Mapping[str, str], run_id: str, run_attempt: str) -> dict[str, Any]:
    """{"deploy": label, "preview": label, "identity": bool} for one stack (engine config map)."""
    if not _runner_mode(config):
        return {**dict.fromkeys(KINDS, HOSTED), "identity": False}
    cloud = _value(config, "cloud")
    return {**{k: runs_on(cloud, stack, k, run_id, run_attempt) for k in KINDS}, "identity": True}


def _override(labels: dict[str, Any], override: Any) -> dict[str, Any]:
    if isinstance(override, str):
        return {**labels, **dict.fromkeys(KINDS, override), "identity": False}
    if isinstance(override, dict):
        picked = {k: v for k, v in override.items() if k in KINDS and isinstance(v, str) and v}
        return {**labels, **picked, "identity": labels["identity"] and not picked}
    return labels


def placeholders(stack: str, root: Path) -> list[str]:
    """`<file>:<line>` of every REPLACE placeholder left in the stack's file, and for a bootstrap stack
    in its workload's file too (its config is the workload's)."""
    config_dir = root / (stackfile._project(root).get("stackConfigDir") or ".")
    names = [stack] + ([w] if (w := roles.workload_of(stack)) else [])
    found = []
    for name in names:
        path = config_dir / f"Pulumi.{name}.yaml"
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.lstrip().startswith("#") and PLACEHOLDER.search(line):
                found.append(f"{path.relative_to(root)}:{number}")
    return found


def selected(raw: str) -> list[str]:
    """The stack names in LLZ_STACKS: a JSON list, or names separated by spaces or commas."""
    raw = raw.strip()
    if not raw:
        return []
    if raw[0] in '[{"':
        try:
            names = json.loads(raw)
        except json.JSONDecodeError as e:
            raise StackListError(f'LLZ_STACKS is not a JSON list ({e}); expected ["<stack>", ...]') from None
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise StackListError('LLZ_STACKS must be a list of stack names: ["<stack>", ...]')
    else:
        names = re.split(r"[\s,]+", raw)
    return list(dict.fromkeys(n.strip() for n in names if n.strip()))


def is_prod(config: Mapping[str, str]) -> bool:
    return _value(config, "environment") == PROD


def matrix(
    root: Path,
    run_id: str,
    run_attempt: str,
    overrides: Mapping[str, Any],
    listed: list[str] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    stacks = stackfile.stack_names(root)
    listed = listed or []
    unknown = [s for s in listed if s not in stacks]
    if unknown:
        raise StackListError(
            f"LLZ_STACKS names {', '.join(unknown)}, which has no stack file; stacks: {', '.join(stacks)}"
        )
    configs = {s: stackfile.load(s, root).config for s in stacks}
    for stack in listed:
        left = placeholders(stack, root)
        if left:
            raise StackListError(
                f"LLZ_STACKS lists {stack}, whose stack file still has placeholders ({', '.join(left)}); "
                "replace them before CI may touch it, or remove it from LLZ_STACKS"
            )
        if _runner_mode(configs[stack]) and roles.bootstrap_of(stack) not in listed:
            raise StackListError(
                f"LLZ_STACKS lists {stack} (cluster.apiAccess: runner) without {roles.bootstrap_of(stack)}, "
                "which builds its runners; list both"
            )
    bootstrap = [s for s in listed if roles.is_bootstrap(configs[s])]
    workloads = [s for s in listed if s not in bootstrap]
    runners = {s: _override(stack_runners(s, configs[s], run_id, run_attempt), overrides.get(s)) for s in stacks}
    return {
        "all": stacks,
        "list": listed,
        "previews": [s for s in listed if not is_prod(configs[s]) and not (public and runners[s]["preview"] != HOSTED)],
        "bootstrap": bootstrap,
        "workloads": workloads,
        "prod": [s for s in workloads if is_prod(configs[s])],
        "runners": runners,
    }


def main(argv: list[str]) -> int:
    raw = os.environ.get("LLZ_RUNNERS", "").strip()
    try:
        overrides = json.loads(raw) if raw else {}
    except json.JSONDecodeError as e:
        print(f'LLZ_RUNNERS is not JSON ({e}); expected {{"<stack>": "<runner label>"}}', file=sys.stderr)
        return 2
    if not isinstance(overrides, dict):
        print('LLZ_RUNNERS must be a JSON object: {"<stack>": "<runner label>"}', file=sys.stderr)
        return 2
    try:
        out = matrix(
            Path(argv[0]) if argv else stackfile.find_project(),
            os.environ.get("GITHUB_RUN_ID", "0"),
            os.environ.get("GITHUB_RUN_ATTEMPT", "1"),
            overrides,
            selected(os.environ.get("LLZ_STACKS", "")),
            public=os.environ.get("REPOSITORY_PRIVATE", "").strip().lower() == "false",
        )
    except StackListError as e:
        print(e, file=sys.stderr)
        return 2
    for key, value in out.items():
        print(f"{key}={json.dumps(value, separators=(',', ':'), sort_keys=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
