"""`llz plan --manifests` output validates against the Kubernetes OpenAPI schema of the stack's
cluster version (kubernetes-validate, strict: unknown fields are errors)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

from infra.plan import render
from tests.harness import ROOT, parse, plan

SECRET_MASK = "[secret]"
# Custom resources have no schema in kubernetes-validate; their shape is asserted in test_serving_component.
# (cilium.io: Azure's Entra ID egress policy, tests/test_azure_reality.py; monitoring.googleapis.com:
# GKE's managed Prometheus, tests/test_observability.py; keda.sh: KEDA, tests/test_serving_keda.py;
# helm.sh: Pulumi's Helm release of KEDA, not a Kubernetes object, tests/test_gcp_observability.py;
# azmonitoring.coreos.com: AKS's managed Prometheus, tests/test_azure_observability.py.)
CUSTOM_GROUPS = (
    "monitoring.coreos.com/",
    "cilium.io/",
    "monitoring.googleapis.com/",
    "keda.sh/",
    "helm.sh/",
    "azmonitoring.coreos.com/",
)
CUSTOM_KINDS = {
    "aws-dev": ["Release", "ScaledObject", "TriggerAuthentication"],
    "azure-dev": ["CiliumClusterwideNetworkPolicy", "PodMonitor", "PodMonitor"],  # the server's, the DCGM exporter's
    "gcp-dev": ["PodMonitoring", "Release", "ScaledObject", "TriggerAuthentication"],  # rules: Cloud Monitoring
}


def schema_version(stack: str) -> tuple[str, str]:
    """(version to validate against, note): the stack's version, or the newest known if it is newer."""
    return schema_for(parse(stack).cluster.kubernetes_version)


def schema_for(wanted: str) -> tuple[str, str]:
    known = sorted({kv_utils.major_minor(v) for v in kv_utils.all_versions()}, key=lambda v: int(v.split(".")[1]))
    if wanted in known:
        return wanted, f"Kubernetes {wanted} (the stack's version)"
    newest = known[-1]
    return newest, f"Kubernetes {newest}: the stack's {wanted} is newer than kubernetes-validate knows"


def validate_all(objects: list[tuple[str, dict[str, Any]]], version: str, note: str) -> int:
    checked = 0
    for where, obj in objects:
        if obj["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{where} ({obj['kind']} {obj['metadata']['name']}) is invalid for {note}: {e.message}")
        checked += 1
    return checked


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-dev", "azure-dev"])
def test_llz_plan_manifests_validate_strictly(stack, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "--stack", stack, "--quiet", "--manifests", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    files = sorted(tmp_path.glob("*.yaml"))
    objects = [(p.name, yaml.safe_load(p.read_text())) for p in files]
    kinds = {o["kind"] for _, o in objects}
    assert {
        "Namespace",
        "ServiceAccount",
        "Secret",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "PodDisruptionBudget",
    } <= kinds
    version, note = schema_version(stack)
    custom = [o for _, o in objects if o["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert sorted(o["kind"] for o in custom) == CUSTOM_KINDS.get(stack, [])
    assert validate_all(objects, version, note) == len(objects) - len(custom)  # the Secret too, as written
    (secret,) = [o for _, o in objects if o["kind"] == "Secret"]
    assert secret["stringData"] == {"api-key": SECRET_MASK}, "the API-key Secret lost its key or its mask"
    assert "data" not in secret


def test_every_optional_serving_object_validates_too():
    """LB service, autoscaling (on Azure KEDA's ScaledObject), runai streaming and the ServiceMonitor: the
    objects the dev stacks leave out."""
    overrides = {
        "serving": {
            "replicas": {"min": 1, "max": 3},
            "loadFormat": "runai_streamer",
            "expose": "internal-lb",
            "allowedCidrs": ["10.0.0.0/8"],
            "allowedClients": [{"namespace": "apps", "podLabels": {"app": "chat"}}],
            "metrics": {"serviceMonitor": True},
        },
        "gpu": {"maxNodes": 4},  # room for the rollout's surge replica at replicas.max=3
    }
    planned = plan("azure-dev", overrides)
    objects = [(f"azure-dev {o['kind']}", o) for o in render.manifests(planned)]
    kinds = {o["kind"] for _, o in objects}
    assert {"ScaledObject", "TriggerAuthentication", "ServiceMonitor"} <= kinds
    version, note = schema_version("azure-dev")
    custom = [o for _, o in objects if o["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert sorted(o["kind"] for o in custom) == [
        "CiliumClusterwideNetworkPolicy",
        "PodMonitor",
        "PodMonitor",
        "ScaledObject",
        "ServiceMonitor",
        "TriggerAuthentication",
    ]
    assert validate_all(objects, version, note) == len(objects) - len(custom)


def test_validation_catches_an_unknown_field():
    """Strict mode is really on: a typo'd field in a pod spec fails."""
    deployment = next(o for o in render.manifests(plan("gcp-dev")) if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["startupProbes"] = {}
    version, _ = schema_version("gcp-dev")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, version, strict=True)


def test_validation_catches_a_secret_masked_whole():
    """A Secret whose map was replaced by the mask string (what --manifests once wrote) is invalid."""
    secret = next(o for o in render.manifests(plan("gcp-dev")) if o["kind"] == "Secret")
    version, _ = schema_version("gcp-dev")
    kubernetes_validate.validate(secret, version, strict=True)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**secret, "stringData": SECRET_MASK}, version, strict=True)


def test_a_version_newer_than_the_schemas_falls_back_to_the_newest_and_says_so():
    newest = max((kv_utils.major_minor(v) for v in kv_utils.all_versions()), key=lambda v: int(v.split(".")[1]))
    version, note = schema_for("1.99")
    assert version == newest
    assert "1.99 is newer than kubernetes-validate knows" in note
    assert schema_for(newest) == (newest, f"Kubernetes {newest} (the stack's version)")
