"""`llz images pin`: resolve every pinned upstream tag to its digest and rewrite the one place the
digests live (the DIGESTS block of infra/conventions.py). Needs the network; a plan never does.

    llz images pin            # resolve and rewrite (a maintainer, or CI opening a pull request)
    llz images pin --check    # exit 1 when a pinned digest is not what the registry serves now

Every tag is resolved anonymously through the OCI distribution API (infra.images.resolve). A tag
that cannot be resolved keeps its current entry and is reported; the exit code is then 1, unless
--allow-missing (e.g. the puller image before its first release is published).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from infra import conventions, images
from infra.aws import versions as aws_versions

CONVENTIONS = Path(conventions.__file__)
_ENTRY = re.compile(r'^\s*"([^"]+)": "(sha256:[0-9a-f]{64})",', re.M)


def upstream_tags() -> tuple[str, ...]:
    """Every upstream tag the shipped program pins (the images its plans run by default)."""
    tags = [conventions.VLLM_TAG, conventions.PULLER_TAG, conventions.NVIDIA_DEVICE_PLUGIN_TAG]
    tags.append(conventions.DCGM_EXPORTER_TAG)  # EKS's GPU metrics (issue 18)
    tags += conventions.KEDA_TAGS.values()
    tags.append(conventions.LWS_TAG)  # multi-node models only (infra/lws.py)
    tags += [tag for v in aws_versions.AUTOSCALER_PATCH if (tag := aws_versions.autoscaler_tag(v))]
    return tuple(tags)


def current(source: str) -> dict[str, str]:
    """The DIGESTS entries written in `source`."""
    begin, end = source.index("# BEGIN DIGESTS"), source.index("# END DIGESTS")
    return dict(_ENTRY.findall(source[begin:end]))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="images_command", required=True)
    pin = sub.add_parser("pin", help="resolve each pinned upstream tag to its digest and rewrite the pins")
    pin.add_argument("--check", action="store_true", help="change nothing; exit 1 when a pin is stale or missing")
    pin.add_argument("--ref", action="append", default=[], help="resolve only this tag (repeatable); others stay")
    pin.add_argument("--file", type=Path, default=CONVENTIONS, help="the file holding the DIGESTS block")
    pin.add_argument("--plain-http", action="append", default=[], help="registry host spoken to over http")
    pin.add_argument("--allow-missing", action="store_true", help="exit 0 even if some tag cannot be resolved")


def run(args: argparse.Namespace) -> int:
    source = args.file.read_text()
    before = current(source)
    refs = tuple(args.ref) or upstream_tags()
    after = dict(before) if args.ref else {ref: before[ref] for ref in refs if ref in before}
    missing = []
    for ref in refs:
        try:
            after[ref] = images.resolve(ref, plain_http=frozenset(args.plain_http))
        except images.ResolveError as err:
            missing.append(ref)
            print(f"llz images pin: {err}", file=sys.stderr)
    for ref in sorted(set(before) | set(after)):
        if before.get(ref) != after.get(ref):
            print(f"{ref}: {before.get(ref, '(none)')} -> {after.get(ref, '(dropped)')}")
    if args.check:
        return 1 if after != before or (missing and not args.allow_missing) else 0
    if after != before:
        args.file.write_text(images.rewrite_digests(source, after))
    return 1 if missing and not args.allow_missing else 0


def main(argv: list[str] | None = None) -> int:
    """`python -m infra.image_pins pin …`: the same command without installing the package (stdlib only)."""
    parser = argparse.ArgumentParser(prog="llz images")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
