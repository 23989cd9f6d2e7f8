"""Helpers for the staging tests: a tiny model repo, and the bucket seen through each SDK directly
(what changes on any rewrite), so a test can tell "copied nothing" from "copied the same bytes"."""

from __future__ import annotations

import contextlib
import json
import random
import urllib.error
import urllib.request

from tests.emulators import Emulator
from weights.manifest import MANIFEST, Manifest
from weights.stores import open_store
from weights.uri import WeightsUri

MIB = 1024 * 1024


def tiny_model(seed: int = 7) -> dict[str, bytes]:
    """A model repo's shape: two safetensors shards and a tokenizer (LFS), small JSON files (git), a
    nested file and the repo's .gitattributes (never staged: dot-files are skipped)."""
    rnd = random.Random(seed)
    return {
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
        "config.json": json.dumps({"model_type": "llama", "hidden_size": 128, "seed": seed}).encode(),
        "generation_config.json": b'{"do_sample": true}',
        "model-00001-of-00002.safetensors": rnd.randbytes(3 * MIB + 4321),
        "model-00002-of-00002.safetensors": rnd.randbytes(1 * MIB + 17),
        "tokenizer.json": rnd.randbytes(300_000),
        "original/params.json": b'{"dim": 128}',
    }


def staged_files(files: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if not k.startswith(".")}


def events(stdout: str) -> list[dict]:
    """The JSON event lines `llz weights` prints on stdout when not on a terminal."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def ensure_bucket(emulator: Emulator, loc: WeightsUri) -> None:
    if emulator.store == "s3":
        import boto3

        s3 = boto3.client("s3")
        if loc.bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=loc.bucket)
    elif emulator.store == "gcs":
        req = urllib.request.Request(
            f"{emulator.url}/storage/v1/b?project=emulator",
            data=json.dumps({"name": loc.bucket}).encode(),
            method="POST",
        )
        req.add_header("Content-Type", "application/json")
        try:
            urllib.request.urlopen(req, timeout=10).close()
        except urllib.error.HTTPError as e:
            assert e.code == 409, e  # already there
    else:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(emulator.env["AZURE_STORAGE_CONNECTION_STRING"])
        with contextlib.suppress(ResourceExistsError):
            service.create_container(loc.bucket)


def versions(emulator: Emulator, loc: WeightsUri) -> dict[str, tuple]:
    """Every object under the prefix with what changes on any rewrite (ETag + time, GCS generation)."""
    prefix = f"{loc.prefix}/"
    if emulator.store == "s3":
        import boto3

        listed = boto3.client("s3").list_objects_v2(Bucket=loc.bucket, Prefix=prefix).get("Contents", [])
        return {o["Key"]: (o["ETag"], o["LastModified"]) for o in listed}
    if emulator.store == "gcs":
        from google.cloud import storage

        return {b.name: (b.generation, b.etag) for b in storage.Client().list_blobs(loc.bucket, prefix=prefix)}
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(
        emulator.env["AZURE_STORAGE_CONNECTION_STRING"]
    ).get_container_client(loc.bucket)
    return {b.name: (b.etag, b.last_modified) for b in container.list_blobs(name_starts_with=prefix)}


def clear(loc: WeightsUri, emulator: Emulator) -> None:
    store = open_store(loc)
    for key in versions(emulator, loc):
        store.delete(key)


def remote_manifest(loc: WeightsUri) -> Manifest | None:
    raw = open_store(loc).get_bytes(loc.key(MANIFEST))
    return None if raw is None else Manifest.from_json(raw, str(loc))
