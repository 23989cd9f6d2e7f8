"""Azure Blob through azure-storage-blob: DefaultAzureCredential, or AZURE_STORAGE_CONNECTION_STRING (Azurite)."""

from __future__ import annotations

import contextlib
import os

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from weights.stores import MIB, SHA256_META, MissingObject, ObjectInfo, Upload
from weights.uri import ACCOUNT_ENV


class AzureStore:
    def __init__(self, container: str, account: str | None, workers: int, chunk_size: int):
        self.workers = workers
        # One GET per ranged read (the SDK's default splits anything over 32 MiB into 4 MiB requests).
        sizes = {"max_single_get_size": chunk_size, "max_chunk_get_size": chunk_size, "max_block_size": 16 * MIB}
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
        try:
            return self.container.get_blob_client(key).download_blob(offset=start, length=length).readall()
        except ResourceNotFoundError as e:
            raise MissingObject(f"az://{self.container.container_name}/{key}") from e

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
