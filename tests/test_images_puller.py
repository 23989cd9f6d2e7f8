"""The puller image's Python package set (issue 17 item 3), outside Docker: the files weights/Dockerfile
copies, installed as it installs them (`.[weights]` alone under weights/constraints.txt) into a
clean venv (`make .test-tools/weights-venv/.deps`). `llz weights --help` runs there, the Pulumi
program's dependencies are absent, and every installed distribution is one the constraints pin."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".test-tools" / "weights-venv"
PY, LLZ = VENV / "bin" / "python", VENV / "bin" / "llz"


@pytest.fixture(scope="module")
def venv() -> Path:
    made = subprocess.run(["make", "-C", str(ROOT), ".test-tools/weights-venv/.deps"], capture_output=True, text=True)
    assert made.returncode == 0, f"could not build the puller's venv:\n{made.stdout[-2000:]}{made.stderr[-2000:]}"
    return VENV


def _run(*argv: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd="/")


def test_llz_weights_help_runs_in_the_clean_venv(venv):
    result = _run(LLZ, "weights", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("push", "pull", "stage", "serve"):
        assert command in result.stdout
    assert _run(LLZ, "--help").returncode == 0


def test_the_program_dependencies_are_not_installed(venv):
    for module in ("pulumi", "pydantic", "pulumi_kubernetes"):
        result = _run(PY, "-c", f"import {module}")
        assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, module


def test_every_installed_distribution_is_pinned_by_the_constraints(venv):
    pins = {}
    for line in (ROOT / "weights" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split(";")[0].strip().split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    freeze = _run(PY, "-m", "pip", "freeze", "--exclude-editable")
    assert freeze.returncode == 0, freeze.stderr
    installed = {}
    for line in freeze.stdout.splitlines():
        name, _, version = line.partition("==")
        if version and re.sub(r"[-_.]+", "-", name).lower() != "llm-landing-zone":
            installed[re.sub(r"[-_.]+", "-", name).lower()] = version
    assert installed, freeze.stdout
    unpinned = {n: v for n, v in installed.items() if pins.get(n) != v}
    assert not unpinned, f"installed but not pinned (or at another version) in weights/constraints.txt: {unpinned}"
