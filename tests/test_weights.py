"""`llz weights push/pull` against real emulators (moto, fake-gcs-server, Azurite), per store.

Commands run as a user runs them (a subprocess, real exit codes and output) where the contract is
the CLI; in-process where a fault must be injected at an exact point (a crash mid-download).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.emulators import ROOT, Emulator
from weights import pull as weights_pull
from weights.manifest import MANIFEST, Manifest
from weights.progress import Reporter
from weights.pull import PullError, pull
from weights.push import push
from weights.stores import MIB, PIECE, MissingObject, ObjectInfo, open_store
from weights.uri import parse

pytest_plugins = ["tests.weights_fixtures"]

CHUNK = 1 * MIB  # small ranges, so every shard is several chunks


def make_model(folder: Path, seed: int = 1) -> Path:
    """A model-shaped folder: two shards, config, a nested tokenizer file and an empty file."""
    rnd = __import__("random").Random(seed)
    files = {
        "config.json": json.dumps({"model_type": "llama", "seed": seed}).encode(),
        "model-00001-of-00002.safetensors": rnd.randbytes(3 * MIB + 12345),
        "model-00002-of-00002.safetensors": rnd.randbytes(2 * MIB + 7),
        "tokenizer/tokenizer.json": rnd.randbytes(70_000),
        "generation_config.json": b"",
    }
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def llz(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def same_tree(a: Path, b: Path) -> None:
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file() and p.name != MANIFEST)
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture
def model(tmp_path) -> Path:
    return make_model((tmp_path / "src").resolve().absolute())


def _uri(emulator: Emulator, request) -> str:
    return emulator.uri(f"models/{request.node.name.replace('[', '-').rstrip(']')}")


def test_round_trip_identical_bytes_then_noop(emulator, model, tmp_path, request):
    uri = _uri(emulator, request)
    pushed = llz("weights", "push", str(model), uri)
    assert pushed.returncode == 0, pushed.stderr
    done = events(pushed.stdout)[-1]
    assert (done["event"], done["uploaded"], done["skipped"]) == ("push.done", 5, 0)

    dest = tmp_path / "models" / "weights"
    pulled = llz("weights", "pull", uri, str(dest), "--chunk-mib", "1")
    assert pulled.returncode == 0, pulled.stderr
    same_tree(model, dest)
    last = events(pulled.stdout)[-1]
    assert last["event"] == "pull.done" and last["bytes"] == sum(
        p.stat().st_size for p in model.rglob("*") if p.is_file()
    )
    assert last["MBps"] > 0 and last["seconds"] >= 0
    assert Manifest.from_json((dest / MANIFEST).read_bytes(), "local").digest == last["digest"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["weights"], "temp folder left behind"

    again = llz("weights", "pull", uri, str(dest))
    assert again.returncode == 0 and events(again.stdout)[-1]["event"] == "pull.noop"
    repush = llz("weights", "push", str(model), uri)
    assert (events(repush.stdout)[-1]["uploaded"], events(repush.stdout)[-1]["skipped"]) == (0, 5)


def test_new_version_replaces_old_folder(emulator, model, tmp_path, request):
    uri, dest = _uri(emulator, request), tmp_path / "weights"
    push(model, uri, reporter=Reporter(tty=False))
    pull(uri, dest, chunk_size=CHUNK, reporter=Reporter(tty=False))
    (model / "config.json").write_text('{"version": 2}')
    result = push(model, uri, reporter=Reporter(tty=False))
    assert [Path(k).name for k in result.uploaded] == ["config.json"], "unchanged shards must be skipped"
    pull(uri, dest, chunk_size=CHUNK, reporter=Reporter(tty=False))
    same_tree(model, dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "weights"]


def test_corrupted_object_fails_and_leaves_no_folder(emulator, model, tmp_path, request):
    uri = _uri(emulator, request)
    push(model, uri, reporter=Reporter(tty=False))
    store, loc = open_store(parse(uri)), parse(uri)
    shard = model / "model-00002-of-00002.safetensors"
    store.put_bytes(loc.key(shard.name), bytes(shard.stat().st_size))  # same size, other bytes
    dest = tmp_path / "weights"
    result = llz("weights", "pull", uri, str(dest), "--chunk-mib", "1")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("llz weights pull: error: sha256 mismatch for model-00002-of-00002.safetensors")
    assert not dest.exists()


def test_deleted_object_fails_clearly(emulator, model, tmp_path, request):
    uri = _uri(emulator, request)
    push(model, uri, reporter=Reporter(tty=False))
    loc = parse(uri)
    open_store(loc).delete(loc.key("tokenizer/tokenizer.json"))
    dest = tmp_path / "weights"
    result = llz("weights", "pull", uri, str(dest))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "missing object" in result.stderr and "tokenizer/tokenizer.json" in result.stderr
    assert not dest.exists()


def test_missing_manifest_fails_clearly(emulator, tmp_path, request):
    dest = tmp_path / "weights"
    result = llz("weights", "pull", _uri(emulator, request), str(dest))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"llz weights pull: error: no {MANIFEST} at {_uri(emulator, request)}: nothing was pushed there, or the push did not finish"
    )
    assert not dest.exists()


class Crash(KeyboardInterrupt):
    """A kill mid-download: not an error the pull may retry or clean up after."""


class CrashingStore:
    """The real store, until `after` ranged reads have been served."""

    def __init__(self, store, after: int):
        self.store, self.after, self.reads = store, after, 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def stream_range(self, key, start, length, sink):
        self.reads += 1
        if self.reads > self.after:
            raise Crash
        self.store.stream_range(key, start, length, sink)


def test_interrupted_download_resumes(emulator, model, tmp_path, request):
    uri, dest = _uri(emulator, request), tmp_path / "weights"
    push(model, uri, reporter=Reporter(tty=False))
    total = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
    with pytest.raises(KeyboardInterrupt):
        pull(
            uri,
            dest,
            workers=1,
            chunk_size=CHUNK,
            store=CrashingStore(open_store(parse(uri)), after=4),
            reporter=Reporter(tty=False),
        )
    assert not dest.exists(), "an interrupted pull must not leave a folder that looks complete"
    assert (tmp_path / ".weights.llz-partial").is_dir()

    result = pull(uri, dest, chunk_size=CHUNK, reporter=Reporter(tty=False))
    assert result.resumed_bytes >= 3 * CHUNK, result
    assert result.fetched_bytes + result.resumed_bytes == total
    same_tree(model, dest)
    assert not (tmp_path / ".weights.llz-partial").exists()


class FlakyStore(CrashingStore):
    """Every ranged read fails once with a connection reset before it succeeds."""

    def __init__(self, store):
        super().__init__(store, after=0)
        self.seen: set[tuple[str, int]] = set()

    def stream_range(self, key, start, length, sink):
        if (key, start) not in self.seen:
            self.seen.add((key, start))
            raise ConnectionResetError("reset by peer (injected)")
        self.store.stream_range(key, start, length, sink)


def test_transient_errors_are_retried(emulator, model, tmp_path, request):
    uri, dest = _uri(emulator, request), tmp_path / "weights"
    push(model, uri, reporter=Reporter(tty=False))
    flaky = FlakyStore(open_store(parse(uri)))
    pull(uri, dest, chunk_size=4 * MIB, store=flaky, reporter=Reporter(tty=False))
    same_tree(model, dest)
    assert len(flaky.seen) == 4  # 2 chunks of the big shard, 1 each for the other non-empty files


class RecordingStore(CrashingStore):
    """Records writes in order; optionally fails the upload of one file."""

    def __init__(self, store, fail: str | None = None):
        super().__init__(store, after=10**9)
        self.writes: list[str] = []
        self.fail = fail

    def upload(self, file):
        if self.fail and file.key.endswith(self.fail):
            raise ConnectionError("upload failed (injected)")
        self.store.upload(file)
        self.writes.append(file.key)

    def put_bytes(self, key, data):
        self.store.put_bytes(key, data)
        self.writes.append(key)


def test_manifest_is_written_last(emulator, model, tmp_path, request):
    uri = _uri(emulator, request)
    loc = parse(uri)
    failing = RecordingStore(open_store(loc), fail="model-00002-of-00002.safetensors")
    with pytest.raises(ConnectionError):
        push(model, uri, workers=2, store=failing, reporter=Reporter(tty=False))
    assert open_store(loc).stat(loc.key(MANIFEST)) is None, "a failed push must not publish a manifest"
    with pytest.raises(PullError, match=r"no llz-manifest\.json"):
        pull(uri, tmp_path / "weights", reporter=Reporter(tty=False))

    recording = RecordingStore(open_store(loc))
    result = push(model, uri, store=recording, reporter=Reporter(tty=False))
    assert recording.writes[-1] == loc.key(MANIFEST)
    assert len(result.skipped) >= 1, "files uploaded by the failed push are not uploaded again"
    assert sorted(recording.writes[:-1]) == sorted(result.uploaded)


BLOCK_PLAN_DEPS = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pulumi", "pydantic", "yaml"):
            raise ImportError(f"{name} is not in the [weights] image")
sys.meta_path.insert(0, Block())
from infra.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("emulator", ["s3"], indirect=True)
def test_weights_cli_runs_without_the_plan_dependencies(emulator, model, tmp_path, request):
    """What the [weights]-only image can do: pulumi, pydantic and yaml cannot even be imported."""
    uri, dest = _uri(emulator, request), tmp_path / "weights"

    def llz_serving_only(*args: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-c", BLOCK_PLAN_DEPS, *args]
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)

    assert llz_serving_only("weights", "push", str(model), uri).returncode == 0
    result = llz_serving_only("weights", "pull", uri, str(dest))
    assert result.returncode == 0, result.stderr
    same_tree(model, dest)
    assert llz_serving_only("--help").returncode == 0


@pytest.mark.parametrize("emulator", ["s3"], indirect=True)
def test_serve_pulls_then_execs_vllm_with_env_args(emulator, model, tmp_path, request):
    uri, dest = _uri(emulator, request), tmp_path / "models" / "weights"
    push(model, uri, reporter=Reporter(tty=False))
    env = {
        "LLZ_WEIGHTS_URI": uri,
        "LLZ_WEIGHTS_DIR": str(dest),
        "VLLM_COMMAND": f"{sys.executable} -c 'import json, os, sys; print(json.dumps([os.getpid(), *sys.argv[1:]]))'",
        "VLLM_ARGS": "--dtype float32 --served-model-name 'tiny llama'",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; print(os.getpid()); from infra.cli import main; sys.exit(main())",
            "weights",
            "serve",
            "--",
            "--port",
            "8001",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    pid, argv = int(lines[0]), json.loads(lines[-1])
    assert argv == [
        pid,
        "--model",
        str(dest),
        "--dtype",
        "float32",
        "--served-model-name",
        "tiny llama",
        "--port",
        "8001",
    ]
    assert events(result.stdout)[-1]["event"] == "pull.done"  # pulled first, then exec'd in the same process
    same_tree(model, dest)


def test_serve_without_uri_is_one_line(tmp_path):
    result = llz("weights", "serve", env={"LLZ_WEIGHTS_URI": ""})
    assert result.returncode == 1
    assert result.stderr.strip().startswith("llz weights serve: error: LLZ_WEIGHTS_URI is not set")


@pytest.mark.parametrize("emulator", ["s3"], indirect=True)
def test_not_enough_disk_fails_before_downloading(emulator, model, tmp_path, request, monkeypatch):
    uri, dest = _uri(emulator, request), tmp_path / "weights"
    push(model, uri, reporter=Reporter(tty=False))
    monkeypatch.setattr(
        "weights.pull.shutil.disk_usage", lambda p: __import__("shutil")._ntuple_diskusage(10**9, 10**9 - 1000, 1000)
    )
    with pytest.raises(PullError, match=r"not enough disk space .* need \d+ more bytes, 1000 free"):
        pull(uri, dest, reporter=Reporter(tty=False))
    assert not dest.exists()


def test_refuses_to_replace_a_folder_it_did_not_pull(tmp_path):
    dest = tmp_path / "home"
    (dest / "notes.txt").parent.mkdir()
    (dest / "notes.txt").write_text("mine")

    class OneManifest:
        def get_bytes(self, key):
            return Manifest(()).to_json()

    with pytest.raises(PullError, match="exists and is not a folder pulled by llz"):
        pull("s3://b/p", dest, store=OneManifest(), reporter=Reporter(tty=False))
    assert (dest / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "a\\b"])
def test_manifest_rejects_paths_that_escape_the_folder(path):
    body = {"version": 1, "files": [{"path": path, "size": 1, "sha256": "0" * 64}], "digest": "x"}
    with pytest.raises(ValueError, match="unsafe path"):
        Manifest.from_json(json.dumps(body).encode(), "test")


def test_manifest_digest_is_checked(model):
    good = json.loads(Manifest.of_folder(model).to_json())
    good["files"][0]["size"] += 1
    with pytest.raises(ValueError, match="does not match its file list"):
        Manifest.from_json(json.dumps(good).encode(), "test")


@pytest.mark.parametrize(
    ("uri", "env", "parsed"),
    [
        ("s3://bkt/models/x/", {}, ("s3", "bkt", "models/x", None)),
        ("gs://bkt", {}, ("gs", "bkt", "", None)),
        ("az://weights/models/x", {"AZURE_STORAGE_ACCOUNT_NAME": "acct"}, ("az", "weights", "models/x", "acct")),
        ("https://acct2.blob.core.windows.net/weights/models/x", {}, ("az", "weights", "models/x", "acct2")),
    ],
)
def test_uri_forms(uri, env, parsed, monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    u = parse(uri)
    assert (u.scheme, u.bucket, u.prefix, u.account) == parsed


@pytest.mark.parametrize("uri", ["http://x/y", "s3:///nobucket", "file:///tmp/x", "https://example.com/c/p"])
def test_bad_uris(uri):
    with pytest.raises(ValueError):
        parse(uri)


class MemoryStore:
    """A dict as a store: for output-format tests that need no emulator."""

    def __init__(self):
        self.objects: dict[str, bytes] = {}

    def stat(self, key):
        return ObjectInfo(len(self.objects[key]), None) if key in self.objects else None

    def read_range(self, key, start, length):
        return self.objects[key][start : start + length]

    def get_bytes(self, key):
        return self.objects.get(key)

    def put_bytes(self, key, data):
        self.objects[key] = data

    def delete(self, key):
        self.objects.pop(key, None)

    def upload(self, file):
        self.objects[file.key] = file.path.read_bytes()


def test_terminal_gets_a_progress_bar_and_a_pod_gets_json_lines(model, tmp_path):
    store, terminal, pod = MemoryStore(), io.StringIO(), io.StringIO()
    push(model, "s3://b/m", store=store, reporter=Reporter(stream=terminal, tty=True))
    pull("s3://b/m", tmp_path / "tty", store=store, chunk_size=CHUNK, reporter=Reporter(stream=terminal, tty=True))
    assert "━" in terminal.getvalue() and "pull 5 files" in terminal.getvalue()
    assert "pull.done: digest=" in terminal.getvalue()

    pull("s3://b/m", tmp_path / "pod", store=store, chunk_size=CHUNK, reporter=Reporter(stream=pod, tty=False))
    lines = [json.loads(line) for line in pod.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["pull.start"] + ["pull.file"] * 5 + ["pull.done"]
    assert {"bytes", "seconds", "MBps"} <= set(lines[-1]) and {"bytes", "seconds", "MBps"} <= set(lines[1])


def test_disk_full_while_writing_is_one_clear_error(model, tmp_path):
    """A real ENOSPC from the kernel: the part file of one shard is /dev/full."""
    store = MemoryStore()
    push(model, "s3://b/m", store=store, reporter=Reporter(tty=False))
    partial = tmp_path / ".weights.llz-partial"
    partial.mkdir()
    (partial / ".llz-digest").write_text(Manifest.of_folder(model).digest)
    (partial / "model-00001-of-00002.safetensors.llz-part").symlink_to("/dev/full")
    with pytest.raises(PullError, match=r"^no space left on device writing .*model-00001-of-00002"):
        pull("s3://b/m", tmp_path / "weights", store=store, chunk_size=CHUNK, reporter=Reporter(tty=False))
    assert not (tmp_path / "weights").exists()


def test_push_replaces_a_manifest_that_is_not_valid(model):
    store = MemoryStore()
    store.put_bytes(f"m/{MANIFEST}", b"{not json")
    result = push(model, "s3://b/m", store=store, reporter=Reporter(tty=False))
    assert Manifest.from_json(store.get_bytes(f"m/{MANIFEST}"), "store").digest == result.digest


# -- the streaming engine: ranges written at their offsets as they arrive, hashed in order behind them


class StreamingMemoryStore(MemoryStore):
    """Streams a range in `piece`-byte pieces, calling `before(key, start, offset)` ahead of each one."""

    def __init__(self, piece: int = 256 * 1024, before=None):
        super().__init__()
        self.piece, self.before = piece, before
        self.requests: list[tuple[str, int, int]] = []
        self.lock = threading.Lock()

    def stream_range(self, key, start, length, sink):
        with self.lock:
            self.requests.append((key, start, length))
        data = self.objects[key]
        for off in range(start, start + length, self.piece):
            if self.before is not None:
                self.before(key, start, off)
            sink(data[off : min(off + self.piece, start + length)])


BIG = "model-00001-of-00002.safetensors"  # 3 MiB + 12345: four 1 MiB ranges


def _pushed(model, store) -> bytes:
    push(model, "s3://b/m", store=store, reporter=Reporter(tty=False))
    return (model / BIG).read_bytes()


def test_ranges_landing_out_of_order_are_hashed_in_order(model, tmp_path):
    """The first range of a shard arrives last: the hasher must wait for it, never hash the hole."""
    last_done = threading.Event()
    order: list[int] = []

    def before(key, start, off):
        if key.endswith(BIG) and start == 0 and off == 0:
            assert last_done.wait(10), "the last range never landed while the first one waited"

    store = StreamingMemoryStore(before=before)
    original = store.stream_range

    def stream_range(key, start, length, sink):
        original(key, start, length, sink)
        if key.endswith(BIG):
            order.append(start)
            if start == 3 * CHUNK:
                last_done.set()

    store.stream_range = stream_range
    _pushed(model, store)
    result = pull(
        "s3://b/m", tmp_path / "weights", workers=4, chunk_size=CHUNK, store=store, reporter=Reporter(tty=False)
    )
    assert order.index(3 * CHUNK) < order.index(0), order  # the last range landed before the first
    same_tree(model, tmp_path / "weights")
    assert result.fetched_bytes == sum(p.stat().st_size for p in model.rglob("*") if p.is_file())


def test_files_are_fetched_one_range_of_each_in_turn_and_hashed_from_memory(model, tmp_path, monkeypatch):
    """Two ranges in flight (one worker): two files at a time, alternating; nothing is read back to hash."""
    store = StreamingMemoryStore()
    _pushed(model, store)
    read_back: list[str] = []
    real_hash = weights_pull._hash
    monkeypatch.setattr(weights_pull, "_hash", lambda f, *a: read_back.append(f.entry.path) or real_hash(f, *a))
    pull("s3://b/m", tmp_path / "weights", workers=1, chunk_size=CHUNK, store=store, reporter=Reporter(tty=False))
    big, small = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    assert [(key.removeprefix("m/"), start // CHUNK) for key, start, _ in store.requests] == [
        ("config.json", 0), (big, 0), (big, 1), (small, 0), (big, 2), (small, 1), (big, 3), (small, 2),
        ("tokenizer/tokenizer.json", 0),
    ]  # fmt: skip
    assert read_back == []
    same_tree(model, tmp_path / "weights")


def test_pieces_reach_the_disk_while_the_range_is_still_streaming(model, tmp_path):
    """Each piece is on disk at its offset before the next one is read: nothing waits for a whole range."""
    seen: list[int] = []
    data: dict[str, bytes] = {}

    def before(key, start, off):
        if key.endswith(BIG) and off > start:
            part = tmp_path / ".weights.llz-partial" / f"{BIG}.llz-part"
            with part.open("rb") as f:
                f.seek(off - store.piece)
                assert f.read(store.piece) == data["big"][off - store.piece : off], f"piece before {off} not on disk"
            seen.append(off)

    store = StreamingMemoryStore(before=before)
    data["big"] = _pushed(model, store)
    pull("s3://b/m", tmp_path / "weights", workers=2, chunk_size=CHUNK, store=store, reporter=Reporter(tty=False))
    assert len(seen) == 9, seen  # 3 whole ranges x (4 pieces - the first); the 4th range is one piece
    same_tree(model, tmp_path / "weights")


def test_a_broken_range_is_retried_from_the_byte_it_stopped_at(model, tmp_path):
    store = StreamingMemoryStore()
    broke: list[int] = []

    def before(key, start, off):
        if key.endswith(BIG) and start == CHUNK and off == start + 2 * store.piece and not broke:
            broke.append(off)
            raise ConnectionResetError("reset by peer mid-range (injected)")

    store.before = before
    _pushed(model, store)
    result = pull("s3://b/m", tmp_path / "weights", chunk_size=CHUNK, store=store, reporter=Reporter(tty=False))
    again = [r for r in store.requests if r[0].endswith(BIG) and CHUNK <= r[1] < 2 * CHUNK]
    assert again == [("m/" + BIG, CHUNK, CHUNK), ("m/" + BIG, CHUNK + 2 * store.piece, CHUNK - 2 * store.piece)]
    assert result.fetched_bytes == sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
    same_tree(model, tmp_path / "weights")


def test_a_crash_with_holes_resumes_from_the_contiguous_hashed_prefix(model, tmp_path):
    """Later ranges landed, the first did not finish: only its finished prefix is kept for the next run."""
    rest_done = threading.Barrier(2, timeout=10)

    def before(key, start, off):
        if key.endswith(BIG) and start == 0 and off == store.piece:
            rest_done.wait()  # the first piece is on disk; the other three ranges have landed
            raise Crash

    store = StreamingMemoryStore(before=before)
    original = store.stream_range

    def stream_range(key, start, length, sink):
        original(key, start, length, sink)
        if key.endswith(BIG) and start == 3 * CHUNK:
            rest_done.wait()

    store.stream_range = stream_range
    _pushed(model, store)
    dest = tmp_path / "weights"
    with pytest.raises(KeyboardInterrupt):
        pull("s3://b/m", dest, workers=4, chunk_size=CHUNK, store=store, reporter=Reporter(tty=False))
    partial = tmp_path / ".weights.llz-partial"
    assert (partial / f"{BIG}.llz-part.at").read_text() == str(store.piece)
    assert (partial / f"{BIG}.llz-part").stat().st_size == 4 * CHUNK - CHUNK + 12345, "the later ranges are on disk"
    assert not dest.exists()

    plain = StreamingMemoryStore()
    plain.objects = store.objects
    result = pull("s3://b/m", dest, workers=4, chunk_size=CHUNK, store=plain, reporter=Reporter(tty=False))
    assert next(r for r in plain.requests if r[0].endswith(BIG))[1] == store.piece, "resumed at the recorded prefix"
    assert result.fetched_bytes + result.resumed_bytes == sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
    same_tree(model, dest)
    assert not list(dest.rglob("*.at")) and not partial.exists()


@pytest.mark.parametrize("mark", ["junk", "", str(10**12)])
def test_a_resume_mark_that_cannot_be_trusted_restarts_the_file(model, tmp_path, mark):
    store = StreamingMemoryStore()
    _pushed(model, store)
    partial = tmp_path / ".weights.llz-partial"
    partial.mkdir()
    (partial / ".llz-digest").write_text(Manifest.of_folder(model).digest)
    (partial / f"{BIG}.llz-part").write_bytes(b"\xff" * CHUNK)  # not the object's bytes
    (partial / f"{BIG}.llz-part.at").write_text(mark)
    (partial / f"{BIG}.llz-part.at.tmp").write_text("1")  # a run killed while it wrote its mark
    result = pull("s3://b/m", tmp_path / "weights", chunk_size=CHUNK, store=store, reporter=Reporter(tty=False))
    assert result.resumed_bytes == 0
    same_tree(model, tmp_path / "weights")  # (same_tree: no file beyond the model's, so no mark left)


def test_each_store_streams_an_unaligned_range_in_pieces(emulator, request):
    """Through each SDK's own response object and a reused buffer: the exact bytes, at most PIECE at a time."""
    loc = parse(_uri(emulator, request))
    store = open_store(loc)
    data = __import__("random").Random(7).randbytes(PIECE + 2 * MIB)
    store.put_bytes(loc.key("big.bin"), data)
    pieces: list[bytes] = []
    start, length = 12345, PIECE + MIB + 7  # more than one piece, off every boundary, short of the end
    for _ in range(2):  # twice: the second request reuses the pooled connection and the buffer
        pieces.clear()
        store.stream_range(loc.key("big.bin"), start, length, lambda piece: pieces.append(bytes(piece)))
        assert b"".join(pieces) == data[start : start + length]
        assert len(pieces) >= 2 and all(0 < len(p) <= PIECE for p in pieces), [len(p) for p in pieces]
    assert store.read_range(loc.key("big.bin"), PIECE, 10) == data[PIECE : PIECE + 10]
    with pytest.raises(MissingObject):
        store.stream_range(loc.key("not-there.safetensors"), 0, 10, pieces.append)


@pytest.mark.parametrize("workers", [1, 4])  # 1: every piece hashed from memory; 4: ranges land out of order
def test_a_changed_byte_fails_the_pull_on_either_hashing_path(model, tmp_path, workers):
    store = StreamingMemoryStore()
    _pushed(model, store)
    key = f"m/{BIG}"
    flipped = bytearray(store.objects[key])
    flipped[2 * CHUNK + 5] ^= 1  # one bit, in the third range
    store.objects[key] = bytes(flipped)
    with pytest.raises(PullError, match=rf"^sha256 mismatch for {BIG}"):
        pull(
            "s3://b/m",
            tmp_path / "weights",
            workers=workers,
            chunk_size=CHUNK,
            store=store,
            reporter=Reporter(tty=False),
        )
    assert not (tmp_path / "weights").exists()
    assert not (tmp_path / ".weights.llz-partial" / f"{BIG}.llz-part").exists(), "a part that failed is not kept"


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({"AWS_REGION": "eu-west-1"}, "eu-west-1"),  # what EKS pods carry; botocore alone would say us-east-1
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),  # botocore's own wins
    ],
)
def test_the_s3_store_takes_its_region_from_aws_region_when_botocore_finds_none(monkeypatch, tmp_path, env, region):
    from weights.stores.s3 import S3Store

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))  # no region from a config file
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = S3Store("b", workers=2, chunk_size=MIB).client
    assert client.meta.region_name == region
    assert client.meta.endpoint_url == f"https://s3.{region}.amazonaws.com"
