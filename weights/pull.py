"""`llz weights pull URI DIR`: the init container's job, and the only way a model folder appears.

Manifest first; then parallel ranged reads, each streamed to its offset in its part file under
`.<DIR>.llz-partial/` next to DIR as it arrives, while every file is hashed in order right behind
its written prefix (no second pass once the download ends); files are renamed into place only when
they matched their sha256, the folder when all did. A killed pull resumes from the hashed prefix
it recorded; a pull of the digest already in DIR does nothing.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tenacity import retry, retry_if_exception_type, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from weights.manifest import MANIFEST, FileEntry, Manifest
from weights.progress import Reporter, rate
from weights.stores import DEFAULT_CHUNK, MIB, PIECE, MissingObject, Store, open_store
from weights.uri import WeightsUri, parse

DEFAULT_WORKERS = 8
DEFAULT_POLL_S = 10.0  # how often a waiting pull looks for the manifest again
WINDOW = 2  # ranges queued per worker: a slow range does not stall the others
PART = ".llz-part"
MARK = ".at"  # beside a part file: how many of its leading bytes are on disk and hashed (the resume point)
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
    written: int = 0  # bytes [0, written) are on disk: hashing may read up to here
    hashed: int = 0
    marked: int = 0  # the resume point last recorded
    lock: threading.Lock = field(default_factory=threading.Lock)  # held by the one thread hashing the file

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
    f.have = f.written = f.hashed = f.marked = have
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
    f.marked = f.hashed


def _mark_tmp(f: _File) -> Path:
    return f.mark.with_name(f.mark.name + ".tmp")


def _check_space(work: Path, needed: int) -> None:
    free = shutil.disk_usage(work).free
    if free < needed:
        raise PullError(f"not enough disk space under {work.parent}: need {needed} more bytes, {free} free")


def _download(store: Store, loc: WeightsUri, files: list[_File], workers: int, chunk: int, reporter: Reporter) -> int:
    """Stream ranges in parallel straight to their offsets (os.pwrite) while each file is hashed in order.

    Each worker writes the pieces of its range as they arrive and then moves the file's hash forward
    itself (_hash_forward): the piece right after the hashed prefix from memory, bytes that landed
    ahead of it from the page cache once the gap closes. The network, the disk and SHA-256 overlap
    all the way, and only about workers x PIECE bytes are ever held in memory.
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
    progress = threading.Lock()  # guards ranges, heads, `written` and the reporter
    stream = getattr(store, "stream_range", None)

    def sink_for(f: _File, r: _Range) -> Callable[[memoryview], None]:
        def sink(piece: memoryview) -> None:
            at, n = r.pos, len(piece)
            if at + n > r.end:
                raise OSError(f"long read of {f.entry.path} at {r.start}: more than {r.end - r.start} bytes")
            _pwrite(f, piece, at)
            with progress:
                r.pos = at + n
                while f.head < len(f.ranges) and f.ranges[f.head].pos == f.ranges[f.head].end:
                    f.head += 1
                f.written = f.ranges[f.head].pos if f.head < len(f.ranges) else f.entry.size
                reporter.advance(n)
            _hash_forward(f, piece, at, chunk, reporter, progress)

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

    in_flight = WINDOW * workers  # a few ranges ahead per worker; memory stays at workers x PIECE
    window: deque[Future[None]] = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="llz-pull")
    done = False
    try:
        for f in todo:
            f.fd = os.open(f.part, os.O_WRONLY | os.O_CREAT, 0o644)
        for f, r in _fetch_order(todo, in_flight):
            window.append(pool.submit(fetch, f, r))
            if len(window) >= in_flight:
                window.popleft().result()
        while window:
            window.popleft().result()
        for f in todo:  # every range landed: hash whatever no worker was left holding (normally nothing)
            _hash_forward(f, None, -1, chunk, reporter, progress)
            if f.hasher is not None:
                raise PullError(f"{f.entry.path}: only {f.hashed} of {f.entry.size} bytes verified")
        done = True
    except MissingObject as e:
        raise PullError(f"missing object {e}: listed in {MANIFEST} but not in the store") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if not done:  # hash what is on disk and record it, so the next run resumes there
            _record_resume(todo)
        for f in todo:
            if f.fd >= 0:
                os.close(f.fd)
    return sum(r.pos - r.start for f in todo for r in f.ranges)


def _fetch_order(files: list[_File], lanes: int) -> Iterator[tuple[_File, _Range]]:
    """Ranges in fetch order: up to `lanes` files at a time, one range of each in turn.

    With as many lanes as ranges in flight, a file of a large model has about one range in flight,
    so its pieces land in order and are hashed from memory as they arrive; and when the last bytes
    land, no file has a long stretch left to read back and hash (measured: fetching one file's
    ranges all at once left a 0.1-0.2 s hashing tail after the last byte of a 1 GB pull).
    """
    waiting, active = deque(files), deque[tuple[_File, Iterator[_Range]]]()
    while waiting or active:
        while waiting and len(active) < lanes:
            f = waiting.popleft()
            active.append((f, iter(f.ranges)))
        f, ranges = active.popleft()
        if (r := next(ranges, None)) is not None:
            yield f, r
            active.append((f, ranges))


_readback = threading.local()


def _hash_forward(
    f: _File, piece: memoryview | None, at: int, mark_every: int, reporter: Reporter, events: threading.Lock
) -> None:
    """Move `f`'s hash over every byte now contiguous on disk; verify and rename it once all are.

    `piece` (just written at `at`) is hashed from memory when it starts where the hash stands; other
    bytes are read back from the page cache. One thread hashes a file at a time (SHA-256 is
    sequential); a thread that finds the file busy leaves: the holder looks again after it lets go,
    so no written byte is left behind. hashlib and os.preadv release the GIL. Every `mark_every`
    bytes the resume point is recorded beside the part file.
    """
    while f.hasher is not None and f.hashed < f.written:
        if not f.lock.acquire(blocking=False):
            return
        try:
            if f.hasher is None:
                return
            if piece is not None and f.hashed == at:
                f.hasher.update(piece)
                f.hashed = at + len(piece)
            piece = None
            if f.hashed < f.written:
                buf = getattr(_readback, "view", None)
                if buf is None:
                    buf = _readback.view = memoryview(bytearray(PIECE))
                _hash(f, f.written, buf)
            if f.hashed == f.entry.size:
                with events:  # one file's events at a time
                    _finish(f, reporter)
            elif f.hashed - f.marked >= mark_every:
                _write_mark(f)
        finally:
            f.lock.release()


def _record_resume(files: list[_File]) -> None:
    """After a failure: hash the contiguous prefix on disk of every unverified file and record it."""
    buf = memoryview(bytearray(PIECE))
    for f in files:
        if f.hasher is None:
            continue
        with f.lock:
            if f.hashed < f.written:
                with contextlib.suppress(OSError):  # the disk itself failed: record what was hashed
                    _hash(f, f.written, buf)
            if f.hashed > f.have:
                _write_mark(f)


def _pwrite(f: _File, view: memoryview, offset: int) -> None:
    try:
        while view:
            n = os.pwrite(f.fd, view, offset)
            view, offset = view[n:], offset + n
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise PullError(f"no space left on device writing {f.part}") from None
        raise


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
