"""The dashboard's panels, defined once and cloud-free: a title, a unit and PromQL queries with a
legend. Two renderers read them: the Grafana dashboard (infra/observability/dashboard.py, Grafana's
foundation SDK) and the Cloud Monitoring dashboard on GKE (infra/gcp/monitoring.py).

A query's rate window is the renderer's: Grafana's `$__rate_interval`, a fixed window where the
dashboard has no such variable (Cloud Monitoring).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from infra.config.schema import StackConfig
from infra.observability import signals as s

QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Query:
    expr: Callable[[str], str]  # rate window -> PromQL
    legend: str  # Grafana legend format: a fixed name, or {{label}}
    series: tuple[s.Series, ...]  # what it reads (tests check the names against signals)


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str  # Grafana unit id: reqps, s, short, percent (0-100), percentunit (0-1)
    queries: tuple[Query, ...]

    def exprs(self, window: str) -> list[tuple[str, str]]:
        """(PromQL, legend) of each query with `window` as the rate window."""
        return [(q.expr(window), q.legend) for q in self.queries]


def _quantiles(series: s.Series, served: str) -> tuple[Query, ...]:
    def at(q: float) -> Callable[[str], str]:
        return lambda w: f"histogram_quantile({q}, sum by (le) (rate({series.select(model_name=served)}[{w}])))"

    return tuple(Query(at(q), f"p{round(q * 100)}", (series,)) for q in QUANTILES)


def panels(cfg: StackConfig) -> list[Panel]:
    """Requests, TTFT and latency percentiles, tokens/s, queue, KV cache, GPU utilisation and memory."""
    served = cfg.model.served_name
    m = {"model_name": served}

    def rate(series: s.Series, by: str = "") -> Callable[[str], str]:
        return lambda w: f"sum{by}(rate({series.select(**m)}[{w}]))"

    used, free = s.GPU_MEMORY_USED.select(), s.GPU_MEMORY_FREE.select()
    return [
        Panel(
            "Requests per second",
            "reqps",
            (Query(rate(s.REQUESTS, " by (finished_reason) "), "{{finished_reason}}", (s.REQUESTS,)),),
        ),
        Panel("Time to first token", "s", _quantiles(s.TTFT, served)),
        Panel("Request latency", "s", _quantiles(s.LATENCY, served)),
        Panel(
            "Tokens per second",
            "short",
            (
                Query(rate(s.GENERATION_TOKENS), "generated", (s.GENERATION_TOKENS,)),
                Query(rate(s.PROMPT_TOKENS), "prompt", (s.PROMPT_TOKENS,)),
            ),
        ),
        Panel(
            "Queue",
            "short",
            (
                Query(lambda _: f"sum({s.WAITING.select(**m)})", "waiting", (s.WAITING,)),
                Query(lambda _: f"sum({s.RUNNING.select(**m)})", "running", (s.RUNNING,)),
            ),
        ),
        Panel(
            "KV cache used",
            "percentunit",
            (Query(lambda _: f"max by (pod) ({s.KV_CACHE.select(**m)})", "{{pod}}", (s.KV_CACHE,)),),
        ),
        Panel(
            "GPU utilisation",
            "percent",
            (Query(lambda _: f"avg by (Hostname) ({s.GPU_UTIL.select()})", "{{Hostname}}", (s.GPU_UTIL,)),),
        ),
        Panel(
            "GPU memory used",
            "percentunit",
            (
                Query(
                    lambda _: f"sum by (Hostname) ({used}) / sum by (Hostname) ({used} + {free})",
                    "{{Hostname}}",
                    (s.GPU_MEMORY_USED, s.GPU_MEMORY_FREE),
                ),
            ),
        ),
    ]
