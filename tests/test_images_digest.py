"""Digests in the rendered manifests (issue 17 item 4): every default with a digest in
infra/conventions.DIGESTS is rendered `…:tag@sha256:…` into the stack's registry, except through an
ECR pull-through cache, which does not fill on a first pull by digest (aws/containers-roadmap#2837)
and so is pulled by tag. The pending rule k8s-image-digest fires on the shipped plans only for the
images with no digest from a cited source yet (the vLLM server, the puller) and those ECR caches."""

from __future__ import annotations

import re

import pytest

from infra import conventions
from infra.images import parse
from infra.plan.engine import Plan
from infra.policy_rules import PENDING, Res, evaluate
from infra.policy_rules.kubernetes import WORKLOADS, containers
from tests.harness import DEV_STACKS, dev_plan, plan

RULE = next(r for r in PENDING if r.name == "k8s-image-digest")
# Synthetic digests: test inputs standing for what `llz images pin` would write, never shipped.
VLLM = f"{conventions.VLLM_TAG}@sha256:{'a' * 64}"
PULLER = f"{conventions.PULLER_TAG}@sha256:{'b' * 64}"
UNPINNED = {t for t in (conventions.VLLM_TAG, conventions.PULLER_TAG) if t not in conventions.DIGESTS}


def _views(p: Plan) -> list[Res]:
    return [Res(r.type, r.urn, r.name, r.inputs, r.parent, tuple(r.dependencies)) for r in p.resources]


def _images(p: Plan) -> dict[str, str]:
    """container label@resource name -> image, for every workload of the plan."""
    out = {}
    for view in _views(p):
        if view.type in WORKLOADS:
            for label, c in containers(view):
                out[f"{view.name}:{label}"] = c["image"]
    return out


def _ecr_cached(image: str) -> bool:
    return ".dkr.ecr." in parse(image).host  # the only ECR references are the stack's caches (docs/aws.md)


def _upstream_tag(image: str) -> str:
    """The upstream tag a registry reference was made from: the tag of the pinned upstream whose
    repository path it ends with (the caches prefix the path: docker-hub/, dockerhub/, k8s/ …)."""
    pinned = (conventions.VLLM_TAG, conventions.PULLER_TAG, conventions.NVIDIA_DEVICE_PLUGIN_TAG, *conventions.DIGESTS)
    ref = parse(image)
    matches = [t for t in pinned if ref.path.endswith(parse(t).path) and ref.suffix.startswith(parse(t).suffix)]
    assert len(matches) >= 1, f"{image} is none of the pinned upstream images"
    return matches[0]


@pytest.mark.parametrize("stack", DEV_STACKS)
def test_the_rule_fires_only_for_the_images_without_a_cited_digest(stack):
    p = dev_plan(stack)
    findings = evaluate(_views(p), [RULE])
    unpinned = {m.group(1) for f in findings if (m := re.search(r"image (\S+) is not pinned", f.message))}
    assert unpinned, f"k8s-image-digest is clean on {stack}: enforce it (move it to RULES)"
    assert {_upstream_tag(image) for image in unpinned if not _ecr_cached(image)} <= UNPINNED, unpinned


@pytest.mark.parametrize("stack", DEV_STACKS)
def test_every_image_with_a_pinned_digest_is_rendered_by_it(stack):
    for where, image in _images(dev_plan(stack)).items():
        tag = _upstream_tag(image)
        if _ecr_cached(image):
            assert parse(image).suffix == parse(tag).suffix, (where, image)  # the tag alone
        elif tag in conventions.DIGESTS:
            assert image.endswith(f"{parse(tag).suffix}@{conventions.DIGESTS[tag]}"), (where, image)


@pytest.mark.parametrize("stack", DEV_STACKS)
def test_with_the_server_and_puller_pinned_every_container_is_a_digest_into_the_stacks_registry(stack):
    """What enforcing the rule takes: digests for the two images that have none yet. Then every
    container of every workload is `<the stack's registry>/…:tag@sha256:…` and the rule is clean on
    GKE and AKS; on EKS the ECR-cached ones stay by tag."""
    p = plan(stack, {"serving": {"image": VLLM, "pullerImage": PULLER}})
    findings = evaluate(_views(p), [RULE])
    registry = {parse(v).host for v in p.outputs["images"].values()}
    assert len(registry) == 1, registry  # one registry per stack
    for where, image in _images(p).items():
        if _ecr_cached(image):  # by tag: the one gap left on AWS (module docstring)
            assert re.search(r":[\w.-]+$", image) and any(image in f.message for f in findings), (where, image)
        else:
            assert re.search(r":[\w.-]+@sha256:[0-9a-f]{64}$", image), (where, image)
        if stack != "aws-dev" or "device-plugin" not in where:  # ECR has no nvcr.io cache (docs/aws.md)
            assert parse(image).host in registry, (where, image)
    assert len(findings) == sum(_ecr_cached(i) for i in _images(p).values())
    assert stack == "aws-dev" or findings == []
    served = [parse(i) for i in _images(p).values()]
    for configured in map(parse, (VLLM, PULLER)):
        expected = configured.by_tag().suffix if stack == "aws-dev" else configured.suffix
        assert any(i.path.endswith(configured.path) and i.suffix == expected for i in served), configured
