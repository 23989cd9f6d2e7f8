"""What a deployed stack's engine would compare: each resource's URN, inputs and lifecycle options.

`python -m tests.plan_snapshot DIR` writes one JSON file per shipped stack. The files in
tests/data/plan-before-house/ were written from the code before the "one house" refactoring
(commit 277e065); tests/test_plan_stability.py plans the stacks now and compares, so a moved or
renamed component that would make Pulumi replace a deployed resource fails a test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from infra.plan import stackfile
from infra.plan.engine import Plan, run_program
from tests.harness import ROOT


def snapshot(plan: Plan) -> dict[str, dict[str, Any]]:
    return {
        r.urn: {"inputs": r.inputs, "ignoreChanges": sorted(r.ignore_changes), "protect": r.protect}
        for r in plan.resources
    }


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for stack in stackfile.stack_names(ROOT):
        data = snapshot(run_program(stackfile.load(stack, ROOT)))
        (out / f"{stack}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
