"""The installed SDKs' output shapes, by the camelCase wire names the engine speaks.

The plan fakes answer for the provider; what they may answer is what the SDK declares: a
resource's output properties (and their nested output types) and an invoke's result type. A
fake's key that the SDK does not declare is a typo, or an SDK upgrade that renamed it; either way
the program would silently read None, so the fakes report it (`unknown_keys`).

Only SDK modules already imported are consulted: a resource or an invoke the program used has
loaded its module, so planning one cloud never loads another cloud's SDK from here.
"""

from __future__ import annotations

import collections.abc
import functools
import importlib
import re
import sys
import typing
from typing import Any

from pulumi import _types
from pulumi.runtime import rpc

# Every custom resource has these, besides what its class declares.
_BUILTIN = {"id": str, "urn": str}


def _package(pkg: str) -> str:
    return "pulumi_" + pkg.replace("-", "_")


def resource_class(token: str) -> type | None:
    """The SDK class registered for a resource type token, or None (not loaded, not an SDK type)."""
    pkg, _, rest = token.partition(":")
    mod = rest.rpartition(":")[0]
    if _package(pkg) not in sys.modules:
        return None
    module = rpc.get_resource_module(pkg, mod, "")
    info = getattr(module, "mod_info", None)
    if not info or token not in info.get("classes", {}):
        return None
    return getattr(importlib.import_module(info["fqn"]), info["classes"][token], None)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def invoke_result_class(token: str) -> type | None:
    """The result type of an invoke (`aws:index/getCallerIdentity:getCallerIdentity` ->
    pulumi_aws.get_caller_identity.GetCallerIdentityResult), or None if it is not loaded."""
    pkg, mod, function = token.split(":")
    package = _package(pkg)
    if package not in sys.modules:
        return None
    folder = mod.split("/")[0]
    path = ".".join(p for p in (package, "" if folder == "index" else folder, _snake(function)) if p)
    try:
        module = importlib.import_module(path)
    except ImportError:
        return None
    cls = getattr(module, function[0].upper() + function[1:] + "Result", None)
    return cls if cls is not None and _types.is_output_type(cls) else None


@functools.cache
def _fields(cls: type, resource: bool) -> dict[str, Any]:
    if resource:
        return {**_BUILTIN, **_types.resource_types(cls)}
    return _types.output_type_types(cls)


@functools.cache
def output_names(token: str) -> frozenset[str] | None:
    """The output property names of a resource type (with `id` and `urn`), or None if unknown."""
    cls = resource_class(token)
    if cls is None:
        return None
    return frozenset(_BUILTIN) | frozenset(_types.resource_py_to_pulumi_names(cls).values())


def _unknown(typ: Any, value: Any, path: str) -> list[str]:
    if value is None:
        return []
    typ = _types.unwrap_type(typ)
    origin = typing.get_origin(typ)
    if isinstance(typ, type) and _types.is_output_type(typ):
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, but the SDK declares the object {typ.__name__}"]
        return _unknown_in(_fields(typ, False), value, path, typ.__name__)
    if origin in (list, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return [f"{path}: {type(value).__name__}, but the SDK declares a list"]
        (item,) = typing.get_args(typ) or (Any,)
        return [p for i, v in enumerate(value) for p in _unknown(item, v, f"{path}[{i}]")]
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, but the SDK declares a map"]
        _, item = typing.get_args(typ) or (str, Any)
        return [p for k, v in value.items() for p in _unknown(item, v, f"{path}[{k!r}]")]
    return []  # scalars, Any, unions: not checked


def _unknown_in(fields: dict[str, Any], value: dict[str, Any], path: str, what: str) -> list[str]:
    problems: list[str] = []
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key not in fields:
            problems.append(f"{where}: not an output of {what}")
        else:
            problems.extend(_unknown(fields[key], item, where))
    return problems


def unknown_keys(token: str, value: dict[str, Any], invoke: bool = False) -> list[str] | None:
    """Where `value` (a fake's answer for a resource type or an invoke) leaves the SDK's declared
    shape: one line per unknown key or wrong container, with its path. None: no SDK type to check."""
    cls = invoke_result_class(token) if invoke else resource_class(token)
    if cls is None:
        return None
    return _unknown_in(_fields(cls, not invoke), value, "", token)
