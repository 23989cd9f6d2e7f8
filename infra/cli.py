"""`llz`: the project's command line. Each subcommand imports only what it needs."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llz", description="llm-landing-zone tools")
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="offline plan of a stack under Pulumi's mock engine")

    from infra.plan import cli as plan_cli

    plan_cli.add_arguments(plan)
    args = parser.parse_args(argv)
    return plan_cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
