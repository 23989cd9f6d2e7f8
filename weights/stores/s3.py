"""S3 through boto3: endpoint, region and credentials from boto3's chain (AWS_ENDPOINT_URL for moto)."""

from __future__ import annotations

from collections.abc import Callable

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from weights.stores import MIB, SHA256_META, MissingObject, ObjectInfo, Upload, finish_body, pump, read_all

_MISSING = {"404", "NoSuchKey", "NotFound"}


def _missing(e: ClientError) -> bool:
    return e.response.get("Error", {}).get("Code") in _MISSING


class S3Store:
    def __init__(self, bucket: str, workers: int, chunk_size: int):
        self.bucket = bucket
        self.client = boto3.client(
            # pool: a push runs workers/2 files x `workers` parts at once
            "s3",
            config=Config(max_pool_connections=4 * workers, retries={"mode": "standard", "max_attempts": 5}),
        )
        # Parts of 16 MiB keep a 10 GB shard well under S3's 10,000-part limit.
        self.transfer = TransferConfig(
            multipart_threshold=16 * MIB, multipart_chunksize=16 * MIB, max_concurrency=workers
        )

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if _missing(e):
                return None
            raise
        return ObjectInfo(head["ContentLength"], head.get("Metadata", {}).get(SHA256_META))

    def read_range(self, key: str, start: int, length: int) -> bytes:
        return read_all(self, key, start, length)

    def stream_range(self, key: str, start: int, length: int, sink: Callable[[memoryview], None]) -> None:
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")
        except ClientError as e:
            if _missing(e):
                raise MissingObject(f"s3://{self.bucket}/{key}") from e
            raise
        body = got["Body"]
        raw = getattr(body, "_raw_stream", body)  # botocore's StreamingBody over a urllib3 response
        n = 0
        try:
            n = pump(raw, length, sink)
        finally:
            finish_body(raw, n == length)

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as e:
            if _missing(e):
                return None
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def upload(self, file: Upload) -> None:
        self.client.upload_file(
            str(file.path),
            self.bucket,
            file.key,
            ExtraArgs={"Metadata": {SHA256_META: file.sha256}},
            Config=self.transfer,
        )
