"""Run the real program (or one cloud's `build`) for a stack under the mock engine.

Everything goes through `infra.plan.engine.mocked_engine`, which installs the mocks on a fresh
event loop and resets the SDK afterwards, so a test cannot forget `set_mocks` or leak state.

A plan that reports a warning or an error (`pulumi.log.warn/error` from the program or the SDK,
`str()` of an Output, a deprecated resource or property, a fake's answer the installed SDK does
not declare, an invoke no fake answers) fails the test, unless the test names it:
`plan(stack, overrides, expect_warnings=[r"regex", ...], expect_errors=[...])`. An expectation
that nothing matches fails too, so a test that means to provoke a diagnostic cannot pass without it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import runpy
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime.sync_await import _sync_await

from infra import clouds
from infra.config import loader
from infra.config.errors import ConfigError
from infra.config.schema import StackConfig
from infra.plan import stackfile
from infra.plan.engine import Diagnostics, Plan, RecordingMonitor, Resource, mocked_engine, run_program
from infra.platform import Platform

PROJECT = "llm-landing-zone"
ROOT = Path(__file__).resolve().parents[1]  # this checkout: the project the tests plan (llz finds it from cwd)


def copy_project(dest: Path) -> Path:
    """A copy of the project a user plans (Pulumi.yaml, __main__.py, stacks/), without the code:
    `llz plan` in `dest` must plan these files with the `infra` it was installed with."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Pulumi.yaml", dest)
    shutil.copy(ROOT / "__main__.py", dest)
    shutil.copytree(ROOT / "stacks", dest / "stacks")
    return dest


DEV_STACKS = ("aws-dev", "gcp-dev", "azure-dev")

Expected = Iterable[str | re.Pattern[str]]


def check_diagnostics(
    where: str,
    errors: list[str],
    warnings: list[str],
    expect_errors: Expected = (),
    expect_warnings: Expected = (),
) -> None:
    """Fail unless every error and warning matches an expected pattern (re.search) and every
    expected pattern matches one of them."""
    problems: list[str] = []
    for level, messages, expected in (("error", errors, expect_errors), ("warning", warnings, expect_warnings)):
        patterns = [re.compile(p) if isinstance(p, str) else p for p in expected]
        problems += [f"  unexpected {level}: {m}" for m in messages if not any(p.search(m) for p in patterns)]
        problems += [
            f"  expected {level} /{p.pattern}/ was not reported"
            for p in patterns
            if not any(p.search(m) for m in messages)
        ]
    if problems:
        raise AssertionError(
            f"{where}: the plan's diagnostics differ from what the test expects "
            "(name the ones it means to provoke with expect_warnings= / expect_errors=):\n" + "\n".join(problems)
        )


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = _merge(base.get(k), v) if v is not None else None
        return {k: v for k, v in out.items() if v is not None}
    return override


def stack_file(stack: str, overrides: dict[str, Any] | None = None) -> stackfile.StackFile:
    """The stack's engine config, with `overrides` deep-merged into its project keys (None deletes)."""
    sf = stackfile.load(stack, ROOT)
    config_ = dict(sf.config)
    for key, value in (overrides or {}).items():
        full = f"{PROJECT}:{key}"
        current = config_.get(full)
        current = json.loads(current) if current and current[:1] in "[{" else current
        merged = _merge(current, value)
        if merged is None:
            config_.pop(full, None)
        else:
            config_[full] = json.dumps(merged) if isinstance(merged, (dict, list)) else str(merged)
    return dataclasses.replace(sf, config=config_)


def parse(stack: str, overrides: dict[str, Any] | None = None) -> StackConfig:
    """The stack's validated config, as the program parses it."""
    return loader.parse(loader.from_pulumi_config(stack_file(stack, overrides).config))


def config_error(stack: str, overrides: dict[str, Any]) -> str:
    """The ConfigError the stack's config (with `overrides`) fails with; it must be one line."""
    with pytest.raises(ConfigError) as info:
        parse(stack, overrides)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def plan(
    stack: str,
    overrides: dict[str, Any] | None = None,
    *,
    expect_warnings: Expected = (),
    expect_errors: Expected = (),
) -> Plan:
    """Plan a stack (fresh run every call); fails on a diagnostic the test does not expect."""
    planned = run_program(stack_file(stack, overrides))
    check_diagnostics(
        f"plan {stack} {overrides or ''}".rstrip(), planned.errors, planned.warnings, expect_errors, expect_warnings
    )
    return planned


@functools.cache
def _dev_plan(stack: str) -> Plan:
    return run_program(stackfile.load(stack, ROOT))


def dev_plan(stack: str) -> Plan:
    """The shipped stack's plan, computed once per test session; a deep copy per caller."""
    planned = _dev_plan(stack)
    check_diagnostics(f"plan {stack}", planned.errors, planned.warnings)
    return copy.deepcopy(planned)


@dataclasses.dataclass
class Engine:
    """The mock engine of one `with engine(...)` block: run programs, then read what they registered."""

    stack_file: stackfile.StackFile
    monitor: RecordingMonitor
    diagnostics: Diagnostics
    _run: Callable[[Callable[[], Any]], None]

    def run(self, fn: Callable[[], Any]) -> None:
        """Run fn as a Pulumi program and wait for every registration it started."""
        self._run(fn)

    def run_main(self) -> None:
        """Run the real `__main__.py`, as `pulumi up` and `llz plan` do."""
        self.run(lambda: runpy.run_path(str(self.stack_file.root / "__main__.py"), run_name="__main__"))

    @property
    def recorded(self) -> list[Resource]:
        return sorted(self.monitor.recorded, key=lambda r: r.urn)

    def plan(self) -> Plan:
        cloud = self.stack_file.config.get(f"{self.stack_file.project}:cloud")
        return Plan(self.stack_file.project, self.stack_file.stack, cloud, resources=self.recorded)

    @staticmethod
    def resolve(value: Any) -> Any:
        """An Output (or a structure of them) as its plain value; only inside the `with` block."""
        return _sync_await(pulumi.Output.from_input(value).future())

    @staticmethod
    def is_secret(value: Any) -> bool:
        return bool(_sync_await(pulumi.Output.from_input(value).is_secret()))


@contextmanager
def engine(
    stack: str | stackfile.StackFile,
    overrides: dict[str, Any] | None = None,
    *,
    expect_warnings: Expected = (),
    expect_errors: Expected = (),
) -> Iterator[Engine]:
    """The mock engine for a stack's config; on leaving the block, its diagnostics must be the expected ones."""
    sf = stack if isinstance(stack, stackfile.StackFile) else stack_file(stack, overrides)
    with mocked_engine(sf.project, sf.stack, sf.config, sf.secret_keys) as (monitor, run, diagnostics):
        yield Engine(sf, monitor, diagnostics, run)
        check_diagnostics(
            f"engine {sf.stack}", diagnostics.errors, diagnostics.warnings, expect_errors, expect_warnings
        )


@contextmanager
def built_platform(stack: str, overrides: dict[str, Any] | None = None) -> Iterator[tuple[Platform, Engine]]:
    """Run only the stack's cloud `build(cfg)` (no serving component); resolve its outputs inside the block."""
    cfg = parse(stack, overrides)
    built: list[Platform] = []
    with engine(stack, overrides) as e:
        e.run(lambda: built.append(clouds.part(cfg.cloud, "platform").build(cfg)))
        yield built[0], e


def platform_of(stack: str, overrides: dict[str, Any] | None = None) -> Platform:
    """The Platform the stack's cloud `build` returns (its outputs unresolved)."""
    with built_platform(stack, overrides) as (platform, _):
        return platform


def program_error(stack: str, overrides: dict[str, Any]) -> str:
    """Run the real program with a bad config: it must fail with one ConfigError line before any resource."""
    with engine(stack, overrides) as e:
        with pytest.raises(ConfigError) as info:
            e.run_main()
        assert e.monitor.recorded == [], "resources were registered before the config error"
    message = str(info.value)
    assert "\n" not in message, message
    return message
