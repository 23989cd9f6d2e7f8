"""GKE minor versions and their end of standard support (then the Extended channel only)."""

from __future__ import annotations

import datetime as dt

from infra.support import Support

AS_OF = "2026-12-02"
# GKE publishes these as best-effort estimates ("Dates provide a general estimate").
_SCHEDULE = "cloud.google.com/kubernetes-engine/docs/release-schedule (estimate)"
SUPPORT = {
    "1.35": Support(dt.date(2027, 2, 28), _SCHEDULE, estimate=True),
}
