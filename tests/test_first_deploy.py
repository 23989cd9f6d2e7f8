"""First deploy, run for real: the staging Job's exact command (from the dev stacks' plans) against the
S3, GCS and Azure emulators, fed by a local stand-in for the Hugging Face Hub (tests/fake_hub.py,
reached through HF_ENDPOINT as huggingface_hub honours it), and the serving pod's init container
started before the staging, which waits and then pulls the verified model.

Commands run as the kubelet would run them: the container's `args` after the image's ENTRYPOINT
(`llz`), its `env`, and each volumeMount's path mapped to a folder of the test (the only rewrite);
the emulator's endpoint env and HF_ENDPOINT are what the cluster's network would provide. The
init container gets one extra flag, `--poll-seconds 0.2`, so the test does not sit out the 10 s poll.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.emulators import ROOT
from tests.fake_hub import FakeHub, Repo
from tests.harness import dev_plan
from tests.staging_support import clear, ensure_bucket, events, remote_manifest, staged_files, tiny_model, versions
from weights.manifest import MANIFEST, Manifest
from weights.source import parse_source
from weights.uri import parse

pytest_plugins = ["tests.weights_fixtures"]

STACK_OF = {"s3": "aws-dev", "gcs": "gcp-dev", "azure": "azure-dev"}


# --- the planned containers, as the kubelet would start them -----------------------------------


def planned(stack: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the staging Job's container, the Deployment's init container) with their pod's volumes."""
    plan = dev_plan(stack)
    job = plan.one("kubernetes:batch/v1:Job")
    deployment = next(r for r in plan.of_type("kubernetes:apps/v1:Deployment") if r.get("metadata.name") == "llm")
    return job.get("spec.template.spec.containers.0"), deployment.get("spec.template.spec.initContainers.0")


def command(container: dict[str, Any], root: Path, extra_env: dict[str, str], *extra_args: str):
    """argv and env of `container` with every volumeMount path mapped under `root`."""
    mounts = {m["mountPath"]: root / m["mountPath"].strip("/").replace("/", "-") for m in container["volumeMounts"]}
    for folder in mounts.values():
        folder.mkdir(parents=True, exist_ok=True)

    def local(value: str) -> str:
        for path, folder in mounts.items():
            if value == path or value.startswith(path + "/"):
                return str(folder) + value[len(path) :]
        return value

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "LLZ_"))}
    for item in container["env"]:
        assert "value" in item, f"env {item['name']} has no literal value (a secret ref needs the test to fill it)"
        env[item["name"]] = local(item["value"])
    env.update(extra_env)
    argv = [sys.executable, "-m", "infra.cli", *map(local, container["args"]), *extra_args]
    return argv, env


def reader_thread(proc: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def next_event(lines: queue.Queue, timeout: float) -> dict:
    line = lines.get(timeout=timeout)
    assert line is not None, "the process ended without printing an event"
    return json.loads(line)


# --- the first deploy, per store --------------------------------------------------------------


def test_first_deploy_stages_the_model_while_the_init_container_waits(emulator, tmp_path):
    job, init = planned(STACK_OF[emulator.store])
    source = parse_source(job["args"][2])
    loc = parse(job["args"][3])
    ensure_bucket(emulator, loc)
    clear(loc, emulator)
    files = tiny_model()

    with FakeHub() as hub:
        hub.add(source.repo, Repo(files, source.revision))
        outside = {**emulator.env, "HF_ENDPOINT": hub.url}
        # The serving pod starts first (as on a first `up` whose Job is still running): it must wait.
        pull_argv, pull_env = command(init, tmp_path / "pod", outside, "--poll-seconds", "0.2")
        assert pull_argv[3:7] == ["weights", "pull", init["args"][2], str(tmp_path / "pod" / "models" / "weights")]
        puller = subprocess.Popen(
            pull_argv, cwd=ROOT, env=pull_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            lines = reader_thread(puller)
            waiting = next_event(lines, timeout=60)
            assert waiting["event"] == "pull.wait", waiting
            assert waiting["waitSeconds"] == float(init["args"][init["args"].index("--wait-seconds") + 1])
            assert waiting["message"].startswith(f"no {MANIFEST} at {loc} yet: waiting up to")
            time.sleep(1)
            assert puller.poll() is None, "the init container must wait, not exit"

            stage_argv, stage_env = command(job, tmp_path / "job", outside)
            t0 = time.monotonic()
            staged = subprocess.run(stage_argv, cwd=ROOT, env=stage_env, capture_output=True, text=True, timeout=300)
            seconds = time.monotonic() - t0
            assert staged.returncode == 0, staged.stderr
            done = events(staged.stdout)[-1]
            assert (done["event"], done["files"], done["downloaded"], done["kept"]) == ("stage.done", 6, 6, 0)
            assert done["bytes"] == sum(len(v) for v in staged_files(files).values())
            print(f"\n{emulator.store}: staged {done['bytes']} B: {seconds:.2f} s process, {done['seconds']} s stage")

            assert puller.wait(timeout=120) == 0, puller.stderr.read()
        finally:
            if puller.poll() is None:
                puller.kill()
                puller.wait()
        pulled = tmp_path / "pod" / "models" / "weights"
        for path, data in staged_files(files).items():
            assert (pulled / path).read_bytes() == data, path
        assert not (pulled / ".gitattributes").exists()
        assert sorted(p.name for p in (tmp_path / "pod" / "models").iterdir()) == ["weights"]

        manifest = remote_manifest(loc)
        assert manifest is not None and manifest.source == source.record()
        assert {f.path for f in manifest.files} == set(staged_files(files))
        assert Manifest.from_json((pulled / MANIFEST).read_bytes(), "pulled").digest == manifest.digest
        # Nothing left on the Job's scratch disk but huggingface_hub's small metadata.
        left = [p for p in (tmp_path / "job" / "scratch").rglob("*") if p.is_file() and ".cache" not in p.parts]
        assert left == []

        # Re-running `up` (the same Job command again): the manifest records this revision -> no copy.
        before, fetched = versions(emulator, loc), len(hub.downloads())
        again = subprocess.run(stage_argv, cwd=ROOT, env=stage_env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert [e["event"] for e in events(again.stdout)] == ["stage.noop"]
        assert len(hub.downloads()) == fetched, "a re-stage of the same revision must not download"
        assert versions(emulator, loc) == before, "a re-stage of the same revision must not write"


# --- behaviour of `stage` itself ---------------------------------------------------------------
