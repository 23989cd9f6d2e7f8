"""`llz images pin` against a real registry: the CNCF distribution registry (Debian's docker-registry,
`make test-tools` unpacks it) started on a free port, images pushed to it through the HTTP API with
blobs made here, and every digest checked against the bytes pushed, so a wrong resolution fails.
The token flow is checked through a front that demands an anonymous bearer token the way Docker Hub
and GHCR do, forwarding to the same registry."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra import cli, conventions, image_pins, images
from infra.aws import versions as aws_versions

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / ".test-tools" / "docker-registry" / "usr" / "bin" / "docker-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Registry:
    host: str  # 127.0.0.1:<port>

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def blob(self, name: str, data: bytes) -> dict:
        """Upload a blob (monolithic: POST an upload, PUT its bytes with the digest); its descriptor."""
        post = urllib.request.Request(self.url(f"/v2/{name}/blobs/uploads/"), method="POST", data=b"")
        with urllib.request.urlopen(post) as resp:
            assert resp.status == 202
            location = urllib.parse.urljoin(self.url("/"), resp.headers["Location"])
        sep = "&" if "?" in location else "?"
        put = urllib.request.Request(
            f"{location}{sep}digest={_sha(data)}",
            method="PUT",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(put) as resp:
            assert resp.status == 201
        return {"digest": _sha(data), "size": len(data)}

    def manifest(self, name: str, tag: str, body: bytes, media_type: str) -> str:
        """PUT a manifest under `tag`; the digest the registry stored it as (checked against the bytes)."""
        req = urllib.request.Request(
            self.url(f"/v2/{name}/manifests/{tag}"), method="PUT", data=body, headers={"Content-Type": media_type}
        )
        with urllib.request.urlopen(req) as resp:
            assert resp.status == 201
            assert resp.headers["Docker-Content-Digest"] == _sha(body)
        return _sha(body)

    def image(self, name: str, tag: str, content: bytes) -> tuple[str, bytes]:
        """A one-layer OCI image whose layer holds `content`, tagged; (its digest, its manifest bytes)."""
        config = self.blob(name, json.dumps({"architecture": "amd64", "os": "linux", "note": str(content)}).encode())
        layer = self.blob(name, content)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
            }
        ).encode()
        return self.manifest(name, tag, manifest, OCI_MANIFEST), manifest


def _registry_binary() -> str:
    found = str(BUNDLED) if BUNDLED.exists() else shutil.which("docker-registry") or shutil.which("registry")
    assert found, "the distribution registry is missing: `make test-tools` (or apt-get install docker-registry)"
    return found


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [_registry_binary(), "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    reg = Registry(f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(reg.url("/v2/"), timeout=1) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "registry exited"
                assert time.monotonic() < deadline, "the registry did not answer /v2/ within 20 s"
                time.sleep(0.1)
        yield reg
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _plain(reg: Registry) -> frozenset[str]:
    return frozenset({reg.host})


def test_a_tag_resolves_to_the_digest_of_the_manifest_pushed(registry):
    digest, manifest = registry.image("team/app", "v1", b"layer one")
    assert digest == _sha(manifest)
    assert images.resolve(f"{registry.host}/team/app:v1", plain_http=_plain(registry)) == digest


def test_a_moved_tag_resolves_to_its_new_digest(registry):
    first, _ = registry.image("team/moving", "v1", b"first build")
    assert images.resolve(f"{registry.host}/team/moving:v1", plain_http=_plain(registry)) == first
    second, _ = registry.image("team/moving", "v1", b"second build")
    assert second != first
    assert images.resolve(f"{registry.host}/team/moving:v1", plain_http=_plain(registry)) == second


def test_a_multi_arch_tag_resolves_to_its_index_not_a_platform_manifest(registry):
    amd, amd_manifest = registry.image("team/multi", "amd64-only", b"amd64 layer")
    arm, arm_manifest = registry.image("team/multi", "arm64-only", b"arm64 layer")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": amd,
                    "size": len(amd_manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                },
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": arm,
                    "size": len(arm_manifest),
                    "platform": {"architecture": "arm64", "os": "linux"},
                },
            ],
        }
    ).encode()
    pushed = registry.manifest("team/multi", "v2", index, OCI_INDEX)
    resolved = images.resolve(f"{registry.host}/team/multi:v2", plain_http=_plain(registry))
    assert resolved == pushed == _sha(index)
    assert resolved not in (amd, arm)


def test_an_unknown_tag_or_a_digest_only_reference_is_an_error(registry):
    with pytest.raises(images.ResolveError, match=r"team/app:nope: HEAD .* HTTP 404"):
        images.resolve(f"{registry.host}/team/app:nope", plain_http=_plain(registry))
    with pytest.raises(images.ResolveError, match="no tag to resolve"):
        images.resolve(f"{registry.host}/team/app@sha256:{'0' * 64}", plain_http=_plain(registry))


class _TokenFront(http.server.BaseHTTPRequestHandler):
    """Docker Hub's shape: /v2 answers 401 + `WWW-Authenticate: Bearer realm,service,scope` without a
    token; /token hands one out for exactly that service and scope; with it, requests reach the registry."""

    upstream = ""
    issued: list[dict] = []

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/token":
            query = dict(urllib.parse.parse_qsl(url.query))
            self.issued.append(query)
            ok = query == {"service": "front", "scope": "repository:team/app:pull"}
            body = json.dumps({"token": "tok"} if ok else {}).encode()
            self.send_response(200 if ok else 403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.headers.get("Authorization") != "Bearer tok":
            realm = f"http://{self.headers['Host']}/token"
            self.send_response(401)
            self.send_header(
                "WWW-Authenticate", f'Bearer realm="{realm}",service="front",scope="repository:team/app:pull"'
            )
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        req = urllib.request.Request(
            f"http://{self.upstream}{self.path}", method=method, headers={"Accept": self.headers["Accept"]}
        )
        with urllib.request.urlopen(req) as resp:
            body = resp.read()
            self.send_response(resp.status)
            for key in ("Content-Type", "Docker-Content-Digest", "Content-Length"):
                if resp.headers.get(key):
                    self.send_header(key, resp.headers[key])
            self.end_headers()
            if method == "GET":
                self.wfile.write(body)

    def do_HEAD(self):
        self._answer("HEAD")

    def do_GET(self):
        self._answer("GET")


def test_the_anonymous_bearer_token_flow(registry):
    digest, _ = registry.image("team/app", "v-token", b"behind a token")
    _TokenFront.upstream = registry.host
    _TokenFront.issued = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenFront)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        front = f"127.0.0.1:{server.server_address[1]}"
        assert images.resolve(f"{front}/team/app:v-token", plain_http=frozenset({front})) == digest
        assert _TokenFront.issued == [{"service": "front", "scope": "repository:team/app:pull"}]
    finally:
        server.shutdown()


def _conventions_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "conventions.py"
    copy.write_text(Path(conventions.__file__).read_text())
    return copy


def _load(path: Path) -> dict:
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # the rewritten file still runs
    return namespace


def test_llz_images_pin_rewrites_the_one_place_and_check_sees_a_moved_tag(registry, tmp_path, capsys):
    digest, _ = registry.image("team/pinned", "1.0", b"pinned build")
    ref = f"{registry.host}/team/pinned:1.0"
    path = _conventions_copy(tmp_path)
    kept = current = image_pins.current(path.read_text())
    args = ["images", "pin", "--file", str(path), "--ref", ref, "--plain-http", registry.host]
    assert cli.main([*args, "--check"]) == 1  # not pinned yet
    assert cli.main(args) == 0
    assert f"{ref}: (none) -> {digest}" in capsys.readouterr().out
    current = image_pins.current(path.read_text())
    assert current == {**kept, ref: digest}  # the other pins stay
    namespace = _load(path)
    assert namespace["pinned"](ref) == f"{ref}@{digest}"
    assert namespace["VLLM_IMAGE"] == conventions.VLLM_IMAGE
    assert cli.main([*args, "--check"]) == 0
    moved, _ = registry.image("team/pinned", "1.0", b"rebuilt under the same tag")
    assert cli.main([*args, "--check"]) == 1
    assert image_pins.current(path.read_text())[ref] == digest  # --check writes nothing
    assert cli.main(args) == 0
    assert image_pins.current(path.read_text())[ref] == moved


def test_an_unresolvable_tag_keeps_its_pin_and_fails_unless_allowed(registry, tmp_path, capsys):
    path = _conventions_copy(tmp_path)
    before = path.read_text()
    ref = f"{registry.host}/team/absent:1.0"
    args = ["images", "pin", "--file", str(path), "--ref", ref, "--plain-http", registry.host]
    assert cli.main(args) == 1
    assert "team/absent:1.0" in capsys.readouterr().err
    assert cli.main([*args, "--allow-missing"]) == 0
    assert path.read_text() == before


def test_the_default_list_is_every_upstream_tag_the_program_pins():
    tags = image_pins.upstream_tags()
    assert conventions.VLLM_TAG in tags and conventions.PULLER_TAG in tags
    assert conventions.NVIDIA_DEVICE_PLUGIN_TAG in tags
    assert set(conventions.KEDA_TAGS.values()) <= set(tags)
    for minor in aws_versions.AUTOSCALER_PATCH:
        assert aws_versions.autoscaler_tag(minor) in tags
    for tag in tags:
        assert "@" not in tag and not tag.endswith(":latest"), tag


def test_every_digest_pin_is_a_pinned_tag_and_the_defaults_carry_it():
    """No stale entry; a pinned tag's default reference is `tag@digest`."""
    assert set(conventions.DIGESTS) <= set(image_pins.upstream_tags())
    for tag, digest in conventions.DIGESTS.items():
        assert conventions.pinned(tag) == f"{tag}@{digest}"
    cluster_autoscaler = aws_versions.autoscaler_image("1.35")
    assert cluster_autoscaler == (
        "registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.2"
        "@sha256:aac369dc283927a623deb1af54696efcc722ae79255aa07788422e495bab887d"
    )


def test_the_pin_command_needs_only_the_standard_library(tmp_path):
    """The pins workflow runs `python3 -m infra.image_pins` on a bare runner: nothing beyond the stdlib."""
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pulumi', 'pydantic', 'yaml', 'requests', 'boto3'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import runpy\n"
        "sys.argv = ['infra.image_pins', 'pin', '--help']\n"
        "runpy.run_module('infra.image_pins', run_name='__main__')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--check" in result.stdout and "--plain-http" in result.stdout
