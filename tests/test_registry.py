"""The stack's private registry (issue 17): the images the pods run come from it, through caches of
their upstreams, and the nodes may only read it. GCP: Artifact Registry (infra/gcp/registry.py)."""

from __future__ import annotations

import pytest

from infra.images import parse
from tests.harness import dev_plan, plan
from tests.serving_support import Serving

REPO = "gcp:artifactregistry/repository:Repository"
AR_HOST = "us-central1-docker.pkg.dev/my-llm-project"


def _images(p) -> list[str]:
    pods = [
        r.get("spec.template.spec")
        for r in p.resources
        if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job")
    ]
    return [c["image"] for spec in pods for c in [*spec.get("initContainers", []), *spec["containers"]]]


@pytest.fixture(scope="module")
def gcp():
    return dev_plan("gcp-dev")


def test_tests_parse_references_as_the_runtimes_do():
    assert parse("vllm/vllm-openai:v0.32.0").host == "docker.io"
    assert parse("ubuntu:24.04").path == "library/ubuntu"
    assert parse("ghcr.io/llm-landing-zone/llz:0.1.0").path == "llm-landing-zone/llz"
    digest = "@sha256:" + "a" * 64
    ref = parse(f"registry.example.com:5000/team/vllm:v1{digest}")
    assert (ref.host, ref.path, ref.suffix) == ("registry.example.com:5000", "team/vllm", f":v1{digest}")


def test_every_pod_image_comes_from_the_stacks_registry(gcp):
    images = _images(gcp)
    assert len(images) == 3  # vLLM, the weights init container, the staging Job
    repos = {r.get("repositoryId"): r for r in gcp.of_type(REPO)}
    for image in images:
        assert image.startswith(f"{AR_HOST}/"), image
        assert image.split("/")[2] in repos, image
    by_upstream = {i.split("/")[2]: i for i in images}
    assert by_upstream["llz-gcp-dev-dockerhub"].endswith("/vllm/vllm-openai:v0.32.0")
    assert by_upstream["llz-gcp-dev-ghcr"].endswith("/llm-landing-zone/llz:0.1.0")
    assert gcp.outputs["images"]["vllm/vllm-openai:v0.32.0"] == by_upstream["llz-gcp-dev-dockerhub"]


def test_a_teams_own_registry_is_used_as_it_is():
    own = "registry.example.com:5000/team/vllm:v0.32.0@sha256:" + "b" * 64
    served = Serving.of(plan("gcp-dev", {"serving": {"image": own}}))
    assert served.container("vllm")["image"] == own


def test_caches_for_each_upstream_and_a_standard_repository(gcp):
    repos = {r.get("repositoryId"): r for r in gcp.of_type(REPO)}
    assert sorted(repos) == ["llz-gcp-dev-dockerhub", "llz-gcp-dev-ghcr", "llz-gcp-dev-images"]
    hub, ghcr, own = repos["llz-gcp-dev-dockerhub"], repos["llz-gcp-dev-ghcr"], repos["llz-gcp-dev-images"]
    assert hub.get("mode") == ghcr.get("mode") == "REMOTE_REPOSITORY"
    assert hub.get("remoteRepositoryConfig.dockerRepository") == {"publicRepository": "DOCKER_HUB"}
    assert ghcr.get("remoteRepositoryConfig.commonRepository") == {"uri": "https://ghcr.io"}
    assert own.get("mode") == "STANDARD_REPOSITORY"
    assert own.get("dockerConfig") == {"immutableTags": True}
    for repo in repos.values():
        assert repo.get("format") == "DOCKER" and repo.get("location") == "us-central1"
        assert repo.get("vulnerabilityScanningConfig") == {"enablementConfig": "INHERITED"}
        actions = {p["action"] for p in repo.get("cleanupPolicies")}
        assert actions == {"DELETE", "KEEP"}, "a retention policy that deletes, and keeps the newest versions"


def test_repositories_are_encrypted_with_the_stacks_key_after_the_agent_may_use_it(gcp):
    key = gcp.one("gcp:kms/cryptoKey:CryptoKey", "registry-key")
    grant = gcp.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "registry-key-agent")
    agent = gcp.one("gcp:projects/serviceIdentity:ServiceIdentity", "registry-agent")
    assert agent.get("service") == "artifactregistry.googleapis.com"
    assert grant.get("member").startswith("serviceAccount:service-") and "@gcp-sa-artifactregistry." in grant.get(
        "member"
    )
    assert grant.get("role") == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.get("cryptoKeyId") == key.id
    assert key.get("rotationPeriod") and key.get("purpose") == "ENCRYPT_DECRYPT"
    for repo in gcp.of_type(REPO):
        assert repo.get("kmsKeyName") == key.id
        assert grant.urn in repo.dependencies, "CMEK repository created before the agent may use the key"


def test_nodes_only_read_images(gcp):
    roles = [
        r.get("role")
        for r in gcp.resources
        if r.type.endswith("IAMMember") and "artifactregistry" in str(r.get("role"))
    ]
    assert roles and set(roles) == {"roles/artifactregistry.reader"}
    assert not [r for r in gcp.resources if r.type.startswith("gcp:artifactregistry/repositoryIam")]
