"""`llz plan`: the offline plan of one stack or all of them, with no CLI, cloud or cluster."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

import infra
from infra.config.errors import ConfigError
from infra.observability import export
from infra.plan import policy, render, stackfile
from infra.plan.engine import Plan, run_program


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", "-s", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    which.add_argument("--all", action="store_true", help="every stack in stacks/")
    parser.add_argument(
        "--project-dir",
        "-C",
        metavar="DIR",
        type=Path,
        help="look for Pulumi.yaml in DIR and the folders above it (default: the current directory)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the JSON plan (a folder with --all; '-' for stdout)")
    parser.add_argument("--manifests", metavar="DIR", help="write every Kubernetes object as YAML")
    parser.add_argument("--markdown", metavar="FILE", help="append a markdown summary (for a PR comment)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the summary line")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of program errors")
    parser.add_argument(
        "--policy",
        choices=("mandatory", "advisory"),
        default="mandatory",
        help="mandatory (default): exit 3 on a mandatory policy violation; advisory: only report findings",
    )


def _emit(plan: Plan, args: argparse.Namespace, many: bool) -> None:
    if args.json:
        data = json.dumps(render.as_json(plan), indent=2, sort_keys=False) + "\n"
        if args.json == "-":
            sys.stdout.write(data)
        else:
            path = Path(args.json) / f"{plan.stack}.json" if many else Path(args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(data)
    if args.manifests:
        folder = Path(args.manifests) / plan.stack if many else Path(args.manifests)
        render.write_manifests(plan, folder)
        if plan.config is not None and plan.config.role == "workload":
            export.write(plan.config, plan.stack, folder / "observability")
    if args.markdown:
        with Path(args.markdown).open("a") as out:
            out.write(render.markdown(plan) + "\n")
    if args.json != "-":
        print(render.summary(plan) if args.quiet else render.tree(plan))


def _plan_one(root: Path, stack: str, args: argparse.Namespace, many: bool) -> int:
    try:
        plan = run_program(stackfile.load(stack, root))
    except ConfigError as e:
        print(f"{stack}: config error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"{stack}: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a program bug: one line, traceback on request
        if args.debug:
            traceback.print_exc()
        print(f"{stack}: program failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if plan.errors:
        for message in plan.errors:
            print(f"{stack}: error: {message}", file=sys.stderr)
        return 1
    for message in plan.warnings:  # e.g. a Kubernetes version near its end of support
        print(f"{stack}: warning: {message}", file=sys.stderr)
    _emit(plan, args, many)
    blocking = policy.mandatory(plan.policy)
    for f in blocking:
        print(f"{stack}: policy violation [{f['rule']}] {f['urn']}: {f['message']}", file=sys.stderr)
    return 3 if blocking and args.policy == "mandatory" else 0


def _other_code(root: Path) -> str | None:
    """Why planning `root` with this llz would not plan what `pulumi up` runs there, or None.

    The program imports `infra`; run in the project, that is the project's own infra/ when it has
    one (Pulumi puts the project folder first on sys.path). This llz has already imported its own.
    """
    own = root / "infra" / "__init__.py"
    running = Path(infra.__file__).resolve()
    if own.is_file() and own.resolve() != running:
        return (
            f"{root} has its own infra/ but this llz runs the one in {running.parent.parent}; "
            "use the project's llz (e.g. its .venv/bin/llz)"
        )
    return None


def run(args: argparse.Namespace) -> int:
    try:
        root = stackfile.find_project(args.project_dir)
    except stackfile.ProjectNotFound as e:
        print(f"llz plan: {e}", file=sys.stderr)
        return 2
    mismatch = _other_code(root)
    if mismatch:
        print(f"llz plan: {mismatch}", file=sys.stderr)
        return 2
    stacks = stackfile.stack_names(root) if args.all else [args.stack]
    status = 0
    for stack in stacks:
        if len(stacks) > 1 and args.json != "-":
            print(f"== {stack}")
        status = max(status, _plan_one(root, stack, args, many=args.all))
    return status
