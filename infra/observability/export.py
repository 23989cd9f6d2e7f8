"""The rule file and the dashboard as files (`llz plan --manifests DIR` writes them under
DIR/observability/), for a team that imports them into its own Prometheus or Grafana."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from infra.config.schema import StackConfig
from infra.observability import alerts, dashboard

RULES_FILE = "prometheus-rules.yaml"
DASHBOARD_FILE = "grafana-dashboard.json"


def write(cfg: StackConfig, stack: str, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rules = directory / RULES_FILE
    rules.write_text(yaml.safe_dump(alerts.rule_groups(cfg, stack), sort_keys=False))
    board = directory / DASHBOARD_FILE
    board.write_text(json.dumps(dashboard.dashboard(cfg, stack), indent=2) + "\n")
    return [rules, board]
