"""Run the real program for a stack under the mock engine, with optional config overrides.

Everything goes through `infra.plan.engine.mocked_engine`, which installs the mocks on a fresh
event loop and resets the SDK afterwards, so a test cannot forget `set_mocks` or leak state.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import shutil
from pathlib import Path
from typing import Any

from infra.plan import stackfile
from infra.plan.engine import Plan, run_program

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
    config = dict(sf.config)
    for key, value in (overrides or {}).items():
        full = f"{PROJECT}:{key}"
        current = config.get(full)
        current = json.loads(current) if current and current[:1] in "[{" else current
        merged = _merge(current, value)
        if merged is None:
            config.pop(full, None)
        else:
            config[full] = json.dumps(merged) if isinstance(merged, (dict, list)) else str(merged)
    return dataclasses.replace(sf, config=config)


def plan(stack: str, overrides: dict[str, Any] | None = None) -> Plan:
    """Plan a stack (fresh run every call)."""
    return run_program(stack_file(stack, overrides))


@functools.cache
def _dev_plan(stack: str) -> Plan:
    return run_program(stackfile.load(stack, ROOT))


def dev_plan(stack: str) -> Plan:
    """The shipped stack's plan, computed once per test session; a deep copy per caller."""
    return copy.deepcopy(_dev_plan(stack))


DEV_STACKS = ("aws-dev", "gcp-dev", "azure-dev")
