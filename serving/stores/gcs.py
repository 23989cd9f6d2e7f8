"""GCS through google-cloud-storage: ADC / Workload Identity, or STORAGE_EMULATOR_HOST (anonymous)."""

from __future__ import annotations

import contextlib

from google.api_core.exceptions import NotFound
from google.cloud import storage

from serving.stores import MIB, SHA256_META, MissingObject, ObjectInfo, Upload


class GcsStore:
    def __init__(self, bucket: str, workers: int, chunk_size: int):
        self.client = storage.Client()
        self.bucket = self.client.bucket(bucket)

    def stat(self, key: str) -> ObjectInfo | None:
        blob = self.bucket.get_blob(key)
        if blob is None:
            return None
        return ObjectInfo(blob.size, (blob.metadata or {}).get(SHA256_META))

    def read_range(self, key: str, start: int, length: int) -> bytes:
        try:
            # checksum=None: GCS checksums cover whole objects only; we verify sha256 ourselves.
            return self.bucket.blob(key).download_as_bytes(start=start, end=start + length - 1, checksum=None)
        except NotFound as e:
            raise MissingObject(f"gs://{self.bucket.name}/{key}") from e

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self.bucket.blob(key).download_as_bytes()
        except NotFound:
            return None

    def put_bytes(self, key: str, data: bytes) -> None:
        self.bucket.blob(key).upload_from_string(data, content_type="application/json")

    def delete(self, key: str) -> None:
        with contextlib.suppress(NotFound):
            self.bucket.blob(key).delete()

    def upload(self, file: Upload) -> None:
        # A resumable upload in 16 MiB requests. (The SDK's parallel XML-multipart upload,
        # transfer_manager.upload_chunks_concurrently, is not served by fake-gcs-server.)
        blob = self.bucket.blob(file.key, chunk_size=16 * MIB)
        blob.metadata = {SHA256_META: file.sha256}
        blob.upload_from_filename(str(file.path))
