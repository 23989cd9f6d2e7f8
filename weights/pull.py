"""`llz weights pull URI DIR`: the init container's job, and the only way a model folder appears.

Manifest first; then parallel ranged reads whose bytes are hashed in order as they arrive (no
second pass over the disk), written into `.<DIR>.llz-partial/` next to DIR and renamed into place
only when every file matched its sha256. A killed pull resumes from the bytes already on disk; a
pull of the digest already in DIR does nothing.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import shutil
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tenacity import retry, retry_if_exception_type, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from weights.manifest import MANIFEST, FileEntry, Manifest
from weights.progress import Reporter, rate
from weights.stores import DEFAULT_CHUNK, MIB, MissingObject, Store, open_store
from weights.uri import WeightsUri, parse

DEFAULT_WORKERS = 8
DEFAULT_POLL_S = 10.0  # how often a waiting pull looks for the manifest again
WINDOW = 2  # chunks in flight per worker: a slow range does not stall the others
PART = ".llz-part"
DIGEST_MARK = ".llz-digest"  # in the partial folder: which model version its bytes belong to


class PullError(Exception):
    """A pull that cannot finish; the message is the one line the command prints."""


@dataclass
class PullResult:
    digest: str
    files: int
    total_bytes: int
    fetched_bytes: int  # read from the store by this run
    resumed_bytes: int  # already on disk from an interrupted run
    seconds: float
    noop: bool = False

    @property
    def mbps(self) -> float:
        return rate(self.fetched_bytes, self.seconds)


@dataclass
class _File:
    entry: FileEntry
    part: Path
    final: Path
    have: int
    hasher: hashlib._Hash | None = field(default_factory=hashlib.sha256)  # None: already verified
    out: BinaryIO | None = None
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class _Chunk:
    file: _File
    offset: int
    length: int


def pull(
    uri: str | WeightsUri,
    dest: str | Path,
    *,
    workers: int = DEFAULT_WORKERS,
    chunk_size: int = DEFAULT_CHUNK,
    store: Store | None = None,
    reporter: Reporter | None = None,
    wait_seconds: float = 0,
    poll_seconds: float = DEFAULT_POLL_S,
) -> PullResult:
    """Pull `uri` into `dest`; with `wait_seconds`, wait that long for a manifest that is not there yet."""
    loc = parse(uri) if isinstance(uri, str) else uri
    store = store or open_store(loc, workers, chunk_size)
    reporter = reporter or Reporter()
    t0 = time.monotonic()

    raw = _wait_for_manifest(store, loc, reporter, wait_seconds, poll_seconds)
    manifest = Manifest.from_json(raw, f"{loc}/{MANIFEST}")
    dest = Path(dest).absolute()
    if _is_complete(dest, manifest):
        reporter.event("pull.noop", digest=manifest.digest, path=str(dest))
        return PullResult(manifest.digest, len(manifest.files), manifest.total_bytes, 0, 0, 0.0, noop=True)
    _check_replaceable(dest)

    work = dest.parent / f".{dest.name}.llz-partial"
    _prepare(work, manifest.digest)
    files = [_open_file(work, entry) for entry in manifest.files]
    resumed = sum(f.have for f in files)
    _check_space(work, manifest.total_bytes - resumed)

    reporter.start("pull", manifest.total_bytes - resumed, len(files))
    try:
        fetched = _download(store, loc, files, workers, chunk_size, reporter)
    finally:
        reporter.stop()
    (work / MANIFEST).write_bytes(raw)
    (work / DIGEST_MARK).unlink()
    _install(work, dest)

    result = PullResult(manifest.digest, len(files), manifest.total_bytes, fetched, resumed, time.monotonic() - t0)
    reporter.event(
        "pull.done",
        digest=result.digest,
        files=result.files,
        bytes=result.fetched_bytes,
        resumedBytes=result.resumed_bytes,
        seconds=round(result.seconds, 2),
        MBps=result.mbps,
        path=str(dest),
    )
    return result


def _wait_for_manifest(store: Store, loc: WeightsUri, reporter: Reporter, wait_s: float, poll_s: float) -> bytes:
    """The manifest's bytes, polling for up to `wait_s` seconds while it is missing (staging not done).

    Says so once (one event line), then polls quietly: an init container started before the
    staging Job finished waits for it instead of crash-looping.
    """
    key = loc.key(MANIFEST)
    raw = store.get_bytes(key)
    if raw is None and wait_s > 0:
        reporter.event(
            "pull.wait",
            waitSeconds=wait_s,
            message=f"no {MANIFEST} at {loc} yet: waiting up to {wait_s:g} s for the weights to be staged",
        )
        deadline = time.monotonic() + wait_s
        while raw is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(poll_s, left))
            raw = store.get_bytes(key)
    if raw is None:
        waited = f" (waited {wait_s:g} s)" if wait_s > 0 else ""
        raise PullError(f"no {MANIFEST} at {loc}: nothing was pushed there, or the push did not finish{waited}")
    return raw


def _is_complete(dest: Path, manifest: Manifest) -> bool:
    try:
        local = Manifest.from_json((dest / MANIFEST).read_bytes(), str(dest))
    except (OSError, ValueError):
        return False
    return local.digest == manifest.digest and all(
        (dest / f.path).is_file() and (dest / f.path).stat().st_size == f.size for f in manifest.files
    )


def _check_replaceable(dest: Path) -> None:
    """Only an empty folder or one we pulled before may be replaced: never a user's folder."""
    if dest.exists() and not (dest.is_dir() and (not any(dest.iterdir()) or (dest / MANIFEST).is_file())):
        raise PullError(f"{dest} exists and is not a folder pulled by llz (no {MANIFEST}); remove it or pull elsewhere")


def _prepare(work: Path, digest: str) -> None:
    """Keep a partial folder of the same model version (resume); drop one of another version."""
    mark = work / DIGEST_MARK
    if work.exists() and not (mark.is_file() and mark.read_text() == digest):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    mark.write_text(digest)


def _open_file(work: Path, entry: FileEntry) -> _File:
    final = work / entry.path
    part = final.with_name(final.name + PART)
    if final.is_file() and final.stat().st_size == entry.size:  # verified before it was renamed
        return _File(entry, part, final, entry.size, hasher=None)
    final.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have > entry.size:
        part.unlink()
        have = 0
    f = _File(entry, part, final, have)
    if have:  # resume: the hash state cannot be saved, so re-read the prefix once
        with part.open("rb") as src:
            while block := src.read(min(8 * MIB, have - src.tell())):
                f.hasher.update(block)
    return f


def _check_space(work: Path, needed: int) -> None:
    free = shutil.disk_usage(work).free
    if free < needed:
        raise PullError(f"not enough disk space under {work.parent}: need {needed} more bytes, {free} free")


def _download(store: Store, loc: WeightsUri, files: list[_File], workers: int, chunk: int, reporter: Reporter) -> int:
    """Fetch chunks in parallel; hash them in order here while a writer thread appends them to disk."""
    chunks = (
        _Chunk(f, off, min(chunk, f.entry.size - off))
        for f in files
        if f.hasher is not None
        for off in range(f.have, f.entry.size, chunk)
    )

    @retry(
        retry=retry_if_exception_type(Exception) & retry_if_not_exception_type(MissingObject),
        stop=stop_after_attempt(5),
        wait=wait_exponential(multiplier=0.5, max=8),
        reraise=True,
    )
    def fetch(c: _Chunk) -> bytes:
        data = store.read_range(loc.key(c.file.entry.path), c.offset, c.length)
        if len(data) != c.length:
            raise OSError(f"short read of {c.file.entry.path} at {c.offset}: {len(data)} of {c.length} bytes")
        return data

    fetched = 0
    window: deque[tuple[_Chunk, Future[bytes]]] = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="llz-pull")
    writer = _Writer(reporter)
    try:
        for f in files:  # empty files, and files whose bytes were all on disk already
            if f.hasher is not None and f.have == f.entry.size:
                _finish(f, reporter)
        writer.start()
        for c in chunks:
            window.append((c, pool.submit(fetch, c)))
            if len(window) >= WINDOW * workers:  # bounds memory to about (WINDOW * workers + 2) chunks
                fetched += _hash_then_write(*window.popleft(), writer)
        while window:
            fetched += _hash_then_write(*window.popleft(), writer)
        writer.close()
    except MissingObject as e:
        raise PullError(f"missing object {e}: listed in {MANIFEST} but not in the store") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        writer.close(raise_error=False)
        for f in files:
            if f.out is not None:
                f.out.close()
    return fetched


def _hash_then_write(c: _Chunk, future: Future[bytes], writer: _Writer) -> int:
    """Hash in order here while the writer thread appends the previous chunk (both release the GIL)."""
    data = future.result()
    c.file.hasher.update(data)
    writer.put(c, data)
    return len(data)


class _Writer(threading.Thread):
    """Appends chunks to their part files in order and finishes each file after its last chunk."""

    def __init__(self, reporter: Reporter):
        super().__init__(name="llz-write", daemon=True)
        self.reporter = reporter
        self.queue: queue.Queue[tuple[_Chunk, bytes] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None

    def put(self, c: _Chunk, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((c, data))

    def close(self, raise_error: bool = True) -> None:
        if self.is_alive():
            self.queue.put(None)
            self.join()
        if raise_error and self.error is not None:
            raise self.error

    def run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self._write(*item)
                except BaseException as e:  # handed to the downloading thread by put() / close()
                    self.error = e

    def _write(self, c: _Chunk, data: bytes) -> None:
        f = c.file
        if f.out is None:
            f.out = f.part.open("ab")
        try:
            f.out.write(data)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise PullError(f"no space left on device writing {f.part}") from None
            raise
        self.reporter.advance(len(data))
        if c.offset + c.length == f.entry.size:
            f.out.close()
            f.out = None
            _finish(f, self.reporter)


def _finish(f: _File, reporter: Reporter) -> None:
    """Verify a fully written part file and give it its real name."""
    f.part.touch()
    got = f.hasher.hexdigest()
    if got != f.entry.sha256:
        f.part.unlink()
        raise PullError(
            f"sha256 mismatch for {f.entry.path}: expected {f.entry.sha256}, got {got}; "
            "the object is corrupt or changed after the push"
        )
    os.replace(f.part, f.final)
    seconds = time.monotonic() - f.started
    reporter.event(
        "pull.file",
        path=f.entry.path,
        bytes=f.entry.size,
        seconds=round(seconds, 2),
        MBps=rate(f.entry.size - f.have, seconds),
    )


def _install(work: Path, dest: Path) -> None:
    """Rename the verified folder into place; a previous pull (or an empty folder) is swapped out."""
    if dest.exists():
        if not any(dest.iterdir()):
            dest.rmdir()
        else:
            old = dest.parent / f".{dest.name}.llz-old"
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
            work.rename(dest)
            shutil.rmtree(old)
            return
    work.rename(dest)
