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

    def chart_tag(self, version: str) -> str:
        """What a Helm chart's `image.tag` value takes for this image: charts render `repository:tag`,
        so a digest rides on the tag, and a digest-only reference gets the chart's `version` as tag."""
        return self.suffix[1:] if self.suffix.startswith(":") else f"{version}{self.suffix}"

    def by_tag(self) -> Image:
        """The image by its tag alone when it has one (`:tag@sha256:…` -> `:tag`); else unchanged."""
        tag = self.suffix.partition("@")[0]
        return Image(self.host, self.path, tag) if tag else self


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


# --- Resolving a tag to its digest: the OCI distribution API (`llz images pin`) ------------------
# HEAD /v2/<name>/manifests/<tag> answers with the manifest's digest in Docker-Content-Digest
# (distribution-spec, "Checking if content exists in the registry"). The Accept list asks for an
# index / manifest list first, so a multi-arch tag resolves to its index digest (what a node pulls
# and then picks its platform from), not to one platform's manifest.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
# Docker Hub's registry API is not served on docker.io itself.
API_HOST = {DOCKER_HUB: "registry-1.docker.io"}
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class ResolveError(Exception):
    """A tag that could not be resolved: the message names the reference and why."""


def _tag(image: Image) -> str:
    tag = image.suffix.partition("@")[0].removeprefix(":")
    if not tag:
        raise ResolveError(f"{image.host}/{image.path}{image.suffix}: no tag to resolve")
    return tag


def _bearer(challenge: str, timeout: float) -> str:
    """An anonymous pull token: the realm of a `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
    challenge (the token flow Docker Hub, GHCR, nvcr.io and Artifact Registry use)."""
    import json
    import urllib.parse
    import urllib.request

    params = dict(_CHALLENGE.findall(challenge))
    realm = params.pop("realm", None)
    if not challenge.lower().startswith("bearer") or not realm:
        raise ResolveError(f"unsupported auth challenge {challenge!r}")
    url = f"{realm}?{urllib.parse.urlencode(params)}" if params else realm
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # the realm the registry named
        body = json.load(resp)
    token = body.get("token") or body.get("access_token")
    if not token:
        raise ResolveError(f"token endpoint {realm} returned no token")
    return str(token)


def resolve(ref: str, *, plain_http: frozenset[str] = frozenset(), timeout: float = 30.0) -> str:
    """The digest (`sha256:…`) the registry serves for `ref`'s tag, anonymously.

    `plain_http`: hosts spoken to over http (a local test registry); every other host over https.
    When the HEAD carries no Docker-Content-Digest, the manifest is fetched and hashed instead; a
    digest the registry names is checked against the bytes it sends.
    """
    import hashlib
    import urllib.error
    import urllib.request

    image = parse(ref)
    host = API_HOST.get(image.host, image.host)
    scheme = "http" if image.host in plain_http else "https"
    url = f"{scheme}://{host}/v2/{image.path}/manifests/{_tag(image)}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}

    def request(method: str) -> tuple[dict[str, str], bytes]:
        req = urllib.request.Request(url, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return {k.lower(): v for k, v in resp.headers.items()}, resp.read()

    def call(method: str) -> tuple[dict[str, str], bytes]:
        try:
            return request(method)
        except urllib.error.HTTPError as err:
            if err.code != 401 or "Authorization" in headers:
                raise ResolveError(f"{ref}: {method} {url} -> HTTP {err.code}") from err
            headers["Authorization"] = f"Bearer {_bearer(err.headers.get('WWW-Authenticate', ''), timeout)}"
            try:
                return request(method)
            except urllib.error.HTTPError as again:
                raise ResolveError(f"{ref}: {method} {url} -> HTTP {again.code} with a token") from again
        except urllib.error.URLError as err:
            raise ResolveError(f"{ref}: {url} unreachable ({err.reason})") from err

    found, _ = call("HEAD")
    digest = found.get("docker-content-digest")
    if digest is None:
        found, body = call("GET")
        digest = found.get("docker-content-digest") or f"sha256:{hashlib.sha256(body).hexdigest()}"
        if digest != f"sha256:{hashlib.sha256(body).hexdigest()}":
            raise ResolveError(f"{ref}: the registry names {digest} but sent other bytes")
    if not _DIGEST.match(digest):
        raise ResolveError(f"{ref}: the registry answered digest {digest!r}, not sha256:<64 hex>")
    return digest


def rewrite_digests(source: str, digests: dict[str, str]) -> str:
    """`source` (infra/conventions.py's text) with the DIGESTS block replaced by `digests`."""
    begin = source.index("# BEGIN DIGESTS")
    begin = source.index("\n", begin) + 1
    end = source.index("# END DIGESTS", begin)
    lines = ["DIGESTS: dict[str, str] = {\n"]
    for ref in sorted(digests):
        assert _DIGEST.match(digests[ref]), digests[ref]
        line = f'    "{ref}": "{digests[ref]}",'
        lines.append(f"{line}  # noqa: E501\n" if len(line) > 120 else f"{line}\n")  # ruff's line-length
    lines.append("}\n")
    return source[:begin] + "".join(lines) + source[end:]
