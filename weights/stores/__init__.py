"""One small interface over S3, GCS and Azure Blob; each backend imports only its own SDK.

Endpoints and credentials come from each SDK's standard chain (IRSA / Pod Identity, GKE Workload
Identity, DefaultAzureCredential; `AWS_ENDPOINT_URL`, `STORAGE_EMULATOR_HOST`,
`AZURE_STORAGE_CONNECTION_STRING` for emulators), so no key ever appears in code or config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from weights.uri import WeightsUri

MIB = 1024 * 1024
DEFAULT_CHUNK = 32 * MIB  # large ranges: fewer requests; emulators that re-read the object per GET keep up
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

    def get_bytes(self, key: str) -> bytes | None: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def upload(self, file: Upload) -> None:
        """Upload with the SDK's parallel multipart / resumable / block transfer, sha256 as metadata."""
        ...


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
