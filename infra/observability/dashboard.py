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
from infra.observability import panels as panel_defs

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def panels(cfg: StackConfig) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, unit, [(expr, legend)]) for every panel: the queries the tests check against vLLM
    (defined once in infra/observability/panels.py, with Grafana's rate window)."""
    return [(p.title, p.unit, p.exprs("$__rate_interval")) for p in panel_defs.panels(cfg)]


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
