"""EKS minor versions and their end of standard support (then extended support, billed extra)."""

from __future__ import annotations

import datetime as dt

from infra.conventions import pinned
from infra.support import Support

AS_OF = "2026-12-02"
_CALENDAR = "docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html (release calendar)"
SUPPORT = {
    "1.34": Support(dt.date(2026, 12, 2), _CALENDAR),
    "1.35": Support(dt.date(2027, 3, 27), _CALENDAR),
    "1.36": Support(dt.date(2027, 8, 2), _CALENDAR),
}
# Cluster Autoscaler follows the Kubernetes minor version (its README's compatibility rule):
# the pinned patch release of registry.k8s.io/autoscaling/cluster-autoscaler per minor, by digest
# where infra.conventions.DIGESTS has one (1.35.2: the release whose digest has a cited source).
AUTOSCALER_PATCH = {"1.32": 5, "1.33": 5, "1.34": 4, "1.35": 2}


def autoscaler_tag(kubernetes_version: str) -> str | None:
    """The pinned upstream tag for this minor version; None when none is pinned yet."""
    patch = AUTOSCALER_PATCH.get(kubernetes_version)
    if patch is None:
        return None
    return f"registry.k8s.io/autoscaling/cluster-autoscaler:v{kubernetes_version}.{patch}"


def autoscaler_image(kubernetes_version: str) -> str | None:
    """The pinned upstream image for this minor version (by digest when pinned); None when none is."""
    tag = autoscaler_tag(kubernetes_version)
    return None if tag is None else pinned(tag)
