"""`llz weights push|pull|serve`. Imports only the weights extra (never pulumi or pydantic)."""

from __future__ import annotations

import argparse
import sys

from weights.stores import DEFAULT_CHUNK, MIB

EXIT_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="weights_command", required=True, metavar="{push,pull,serve}")
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

    pull(args.uri, args.local_dir, workers=args.workers, chunk_size=args.chunk_mib * MIB)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from weights.entrypoint import serve

    return serve(args.vllm_args, workers=args.workers, chunk_size=args.chunk_mib * MIB)
