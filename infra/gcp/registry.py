"""The stack's Artifact Registry: the images the nodes pull, in the stack's project and region.

Docker repositories, each encrypted with the stack's own key, scanned as the project scans
(`vulnerability_scanning_config: INHERITED`), and cleaned up on a schedule:
  <stack>-images     standard: a team's own images; tags are immutable.
  <stack>-dockerhub  remote: Docker Hub (the vLLM server image).
  <stack>-ghcr       remote: ghcr.io (our weights puller, built by .github/workflows/image.yml; KEDA).
  <stack>-k8s        remote: registry.k8s.io (the LeaderWorkerSet controller of a multi-node model).
A remote exists only when one of the stack's images comes from its upstream.
Remote repositories fetch from the upstream on Google's side on the first pull and serve the cached
copy after that, so nodes reach only Artifact Registry (through Private Google Access), never the
internet: `network.egress: none` needs no hand mirroring. Nodes pull with their service account's
`roles/artifactregistry.reader` (infra/gcp/identity.NODE_ROLES): read only, no push from the cluster.

Argument names are pulumi-gcp 10.2.0's (`artifactregistry.Repository`: `mode`,
`remote_repository_config.docker_repository.public_repository = DOCKER_HUB`, and
`common_repository.uri` for any other registry, which the SDK names as the replacement of the
deprecated `custom_repository`); CMEK needs the Artifact Registry service agent's encrypt/decrypt
grant on the key before a repository is created (cloud.google.com/artifact-registry/docs/cmek).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.gcp.kms import agent_key
from infra.images import parse

DAY_S = 86400
# Upstream host -> (repository id suffix, remote config): what each remote repository proxies.
REMOTES = {
    "docker.io": ("dockerhub", {"docker_repository": {"public_repository": "DOCKER_HUB"}}),
    "ghcr.io": ("ghcr", {"common_repository": {"uri": "https://ghcr.io"}}),
    # The LeaderWorkerSet controller, for a multi-node model only (infra/lws.py).
    "registry.k8s.io": ("k8s", {"common_repository": {"uri": "https://registry.k8s.io"}}),
}
# A cached upstream version is fetched again on demand: drop what no pull asked for in 90 days,
# but never the newest versions of a package.
REMOTE_CLEANUP = [
    {"id": "keep-recent", "action": "KEEP", "most_recent_versions": {"keep_count": 5}},
    {"id": "drop-stale", "action": "DELETE", "condition": {"older_than": f"{90 * DAY_S}s"}},
]
STANDARD_CLEANUP = [
    {"id": "keep-recent", "action": "KEEP", "most_recent_versions": {"keep_count": 10}},
    {"id": "drop-untagged", "action": "DELETE", "condition": {"tag_state": "UNTAGGED", "older_than": f"{30 * DAY_S}s"}},
]


@dataclass(frozen=True)
class RegistryArgs:
    project: str
    region: str
    name: str  # repository id prefix (the stack's GCP name)
    key_ring: pulumi.Input[str]  # the stack's KMS key ring
    images: tuple[str, ...]  # the upstream references the stack runs
    deletion_protection: bool


class Registry(pulumi.ComponentResource):
    key: gcp.kms.CryptoKey
    repositories: dict[str, gcp.artifactregistry.Repository]
    images: dict[str, pulumi.Output[str]]  # upstream reference -> reference in this registry

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        agent = gcp.projects.ServiceIdentity(
            f"{name}-agent", project=args.project, service="artifactregistry.googleapis.com", opts=child
        )
        self.key, grant = agent_key(f"{name}-key", args.key_ring, agent.member, args.deletion_protection, child)
        after_grant = pulumi.ResourceOptions(parent=self, depends_on=[grant])
        common = {
            "location": args.region,
            "format": "DOCKER",
            "kms_key_name": self.key.id,
            "vulnerability_scanning_config": {"enablement_config": "INHERITED"},
        }
        self.repositories = {
            "images": gcp.artifactregistry.Repository(
                f"{name}-images",
                repository_id=f"{args.name}-images",
                description="llm-landing-zone: this stack's own images (immutable tags)",
                mode="STANDARD_REPOSITORY",
                docker_config={"immutable_tags": True},
                cleanup_policies=STANDARD_CLEANUP,
                opts=after_grant,
                **common,
            )
        }
        used = {parse(ref).host for ref in args.images}
        for host, (suffix, remote) in REMOTES.items():
            if host not in used:  # a cache nothing of this stack pulls through
                continue
            self.repositories[host] = gcp.artifactregistry.Repository(
                f"{name}-{suffix}",
                repository_id=f"{args.name}-{suffix}",
                description=f"llm-landing-zone: pull-through cache of {host}",
                mode="REMOTE_REPOSITORY",
                remote_repository_config={"description": host, **remote},
                cleanup_policies=REMOTE_CLEANUP,
                opts=after_grant,
                **common,
            )
        host = f"{args.region}-docker.pkg.dev"
        self.images = {}
        for ref in args.images:
            image = parse(ref)
            if image.host in REMOTES:
                repo = self.repositories[image.host]
                self.images[ref] = repo.repository_id.apply(
                    lambda rid, image=image: image.under(f"{host}/{args.project}/{rid}")
                )
        self.register_outputs({"images": self.images})
