"""Kubernetes versions in standard support, per cloud: a dated table, like the price catalog.

Each cloud's `versions.py` lists its minor versions with the end of standard support and where
the date comes from. A stack on a version past that date fails before anything is registered; one
within `WARN_DAYS` of it plans with a warning. `today()` reads `LLZ_TODAY` (YYYY-MM-DD) when set,
so tests (and a reviewer asking "what will fail in March?") pin the date; otherwise the real date.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass

WARN_DAYS = 60
TODAY_ENV = "LLZ_TODAY"


@dataclass(frozen=True)
class Support:
    end_of_standard: dt.date
    source: str
    estimate: bool = False  # the cloud publishes the date as a projection


def today() -> dt.date:
    pinned = os.environ.get(TODAY_ENV)
    return dt.date.fromisoformat(pinned) if pinned else dt.date.today()


def problem(table: Mapping[str, Support], as_of: str, cloud: str, version: str, on: dt.date) -> str | None:
    """Why `version` cannot be deployed on `on` (None when it can)."""
    entry = table.get(version)
    supported = [v for v, s in table.items() if s.end_of_standard >= on]
    if entry is None:
        return f"not in the {cloud} support table (as of {as_of}); supported: {', '.join(supported) or 'none'}"
    if entry.end_of_standard < on:
        return (
            f"{cloud} standard support ended {entry.end_of_standard.isoformat()} ({entry.source}); "
            f"supported on {on.isoformat()}: {', '.join(supported) or 'none'}"
        )
    return None


def warning(table: Mapping[str, Support], cloud: str, version: str, on: dt.date) -> str | None:
    """A heads-up when standard support ends within WARN_DAYS of `on`."""
    entry = table.get(version)
    if entry is None or (entry.end_of_standard - on).days > WARN_DAYS:
        return None
    return (
        f"kubernetesVersion {version}: {cloud} standard support ends {entry.end_of_standard.isoformat()} "
        f"({(entry.end_of_standard - on).days} days); plan the upgrade (one minor version per update)"
    )
