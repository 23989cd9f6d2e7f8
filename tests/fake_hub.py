"""A local stand-in for the Hugging Face Hub: the endpoints huggingface_hub calls to download a repo
at a revision, on a free loopback port, for `HF_ENDPOINT`.

What huggingface_hub (2.x) sends, read from its source:
- `GET /api/models/{repo}/tree/{rev}?recursive=True&expand=False`: the file list (`HfApi.list_repo_tree`;
  also what `snapshot_download` lists at a commit sha); entries `{"type", "path", "size", "oid",
  "lfs": {"oid": <sha256>, "size", "pointerSize"}}`, paginated by a `Link` header (one page here).
- `GET /api/models/{repo}/revision/{rev}`: `repo_info` (`snapshot_download` at a branch name), `sha`
  is the commit.
- `HEAD` then `GET /{repo}/resolve/{rev}/{file}` (`hf_hub_download`): needs `X-Repo-Commit`, an
  `ETag` (`X-Linked-Etag` / `X-Linked-Size` for LFS files, as the hub sends them), `Content-Length`;
  `Range` for resumed downloads. Errors carry `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`,
  `GatedRepo`, `EntryNotFound`), which huggingface_hub turns into its typed exceptions.

Every request is recorded, so tests can count downloads and see the Authorization header.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_THRESHOLD = 1024  # files at least this large are "LFS" files (sha256 listed), as on the hub for weights


@dataclass
class Repo:
    files: dict[str, bytes]  # path -> content, at `commit`
    commit: str
    token: str | None = None  # when set, requests need `Authorization: Bearer <token>` (a gated repo)
    corrupt: set[str] = field(default_factory=set)  # paths served with other bytes than listed


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    authorization: str | None


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, repo_id: str, repo: Repo) -> None:
        self.repos[repo_id] = repo

    def downloads(self, path_suffix: str = "") -> list[Request]:
        """GETs of file contents (resolve URLs), optionally only those ending in `path_suffix`."""
        with self._lock:
            return [
                r for r in self.requests if r.method == "GET" and "/resolve/" in r.path and r.path.endswith(path_suffix)
            ]

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


def _tree(repo: Repo) -> list[dict]:
    entries, folders = [], set()
    for path in sorted(repo.files):
        parts = path.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        data = repo.files[path]
        entry = {"type": "file", "path": path, "size": len(data), "oid": git_oid(data)}
        if len(data) >= LFS_THRESHOLD:
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        entries.append(entry)
    return [{"type": "directory", "path": f, "size": 0, "oid": git_oid(f.encode())} for f in sorted(folders)] + entries


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet: requests are recorded instead
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _reply(self, status: int, headers: dict[str, str], payload: bytes, body: bool) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if body:
                self.wfile.write(payload)

        def _error(self, status: int, code: str, message: str, body: bool) -> None:
            payload = json.dumps({"error": message}).encode()
            self._reply(
                status,
                {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"},
                payload,
                body,
            )

        def _serve(self, body: bool) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            hub.record(Request(self.command, path, self.headers.get("Authorization")))
            api = re.fullmatch(
                r"/api/models/(?P<repo>[^/]+/[^/]+)/(?P<kind>tree|revision)/(?P<rev>[^/]+)(?P<sub>/.*)?", path
            )
            resolve = re.fullmatch(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", path)
            match = api or resolve
            if match is None:
                return self._error(404, "EntryNotFound", f"no route {path}", body)
            repo = hub.repos.get(match["repo"])
            if repo is None:
                return self._error(404, "RepoNotFound", f"Repository {match['repo']} not found", body)
            if repo.token is not None and self.headers.get("Authorization") != f"Bearer {repo.token}":
                return self._error(401, "GatedRepo", "Access to this gated repo is restricted", body)
            if match["rev"] not in (repo.commit, "main"):
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {match['rev']}", body)
            if api is not None and api["kind"] == "tree":
                payload = json.dumps(_tree(repo)).encode()
                return self._reply(200, {"Content-Type": "application/json"}, payload, body)
            if api is not None:
                info = {
                    "id": match["repo"],
                    "sha": repo.commit,
                    "siblings": [{"rfilename": p} for p in sorted(repo.files)],
                }
                return self._reply(200, {"Content-Type": "application/json"}, json.dumps(info).encode(), body)
            data = repo.files.get(resolve["file"])
            if data is None:
                return self._error(404, "EntryNotFound", f"{resolve['file']} does not exist", body)
            etag = hashlib.sha256(data).hexdigest() if len(data) >= LFS_THRESHOLD else git_oid(data)
            served = bytes(len(data)) if resolve["file"] in repo.corrupt else data
            headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
            if len(data) >= LFS_THRESHOLD:
                headers |= {"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))}
            ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if ranged and body:
                start = int(ranged[1])
                end = int(ranged[2]) if ranged[2] else len(served) - 1
                headers["Content-Range"] = f"bytes {start}-{end}/{len(served)}"
                return self._reply(206, headers, served[start : end + 1], body)
            return self._reply(200, headers, served, body)

    return Handler
