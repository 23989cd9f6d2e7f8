"""Kubernetes versions against each cloud's dated support table: past the end of standard support is
a one-line config error before anything registers; within 60 days a warning; "today" is injected.

Expected dates are the clouds' published calendars (as of 2026-12-02): EKS 1.34 ends 2026-12-02,
1.35 2027-03-27 (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html); AKS 1.35
"Mar 2027" = 2027-03-31 (learn.microsoft.com/azure/aks/supported-kubernetes-versions); GKE 1.35
about 2027-02-28 (GKE release schedule, an estimate)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from infra.config import loader
from infra.config.errors import ConfigError
from tests.harness import copy_project, stack_file


def _parse(stack: str, version: str, today: str, monkeypatch, **more):
    monkeypatch.setenv("LLZ_TODAY", today)
    overrides = {"cluster": {"kubernetesVersion": version}, **more}
    return loader.parse(loader.from_pulumi_config(stack_file(stack, overrides).config))


@pytest.mark.parametrize(
    ("stack", "version", "today", "ended"),
    [
        ("aws-dev", "1.34", "2026-12-03", "2026-12-02"),
        ("aws-dev", "1.35", "2027-03-28", "2027-03-27"),
        ("azure-dev", "1.35", "2027-04-01", "2027-03-31"),
        ("gcp-dev", "1.35", "2027-03-01", "2027-02-28"),
    ],
)
def test_version_past_standard_support_is_one_line(stack, version, today, ended, monkeypatch):
    with pytest.raises(ConfigError) as info:
        _parse(stack, version, today, monkeypatch)
    text = str(info.value)
    assert text.startswith(f"llm-landing-zone:cluster.kubernetesVersion = '{version}': ")
    assert f"standard support ended {ended}" in text and "\n" not in text


@pytest.mark.parametrize(("stack", "version"), [("aws-dev", "1.34"), ("aws-dev", "1.35"), ("azure-dev", "1.35")])
def test_the_last_day_of_support_still_plans(stack, version, monkeypatch):
    last = {"1.34": "2026-12-02", "1.35": "2027-03-27" if stack == "aws-dev" else "2027-03-31"}[version]
    assert _parse(stack, version, last, monkeypatch).cluster.kubernetes_version == version


def test_old_and_unknown_versions_name_what_is_supported(monkeypatch):
    with pytest.raises(ConfigError, match=r"'1.33': not in the aws support table \(as of 2026-12-02\); supported: "):
        _parse("aws-dev", "1.33", "2026-12-02", monkeypatch)
    with pytest.raises(ConfigError, match=r"supported: 1.34, 1.35, 1.36$"):
        _parse("aws-dev", "1.29", "2026-12-02", monkeypatch)


def test_warning_within_60_days_of_the_end(monkeypatch):
    cfg = _parse("aws-dev", "1.35", "2027-02-01", monkeypatch)  # 54 days before 2027-03-27
    assert loader.warnings(cfg) == [
        "kubernetesVersion 1.35: aws standard support ends 2027-03-27 (54 days); "
        "plan the upgrade (one minor version per update)"
    ]
    assert loader.warnings(_parse("aws-dev", "1.35", "2027-01-25", monkeypatch)) == []  # 61 days


def test_shipped_stacks_are_supported_today_without_warnings(dev_stack, monkeypatch):
    cfg = _parse(dev_stack, "1.35", "2026-12-02", monkeypatch)
    assert loader.warnings(cfg) == []


def test_eks_version_without_a_pinned_autoscaler_needs_an_image(monkeypatch):
    with pytest.raises(ConfigError, match=r"aws.clusterAutoscalerImage = null: no Cluster Autoscaler release"):
        _parse("aws-dev", "1.36", "2026-12-02", monkeypatch)
    mirror = "registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.0"
    cfg = _parse("aws-dev", "1.36", "2026-12-02", monkeypatch, aws={"clusterAutoscalerImage": mirror})
    assert cfg.aws.cluster_autoscaler_image == mirror


def test_llz_plan_exits_2_with_one_line_on_an_unsupported_version(tmp_path):
    project = copy_project(tmp_path / "project")
    stack = (project / "stacks" / "Pulumi.aws-dev.yaml").read_text()
    (project / "stacks" / "Pulumi.aws-old.yaml").write_text(stack.replace('"1.35"', '"1.33"'))
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "--stack", "aws-old"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "LLZ_TODAY": "2026-12-02"},
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith(
        "aws-old: config error: llm-landing-zone:cluster.kubernetesVersion = '1.33': not in the aws support table"
    )


def test_llz_plan_prints_the_support_warning_and_still_plans(tmp_path):
    """54 days before EKS 1.35 leaves standard support: exit 0, one warning line, the plan as usual."""
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "--stack", "aws-dev", "--json", "-"],
        cwd=copy_project(tmp_path / "project"),
        capture_output=True,
        text=True,
        env={**os.environ, "LLZ_TODAY": "2027-02-01"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "aws-dev: warning: kubernetesVersion 1.35: aws standard support ends 2027-03-27 (54 days); "
        "plan the upgrade (one minor version per update)"
    ]
    assert json.loads(result.stdout)["warnings"] == [result.stderr.split("warning: ", 1)[1].strip()]
