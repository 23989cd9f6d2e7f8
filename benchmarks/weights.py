"""Pull throughput against each emulator, side by side in one run (a script, not a timed test).

    .venv/bin/python benchmarks/weights.py [--size-mb 1024] [--stores s3 gcs azure]

For each store: a multi-file model of --size-mb is pushed, then read four ways:
  emulator   parallel ranged GETs, bytes discarded: what the emulator can serve (the ceiling)
  llz pull   our verified pull (sha256 while streaming, temp folder, atomic rename)
  sdk        the SDK's plain default download of the same files, one after another
  local cp   a raw local copy of the source folder (the disk/page-cache ceiling)
Targets: llz pull >= 2x sdk and >= 0.8x the ceiling, min(emulator, local cp): a pull writes to
disk, so on a machine whose disk is slower than the emulator the disk is what "can be served".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.emulators import STORES, start  # noqa: E402
from weights.manifest import Manifest  # noqa: E402
from weights.progress import Reporter, rate  # noqa: E402
from weights.pull import pull  # noqa: E402
from weights.push import push  # noqa: E402
from weights.stores import DEFAULT_CHUNK, MIB, open_store  # noqa: E402
from weights.uri import parse  # noqa: E402

SHARDS = 8


def make_model(folder: Path, size_mb: int) -> int:
    """SHARDS safetensors-sized files of random bytes plus small config/tokenizer files."""
    shard = size_mb * 1_000_000 // SHARDS
    for i in range(SHARDS):
        with (folder / f"model-{i + 1:05d}-of-{SHARDS:05d}.safetensors").open("wb") as f:
            for _ in range(0, shard, 16 * MIB):
                f.write(os.urandom(min(16 * MIB, shard - f.tell())))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 4096}))
    (folder / "tokenizer.json").write_bytes(os.urandom(2_000_000))
    return sum(p.stat().st_size for p in folder.iterdir())


def timed(fn) -> float:
    os.sync()  # the previous phase's dirty pages are not this phase's cost
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def emulator_ceiling(uri: str, manifest: Manifest, workers: int, chunk: int) -> None:
    loc = parse(uri)
    store = open_store(loc, workers, chunk)
    ranges = [(f.path, off, min(chunk, f.size - off)) for f in manifest.files for off in range(0, f.size, chunk)]
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(lambda r: len(store.read_range(loc.key(r[0]), r[1], r[2])), ranges):
            pass


def sdk_default(store_name: str, uri: str, manifest: Manifest, dest: Path) -> None:
    """What a hand-written init script does: each SDK's one-call download, defaults untouched."""
    loc = parse(uri)
    dest.mkdir(parents=True)
    if store_name == "s3":
        import boto3

        client = boto3.client("s3")
        for f in manifest.files:
            client.download_file(loc.bucket, loc.key(f.path), str(dest / f.path))
    elif store_name == "gcs":
        from google.cloud import storage

        bucket = storage.Client().bucket(loc.bucket)
        for f in manifest.files:
            bucket.blob(loc.key(f.path)).download_to_filename(str(dest / f.path))
    else:
        from azure.storage.blob import BlobServiceClient

        container = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
        container = container.get_container_client(loc.bucket)
        for f in manifest.files:
            with (dest / f.path).open("wb") as out:
                container.get_blob_client(loc.key(f.path)).download_blob().readinto(out)


def bench_store(store_name: str, model: Path, total: int, work: Path, workers: int, chunk: int) -> dict:
    with start(store_name, work / "logs") as emu:
        saved = dict(os.environ)
        os.environ.update(emu.env)
        try:
            uri = emu.uri("bench/model")
            quiet = Reporter(stream=open(os.devnull, "w"), tty=False)  # noqa: SIM115
            up = timed(lambda: push(model, uri, workers=workers, reporter=quiet))
            manifest = Manifest.of_folder(model)
            row = {"store": store_name, "bytes": total, "push": rate(total, up)}
            row["emulator"] = rate(total, timed(lambda: emulator_ceiling(uri, manifest, workers, chunk)))
            row["llz pull"] = rate(
                total, timed(lambda: pull(uri, work / "pulled", workers=workers, chunk_size=chunk, reporter=quiet))
            )
            row["sdk"] = rate(total, timed(lambda: sdk_default(store_name, uri, manifest, work / "sdk")))
            row["local cp"] = rate(total, timed(lambda: shutil.copytree(model, work / "copy")))
        finally:
            os.environ.clear()
            os.environ.update(saved)
            for sub in ("pulled", "sdk", "copy"):
                shutil.rmtree(work / sub, ignore_errors=True)
    # A pull ends on local disk, so it can go no faster than the slower of the two ceilings.
    row["ceiling"] = min(row["emulator"], row["local cp"])
    row["x sdk"] = round(row["llz pull"] / row["sdk"], 2)
    row["x ceiling"] = round(row["llz pull"] / row["ceiling"], 2)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES))
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--chunk-mib", type=int, default=DEFAULT_CHUNK // MIB)
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="llz-bench-", dir=ROOT / ".test-tools") as tmp:
        work = Path(tmp)
        (work / "model").mkdir()
        total = make_model(work / "model", args.size_mb)
        print(f"model: {total / 1e6:.0f} MB in {SHARDS + 2} files; workers={args.workers} chunk={args.chunk_mib} MiB")
        rows = [bench_store(s, work / "model", total, work, args.workers, args.chunk_mib * MIB) for s in args.stores]

    cols = ["store", "push", "emulator", "local cp", "sdk", "llz pull", "x sdk", "x ceiling"]
    print("MB/s (10^6 B/s); x sdk = llz pull / sdk; x ceiling = llz pull / min(emulator, local cp)")
    print("  ".join(f"{c:>10}" for c in cols))
    for row in rows:
        print("  ".join(f"{row[c]!s:>10}" for c in cols))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
