"""One vLLM + GPU dashboard, built with Grafana's foundation SDK (typed builders, not hand-written
JSON), for Amazon Managed Grafana, Azure Managed Grafana or any Grafana on the stack's managed
Prometheus. Queries go through a `datasource` variable, so one JSON imports anywhere."""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from infra.config.schema import StackConfig
from infra.observability import signals as s

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def _quantiles(series: s.Series, served: str) -> list[tuple[str, str]]:
    rate = f"sum by (le) (rate({series.select(model_name=served)}[$__rate_interval]))"
    return [(f"histogram_quantile({q}, {rate})", f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)]


def panels(cfg: StackConfig) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, unit, [(expr, legend)]) for every panel: the queries the tests check against vLLM."""
    served = cfg.model.served_name
    m = {"model_name": served}
    return [
        (
            "Requests per second",
            "reqps",
            [(f"sum by (finished_reason) (rate({s.REQUESTS.select(**m)}[$__rate_interval]))", "{{finished_reason}}")],
        ),
        ("Time to first token", "s", _quantiles(s.TTFT, served)),
        ("Request latency", "s", _quantiles(s.LATENCY, served)),
        (
            "Tokens per second",
            "short",
            [
                (f"sum(rate({s.GENERATION_TOKENS.select(**m)}[$__rate_interval]))", "generated"),
                (f"sum(rate({s.PROMPT_TOKENS.select(**m)}[$__rate_interval]))", "prompt"),
            ],
        ),
        (
            "Queue",
            "short",
            [(f"sum({s.WAITING.select(**m)})", "waiting"), (f"sum({s.RUNNING.select(**m)})", "running")],
        ),
        ("KV cache used", "percentunit", [(f"max by (pod) ({s.KV_CACHE.select(**m)})", "{{pod}}")]),
        ("GPU utilisation", "percent", [(f"avg by (Hostname) ({s.GPU_UTIL.select()})", "{{Hostname}}")]),
        (
            "GPU memory used",
            "percentunit",
            [
                (
                    f"sum by (Hostname) ({s.GPU_MEMORY_USED.select()}) / sum by (Hostname) "
                    f"({s.GPU_MEMORY_USED.select()} + {s.GPU_MEMORY_FREE.select()})",
                    "{{Hostname}}",
                )
            ],
        ),
    ]


def dashboard(cfg: StackConfig, stack: str) -> dict[str, Any]:
    board = (
        db.Dashboard(f"LLM serving: {cfg.model.served_name} ({stack})")
        .uid(f"llz-{stack}"[:40])
        .tags(["llm-landing-zone", stack])
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(db.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for title, unit, queries in panels(cfg):
        panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(12)
        for ref, (expr, legend) in zip("ABCDEFGH", queries, strict=False):
            panel = panel.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref))
        board = board.with_panel(panel)
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))
