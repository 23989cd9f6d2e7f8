"""`llz weights push|pull|serve`. Imports only the weights extra (never pulumi or pydantic)."""

from __future__ import annotations

import argparse
import os
import sys

from weights.stores import DEFAULT_CHUNK, MIB

EXIT_FAILED = 1
WAIT_ENV = "LLZ_WAIT_SECONDS"  # default of --wait-seconds (the init container passes the flag itself)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="weights_command", required=True, metavar="{push,pull,stage,serve}")
    push = sub.add_parser("push", help="upload a model folder and write its manifest last")
    push.add_argument("local_dir", metavar="LOCAL_DIR")
    push.add_argument("uri", metavar="URI", help="s3://bucket/prefix, gs://bucket/prefix or az://container/prefix")
    push.add_argument("--workers", type=int, default=8, help="parallel uploads (default 8)")
    push.set_defaults(run=_push)

    pull = sub.add_parser("pull", help="download and verify a pushed model into LOCAL_DIR")
    pull.add_argument("uri", metavar="URI")
    pull.add_argument("local_dir", metavar="LOCAL_DIR")
    _transfer_flags(pull)
    pull.set_defaults(run=_pull)

    stage = sub.add_parser(
        "stage",
        help="copy a Hugging Face repo at a pinned commit into URI (skipped when its manifest records that commit)",
        description="Downloads with huggingface_hub (HF_ENDPOINT and HF_TOKEN honoured), one file at a time, "
        "uploads each with its sha256 and writes the manifest last, recording the source. Exits 0 at once "
        "when the manifest at URI already records this repo and revision.",
    )
    stage.add_argument("source", metavar="SOURCE", help="hf://<org>/<name>@<40-hex commit sha>")
    stage.add_argument("uri", metavar="URI", help="s3://bucket/prefix, gs://bucket/prefix or az://container/prefix")
    stage.add_argument("--workdir", default="/tmp/llz-stage", help="scratch folder for the file in flight")
    stage.add_argument("--workers", type=int, default=8, help="parallel upload parts (default 8)")
    stage.set_defaults(run=_stage)

    serve = sub.add_parser(
        "serve",
        help="pull LLZ_WEIGHTS_URI into LLZ_WEIGHTS_DIR, then exec vLLM on it (single-container use)",
        description="Env: LLZ_WEIGHTS_URI (required), LLZ_WEIGHTS_DIR (default /models/weights), "
        "VLLM_COMMAND (default 'vllm serve'), VLLM_ARGS (extra vLLM flags); arguments after -- are passed "
        "to vLLM too. VLLM_API_KEY is read by vLLM itself.",
    )
    _transfer_flags(serve)
    serve.add_argument("vllm_args", nargs=argparse.REMAINDER, help="-- then extra vLLM arguments")
    serve.set_defaults(run=_serve)


def _transfer_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=8, help="parallel ranged reads (default 8)")
    parser.add_argument(
        "--chunk-mib", type=int, default=DEFAULT_CHUNK // MIB, help="bytes per ranged read, MiB (default %(default)s)"
    )
    parser.add_argument(
        "--wait-seconds",
        type=float,
        default=float(os.environ.get(WAIT_ENV) or 0),
        help=f"wait this long for a manifest that is not there yet (default ${WAIT_ENV} or 0: fail at once)",
    )
    parser.add_argument("--poll-seconds", type=float, default=10.0, help="while waiting, look again this often")


def run(args: argparse.Namespace) -> int:
    """Run a parsed `weights` command; any failure is ONE line on stderr and exit 1."""
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"llz weights {args.weights_command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the one-line contract: the message names what failed and where
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"llz weights {args.weights_command}: error: {message}", file=sys.stderr)
        return EXIT_FAILED


def _push(args: argparse.Namespace) -> int:
    from weights.push import push

    push(args.local_dir, args.uri, workers=args.workers)
    return 0


def _pull(args: argparse.Namespace) -> int:
    from weights.pull import pull

    pull(
        args.uri,
        args.local_dir,
        workers=args.workers,
        chunk_size=args.chunk_mib * MIB,
        wait_seconds=args.wait_seconds,
        poll_seconds=args.poll_seconds,
    )
    return 0


def _stage(args: argparse.Namespace) -> int:
    from huggingface_hub.utils import disable_progress_bars

    from weights.source import parse_source
    from weights.stage import stage

    disable_progress_bars()  # progress is ours: a bar on a terminal, JSON lines in a pod
    stage(parse_source(args.source), args.uri, args.workdir, workers=args.workers)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from weights.entrypoint import serve

    return serve(
        args.vllm_args,
        workers=args.workers,
        chunk_size=args.chunk_mib * MIB,
        wait_seconds=args.wait_seconds,
        poll_seconds=args.poll_seconds,
    )
