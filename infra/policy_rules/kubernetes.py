"""Kubernetes rules: no public load balancer, hardened containers, NetworkPolicy around the serving
namespace, and no secrets in plain env values."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from .model import SECRET, Res, Rule, Stack, as_list, dig, is_true, known, not_false

SERVICE = ("kubernetes:core/v1:Service",)
NETWORK_POLICY = ("kubernetes:networking.k8s.io/v1:NetworkPolicy",)
# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS = {
    "kubernetes:core/v1:Pod": "spec",
    "kubernetes:apps/v1:Deployment": "spec.template.spec",
    "kubernetes:apps/v1:StatefulSet": "spec.template.spec",
    "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
    "kubernetes:apps/v1:ReplicaSet": "spec.template.spec",
    "kubernetes:batch/v1:Job": "spec.template.spec",
    "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
}
WORKLOADS = tuple(POD_SPEC_PATHS)
LONG_RUNNING = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
SERVING_COMPONENTS = "llz:serving:"

# Annotation -> value that makes a LoadBalancer Service internal, per cloud controller.
INTERNAL_LB = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
}
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW(OR)?D|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|CONNECTION_?STRING", re.I
)
NOT_A_SECRET = re.compile(r"_(FILE|PATH|DIR|URL|URI|ENDPOINT)$", re.I)  # e.g. AZURE_FEDERATED_TOKEN_FILE
SECRET_VALUE = re.compile(r"AKIA[0-9A-Z]{16}|hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|AccountKey=|-----BEGIN")


def containers(res: Res, init: bool = True) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label, container) for the workload's containers, and its init containers unless init=False."""
    spec = res.get(POD_SPEC_PATHS[res.type]) or {}
    kinds = ("containers", "initContainers") if init else ("containers",)
    for kind in kinds:
        for i, c in enumerate(as_list(dig(spec, kind))):
            if isinstance(c, Mapping):
                yield f"{kind}[{c.get('name', i)}]", c


def _load_balancer(res: Res) -> Iterator[str]:
    if res.get("spec.type") != "LoadBalancer":
        return
    annotations = res.get("metadata.annotations") or {}
    if not any(str(annotations.get(k, "")).lower() == v for k, v in INTERNAL_LB.items()):
        yield "LoadBalancer Service without an internal-LB annotation gets a public IP; add the internal annotation"


def _privilege_escalation(res: Res) -> Iterator[str]:
    for label, c in containers(res):
        context = c.get("securityContext") or {}
        if is_true(context.get("privileged")):
            yield f"{label} is privileged"
        if not_false(context.get("allowPrivilegeEscalation")):
            yield f"{label}: securityContext.allowPrivilegeEscalation must be false"


def _capabilities(res: Res) -> Iterator[str]:
    for label, c in containers(res):
        drop = as_list(dig(c, "securityContext.capabilities.drop"))
        if "ALL" not in drop:
            yield f"{label}: securityContext.capabilities.drop must include ALL"


def _limits(res: Res) -> Iterator[str]:
    for label, c in containers(res):
        if not dig(c, "resources.limits.memory"):
            yield f"{label}: resources.limits.memory is not set"


def _probes(res: Res) -> Iterator[str]:
    for label, c in containers(res, init=False):
        missing = [p for p in ("readinessProbe", "livenessProbe") if not c.get(p)]
        if missing:
            yield f"{label}: no {' / '.join(missing)}"


def _plain_secrets(res: Res) -> Iterator[str]:
    for label, c in containers(res):
        for env in as_list(c.get("env")):
            if not isinstance(env, Mapping) or "value" not in env:
                continue
            name, value = str(env.get("name", "")), env["value"]
            if value == SECRET:
                yield f"{label}: env {name} holds a Pulumi secret as a plain value; use valueFrom.secretKeyRef"
            elif SECRET_NAME.search(name) and not NOT_A_SECRET.search(name) and value:
                yield f"{label}: env {name} looks like a secret in a plain value; use valueFrom.secretKeyRef"
            elif isinstance(value, str) and SECRET_VALUE.search(value):
                yield f"{label}: env {name} holds a credential-shaped value; use valueFrom.secretKeyRef"
        args = [str(a) for a in as_list(c.get("command")) + as_list(c.get("args"))]
        for i, arg in enumerate(args):
            literal = arg.split("=", 1)[1] if arg.startswith("--api-key=") else None
            if arg == "--api-key" and i + 1 < len(args):
                literal = args[i + 1]
            if literal is not None and not literal.startswith("$("):
                yield f"{label}: --api-key given literally in the command line; pass it from a Secret via env"


def _namespace(res: Res) -> Any:
    return res.get("metadata.namespace") or "default"


def _network_policy(stack: Stack) -> Iterator[tuple[Res, str]]:
    """The serving component's workloads run in namespaces with at least one NetworkPolicy."""
    covered = {_namespace(p) for p in stack.of_type(*NETWORK_POLICY)}
    for workload in stack.of_type(*WORKLOADS):
        namespace = _namespace(workload)
        serving = any(a.type.startswith(SERVING_COMPONENTS) for a in stack.ancestors(workload))
        if serving and known(namespace) and namespace not in covered:
            yield workload, f"serving namespace {namespace!r} has no NetworkPolicy"


RULES = [
    Rule(
        "k8s-no-public-loadbalancer",
        "LoadBalancer Services carry the cloud's internal-LB annotation.",
        types=SERVICE,
        check=_load_balancer,
    ),
    Rule(
        "k8s-no-privilege-escalation",
        "Containers set allowPrivilegeEscalation: false and are not privileged.",
        types=WORKLOADS,
        check=_privilege_escalation,
    ),
    Rule(
        "k8s-drop-capabilities",
        "Containers drop ALL capabilities.",
        types=WORKLOADS,
        check=_capabilities,
    ),
    Rule("k8s-resource-limits", "Containers set a memory limit.", types=WORKLOADS, check=_limits),
    Rule(
        "k8s-probes",
        "Serving containers (Deployment/StatefulSet) have readiness and liveness probes.",
        severity="advisory",
        types=LONG_RUNNING,
        check=_probes,
    ),
    Rule(
        "k8s-network-policy",
        "The serving namespace has a NetworkPolicy.",
        check_stack=_network_policy,
    ),
    Rule(
        "k8s-no-plain-secret-env",
        "No secrets in plain env values or on the command line.",
        types=WORKLOADS,
        check=_plain_secrets,
    ),
]
