"""One small interface over S3, GCS and Azure Blob; each backend imports only its own SDK.

Endpoints and credentials come from each SDK's standard chain (IRSA / Pod Identity, GKE Workload
Identity, DefaultAzureCredential; `AWS_ENDPOINT_URL`, `STORAGE_EMULATOR_HOST`,
`AZURE_STORAGE_CONNECTION_STRING` for emulators), so no key ever appears in code or config.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from weights.uri import WeightsUri

MIB = 1024 * 1024
DEFAULT_CHUNK = 64 * MIB  # bytes per ranged GET: fewer requests (see docs/weights.md, "Benchmark")
PIECE = 4 * MIB  # a ranged read hands its bytes on in pieces of about this size, as they arrive
SHA256_META = "sha256"  # object metadata key: lets a re-push skip an object without reading it


class MissingObject(Exception):
    """The object does not exist (a permanent error: never retried)."""


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    sha256: str | None  # from our metadata; None for objects not written by `llz weights push`


@dataclass(frozen=True)
class Upload:
    path: Path
    key: str
    size: int
    sha256: str


class Store(Protocol):
    def stat(self, key: str) -> ObjectInfo | None: ...

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Exactly bytes [start, start+length) of `key`; MissingObject if absent."""
        ...

    def stream_range(self, key: str, start: int, length: int, sink: Callable[[memoryview], None]) -> None:
        """One ranged GET of bytes [start, start+length) of `key`, handed to `sink` piece by piece as
        they arrive (never the whole range in memory; a piece is valid only during the call);
        MissingObject if absent. A short body is not an error here: the caller counts what `sink` got."""
        ...

    def get_bytes(self, key: str) -> bytes | None: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def upload(self, file: Upload) -> None:
        """Upload with the SDK's parallel multipart / resumable / block transfer, sha256 as metadata."""
        ...


_buffer = threading.local()


def pump(raw, length: int, sink: Callable[[memoryview], None]) -> int:
    """Hand up to `length` bytes of an HTTP body to `sink`, PIECE by PIECE, through one reused buffer.

    `raw` is the urllib3 response every SDK here sits on (botocore's StreamingBody, requests'
    Response.raw, azure-core's requests transport). Its `read(n)` allocates a fresh zero-filled
    bytearray per call and then copies it (http.client.HTTPResponse.read: `bytearray(amt)`,
    `readinto`, `tobytes()`): two new 4 MiB buffers per piece, every page of them faulted in. The
    http.client response under it (`_fp`) reads straight into a buffer this thread keeps, so a
    byte is copied once, from the socket to the buffer, before `os.pwrite` puts it in the page
    cache. `sink` must use the view before it returns. Returns the bytes handed on.
    """
    readinto = getattr(getattr(raw, "_fp", None), "readinto", None)
    got = 0
    if readinto is None:  # not urllib3 over http.client: plain reads
        while got < length and (piece := raw.read(min(PIECE, length - got))):
            sink(memoryview(piece))
            got += len(piece)
        return got
    buf = getattr(_buffer, "view", None)
    if buf is None:
        buf = _buffer.view = memoryview(bytearray(PIECE))
    while got < length and (n := readinto(buf[: min(PIECE, length - got)])):
        sink(buf[:n])
        got += n
    return got


def finish_body(raw, complete: bool) -> None:
    """Back to the pool when the body was read to its end, else closed (never reused half-read)."""
    if complete and hasattr(raw, "release_conn"):
        raw.release_conn()
    else:
        raw.close()


def read_all(store: Store, key: str, start: int, length: int) -> bytes:
    """`read_range` for a store that only streams: the pieces joined."""
    pieces: list[bytes] = []
    store.stream_range(key, start, length, lambda piece: pieces.append(bytes(piece)))
    return b"".join(pieces)


def open_store(uri: WeightsUri, workers: int = 8, chunk_size: int = DEFAULT_CHUNK) -> Store:
    """The store for `uri`, with connection pools sized for `workers` parallel ranged reads."""
    if uri.scheme == "s3":
        from weights.stores.s3 import S3Store

        return S3Store(uri.bucket, workers, chunk_size)
    if uri.scheme == "gs":
        from weights.stores.gcs import GcsStore

        return GcsStore(uri.bucket, workers, chunk_size)
    from weights.stores.azure import AzureStore

    return AzureStore(uri.bucket, uri.account, workers, chunk_size)
