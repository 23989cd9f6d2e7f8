"""`llz weights push DIR URI`: stage a model folder for the init container (an operator command).

Order matters: an older manifest at the prefix is removed first, then the files go up (skipping
objects whose size and sha256 metadata already match), and the new manifest is written LAST, so a
puller sees either no model or a complete one — never a half-pushed set under a valid manifest.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from weights.manifest import MANIFEST, Manifest, ManifestError
from weights.progress import Reporter, rate
from weights.stores import Store, Upload, open_store
from weights.uri import WeightsUri, parse

DEFAULT_WORKERS = 8


@dataclass
class PushResult:
    digest: str
    uploaded: list[str]
    skipped: list[str]
    uploaded_bytes: int
    seconds: float


def push(
    folder: str | Path,
    uri: str | WeightsUri,
    *,
    workers: int = DEFAULT_WORKERS,
    store: Store | None = None,
    reporter: Reporter | None = None,
) -> PushResult:
    folder = Path(folder)
    if not folder.is_dir():
        raise ManifestError(f"{folder}: not a folder")
    loc = parse(uri) if isinstance(uri, str) else uri
    store = store or open_store(loc, workers)
    reporter = reporter or Reporter()
    t0 = time.monotonic()

    manifest = Manifest.of_folder(folder, workers)
    key = loc.key(MANIFEST)
    if _remote_digest(store, key, f"{loc}/{MANIFEST}") not in (None, manifest.digest):
        store.delete(key)  # the old set stops looking complete before any of its files change

    todo, skipped = [], []
    for f in manifest.files:
        info = store.stat(loc.key(f.path))
        if info is not None and info.size == f.size and info.sha256 == f.sha256:
            skipped.append(f.path)
        else:
            todo.append(Upload(folder / f.path, loc.key(f.path), f.size, f.sha256))
    nbytes = sum(u.size for u in todo)
    reporter.start("push", nbytes, len(todo))
    try:  # a few files at a time, each split into parallel parts by the SDK's transfer manager
        with ThreadPoolExecutor(max(1, workers // 2), thread_name_prefix="llz-push") as pool:
            uploads = {pool.submit(store.upload, u): u for u in todo}
            for done in as_completed(uploads):
                done.result()
                reporter.advance(uploads[done].size)
    finally:
        reporter.stop()
    store.put_bytes(key, manifest.to_json())

    result = PushResult(manifest.digest, [u.key for u in todo], skipped, nbytes, time.monotonic() - t0)
    reporter.event(
        "push.done",
        digest=result.digest,
        uploaded=len(todo),
        skipped=len(skipped),
        bytes=nbytes,
        seconds=round(result.seconds, 2),
        MBps=rate(nbytes, result.seconds),
        uri=str(loc),
    )
    return result


def _remote_digest(store: Store, key: str, where: str) -> str | None:
    """The digest of the manifest already at the prefix; "" for one that is not valid."""
    remote = store.get_bytes(key)
    if remote is None:
        return None
    try:
        return Manifest.from_json(remote, where).digest
    except ManifestError:
        return ""
