"""One format for every bad config value: `llm-landing-zone:<key> = <value>: <what is valid>`.

`ConfigError` is a `pulumi.RunError`, so the engine prints it without a traceback and `llz plan`
exits 2. The message is always one line: values are shown escaped (a newline in a value stays
`\\n`), and free text has its line breaks folded.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pulumi

from infra.conventions import PROJECT

_MAX_SHOWN = 120  # characters of a value worth printing; longer ones are cut


class ConfigError(pulumi.RunError):
    """A stack config value is invalid; the message is one line naming key, value and fix."""


def show(value: Any) -> str:
    """A value as one line: strings quoted and escaped, everything else as JSON."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, float) and not math.isfinite(value):
        text = str(value)
    else:
        text = json.dumps(value, default=str, ensure_ascii=True)
    return text if len(text) <= _MAX_SHOWN else f"{text[: _MAX_SHOWN - 3]}..."


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def key_error(key: str, value: Any, expected: str) -> ConfigError:
    """The error for `key` holding `value`; `expected` says what would be valid (and how to fix it)."""
    return ConfigError(f"{PROJECT}:{key} = {show(value)}: {one_line(expected)}")


def message(text: str) -> ConfigError:
    """An error whose one line is not about a single value (e.g. a required key is missing)."""
    return ConfigError(f"{PROJECT}:{one_line(text)}")
