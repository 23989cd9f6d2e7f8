"""Azure Blob through azure-storage-blob: DefaultAzureCredential, or AZURE_STORAGE_CONNECTION_STRING (Azurite)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from weights.stores import MIB, PIECE, SHA256_META, MissingObject, ObjectInfo, Upload, finish_body, pump, read_all
from weights.uri import ACCOUNT_ENV


class AzureStore:
    def __init__(self, container: str, account: str | None, workers: int, chunk_size: int):
        self.workers = workers
        # One GET for the manifest; PIECE-sized blocks when a ranged read streams its body.
        sizes = {
            "max_single_get_size": chunk_size,
            "max_chunk_get_size": chunk_size,
            "max_block_size": 16 * MIB,
            "connection_data_block_size": PIECE,
        }
        conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        if conn:
            service = BlobServiceClient.from_connection_string(conn, **sizes)
        elif account:
            from azure.identity import DefaultAzureCredential

            service = BlobServiceClient(f"https://{account}.blob.core.windows.net", DefaultAzureCredential(), **sizes)
        else:
            raise ValueError(f"az:// URIs need the storage account in env {ACCOUNT_ENV}")
        self.container = service.get_container_client(container)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            props = self.container.get_blob_client(key).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return ObjectInfo(props.size, (props.metadata or {}).get(SHA256_META))

    def read_range(self, key: str, start: int, length: int) -> bytes:
        return read_all(self, key, start, length)

    def stream_range(self, key: str, start: int, length: int, sink: Callable[[memoryview], None]) -> None:
        """One ranged GET, its body handed on as it arrives (`pump`).

        download_blob() reads its whole first GET into memory before it returns (and splits the
        rest into sequential 4 MiB GETs), so nothing would reach the disk until a range had fully
        arrived. This calls the SDK's generated Get Blob operation — the one StorageStreamDownloader
        calls (azure/storage/blob/_download.py: `self._clients.blob.download(range=…)`) — on the
        same client, pipeline, credential and retry policy, and reads the response it streams.
        """
        blob = self.container.get_blob_client(key)
        try:
            body = blob._client.blob.download(range=f"bytes={start}-{start + length - 1}", decompress=False)
        except ResourceNotFoundError as e:
            raise MissingObject(f"az://{self.container.container_name}/{key}") from e
        # azure-core's StreamDownloadGenerator keeps the transport response; with the requests
        # transport its urllib3 body is internal_response.raw (otherwise: iterate the blocks).
        raw = getattr(getattr(getattr(body, "response", None), "internal_response", None), "raw", None)
        if raw is None:
            for block in body:
                sink(memoryview(block))
            return
        n = 0
        try:
            n = pump(raw, length, sink)
        finally:
            finish_body(raw, n == length)

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self.container.get_blob_client(key).download_blob().readall()
        except ResourceNotFoundError:
            return None

    def put_bytes(self, key: str, data: bytes) -> None:
        self.container.get_blob_client(key).upload_blob(data, overwrite=True)

    def delete(self, key: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.container.get_blob_client(key).delete_blob()

    def upload(self, file: Upload) -> None:
        with file.path.open("rb") as data:
            self.container.get_blob_client(file.key).upload_blob(
                data,
                length=file.size,
                overwrite=True,
                metadata={SHA256_META: file.sha256},
                max_concurrency=self.workers,
            )
