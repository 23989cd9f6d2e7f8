"""The by-name seam to a cloud's parts: `infra.<cloud>.<part>`, imported only when asked for.

Every cloud folder has the same files; those named in `SDK_FREE` never import the cloud's SDK,
so config, cost and the plan's fakes of one cloud never load another's (or even their own) SDK.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Literal

Part = Literal["settings", "footprint", "versions", "platform", "bootstrap", "fakes"]
SDK_FREE: tuple[Part, ...] = ("settings", "footprint", "versions", "fakes")


def part(cloud: str, name: Part) -> ModuleType:
    """`infra.<cloud>.<name>`: settings (config section + checks), footprint (what it runs, for
    cost), versions (Kubernetes minors in standard support, dated), platform (`build(cfg) ->
    Platform`, imports the SDK), bootstrap (`build(cfg) -> exports` of a `<stack>-bootstrap`
    stack: network + CI runners, AWS and Azure only), fakes (the plan's engine answers)."""
    return importlib.import_module(f"infra.{cloud}.{name}")
