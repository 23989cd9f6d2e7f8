"""Read Pulumi.yaml and stacks/Pulumi.<stack>.yaml into the flat config map the engine would pass.

Mirrors what the CLI does before it starts the program: the project is the nearest folder, from
the current directory up, that holds a Pulumi.yaml; project-level `config:` values and defaults
are merged under the stack's values, objects become JSON strings, and secure values (which only
the CLI can decrypt) become a placeholder marked secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.config import roles
from infra.conventions import SECRET

# The project file names the Pulumi CLI accepts (YAML; JSON parses as YAML too).
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml", "Pulumi.json")


class ProjectNotFound(Exception):
    """No Pulumi.yaml in the start folder or above it; the message is one line."""


def find_project(start: Path | None = None) -> Path:
    """The project folder: `start` (default: the current directory) or the nearest folder above it
    that holds a Pulumi.yaml, as the Pulumi CLI finds its project. Never the installed package."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / name).is_file() for name in PROJECT_FILES):
            return folder
    raise ProjectNotFound(f"no Pulumi.yaml in {here} or any folder above it (run it inside a Pulumi project)")


def _project(root: Path) -> dict[str, Any]:
    path = next((root / name for name in PROJECT_FILES if (root / name).is_file()), root / PROJECT_FILES[0])
    return yaml.safe_load(path.read_text())


@dataclass(frozen=True)
class StackFile:
    project: str
    stack: str
    config: dict[str, str]
    secret_keys: tuple[str, ...]
    root: Path


def _engine_value(value: Any) -> str:
    """Pulumi passes every config value as a string; objects and lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def stack_names(root: Path | None = None) -> list[str]:
    """The stacks of the project at `root` (default: found from the current directory)."""
    root = root or find_project()
    project = _project(root)
    config_dir = root / project.get("stackConfigDir", ".")
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in config_dir.glob("Pulumi.*.yaml"))


def load(stack: str, root: Path | None = None) -> StackFile:
    """One stack's engine config, from the project at `root` (default: found from the current directory)."""
    root = root or find_project()
    project = _project(root)
    name = project["name"]
    path = root / project.get("stackConfigDir", ".") / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(root)) or "none"
        raise FileNotFoundError(f"no stack file {path.relative_to(root)}; stacks: {known}")
    stack_doc = yaml.safe_load(path.read_text()) or {}

    merged: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(decl, dict) and ("type" in decl or "description" in decl or "default" in decl):
            if "value" in decl:
                merged[full] = decl["value"]
            elif "default" in decl:
                merged[full] = decl["default"]
        else:
            merged[full] = decl
    secrets: list[str] = []
    for key, value in (stack_doc.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = SECRET
            secrets.append(full)
        merged[full] = value
    config = {k: _engine_value(v) for k, v in merged.items()}
    if roles.is_bootstrap(config):  # its config is its workload's stack file under its own keys
        config = roles.with_workload(stack, config, lambda workload: load(workload, root).config)
        secrets = [k for k, v in config.items() if v == SECRET]
    return StackFile(project=name, stack=stack, config=config, secret_keys=tuple(secrets), root=root)
