"""Run the real `__main__.py` under Pulumi's mock engine and record what it registers.

What is planned is exactly what `pulumi up` would register: the same program, the same config,
the same resource inputs. Only the engine's answers (ids, computed outputs) are invented, by
`infra.plan.fakes`, realistically enough for the program's own `.apply()` chains to run.
"""

from __future__ import annotations

import asyncio
import logging
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra import cost
from infra.config.loader import from_pulumi_config, parse
from infra.plan import policy
from infra.plan.fakes import PlanMocks
from infra.plan.stackfile import StackFile

SECRET = "[secret]"


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
    errors: list[str] = field(default_factory=list)
    policy: list[dict[str, str]] = field(default_factory=list)  # findings of policy/rules; [] = clean
    sizing: dict[str, Any] = field(default_factory=dict)  # {"fit": ..., "cost": ...} from infra.cost.report

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


def _plain(value: Any) -> Any:
    """Registered values as stable JSON-able data, secrets masked, resource references as URNs."""
    if isinstance(value, dict):
        if rpc._special_sig_key in value:
            if value[rpc._special_sig_key] == rpc._special_secret_sig:
                return SECRET
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
                )
            )
        return response


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def mocked_engine(
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: tuple[str, ...] = (),
    mocks: pulumi_mocks.Mocks | None = None,
) -> Iterator[tuple[RecordingMonitor, Callable[[Callable[[], Any]], None], _ErrorLog]]:
    """Install the mocks on a fresh event loop; always reset the SDK's globals afterwards.

    Yields (monitor, run, errors): `run(fn)` executes fn as a Pulumi program and waits for every
    outstanding registration, so assertions afterwards see the complete set.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    errors = _ErrorLog()
    logger = logging.getLogger(f"llz.plan.{stack}")
    logger.addHandler(errors)
    monitor = RecordingMonitor(mocks or PlanMocks(stack, config))
    try:
        pulumi.runtime.set_all_config(dict(config), list(secret_keys))
        pulumi_mocks.set_mocks(
            monitor.mocks, project=project, stack=stack, preview=False, logger=logger, monitor=monitor
        )

        def run(fn: Callable[[], Any]) -> None:
            _sync_await(run_pulumi_func(fn))

        yield monitor, run, errors
    finally:
        logger.removeHandler(errors)
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
        out[key] = SECRET if _sync_await(output.is_secret()) else _plain(resolved)
    return out


def run_program(stack_file: StackFile, program: str = "__main__.py") -> Plan:
    """Plan one stack: run its program under the mock engine and return what was registered."""
    path = stack_file.root / program
    if str(stack_file.root) not in sys.path:
        sys.path.insert(0, str(stack_file.root))
    plan = Plan(stack_file.project, stack_file.stack, stack_file.config.get(f"{stack_file.project}:cloud"))
    with mocked_engine(stack_file.project, stack_file.stack, stack_file.config, stack_file.secret_keys) as (
        monitor,
        run,
        errors,
    ):
        run(lambda: runpy.run_path(str(path), run_name="__main__"))
        plan.outputs = _stack_outputs()
        plan.resources = sorted(monitor.recorded, key=lambda r: r.urn)
        plan.policy = policy.check(plan.resources)
        plan.errors = list(errors.messages)
    # Cost and fit come from the config (already validated by the program), not from the cloud code;
    # a bootstrap stack's network and runners are in its workload's estimate (infra/config/roles.py).
    cfg = parse(from_pulumi_config(stack_file.config))
    plan.sizing = {} if cfg.role == "bootstrap" else cost.report(cfg)
    return plan
