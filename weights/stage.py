"""`llz weights stage hf://<repo>@<sha> URI`: copy a Hugging Face repo at a pinned commit into the bucket.

What the first-deploy staging Job runs. The same contract as `llz weights push` (each object
carries its sha256; the manifest is written LAST, and an older manifest is removed before any
object changes), fed from the hub instead of a local folder:

1. The manifest at URI already records this repo and revision -> nothing to do (`stage.noop`):
   re-running `pulumi up` with the same revision copies nothing.
2. Otherwise list the repo's files at the commit (`HfApi.list_repo_tree`), then per file:
   an object already in the bucket with the hub's LFS sha256 and size is kept without a
   download (a restarted Job resumes); any other file is fetched with `hf_hub_download`, hashed,
   checked against the hub's sha256 (LFS files), uploaded, and deleted locally while the next
   one downloads. Local disk holds at most two files, never the whole model.
3. The manifest (files, digest, and the source) goes up last.

huggingface_hub honours HF_ENDPOINT (a mirror, or the tests' stand-in hub) and HF_TOKEN (gated
or private repos) by itself.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from weights.manifest import MANIFEST, FileEntry, Manifest, ManifestError
from weights.progress import Reporter, rate
from weights.source import HubSource
from weights.stores import Store, Upload, open_store
from weights.uri import WeightsUri, parse

DEFAULT_WORKERS = 8


class StageError(Exception):
    """A stage that cannot finish; the message is the one line the command prints."""


@dataclass
class StageResult:
    digest: str
    files: int
    downloaded: list[str] = field(default_factory=list)  # fetched from the hub by this run
    kept: list[str] = field(default_factory=list)  # already in the bucket with the hub's sha256
    uploaded_bytes: int = 0
    seconds: float = 0.0
    noop: bool = False


@dataclass(frozen=True)
class _HubFile:
    path: str
    size: int
    sha256: str | None  # the hub's LFS sha256; None for small files kept in git


def stage(
    source: HubSource,
    uri: str | WeightsUri,
    workdir: str | Path,
    *,
    workers: int = DEFAULT_WORKERS,
    store: Store | None = None,
    reporter: Reporter | None = None,
) -> StageResult:
    loc = parse(uri) if isinstance(uri, str) else uri
    store = store or open_store(loc, workers)
    reporter = reporter or Reporter()
    t0 = time.monotonic()
    key = loc.key(MANIFEST)

    raw = store.get_bytes(key)
    current = _manifest_or_none(raw, f"{loc}/{MANIFEST}")
    if current is not None and current.source == source.record():
        reporter.event("stage.noop", source=str(source), digest=current.digest, uri=str(loc))
        return StageResult(current.digest, len(current.files), noop=True, seconds=time.monotonic() - t0)

    files = _list_files(source)
    if raw is not None:
        store.delete(key)  # the old set stops looking complete before any of its objects change

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    result = StageResult("", len(files))
    entries: list[FileEntry] = []
    reporter.start("stage", sum(f.size for f in files), len(files))
    try:
        # One download at a time; the previous file uploads meanwhile (SDK multipart underneath).
        with ThreadPoolExecutor(1, thread_name_prefix="llz-stage-upload") as uploader:
            pending: Future[None] | None = None
            for hub_file in files:
                entry, local = _fetch(source, hub_file, store, loc, workdir, result)
                entries.append(entry)
                if pending is not None:
                    pending.result()
                pending = uploader.submit(_upload, store, loc, entry, local, result, reporter)
            if pending is not None:
                pending.result()
    finally:
        reporter.stop()

    manifest = Manifest(tuple(sorted(entries, key=lambda e: e.path)), source.record())
    store.put_bytes(key, manifest.to_json())
    result.digest, result.seconds = manifest.digest, time.monotonic() - t0
    reporter.event(
        "stage.done",
        source=str(source),
        digest=result.digest,
        files=result.files,
        downloaded=len(result.downloaded),
        kept=len(result.kept),
        bytes=result.uploaded_bytes,
        seconds=round(result.seconds, 2),
        MBps=rate(result.uploaded_bytes, result.seconds),
        uri=str(loc),
    )
    return result


def _manifest_or_none(raw: bytes | None, where: str) -> Manifest | None:
    if raw is None:
        return None
    try:
        return Manifest.from_json(raw, where)
    except ManifestError:
        return None  # not ours or damaged: replaced like any other version


def _list_files(source: HubSource) -> list[_HubFile]:
    """Every file of the repo at the commit (dot-files skipped, as `push` skips them)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
    from huggingface_hub.hf_api import RepoFile

    try:
        tree = list(HfApi().list_repo_tree(source.repo, revision=source.revision, recursive=True))
    except GatedRepoError:
        raise StageError(f"{source}: gated repo; accept its terms on the hub and give a token (HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise StageError(f"{source}: no such revision in {source.repo}") from None
    except RepositoryNotFoundError:
        raise StageError(f"{source}: repository not found (or private: give a token in HF_TOKEN)") from None
    files = [
        _HubFile(f.path, f.size, f.lfs.sha256 if f.lfs is not None else None)
        for f in tree
        if isinstance(f, RepoFile) and not any(part.startswith(".") for part in f.path.split("/"))
    ]
    if not files:
        raise StageError(f"{source}: the repository has no files at this revision")
    return sorted(files, key=lambda f: f.path)


def _fetch(
    source: HubSource, hub_file: _HubFile, store: Store, loc: WeightsUri, workdir: Path, result: StageResult
) -> tuple[FileEntry, Path | None]:
    """The file's manifest entry, and its local copy (None when the bucket already has it)."""
    if hub_file.sha256 is not None:
        there = store.stat(loc.key(hub_file.path))
        if there is not None and there.size == hub_file.size and there.sha256 == hub_file.sha256:
            result.kept.append(hub_file.path)
            return FileEntry(hub_file.path, hub_file.size, hub_file.sha256), None

    from huggingface_hub import hf_hub_download

    local = Path(hf_hub_download(source.repo, hub_file.path, revision=source.revision, local_dir=workdir))
    with local.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    size = local.stat().st_size
    if size != hub_file.size or (hub_file.sha256 is not None and digest != hub_file.sha256):
        local.unlink()
        raise StageError(
            f"{hub_file.path} from {source}: got {size} bytes with sha256 {digest}, the hub lists "
            f"{hub_file.size} bytes" + (f" with sha256 {hub_file.sha256}" if hub_file.sha256 else "")
        )
    result.downloaded.append(hub_file.path)
    return FileEntry(hub_file.path, size, digest), local


def _upload(
    store: Store, loc: WeightsUri, entry: FileEntry, local: Path | None, result: StageResult, reporter: Reporter
) -> None:
    if local is not None:
        t0 = time.monotonic()
        try:
            there = store.stat(loc.key(entry.path))
            if there is None or there.size != entry.size or there.sha256 != entry.sha256:
                store.upload(Upload(local, loc.key(entry.path), entry.size, entry.sha256))
                result.uploaded_bytes += entry.size
        finally:
            local.unlink(missing_ok=True)  # the disk holds one file in flight, not the model
        reporter.event("stage.file", path=entry.path, bytes=entry.size, seconds=round(time.monotonic() - t0, 2))
    reporter.advance(entry.size)
