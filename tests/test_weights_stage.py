"""`llz weights stage` against the emulators and the stand-in hub: resume, a new revision, a corrupt
download, tokens and hub errors; and `llz weights pull --wait-seconds` giving up after its bound."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.emulators import ROOT, Emulator
from tests.fake_hub import LFS_THRESHOLD, FakeHub, Repo
from tests.staging_support import events, remote_manifest, tiny_model
from weights.manifest import MANIFEST
from weights.progress import Reporter
from weights.source import HubSource
from weights.stage import StageError, stage
from weights.stores import open_store
from weights.uri import parse

pytest_plugins = ["tests.weights_fixtures"]

OTHER_SHA = "0123456789abcdef0123456789abcdef01234567"


def _stage(source: HubSource, uri: str, tmp_path: Path):
    return stage(source, uri, tmp_path / "work", reporter=Reporter(tty=False))


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        # huggingface_hub reads HF_ENDPOINT at import: point its constant at this hub as well.
        import huggingface_hub.constants as hf_constants

        monkeypatch.setattr(hf_constants, "ENDPOINT", running.url)
        monkeypatch.setattr(
            hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", running.url + "/{repo_id}/resolve/{revision}/{filename}"
        )
        yield running


def _uri(emulator: Emulator, request) -> str:
    return emulator.uri(f"models/{request.node.name.replace('[', '-').rstrip(']')}")


def test_an_interrupted_stage_resumes_without_downloading_what_the_bucket_has(emulator, hub, tmp_path, request):
    source, uri = HubSource("org/tiny", "a" * 40), _uri(emulator, request)
    files = tiny_model()
    hub.add(source.repo, Repo(files, source.revision))
    _stage(source, uri, tmp_path)
    loc = parse(uri)
    store = open_store(loc)
    store.delete(loc.key(MANIFEST))  # as if the Job died before its last write
    store.delete(loc.key("model-00002-of-00002.safetensors"))
    hub.requests.clear()

    result = _stage(source, uri, tmp_path)
    # LFS files already there (by the hub's sha256) are kept; the missing shard and the small git files are fetched.
    assert sorted(result.downloaded) == [
        "config.json",
        "generation_config.json",
        "model-00002-of-00002.safetensors",
        "original/params.json",
    ]
    assert sorted(result.kept) == ["model-00001-of-00002.safetensors", "tokenizer.json"]
    assert [r.path.rsplit("/", 1)[-1] for r in hub.downloads(".safetensors")] == ["model-00002-of-00002.safetensors"]
    assert remote_manifest(loc).source == source.record()


def test_a_new_revision_replaces_the_manifest_first_and_copies_only_what_changed(emulator, hub, tmp_path, request):
    old, uri = HubSource("org/tiny", "b" * 40), _uri(emulator, request)
    files = tiny_model()
    hub.add(old.repo, Repo(files, old.revision))
    first = _stage(old, uri, tmp_path)

    changed = {**files, "config.json": b'{"model_type": "llama", "v": 2}'}
    new = HubSource(old.repo, OTHER_SHA)
    hub.add(new.repo, Repo(changed, new.revision))
    hub.requests.clear()
    result = _stage(new, uri, tmp_path)
    assert result.digest != first.digest
    assert sorted(result.kept) == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "tokenizer.json",
    ]
    assert hub.downloads(".safetensors") == []
    manifest = remote_manifest(parse(uri))
    assert manifest.source["revision"] == OTHER_SHA and manifest.digest == result.digest


def test_a_file_that_does_not_match_the_hubs_sha256_fails_and_publishes_no_manifest(emulator, hub, tmp_path, request):
    source, uri = HubSource("org/tiny", "c" * 40), _uri(emulator, request)
    hub.add(source.repo, Repo(tiny_model(), source.revision, corrupt={"model-00002-of-00002.safetensors"}))
    with pytest.raises(
        StageError, match=r"model-00002-of-00002.safetensors from hf://org/tiny@c{40}: got \d+ bytes with sha256"
    ):
        _stage(source, uri, tmp_path)
    assert remote_manifest(parse(uri)) is None


def test_token_reaches_the_hub_and_hub_errors_are_one_line(emulator, hub, tmp_path, request):
    uri = _uri(emulator, request)
    source = HubSource("org/gated", "d" * 40)
    hub.add(
        source.repo,
        Repo({"config.json": b"{}", "model.safetensors": bytes(LFS_THRESHOLD)}, source.revision, token="hf_secret"),
    )
    env = {**os.environ, "HF_ENDPOINT": hub.url}
    run = lambda *args, **extra: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "infra.cli", "weights", "stage", *args, "--workdir", str(tmp_path / "w")],
        cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    denied = run(str(source), uri)
    assert denied.returncode == 1
    assert denied.stderr.strip().splitlines() == [
        f"llz weights stage: error: {source}: gated repo; accept its terms on the hub and give a token (HF_TOKEN)"
    ]
    allowed = run(str(source), uri, HF_TOKEN="hf_secret")
    assert allowed.returncode == 0, allowed.stderr
    assert {r.authorization for r in hub.requests if "/org/gated/" in r.path} == {None, "Bearer hf_secret"}

    missing = run(f"hf://org/gated@{'e' * 40}", uri, HF_TOKEN="hf_secret")
    assert (
        missing.stderr.strip() == f"llz weights stage: error: hf://org/gated@{'e' * 40}: no such revision in org/gated"
    )
    branch = run("hf://org/gated@main", uri)
    assert (
        branch.returncode == 1
        and "a branch or tag name moves" in branch.stderr
        and len(branch.stderr.splitlines()) == 1
    )


def test_pull_without_a_manifest_waits_only_as_long_as_told(emulator, tmp_path, request):
    uri = _uri(emulator, request)
    t0 = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "weights", "pull", uri, str(tmp_path / "w"), "--wait-seconds", "1.5", "--poll-seconds", "0.3"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    waited = time.monotonic() - t0
    assert result.returncode == 1
    assert [e["event"] for e in events(result.stdout)] == ["pull.wait"]
    assert result.stderr.strip() == (
        f"llz weights pull: error: no {MANIFEST} at {uri}: nothing was pushed there, or the push did not finish (waited 1.5 s)"
    )
    assert 1.5 <= waited < 30
    assert not (tmp_path / "w").exists()
