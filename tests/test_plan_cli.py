"""`llz plan` as a user runs it: a subprocess with real files in and real exit codes out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT, copy_project


def llz(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_tree_and_summary():
    result = llz("plan", "--stack", "aws-dev")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "llm-landing-zone  stack=aws-dev  cloud=aws"
    assert any("llz:serving:ModelServing  llm" in line for line in lines)
    assert any(line.startswith("│  ") and "kubernetes:core/v1:ServiceAccount  llm-sa" in line for line in lines)
    summary = lines[-1]
    assert summary.split(" resources: ")[0].isdigit()
    assert "1 llz:serving:ModelServing" in summary


def test_json_plan_is_stable_and_followable(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert llz("plan", "--stack", "gcp-dev", "--json", str(first)).returncode == 0
    assert llz("plan", "--stack", "gcp-dev", "--json", str(second)).returncode == 0
    assert first.read_bytes() == second.read_bytes(), "two plans of the same stack differ"
    plan = json.loads(first.read_text())
    assert {"stack", "cloud", "resources", "outputs"} <= set(plan)
    assert (plan["stack"], plan["cloud"]) == ("gcp-dev", "gcp")
    urns = {r["urn"] for r in plan["resources"]}
    for r in plan["resources"]:
        assert {"urn", "type", "name", "parent", "provider", "id", "inputs", "outputs"} <= set(r)
        if r["provider"]:
            assert r["provider"].split("::")[:-1] and r["provider"].rsplit("::", 1)[0] in urns
        if r["parent"] and r["parent"] in urns:
            assert r["parent"] != r["urn"]
    provider = next(r for r in plan["resources"] if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    assert plan["outputs"]["kubeconfig"] == "[secret]"
    password = next(r for r in plan["resources"] if r["type"] == "random:index/randomPassword:RandomPassword")
    assert password["outputs"]["result"] == "[secret]"  # the engine's (fake) key never reaches the plan
    secret = next(r for r in plan["resources"] if r["type"] == "kubernetes:core/v1:Secret")
    assert secret["inputs"]["stringData"] == {"api-key": "[secret]"}


def test_manifests_are_kubernetes_objects(tmp_path):
    assert llz("plan", "--stack", "azure-dev", "--manifests", str(tmp_path)).returncode == 0
    docs = [yaml.safe_load(p.read_text()) for p in sorted(tmp_path.glob("*.yaml"))]
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ServiceAccount"} <= kinds
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]


def test_manifests_carry_the_alert_rules_and_dashboard(tmp_path):
    assert llz("plan", "--stack", "azure-dev", "--manifests", str(tmp_path)).returncode == 0
    rules = yaml.safe_load((tmp_path / "observability" / "prometheus-rules.yaml").read_text())
    assert [g["name"] for g in rules["groups"]] == ["llz-serving"]
    assert all(r["labels"]["stack"] == "azure-dev" for r in rules["groups"][0]["rules"])
    board = json.loads((tmp_path / "observability" / "grafana-dashboard.json").read_text())
    assert board["uid"] == "llz-azure-dev" and board["panels"]


def test_all_stacks(tmp_path):
    result = llz("plan", "--all", "--quiet", "--json", str(tmp_path))
    assert result.returncode == 0, result.stderr
    shipped = sorted(p.name.removeprefix("Pulumi.") for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
    assert {"aws-dev.yaml", "gcp-dev.yaml", "azure-dev.yaml", "aws-prod.yaml"} <= set(shipped)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [s.replace(".yaml", ".json") for s in shipped]
    assert result.stdout.count(" resources: ") == len(shipped)
    for path in tmp_path.glob("*.json"):  # --all exits 0 only when every stack is policy-clean
        assert json.loads(path.read_text())["policy"] == [], path.name


def test_markdown_summary(tmp_path):
    out = tmp_path / "summary.md"
    assert llz("plan", "--all", "--quiet", "--markdown", str(out)).returncode == 0
    text = out.read_text()
    for stack in ("aws-dev", "gcp-dev", "azure-dev"):
        assert f"### `{stack}` (" in text
    assert "| 1 | `llz:serving:ModelServing` |" in text
    assert "| `kubeconfig` | `[secret]` |" in text


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    project = copy_project(tmp_path / "project")
    bad = (project / "stacks" / "Pulumi.aws-dev.yaml").read_text().replace("maxNodes: 3", "maxNodes: -4")
    (project / "stacks" / "Pulumi.aws-bad.yaml").write_text(bad)
    result = llz("plan", "--stack", "aws-bad", cwd=project)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "config error: llm-landing-zone:gpu.maxNodes = -4" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_project_is_found_from_a_subfolder_or_with_project_dir(tmp_path):
    """Like the Pulumi CLI: the nearest Pulumi.yaml from the current directory up, or from -C DIR."""
    project = copy_project(tmp_path / "project")
    stack = project / "stacks" / "Pulumi.gcp-dev.yaml"
    stack.write_text(stack.read_text().replace("servedName: deepseek-r1-8b", "servedName: from-the-copy"))
    (project / "deep" / "er").mkdir(parents=True)
    for cwd, args in ((project / "deep" / "er", ()), (tmp_path, ("-C", "project/deep"))):
        out = tmp_path / f"{cwd.name}.json"
        result = llz("plan", "--stack", "gcp-dev", "--quiet", "--json", str(out), *args, cwd=cwd)
        assert result.returncode == 0, result.stderr
        assert json.loads(out.read_text())["outputs"]["servedModelName"] == "from-the-copy"


def test_outside_a_project_is_one_line_and_exit_2(tmp_path):
    assert not any((d / "Pulumi.yaml").exists() for d in (tmp_path, *tmp_path.parents)), "tmp is inside a project"
    result = llz("plan", "--stack", "aws-dev", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        result.stderr
        == f"llz plan: no Pulumi.yaml in {tmp_path.resolve()} or any folder above it (run it inside a Pulumi project)\n"
    )


def test_a_project_with_other_code_is_refused(tmp_path):
    """A checkout with its own infra/ runs that code under `pulumi up`; planning it with this llz's
    infra would plan something else, so llz says which llz to use instead."""
    project = copy_project(tmp_path / "other-checkout")
    (project / "infra").mkdir()
    (project / "infra" / "__init__.py").write_text("")
    result = llz("plan", "--stack", "aws-dev", "-C", str(project))
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"llz plan: {project.resolve()} has its own infra/ but this llz runs the one in ")


def test_unknown_stack_exit_2():
    result = llz("plan", "--stack", "nope")
    assert result.returncode == 2
    assert "no stack file stacks/Pulumi.nope.yaml" in result.stderr


# A config.json with the fields sizing reads (Llama 3.1 8B, the base of the stacks' R1 distill).
HF_CONFIG = {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8}


@pytest.fixture(scope="module")
def installed_llz(tmp_path_factory) -> tuple[list[str], dict[str, str]]:
    """`llz` from a non-editable install: `pip install --no-deps` of a copy of the source (the
    packages pyproject ships) into a target folder, run with this interpreter's dependencies and
    nothing of the checkout on sys.path."""
    base = tmp_path_factory.mktemp("llz-installed")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    shipped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for package in {pattern.rstrip("*").rstrip(".") for pattern in shipped["include"]}:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    target = base / "site-packages"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(source)]
    result = subprocess.run(pip, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"pip could not install the project from a copy ({' '.join(pip)}):\n{result.stderr}")
    script = target / "bin" / "llz"
    assert script.is_file(), f"pip installed no llz script into {target / 'bin'}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import infra; print(infra.__file__)"], cwd=base, env=env, capture_output=True, text=True
    )
    assert Path(where.stdout.strip()).is_relative_to(target), f"infra imported from {where.stdout or where.stderr}"
    return [sys.executable, str(script)], env


def test_installed_llz_plans_the_project_it_is_run_in(installed_llz, tmp_path):
    """A pip-installed llz in a copy of the project plans that copy: its stack file, its program, and
    a relative model.hfConfigDir read from the copy (not from the installed package)."""
    command, env = installed_llz
    project = copy_project(tmp_path / "my-landing-zone")
    (project / "hf").mkdir()
    (project / "hf" / "config.json").write_text(json.dumps(HF_CONFIG))
    stack = project / "stacks" / "Pulumi.gcp-dev.yaml"
    text = stack.read_text()
    assert "    servedName: deepseek-r1-8b\n" in text
    stack.write_text(
        text.replace("    servedName: deepseek-r1-8b\n", "    servedName: planned-copy\n    hfConfigDir: hf\n")
    )
    out = tmp_path / "plan.json"
    result = subprocess.run(
        [*command, "plan", "--stack", "gcp-dev", "--quiet", "--json", str(out)],
        cwd=project / "stacks",
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(out.read_text())
    assert plan["outputs"]["servedModelName"] == "planned-copy"
    deployment = next(r for r in plan["resources"] if r["type"] == "kubernetes:apps/v1:Deployment")
    assert "planned-copy" in json.dumps(deployment["inputs"])
    assert plan["fit"]["kvShape"] == "config.json"  # hf/ of the copy, found relative to the project
    assert plan["policy"] == []  # the rules ship in the package


def test_installed_llz_outside_a_project_is_one_line_and_exit_2(installed_llz, tmp_path):
    command, env = installed_llz
    assert not any((d / "Pulumi.yaml").exists() for d in (tmp_path, *tmp_path.parents)), "tmp is inside a project"
    result = subprocess.run(
        [*command, "plan", "--stack", "gcp-dev"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("llz plan: no Pulumi.yaml in ")
