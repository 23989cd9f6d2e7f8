"""S3 through botocore: endpoint and credentials from its chain (AWS_ENDPOINT_URL for moto).

A plain botocore client, not boto3's: a pull needs nothing boto3 adds, and importing it (with
s3transfer) cost 50-60 ms of every init container's start-up here; uploads import boto3's
transfer manager when they run.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from weights.stores import MIB, SHA256_META, MissingObject, ObjectInfo, Upload, finish_body, pump, read_all

_MISSING = {"404", "NoSuchKey", "NotFound"}


def _missing(e: ClientError) -> bool:
    return e.response.get("Error", {}).get("Code") in _MISSING


class S3Store:
    def __init__(self, bucket: str, workers: int, chunk_size: int):
        self.bucket, self.workers = bucket, workers
        session = botocore.session.get_session()
        self.client = session.create_client(
            "s3",
            # botocore reads the region from AWS_DEFAULT_REGION only (configprovider.py, boto/boto3#3620);
            # AWS_REGION is what EKS pods and the other SDKs set. Without either: us-east-1.
            region_name=session.get_config_variable("region") or os.environ.get("AWS_REGION"),
            # pool: a push runs workers/2 files x `workers` parts at once
            config=Config(max_pool_connections=4 * workers, retries={"mode": "standard", "max_attempts": 5}),
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
        """boto3's multipart upload (what `client.upload_file` runs: boto3/s3/inject.py) on this client."""
        from boto3.s3.transfer import S3Transfer, TransferConfig

        # Parts of 16 MiB keep a 10 GB shard well under S3's 10,000-part limit.
        part = 16 * MIB
        config = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=self.workers)
        with S3Transfer(self.client, config) as transfer:
            transfer.upload_file(
                str(file.path), self.bucket, file.key, extra_args={"Metadata": {SHA256_META: file.sha256}}
            )
