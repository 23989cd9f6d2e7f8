"""Run the real `__main__.py` under Pulumi's mock engine and record what it registers.

What is planned is exactly what `pulumi up` would register: the same program, the same config,
the same resource inputs. Only the engine's answers (ids, computed outputs) are invented, by
`infra.plan.fakes`, realistically enough for the program's own `.apply()` chains to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra import cost
from infra.config.loader import from_pulumi_config, parse
from infra.config.schema import StackConfig
from infra.conventions import SECRET
from infra.plan import policy
from infra.plan.fakes import PlanMocks
from infra.plan.stackfile import StackFile


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    custom: bool
    id: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str]
    ignore_changes: list[str]
    protect: bool
    # Aliases as the SDK sent them: {"urn": ...} or an alias spec {"name", "type", "stack", "project",
    # "parentUrn" | "noParent"} (only the fields set). Under the mock engine the SDK sends specs and
    # leaves the children's inherited aliases to the engine, which the mock does not compute.
    aliases: list[dict[str, Any]] = field(default_factory=list)

    def get(self, path: str, default: Any = None) -> Any:
        """An input by dotted path (camelCase, list indexes as numbers): `metadata.name`."""
        node: Any = self.inputs
        for part in path.split("."):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return default
        return node


@dataclass
class Plan:
    project: str
    stack: str
    cloud: str | None
    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # pulumi.log.error and the fakes' errors, as logged
    warnings: list[str] = field(default_factory=list)  # pulumi.log.warn (SDK deprecations, str(Output), ...)
    policy: list[dict[str, str]] = field(default_factory=list)  # findings of infra/policy_rules; [] = clean
    sizing: dict[str, Any] = field(default_factory=dict)  # {"fit": ..., "cost": ...} from infra.cost.report
    config: StackConfig | None = None  # the stack's parsed config (what the program ran with)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Resource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise LookupError(f"expected one {type_}{f' named {name}' if name else ''}, found {names}")
        return found[0]

    def by_urn(self, urn: str) -> Resource:
        return next(r for r in self.resources if r.urn == urn)

    def children(self, parent: Resource) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent.urn]


def _masked(value: Any) -> Any:
    """A secret's value hidden, its shape kept: a map keeps its keys and a list its length, with each
    value masked, so a Secret's `stringData` is still the map of strings its schema requires."""
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return SECRET


def _plain(value: Any) -> Any:
    """Registered values as stable JSON-able data, secrets masked, resource references as URNs."""
    if isinstance(value, dict):
        if rpc._special_sig_key in value:
            if value[rpc._special_sig_key] == rpc._special_secret_sig:
                return _masked(_plain(value.get("value")))
            if value[rpc._special_sig_key] == rpc._special_resource_sig:
                return value.get("urn")
        return {k: _plain(value[k]) for k in sorted(value)}  # sorted: gRPC maps have no order
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format has only doubles; Kubernetes rejects 8000.0 for an int field
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _aliases(request: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"urn": urn} for urn in request.aliasURNs]
    for alias in request.aliases:
        if alias.WhichOneof("alias") == "urn":
            out.append({"urn": alias.urn})
        else:
            spec = alias.spec
            fields = ("name", "type", "stack", "project", "parentUrn", "noParent")
            out.append({f: getattr(spec, f) for f in fields if getattr(spec, f)})
    return out


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping parent, provider, dependencies and options."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Resource] = []
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            registration = self.resources[response.urn]
            self.recorded.append(
                Resource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    provider=request.provider or None,
                    custom=bool(request.custom),
                    id=registration.id,
                    inputs=_plain(rpc.deserialize_properties(request.object)),
                    outputs=_plain(registration.state),
                    dependencies=sorted(set(request.dependencies)),
                    ignore_changes=list(request.ignoreChanges),
                    protect=bool(request.protect),
                    aliases=_aliases(request),
                )
            )
        return response


class Diagnostics(logging.Handler):
    """What the program and the fakes reported through the engine's Log RPC (the mock engine hands
    `pulumi.log.warn/error` to a Python logger) at warning level or above, in order."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []
        self.warnings: list[str] = []

    @property
    def messages(self) -> list[str]:  # the errors: what `llz plan` fails on
        return self.errors

    def emit(self, record: logging.LogRecord) -> None:
        (self.errors if record.levelno >= logging.ERROR else self.warnings).append(record.getMessage())


@contextlib.contextmanager
def mocked_engine(
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: tuple[str, ...] = (),
    mocks: pulumi_mocks.Mocks | None = None,
) -> Iterator[tuple[RecordingMonitor, Callable[[Callable[[], Any]], None], Diagnostics]]:
    """Install the mocks on a fresh event loop; always reset the SDK's globals afterwards.

    Yields (monitor, run, diagnostics): `run(fn)` executes fn as a Pulumi program and waits for every
    outstanding registration, so assertions afterwards see the complete set; `diagnostics` holds
    the warnings and errors logged meanwhile (by the program, the SDK or the fakes).
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    diagnostics = Diagnostics()
    logger = logging.getLogger(f"llz.plan.{stack}")
    logger.addHandler(diagnostics)
    level = logger.level
    if not logger.isEnabledFor(logging.WARNING):
        logger.setLevel(logging.WARNING)
    monitor = RecordingMonitor(mocks or PlanMocks(stack, config, logger))
    try:
        pulumi.runtime.set_all_config(dict(config), list(secret_keys))
        pulumi_mocks.set_mocks(
            monitor.mocks, project=project, stack=stack, preview=False, logger=logger, monitor=monitor
        )

        def run(fn: Callable[[], Any]) -> None:
            _sync_await(run_pulumi_func(fn))
            _sync_await(asyncio.sleep(0))  # a log call about a resource is a task of its own: let it land

        yield monitor, run, diagnostics
    finally:
        logger.removeHandler(diagnostics)
        logger.setLevel(level)
        pulumi.runtime.set_all_config({}, [])
        settings.reset_options()
        loop.close()
        asyncio.set_event_loop(None)


def _stack_outputs() -> dict[str, Any]:
    root = settings.get_root_resource()
    out: dict[str, Any] = {}
    for key, value in (getattr(root, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        resolved = _sync_await(output.future())
        out[key] = _masked(_plain(resolved)) if _sync_await(output.is_secret()) else _plain(resolved)
    return out


def run_program(stack_file: StackFile, program: str = "__main__.py") -> Plan:
    """Plan one stack: run the project's program under the mock engine and return what was registered.

    As under `pulumi up`, the program runs in the project folder (relative paths in the config,
    like model.hfConfigDir, mean the same) with that folder first on sys.path.
    """
    path = stack_file.root / program
    if str(stack_file.root) not in sys.path:
        sys.path.insert(0, str(stack_file.root))
    plan = Plan(stack_file.project, stack_file.stack, stack_file.config.get(f"{stack_file.project}:cloud"))
    engine = mocked_engine(stack_file.project, stack_file.stack, stack_file.config, stack_file.secret_keys)
    with contextlib.chdir(stack_file.root):
        with engine as (monitor, run, diagnostics):
            run(lambda: runpy.run_path(str(path), run_name="__main__"))
            plan.outputs = _stack_outputs()
            plan.resources = sorted(monitor.recorded, key=lambda r: r.urn)
            plan.policy = policy.check(plan.resources)
            plan.errors = list(diagnostics.errors)
            plan.warnings = list(diagnostics.warnings)
        # Cost and fit come from the config (already validated by the program), not from the cloud code;
        # a bootstrap stack's network and runners are in its workload's estimate (infra/config/roles.py).
        plan.config = parse(from_pulumi_config(stack_file.config))
        plan.sizing = {} if plan.config.role == "bootstrap" else cost.report(plan.config)
    return plan
