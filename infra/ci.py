"""Which runner each workflow job of each stack uses: one place for the CI side of `cluster.apiAccess`.

The in-network runners the bootstrap stacks build (`infra/aws/runner.py`, `infra/azure/runner.py`)
take their names from `runner_name`; the workflows take their `runs-on` labels from `runs_on`,
through `python -m infra.ci`, which the `stacks` job of up.yml, preview.yml and drift.yml runs:

    list=["aws-dev", "aws-dev-bootstrap", ...]     every stack (preview, drift)
    workloads=[...]  bootstrap=[...]                 up.yml: bootstrap stacks first, on GitHub-hosted runners
    runners={"aws-dev": {"deploy": "codebuild-llz-aws-dev-deploy-<run id>-<attempt>",
                         "preview": "...", "identity": true}, ...}

Two runners per stack, two identities: `deploy` (up and the drift check: code from main) and
`preview` (pull requests: code nobody has reviewed yet, so it never holds deploy rights).
`identity: true` means the runner's own cloud identity runs Pulumi (no OIDC login in the job).
A repository variable LLZ_RUNNERS (JSON, {"<stack>": "<label>"} or {"<stack>": {"deploy": …,
"preview": …}}) overrides a stack's labels, e.g. a larger runner with a static egress IP for
`cluster.apiAccess: cidr`. GitHub does not resolve environment-level variables in `runs-on`
(actions/runner#2472, github/docs#33389), so this is a repository (or organization) variable.

Imports only PyYAML (through `infra.plan.stackfile`), so the workflow needs no project install.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.config import roles
from infra.conventions import PROJECT
from infra.plan import stackfile

KINDS = ("deploy", "preview")  # deploy: up + drift; preview: pull requests
# The workflows (their `name:`) whose jobs each runner kind takes; AWS filters its webhook on them.
WORKFLOWS = {"deploy": ("up", "drift"), "preview": ("preview",)}
HOSTED = "ubuntu-latest"  # GitHub-hosted: bootstrap stacks, and apiAccess cidr/dns


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


def stack_runners(stack: str, config: Mapping[str, str], run_id: str, run_attempt: str) -> dict[str, Any]:
    """{"deploy": label, "preview": label, "identity": bool} for one stack (engine config map)."""
    cluster = _value(config, "cluster") or {}
    in_network = not roles.is_bootstrap(config) and cluster.get("apiAccess") == "runner"
    if not in_network:
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


def matrix(root: Path, run_id: str, run_attempt: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    stacks = stackfile.stack_names(root)
    configs = {s: stackfile.load(s, root).config for s in stacks}
    bootstrap = [s for s in stacks if roles.is_bootstrap(configs[s])]
    runners = {s: _override(stack_runners(s, configs[s], run_id, run_attempt), overrides.get(s)) for s in stacks}
    return {
        "list": stacks,
        "workloads": [s for s in stacks if s not in bootstrap],
        "bootstrap": bootstrap,
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
    out = matrix(
        Path(argv[0]) if argv else stackfile.find_project(),
        os.environ.get("GITHUB_RUN_ID", "0"),
        os.environ.get("GITHUB_RUN_ATTEMPT", "1"),
        overrides,
    )
    for key, value in out.items():
        print(f"{key}={json.dumps(value, separators=(',', ':'), sort_keys=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
