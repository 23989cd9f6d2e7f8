"""`llz`: the project's command line. Each subcommand imports only what it needs.

`llz weights …` runs in the init-container image, which installs only the `[weights]` extra, so
the plan's modules (pulumi, pydantic) are imported only when the command is `plan`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="llz", description="llm-landing-zone tools")
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="offline plan of a stack under Pulumi's mock engine")
    weights = sub.add_parser("weights", help="push model weights to a bucket, pull and verify them")
    images = sub.add_parser("images", help="resolve the pinned image tags to digests (needs the network)")

    from weights import cli as weights_cli

    weights_cli.add_arguments(weights)
    if argv[:1] == ["plan"]:
        from infra.plan import cli as plan_cli

        plan_cli.add_arguments(plan)
    if argv[:1] == ["images"]:
        from infra import image_pins

        image_pins.add_arguments(images)
    args = parser.parse_args(argv)
    if args.command == "weights":
        return weights_cli.run(args)
    if args.command == "images":
        return image_pins.run(args)
    return plan_cli.run(args)


def entry() -> NoReturn:
    """The `llz` command. A `weights` command exits without tearing the interpreter down.

    Its work is done when main() returns (files renamed, uploads confirmed, its lines flushed), and
    freeing a cloud SDK's parsed service models at exit took 0.1-0.2 s of an init container's
    start-up per pull here (botocore: `python -c "import boto3; boto3.client('s3')"` 0.38-0.53 s,
    0.26-0.28 s with os._exit). Other commands exit normally.
    """
    code = main()
    if sys.argv[1:2] == ["weights"]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
