"""AKS minor versions and their end of life (AKS lists a month: the last day of it counts)."""

from __future__ import annotations

import datetime as dt

from infra.support import Support

AS_OF = "2026-12-02"
_CALENDAR = "learn.microsoft.com/azure/aks/supported-kubernetes-versions (AKS release calendar)"
SUPPORT = {
    "1.35": Support(dt.date(2027, 3, 31), _CALENDAR),
    "1.36": Support(dt.date(2027, 6, 30), _CALENDAR),
    "1.37": Support(dt.date(2027, 10, 31), _CALENDAR),
}
