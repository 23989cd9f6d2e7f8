"""llz-manifest.json: every file's size and sha256 plus one digest of the set.

Push writes it LAST and pull reads it FIRST, so a half-pushed model has no manifest and is never
taken for complete; the digest names a model version, which makes a repeated pull a no-op.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

MANIFEST = "llz-manifest.json"
VERSION = 1


class ManifestError(ValueError):
    """A manifest that is not ours or names unsafe paths."""


@dataclass(frozen=True)
class FileEntry:
    path: str  # POSIX path relative to the model folder
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileEntry, ...]
    # Where the files came from (`llz weights stage`: hub, repo, revision); not part of the digest,
    # which names the bytes. A re-stage of the same source compares this and copies nothing.
    source: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def digest(self) -> str:
        lines = "".join(f"{f.sha256} {f.size} {f.path}\n" for f in self.files)
        return hashlib.sha256(lines.encode()).hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        body = {
            "version": VERSION,
            "digest": self.digest,
            "totalBytes": self.total_bytes,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }
        if self.source is not None:
            body["source"] = self.source
        return (json.dumps(body, indent=1) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        try:
            body = json.loads(data)
            files = tuple(FileEntry(_safe(f["path"]), int(f["size"]), str(f["sha256"])) for f in body["files"])
            source = body.get("source")
            if source is not None and not isinstance(source, dict):
                raise TypeError(f"source is {type(source).__name__}, not an object")
            manifest = cls(tuple(sorted(files, key=lambda f: f.path)), source)
            stated = body["digest"]
        except (ValueError, KeyError, TypeError) as e:
            raise ManifestError(f"{where}: not a valid {MANIFEST} ({type(e).__name__}: {e})") from e
        if manifest.digest != stated:
            raise ManifestError(f"{where}: digest {stated} does not match its file list ({manifest.digest})")
        return manifest

    @classmethod
    def of_folder(cls, folder: Path, workers: int = 4) -> Manifest:
        """Hash every regular file under `folder` (symlinks followed; dot-files and our manifest skipped)."""
        paths = sorted(_model_files(folder))
        if not paths:
            raise ManifestError(f"{folder}: no files to push")

        def entry(rel: str) -> FileEntry:
            with (folder / rel).open("rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            return FileEntry(rel, (folder / rel).stat().st_size, digest)

        with ThreadPoolExecutor(workers) as pool:
            return cls(tuple(pool.map(entry, paths)))


def _model_files(folder: Path) -> Iterable[str]:
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or rel.as_posix() == MANIFEST:
            continue
        if path.is_file():
            yield rel.as_posix()


def _safe(path: str) -> str:
    """Refuse paths that would escape the destination folder."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or "\\" in path or p.as_posix() != path:
        raise ManifestError(f"unsafe path in manifest: {path!r}")
    return path
