"""Issue 21: the group's leader and worker command lines, parsed by vLLM's own `vllm serve` parser.

The e2e venv's vLLM (CPU build, the version the image pins) runs in a subprocess, as
tests/test_e2e_vllm.py runs the server: each pod's args (with the $(VAR)s LWS injects expanded as
the kubelet does) must parse, validate, and give the engine's ParallelConfig the group's shape.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from infra import lws
from infra.serving import group
from tests.harness import plan
from tests.test_e2e_vllm import vllm_python  # noqa: F401  (session fixture: the e2e venv)
from tests.test_multinode import H100, MISSING, lws_of, on_h100, server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def planned() -> dict[str, Any]:
    return {stack: plan(stack, on_h100(stack), expect_warnings=[MISSING[stack]]) for stack in H100}


# `vllm serve`'s parser as vllm/entrypoints/cli/main.py builds it, its validate(), then the engine's
# ParallelConfig for the parsed flags (vllm/config/parallel.py): world size, nodes, this node's rank.
PARSE = r"""
import json, sys
from vllm.config import ParallelConfig
from vllm.engine.arg_utils import EngineArgs
from vllm.entrypoints.cli.serve import ServeSubcommand
from vllm.utils.argparse_utils import FlexibleArgumentParser
out = []
for argv in json.loads(sys.stdin.read()):
    parser = FlexibleArgumentParser(prog="vllm")
    cmd = ServeSubcommand()
    cmd.subparser_init(parser.add_subparsers(required=True, dest="subparser"))
    args = parser.parse_args(argv)
    cmd.validate(args)
    e = EngineArgs.from_cli_args(args)
    pc = ParallelConfig(
        pipeline_parallel_size=e.pipeline_parallel_size, tensor_parallel_size=e.tensor_parallel_size,
        nnodes=e.nnodes, node_rank=e.node_rank, master_addr=e.master_addr, master_port=e.master_port,
        distributed_executor_backend=e.distributed_executor_backend,
    )
    out.append({"model": args.model_tag, "headless": args.headless, "served": args.served_model_name,
                "backend": e.distributed_executor_backend, "nnodes": pc.nnodes, "node_rank": pc.node_rank,
                "master_addr": pc.master_addr, "master_port": pc.master_port, "world_size": pc.world_size,
                "local_world_size": pc.local_world_size, "node_rank_within_dp": pc.node_rank_within_dp})
print(json.dumps(out))
"""


def expand(args: list[str], env: dict[str, str]) -> list[str]:
    """What the kubelet runs: $(VAR) in args replaced by the container's env (LWS injects these)."""
    for name, value in env.items():
        args = [a.replace(f"$({name})", value) for a in args]
    return args


def test_leader_and_worker_command_lines_parse_in_vllm(planned, vllm_python):  # noqa: F811
    argvs, expected = [], []
    for stack, p in planned.items():
        template = lws_of(p).get("spec.leaderWorkerTemplate")
        for role, rank in (("leaderTemplate", 0), ("workerTemplate", 1)):
            vllm = server(template[role])
            assert vllm["command"] == ["vllm", "serve"]
            env = {lws.LEADER_ADDRESS_ENV: "llm-group-0.llm-group.llm", lws.WORKER_INDEX_ENV: str(rank)}
            argvs.append(["serve", *expand(vllm["args"], env)])
            expected.append((stack, rank))
    done = subprocess.run(
        [str(vllm_python), "-c", PARSE], input=json.dumps(argvs), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    for (stack, rank), got in zip(expected, parsed, strict=True):
        assert got["model"] == "/models/weights", stack
        assert got["headless"] is (rank == 1), (stack, rank)  # the worker runs no API server
        assert got["served"] == ["deepseek-r1"]
        assert (got["backend"], got["nnodes"], got["node_rank"]) == ("mp", 2, rank)
        assert (got["master_addr"], got["master_port"]) == ("llm-group-0.llm-group.llm", group.MASTER_PORT)
        assert got["world_size"] == 16 and got["local_world_size"] == 8  # TP 8 x PP 2; 8 GPUs per pod
        assert got["node_rank_within_dp"] == rank
