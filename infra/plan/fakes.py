"""The mock engine's answers: ids and computed outputs a real provider would return.

Outputs start as the resource's inputs (as a provider echoes them) plus a deterministic id;
each cloud adds what its program reads back (ARNs, endpoints, OIDC issuers, principal ids) in
`infra/<cloud>/fakes.py`, loaded only for that cloud's resources. Deterministic, so two plans of
the same program are byte-identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from infra import clouds
from infra.config.loader import from_pulumi_config

# Which cloud's fakes answer for a package's resources and invokes.
_PACKAGE_CLOUD = {"aws": "aws", "gcp": "gcp", "azure-native": "azure"}


@dataclass(frozen=True)
class FakeContext:
    stack: str
    region: str
    cloud: str = ""
    egress: str = "nat"  # network.egress: whether a bootstrap stack has a NAT gateway
    aws_account_id: str = "123456789012"
    gcp_project: str = "my-llm-project"
    gcp_project_number: str = "487134576253"
    azure_subscription_id: str = "00000000-0000-0000-0000-000000000000"
    azure_tenant_id: str = "72f988bf-86f1-41af-91ab-2d7cd011db47"

    def digest(self, *parts: str, length: int = 7) -> str:
        return hashlib.sha256("/".join((self.stack, *parts)).encode()).hexdigest()[:length]

    def physical_name(self, typ: str, name: str) -> str:
        """What Pulumi's auto-naming would give: the logical name plus a random-looking suffix."""
        return f"{name}-{self.digest(typ, name)}"


def _context(stack: str, engine_config: Mapping[str, str]) -> FakeContext:
    """The facts the fakes echo (region, project, subscription), from the stack's own config."""
    raw = from_pulumi_config(engine_config)  # decoded, not validated: the program validates
    extra: dict[str, str] = {}
    if isinstance(raw.get("gcp"), dict) and "project" in raw["gcp"]:
        extra["gcp_project"] = raw["gcp"]["project"]
    if isinstance(raw.get("azure"), dict) and "subscriptionId" in raw["azure"]:
        extra["azure_subscription_id"] = raw["azure"]["subscriptionId"]
    if isinstance(raw.get("network"), dict) and "egress" in raw["network"]:
        extra["egress"] = raw["network"]["egress"]
    return FakeContext(stack=stack, region=raw.get("region") or "us-east-1", cloud=raw.get("cloud") or "", **extra)


def _fakes_for(token: str) -> ModuleType | None:
    cloud = _PACKAGE_CLOUD.get(token.split(":", 1)[0])
    return clouds.part(cloud, "fakes") if cloud else None


def _kubernetes(typ: str, name: str, inputs: dict[str, Any], ctx: FakeContext) -> dict[str, Any]:
    metadata = dict(inputs.get("metadata") or {})
    metadata.setdefault("name", ctx.physical_name(typ, name))
    if not typ.endswith(":Namespace") and "/v1:" in typ:
        metadata.setdefault("namespace", "default")
    metadata["uid"] = f"{ctx.digest(typ, name, length=8)}-0000-4000-8000-{ctx.digest(name, length=12)}"
    return {"metadata": metadata}


class PlanMocks(Mocks):
    def __init__(self, stack: str, config: Mapping[str, str]) -> None:
        self.ctx = _context(stack, config)

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ == "pulumi:pulumi:StackReference":  # <stack>-bootstrap: what that cloud's bootstrap exports
            outputs = clouds.part(self.ctx.cloud, "fakes").bootstrap_outputs(self.ctx)
            return args.resource_id, {**args.inputs, "outputs": outputs, "secretOutputNames": []}
        state = dict(args.inputs)
        default_id = f"{args.name}-{self.ctx.digest(args.typ, args.name)}"
        if args.typ.startswith("kubernetes:"):
            state.update(_kubernetes(args.typ, args.name, args.inputs, self.ctx))
            meta = state["metadata"]
            default_id = f"{meta['namespace']}/{meta['name']}" if "namespace" in meta else meta["name"]
        fakes = _fakes_for(args.typ)
        if fakes is not None:
            state.update(fakes.outputs(args.typ, args.name, args.inputs, self.ctx))
        return str(state.pop("id", default_id)), state

    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        fakes = _fakes_for(args.token)
        if fakes is None:
            return {}, []
        return fakes.invoke(args.token, args.args, self.ctx), []
