"""Weights URIs: the one spelling every cloud, the init container and vLLM's Run:ai loader share."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

ACCOUNT_ENV = "AZURE_STORAGE_ACCOUNT_NAME"


class UriError(ValueError):
    """A weights URI that names no store we can read."""


@dataclass(frozen=True)
class WeightsUri:
    scheme: str  # s3 | gs | az
    bucket: str  # bucket, or the Azure container
    prefix: str  # no leading or trailing slash; "" for the bucket root
    account: str | None = None  # Azure storage account (from the https URL or AZURE_STORAGE_ACCOUNT_NAME)

    def key(self, name: str) -> str:
        """The object name of `name` (a relative path inside the model folder)."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}".rstrip("/")


def parse(uri: str) -> WeightsUri:
    """`s3://b/p`, `gs://b/p`, `az://container/p` or `https://<acct>.blob.core.windows.net/container/p`."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("s3", "gs", "az"):
        bucket, prefix = parts.netloc, parts.path
        account = os.environ.get(ACCOUNT_ENV) if scheme == "az" else None
    elif scheme == "https" and parts.netloc.endswith(".blob.core.windows.net"):
        account = parts.netloc.split(".", 1)[0]
        bucket, _, prefix = parts.path.lstrip("/").partition("/")
        scheme = "az"
    else:
        raise UriError(
            f"{uri!r}: not a weights URI; use s3://bucket/prefix, gs://bucket/prefix or az://container/prefix"
        )
    if not bucket:
        raise UriError(f"{uri!r}: no bucket/container")
    return WeightsUri(scheme, bucket, prefix.strip("/"), account)
