"""One format for every bad config value: `llm-landing-zone:<key> = <value>: <what is valid>`.

`ConfigError` is a `pulumi.RunError`, so the engine prints it without a traceback and `llz plan`
exits 2. The message is always one printable line: values are shown escaped (a newline in a value
stays `\\n`), keys and free text have their whitespace folded and control characters escaped.
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
        text = repr(value[: _MAX_SHOWN * 4])  # a value may be megabytes long: escape what is shown
    elif isinstance(value, float) and not math.isfinite(value):
        text = str(value)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_MAX_SHOWN:
        text = f"{'-' if value < 0 else ''}an integer of ~{int(value.bit_length() * math.log10(2)) + 1} digits"
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=True)
        except (RecursionError, ValueError):  # nested deeper than the encoder goes, or a giant int inside
            text = f"<a {type(value).__name__} too deep or too large to show>"
    return text if len(text) <= _MAX_SHOWN else f"{text[: _MAX_SHOWN - 3]}..."


def one_line(text: str) -> str:
    """Whitespace folded to single spaces, other control characters escaped: one printable line."""
    folded = " ".join(str(text).split())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in folded)


def key_error(key: str, value: Any, expected: str) -> ConfigError:
    """The error for `key` holding `value`; `expected` says what would be valid (and how to fix it)."""
    return ConfigError(f"{PROJECT}:{one_line(key)} = {show(value)}: {one_line(expected)}")


def message(text: str) -> ConfigError:
    """An error whose one line is not about a single value (e.g. a required key is missing)."""
    return ConfigError(f"{PROJECT}:{one_line(text)}")
