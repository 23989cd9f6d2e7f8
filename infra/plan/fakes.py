"""The mock engine's answers: ids and computed outputs a real provider would return.

Outputs start as the resource's inputs (as a provider echoes them) plus a deterministic id;
each cloud adds what its program reads back (ARNs, endpoints, OIDC issuers, principal ids) in
`infra/<cloud>/fakes.py`, loaded only for that cloud's resources. Deterministic, so two plans of
the same program are byte-identical.

What a fake may answer is what the installed SDK declares (`infra.plan.shapes`): generic answers
(an ARN, a name, a self link) only for the types that have them, and an answer the SDK does not
declare (a typo, a renamed output) or an invoke no fake answers is logged as a plan error or
warning, so `llz plan` and the tests fail on it instead of the program silently reading None.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from infra import clouds
from infra.config.loader import from_pulumi_config
from infra.plan import shapes

# Which cloud's fakes answer for a package's resources and invokes.
_PACKAGE_CLOUD = {"aws": "aws", "gcp": "gcp", "azure-native": "azure"}


@dataclass(frozen=True)
class FakeContext:
    stack: str
    region: str
    cloud: str = ""
    egress: str = "nat"  # network.egress: whether a bootstrap stack has a NAT gateway
    aws_account_id: str = "123456789012"
    aws_deployer_role_arn: str = ""  # aws.deployerRoleArn: a bootstrap stack's deploy runner role
    gcp_project: str = "my-llm-project"
    gcp_project_number: str = "487134576253"
    azure_subscription_id: str = "00000000-0000-0000-0000-000000000000"
    azure_tenant_id: str = "72f988bf-86f1-41af-91ab-2d7cd011db47"

    def digest(self, *parts: str, length: int = 7) -> str:
        return hashlib.sha256("/".join((self.stack, *parts)).encode()).hexdigest()[:length]

    def physical_name(self, typ: str, name: str) -> str:
        """What Pulumi's auto-naming would give: the logical name plus a random-looking suffix."""
        return f"{name}-{self.digest(typ, name)}"

    def declares(self, typ: str, key: str) -> bool:
        """Whether the installed SDK declares output `key` on resource type `typ` (True if it cannot tell)."""
        names = shapes.output_names(typ)
        return names is None or key in names


def _context(stack: str, engine_config: Mapping[str, str]) -> FakeContext:
    """The facts the fakes echo (region, project, subscription), from the stack's own config."""
    raw = from_pulumi_config(engine_config)  # decoded, not validated: the program validates
    extra: dict[str, str] = {}
    if isinstance(raw.get("gcp"), dict) and "project" in raw["gcp"]:
        extra["gcp_project"] = raw["gcp"]["project"]
    if isinstance(raw.get("azure"), dict) and "subscriptionId" in raw["azure"]:
        extra["azure_subscription_id"] = raw["azure"]["subscriptionId"]
    if isinstance(raw.get("aws"), dict) and isinstance(raw["aws"].get("deployerRoleArn"), str):
        extra["aws_deployer_role_arn"] = raw["aws"]["deployerRoleArn"]
    if isinstance(raw.get("network"), dict) and "egress" in raw["network"]:
        extra["egress"] = raw["network"]["egress"]
    return FakeContext(stack=stack, region=raw.get("region") or "us-east-1", cloud=raw.get("cloud") or "", **extra)


def _fakes_for(token: str) -> ModuleType | None:
    cloud = _PACKAGE_CLOUD.get(token.split(":", 1)[0])
    return clouds.part(cloud, "fakes") if cloud else None


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def _helm_release(inputs: dict[str, Any]) -> dict[str, Any]:
    """A Helm release as the provider reports it once installed (its `status`; no metadata)."""
    status = {k: inputs.get(k) for k in ("name", "namespace", "chart", "version")}
    return {"status": {**status, "status": "deployed", "revision": 1, "appVersion": inputs.get("version")}}


def _kubernetes(typ: str, name: str, inputs: dict[str, Any], ctx: FakeContext) -> dict[str, Any]:
    if typ == HELM_RELEASE:
        return _helm_release(inputs)
    metadata = dict(inputs.get("metadata") or {})
    metadata.setdefault("name", ctx.physical_name(typ, name))
    if not typ.endswith(":Namespace") and "/v1:" in typ:
        metadata.setdefault("namespace", "default")
    metadata["uid"] = f"{ctx.digest(typ, name, length=8)}-0000-4000-8000-{ctx.digest(name, length=12)}"
    return {"metadata": metadata}


def _random_password(typ: str, name: str, inputs: dict[str, Any], ctx: FakeContext) -> dict[str, Any]:
    """The provider's `result`: a secret string of the requested length (so a Secret built from it
    registers its key, as `pulumi up` would; the plan masks the value)."""
    length = int(inputs.get("length") or 16)
    chars = "".join(ctx.digest(typ, name, str(i), length=64) for i in range(length // 64 + 1))[:length]
    return {"result": rpc.wrap_rpc_secret(chars)}


class PlanMocks(Mocks):
    def __init__(self, stack: str, config: Mapping[str, str], logger: logging.Logger | None = None) -> None:
        self.ctx = _context(stack, config)
        self.log = logger or logging.getLogger("llz.plan.fakes")

    def _check(self, token: str, what: str, answer: dict[str, Any], invoke: bool = False) -> None:
        for problem in shapes.unknown_keys(token, answer, invoke=invoke) or []:
            self.log.error(f"plan fakes: {what}: {problem} in the installed SDK")

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ == "pulumi:pulumi:StackReference":  # <stack>-bootstrap: what that cloud's bootstrap exports
            outputs = clouds.part(self.ctx.cloud, "fakes").bootstrap_outputs(self.ctx)
            return args.resource_id, {**args.inputs, "outputs": outputs, "secretOutputNames": []}
        state = dict(args.inputs)
        default_id = f"{args.name}-{self.ctx.digest(args.typ, args.name)}"
        answer: dict[str, Any] = {}
        if args.typ.startswith("kubernetes:"):
            answer = _kubernetes(args.typ, args.name, args.inputs, self.ctx)
            meta = answer.get("metadata") or answer["status"]
            default_id = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        if args.typ == "random:index/randomPassword:RandomPassword":
            state.update(_random_password(args.typ, args.name, args.inputs, self.ctx))
        fakes = _fakes_for(args.typ)
        if fakes is not None:
            answer.update(fakes.outputs(args.typ, args.name, args.inputs, self.ctx))
        self._check(args.typ, f"{args.typ} {args.name}", answer)
        state.update(answer)
        return str(state.pop("id", default_id)), state

    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        fakes = _fakes_for(args.token)
        answer = fakes.invoke(args.token, args.args, self.ctx) if fakes is not None else None
        if answer is None:
            self.log.warning(f"plan fakes: no answer for invoke {args.token}: the program reads an empty result")
            return {}, []
        self._check(args.token, f"invoke {args.token}", answer, invoke=True)
        return answer, []
