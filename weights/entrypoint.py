"""Single-container entrypoint: pull the weights, then become vLLM (exec, so signals reach it).

The Kubernetes deployment uses an init container (`llz weights pull`) instead; this is for
running the whole thing as one process, e.g. `docker run` or the end-to-end test.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from weights.pull import pull

DEFAULT_DIR = "/models/weights"


def vllm_argv(weights_dir: str, extra: Sequence[str] = ()) -> list[str]:
    """The vLLM command line: VLLM_COMMAND, the model folder, VLLM_ARGS, then `extra`."""
    command = shlex.split(os.environ.get("VLLM_COMMAND", "vllm serve"))
    if list(extra[:1]) == ["--"]:
        extra = extra[1:]
    return [*command, "--model", weights_dir, *shlex.split(os.environ.get("VLLM_ARGS", "")), *extra]


def serve(extra: Sequence[str] = (), **pull_options) -> int:
    uri = os.environ.get("LLZ_WEIGHTS_URI")
    if not uri:
        raise ValueError("LLZ_WEIGHTS_URI is not set (s3://bucket/prefix, gs://… or az://…)")
    weights_dir = os.environ.get("LLZ_WEIGHTS_DIR", DEFAULT_DIR)
    pull(uri, weights_dir, **pull_options)
    argv = vllm_argv(weights_dir, extra)
    os.execvp(argv[0], argv)
