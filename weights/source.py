"""Where a model comes from: `hf://<org>/<name>@<commit sha>`, a Hugging Face repo at a pinned commit.

Shared by `llz weights stage` and the stack config (`model.source`), so both accept and reject the
same spellings. Only a 40-hex commit sha pins content: a branch or tag name moves, and a staged
bucket would silently stop matching what the stack says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEME = "hf://"
REPO_PATTERN = r"^[A-Za-z0-9_.-]{1,96}/[A-Za-z0-9_.-]{1,96}$"  # a Hugging Face repo id: org/name (ASCII, as model.name)
REVISION_PATTERN = r"^[0-9a-f]{40}$"  # a full commit sha (what the hub returns as X-Repo-Commit)


class SourceError(ValueError):
    """A model source that does not name one repo at one commit."""


def revision_problem(revision: str) -> str | None:
    """Why `revision` does not pin a commit (one line), or None when it is a full commit sha."""
    if re.fullmatch(REVISION_PATTERN, revision):
        return None
    if re.fullmatch(r"[0-9a-fA-F]{7,39}", revision) or re.fullmatch(r"[0-9A-F]{40}", revision):
        return "an abbreviated or upper-case sha; give the full 40-character lower-case commit sha"
    return (
        "a branch or tag name moves, so the bucket would stop matching the stack; pin the 40-hex commit "
        "sha (the model page's commit history lists it)"
    )


@dataclass(frozen=True)
class HubSource:
    repo: str
    revision: str

    def __post_init__(self) -> None:
        if not re.fullmatch(REPO_PATTERN, self.repo):
            raise SourceError(f"{self.repo!r}: not a Hugging Face repo id (org/name)")
        problem = revision_problem(self.revision)
        if problem:
            raise SourceError(f"revision {self.revision!r} of {self.repo}: {problem}")

    def __str__(self) -> str:
        return f"{SCHEME}{self.repo}@{self.revision}"

    def record(self) -> dict[str, str]:
        """What the manifest keeps about the source (and what a re-stage compares)."""
        return {"hub": "huggingface", "repo": self.repo, "revision": self.revision}


def parse_source(text: str) -> HubSource:
    """`hf://org/name@<40-hex sha>` -> HubSource; one-line SourceError otherwise."""
    if not text.startswith(SCHEME):
        raise SourceError(f"{text!r}: not a model source; use {SCHEME}<org>/<name>@<40-hex commit sha>")
    repo, at, revision = text.removeprefix(SCHEME).rpartition("@")
    if not at:
        raise SourceError(f"{text!r}: no revision; use {SCHEME}<org>/<name>@<40-hex commit sha>")
    return HubSource(repo, revision)
