"""Where a container image comes from, and the path a pull-through cache serves it under.

An image reference (`[host[:port]/]path(:tag|@digest|:tag@digest)`, the grammar the config already
enforces) splits into its upstream registry and the rest. A stack's registry caches the upstreams
it has a cache for; an image on any other host (a team's own registry) is used as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
_SUFFIX = re.compile(r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$")


@dataclass(frozen=True)
class Image:
    host: str  # docker.io for a reference without a registry
    path: str  # repository path; Docker Hub's official images get their implicit `library/`
    suffix: str  # ":tag", "@sha256:…" or ":tag@sha256:…"

    def under(self, prefix: str) -> str:
        """The same image served from a cache at `prefix` (registry host and repository path)."""
        return f"{prefix}/{self.path}{self.suffix}"


def parse(ref: str) -> Image:
    first, _, rest = ref.partition("/")
    host = first if rest and ("." in first or ":" in first or first == "localhost") else DOCKER_HUB
    remainder = rest if host == first else ref
    suffix = _SUFFIX.search(remainder)
    assert suffix is not None and suffix.group(0), f"not a pinned image reference: {ref}"
    path = remainder[: suffix.start()]
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return Image(host, path, suffix.group(0))
