"""`llz weights pull URI DIR`: the init container's job, and the only way a model folder appears.

Manifest first; then parallel ranged reads, each streamed to its offset in its part file under
`.<DIR>.llz-partial/` next to DIR as it arrives, while every file is hashed in order right behind
its written prefix (no second pass once the download ends); files are renamed into place only when
they matched their sha256, the folder when all did. A killed pull resumes from the hashed prefix
it recorded; a pull of the digest already in DIR does nothing.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tenacity import retry, retry_if_exception_type, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from weights.manifest import MANIFEST, FileEntry, Manifest
from weights.progress import Reporter, rate
from weights.stores import DEFAULT_CHUNK, MIB, MissingObject, Store, open_store
from weights.uri import WeightsUri, parse

DEFAULT_WORKERS = 8
DEFAULT_POLL_S = 10.0  # how often a waiting pull looks for the manifest again
WINDOW = 2  # ranges queued per worker: a slow range does not stall the others
PART = ".llz-part"
MARK = ".at"  # beside a part file: how many of its leading bytes are on disk and hashed (the resume point)
HASH_BLOCK = 8 * MIB
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


@dataclass(eq=False)
class _Range:
    start: int
    end: int
    pos: int  # bytes [start, pos) are on disk; a retry continues from here


@dataclass(eq=False)
class _File:
    entry: FileEntry
    part: Path
    final: Path
    have: int  # leading bytes already on disk and hashed (a resumed pull), or the size once verified
    hasher: hashlib._Hash | None = field(default_factory=hashlib.sha256)  # None: already verified
    started: float = field(default_factory=time.monotonic)
    fd: int = -1
    ranges: list[_Range] = field(default_factory=list)
    head: int = 0  # the first range not fully on disk
    written: int = 0  # bytes [0, written) are on disk: the hasher may read up to here
    hashed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards hasher/hashed

    @property
    def mark(self) -> Path:
        return self.part.with_name(self.part.name + MARK)


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
    f = _File(entry, part, final, 0)
    have = _read_mark(f.mark) if part.exists() else 0
    if have > entry.size or (part.is_file() and part.stat().st_size < have):
        part.unlink()
        have = 0
    if have:  # resume: the hash state cannot be saved, so re-read the prefix once
        with part.open("rb") as src:
            while block := src.read(min(8 * MIB, have - src.tell())):
                f.hasher.update(block)
    f.have = f.written = f.hashed = have
    return f


def _read_mark(mark: Path) -> int:
    """The resume point a previous run recorded; 0 when there is none (or it is unreadable)."""
    try:
        return int(mark.read_text())
    except (OSError, ValueError):
        return 0


def _write_mark(f: _File) -> None:
    """Record how many leading bytes are on disk and hashed: written aside, then renamed (atomic)."""
    tmp = _mark_tmp(f)
    tmp.write_text(str(f.hashed))
    os.replace(tmp, f.mark)


def _mark_tmp(f: _File) -> Path:
    return f.mark.with_name(f.mark.name + ".tmp")


def _check_space(work: Path, needed: int) -> None:
    free = shutil.disk_usage(work).free
    if free < needed:
        raise PullError(f"not enough disk space under {work.parent}: need {needed} more bytes, {free} free")


def _download(store: Store, loc: WeightsUri, files: list[_File], workers: int, chunk: int, reporter: Reporter) -> int:
    """Stream ranges in parallel straight to their offsets (os.pwrite) while each file is hashed in order.

    Each worker writes the pieces of its range as they arrive, so the network, the disk and SHA-256
    overlap all the way; the piece right after a file's hashed prefix is hashed from memory, the rest
    is read back in order by the hasher threads (_Hasher). Only about workers x PIECE bytes are ever
    held in memory.
    """
    todo = []
    for f in files:
        if f.hasher is None:
            continue
        if f.have == f.entry.size:  # empty files, and files whose bytes were all on disk already
            _finish(f, reporter)
            continue
        f.ranges = [_Range(off, min(off + chunk, f.entry.size), off) for off in range(f.have, f.entry.size, chunk)]
        todo.append(f)
    progress = threading.Condition()
    stream = getattr(store, "stream_range", None)

    def sink_for(f: _File, r: _Range) -> Callable[[memoryview], None]:
        def sink(piece: memoryview) -> None:
            at, n = r.pos, len(piece)
            if at + n > r.end:
                raise OSError(f"long read of {f.entry.path} at {r.start}: more than {r.end - r.start} bytes")
            _pwrite(f, piece, at)
            # The piece right after the hashed prefix is hashed now, from memory; any other is read
            # back by a hasher thread once the bytes before it are on disk.
            if f.hashed == at and f.lock.acquire(blocking=False):
                try:
                    if f.hashed == at:
                        f.hasher.update(piece)
                        f.hashed = at + n
                finally:
                    f.lock.release()
            with progress:
                r.pos = at + n
                while f.head < len(f.ranges) and f.ranges[f.head].pos == f.ranges[f.head].end:
                    f.head += 1
                f.written = f.ranges[f.head].pos if f.head < len(f.ranges) else f.entry.size
                reporter.advance(n)
                progress.notify_all()

        return sink

    @retry(
        retry=retry_if_exception_type(Exception) & retry_if_not_exception_type((MissingObject, PullError)),
        stop=stop_after_attempt(5),
        wait=wait_exponential(multiplier=0.5, max=8),
        reraise=True,
    )
    def fetch(f: _File, r: _Range) -> None:  # a retry asks only for what is not on disk yet
        key, sink = loc.key(f.entry.path), sink_for(f, r)
        if stream is not None:
            stream(key, r.pos, r.end - r.pos, sink)
        else:  # a store with whole-range reads only
            sink(memoryview(store.read_range(key, r.pos, r.end - r.pos)))
        if r.pos != r.end:
            raise OSError(f"short read of {f.entry.path} at {r.start}: {r.pos - r.start} of {r.end - r.start} bytes")

    window: deque[Future[None]] = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="llz-pull")
    hasher = _Hasher(todo, progress, reporter, chunk)
    try:
        for f in todo:
            f.fd = os.open(f.part, os.O_WRONLY | os.O_CREAT, 0o644)
        hasher.start()
        for f in todo:
            for r in f.ranges:
                window.append(pool.submit(fetch, f, r))
                if len(window) >= WINDOW * workers:  # a few ranges ahead; memory stays at workers x PIECE
                    window.popleft().result()
                    hasher.check()
        while window:
            window.popleft().result()
            hasher.check()
        hasher.finish()
    except MissingObject as e:
        raise PullError(f"missing object {e}: listed in {MANIFEST} but not in the store") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        hasher.stop()  # on a failure: hash what is on disk and record it, so the next run resumes there
        for f in todo:
            if f.fd >= 0:
                os.close(f.fd)
    return sum(r.pos - r.start for f in todo for r in f.ranges)


def _pwrite(f: _File, view: memoryview, offset: int) -> None:
    try:
        while view:
            n = os.pwrite(f.fd, view, offset)
            view, offset = view[n:], offset + n
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise PullError(f"no space left on device writing {f.part}") from None
        raise


class _Hasher:
    """Hashes each file in order from its part file, right behind its written prefix, then verifies it.

    Most pieces are hashed by the worker that wrote them (the piece right after the hashed prefix,
    from memory); these threads read back from the page cache what landed ahead of a gap, once the
    gap is filled, and verify each finished file. One thread per file in flight, up to one per
    core: a file's SHA-256 is sequential, but files are independent, and a single hasher following
    every file in turn was the pull's critical path (measured: all bytes written at 0.3 s, the last
    file verified at 0.6 s). hashlib and os.preadv release the GIL. Every `mark_every` bytes it
    records the resume point (bytes on disk and hashed) next to the part file.
    """

    def __init__(self, files: list[_File], progress: threading.Condition, reporter: Reporter, mark_every: int):
        self.files, self.progress, self.reporter, self.mark_every = files, progress, reporter, mark_every
        self.error: BaseException | None = None
        self.stopping = False
        self.queue = iter(files)  # taken in manifest order, the order the ranges are fetched in
        count = max(1, min(len(files), os.cpu_count() or 1))
        self.threads = [threading.Thread(target=self._run, name=f"llz-hash-{i}", daemon=True) for i in range(count)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Wait until every file is hashed and verified (or the first failure)."""
        for t in self.threads:
            t.join()
        self.check()

    def stop(self) -> None:
        with self.progress:
            self.stopping = True
            self.progress.notify_all()
        for t in self.threads:
            if t.is_alive():
                t.join()
        buf = memoryview(bytearray(HASH_BLOCK))
        for f in self.files:  # what the workers wrote after the hashers stopped following
            if f.hasher is not None and f.hashed < f.written and self.error is None:
                try:
                    with f.lock:
                        _hash(f, f.written, buf)
                except OSError:
                    break
            if f.hasher is not None and f.hashed > f.have:
                _write_mark(f)

    def _next(self) -> _File | None:
        with self.progress:
            return None if self.stopping or self.error is not None else next(self.queue, None)

    def _run(self) -> None:
        buf = memoryview(bytearray(HASH_BLOCK))
        try:
            while (f := self._next()) is not None:
                marked = f.hashed
                while f.hashed < f.entry.size:
                    with self.progress:
                        while f.written <= f.hashed < f.entry.size and not self.stopping:
                            self.progress.wait()
                        if self.stopping:
                            return
                        upto = f.written
                    with f.lock:
                        _hash(f, upto, buf)
                    if f.hashed - marked >= self.mark_every and f.hashed < f.entry.size:
                        _write_mark(f)
                        marked = f.hashed
                with self.progress:  # one file's events at a time
                    _finish(f, self.reporter)
        except BaseException as e:  # handed to the downloading thread by check() / finish()
            with self.progress:
                self.error = self.error or e
                self.progress.notify_all()


def _hash(f: _File, upto: int, buf: memoryview) -> None:
    with f.part.open("rb", buffering=0) as src:
        while f.hashed < upto:
            n = os.preadv(src.fileno(), [buf[: upto - f.hashed]], f.hashed)
            if n <= 0:
                raise OSError(f"{f.part}: ends at {f.hashed}, {upto} bytes were written")
            f.hasher.update(buf[:n])
            f.hashed += n


def _finish(f: _File, reporter: Reporter) -> None:
    """Verify a fully written part file and give it its real name."""
    f.part.touch()
    f.mark.unlink(missing_ok=True)
    _mark_tmp(f).unlink(missing_ok=True)  # left by a run killed while it wrote the mark
    got = f.hasher.hexdigest()
    f.hasher = None  # verified (or failed): nothing more to hash or to record
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
