"""Helpers for the serving-component tests: the component's objects in a plan, and each stack's
Platform with its outputs resolved (what the component must have copied, cloud-blind)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.plan.engine import Plan, Resource
from infra.platform import Platform
from tests.harness import built_platform

COMPONENT = "llz:serving:ModelServing"


@dataclass
class ResolvedPlatform:
    platform: Platform
    sa_annotations: dict[str, str]
    identity_env: dict[str, str]
    weights_uri: str
    pod_weights_uri: str  # what the pod reads (Platform.pod_weights_uri, else weights_uri)
    ready_urns: list[str]
    images: dict[str, str]  # upstream reference -> the stack registry's copy (Platform.images)

    def image(self, ref: str) -> str:
        return self.images.get(ref, ref)


def resolve_platform(stack: str, overrides: dict[str, Any] | None = None) -> ResolvedPlatform:
    """Build the stack's Platform under the mock engine and resolve the outputs it carries."""
    with built_platform(stack, overrides) as (platform, engine):
        identity = platform.identity
        return ResolvedPlatform(
            platform,
            dict(engine.resolve(dict(identity.service_account_annotations)) or {}),
            dict(engine.resolve(dict(identity.env)) or {}),
            engine.resolve(platform.weights_uri),
            engine.resolve(platform.weights_uri if platform.pod_weights_uri is None else platform.pod_weights_uri),
            [engine.resolve(r.urn) for r in platform.ready],
            dict(engine.resolve(dict(platform.images)) or {}),
        )


@dataclass
class Serving:
    """The ModelServing component of a plan and its children, by kind."""

    plan: Plan
    component: Resource
    children: list[Resource]

    @classmethod
    def of(cls, plan: Plan) -> Serving:
        component = plan.one(COMPONENT)
        return cls(plan, component, plan.children(component))

    def kind(self, kind: str) -> list[Resource]:
        return [r for r in self.children if r.type.rsplit(":", 1)[-1] == kind]

    def one(self, kind: str, name: str | None = None) -> Resource:
        found = [r for r in self.kind(kind) if name is None or r.get("metadata.name") == name]
        assert len(found) == 1, f"expected one {kind}{f' {name}' if name else ''}, found {[r.name for r in found]}"
        return found[0]

    @property
    def deployment(self) -> Resource:
        return self.one("Deployment")

    @property
    def pod(self) -> dict[str, Any]:
        return self.deployment.get("spec.template")

    def container(self, name: str = "vllm") -> dict[str, Any]:
        spec = self.pod["spec"]
        found = [c for c in spec.get("containers", []) + spec.get("initContainers", []) if c["name"] == name]
        assert len(found) == 1, f"no single container {name!r}"
        return found[0]


def flags(args: list[str]) -> dict[str, str | bool]:
    """vLLM CLI args as {flag: value}; a flag followed by another flag (or nothing) is True."""
    out: dict[str, str | bool] = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            nxt = args[i + 1] if i + 1 < len(args) else None
            out[arg] = nxt if nxt is not None and not nxt.startswith("--") else True
    return out


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
