"""The only way config gets in: engine config -> schema -> cross-section checks -> resolved config."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from infra import clouds, support
from infra.config import checks, resolve, roles
from infra.config.errors import ConfigError, key_error, message, one_line, show
from infra.config.schema import StackConfig
from infra.conventions import PROJECT


def parse(raw: Mapping[str, Any]) -> StackConfig:
    """Validate the project's config keys (without the `llm-landing-zone:` prefix) and resolve them."""
    try:
        cfg = StackConfig.model_validate(dict(raw))
    except ValidationError as e:
        raise _from_validation(e) from None
    cfg = resolve.cloud_section(cfg)
    checks.run(cfg)
    return resolve.gpu_type(cfg)


def from_pulumi_config(config: Mapping[str, str]) -> dict[str, Any]:
    """Turn the engine's flat config map (values are strings; objects as JSON) into plain data."""
    prefix = f"{PROJECT}:"
    out: dict[str, Any] = {}
    for full_key, value in config.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key.removeprefix(prefix)
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # not JSON after all: the schema reports the string
            except (RecursionError, ValueError):  # nested past the parser's depth, or a number of 4300+ digits
                raise key_error(key, value, "not a config value: nested too deeply or a number far too long") from None
        out[key] = value
    return out


def load() -> StackConfig:
    """Read and validate this stack's config from the running Pulumi program (engine or mocks);
    what is valid but needs attention soon (an ending Kubernetes version) becomes a warning."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    merged = roles.with_workload(pulumi.get_stack(), merged, _stack_file_config)
    cfg = parse(from_pulumi_config(merged))
    for text in warnings(cfg):
        pulumi.log.warn(text)
    return cfg


def _stack_file_config(stack: str) -> dict[str, str]:
    """Another stack's config as its file in this project says (a bootstrap stack's workload)."""
    import pulumi

    from infra.plan import stackfile

    root = stackfile.Path(pulumi.get_root_directory() or ".")  # the engine's; mocks have none
    return stackfile.load(stack, root if (root / "Pulumi.yaml").is_file() else stackfile.find_project()).config


def warnings(cfg: StackConfig) -> list[str]:
    versions = clouds.part(cfg.cloud, "versions")
    ending = support.warning(versions.SUPPORT, cfg.cloud, cfg.cluster.kubernetes_version, support.today())
    return [ending] if ending else []


def _key_path(loc: tuple[Any, ...]) -> str:
    """`a.b[0].c` for pydantic's location; a key the user made up (a label, an unknown key) is quoted
    when it is not a plain word, so a newline or a dot in it cannot blur the path or the line."""
    path = ""
    for i, part in enumerate(loc):
        if part == "[key]" and i == len(loc) - 1:  # pydantic's marker: the dict key itself is invalid
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", str(part)):
            path += f".{part}" if path else str(part)
        else:
            path += f"[{show(str(part))}]"
    return path


def _section_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    """The config class that holds the keys at `loc` (for listing the valid keys there)."""
    section: type[BaseModel] = StackConfig
    for part in (p for p in loc if isinstance(p, str)):
        field = next(f for n, f in section.model_fields.items() if (f.alias or n) == part)
        options = typing.get_args(field.annotation) or (field.annotation,)
        section = next(a for a in options if isinstance(a, type) and issubclass(a, BaseModel))
    return section


def _from_validation(err: ValidationError) -> ConfigError:
    first = err.errors()[0]
    key = _key_path(first["loc"])
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    kind, msg = first["type"], first["msg"].removeprefix("Value error, ")
    if kind == "missing":
        return message(f"{key} is required{more}")
    if kind == "extra_forbidden":
        section = _section_at(first["loc"][:-1])
        valid = ", ".join(f.alias or n for n, f in section.model_fields.items())
        return message(f"{key} is not a known key; valid keys here: {valid}{more}")
    if first.get("ctx", {}).get("pattern"):
        msg = f"does not match {first['ctx']['pattern']}"
    return key_error(key, first["input"], f"{one_line(msg)}{more}")
