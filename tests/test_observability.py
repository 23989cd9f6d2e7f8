"""The alert rules and the dashboard: checked and unit-tested by promtool (Prometheus's own tool), with
synthetic series that must fire each alert and must not. vLLM's series names are checked against a
real scrape in tests/test_serving_vllm.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.observability import alerts, dashboard, signals
from tests.harness import ROOT, parse

PROMTOOL = ROOT / ".test-tools" / "prometheus" / "usr" / "bin" / "promtool"
STACK = "gcp-dev"
SERVED = "deepseek-r1-8b"


@pytest.fixture(scope="module")
def promtool() -> Path:
    if not PROMTOOL.is_file():
        pytest.fail(f"{PROMTOOL} missing: `make test-tools` unpacks it from Debian's prometheus package")
    return PROMTOOL


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump(alerts.rule_groups(parse(STACK), STACK), sort_keys=False))
    return path


def test_the_served_name_is_what_the_cases_select():
    assert parse(STACK).model.served_name == SERVED


def test_promtool_accepts_the_rules(promtool, rules_file):
    done = subprocess.run([str(promtool), "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts.rules(parse(STACK), STACK))} rules found" in done.stdout


def _histogram(name: str, counts: dict[str, str]) -> list[dict[str, str]]:
    return [{"series": f'{name}{{model_name="{SERVED}",le="{le}"}}', "values": v} for le, v in counts.items()]


TTFT, E2E = "vllm:time_to_first_token_seconds_bucket", "vllm:e2e_request_latency_seconds_bucket"
POD = {"namespace": "llm", "pod": "llm-0", "reason": "CrashLoopBackOff"}


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


# alert -> (minutes to evaluate at, labels of the firing alert, series that fire it, series that must not)
CASES = {
    "LlmTimeToFirstTokenSlow": (
        20,
        {"severity": "warning"},
        # 10 requests a minute, all between 2.5 and 5 s: p95 ~4.9 s, above the 2 s SLO
        _histogram(TTFT, {"1": "0x30", "2.5": "0x30", "5": "0+10x30", "+Inf": "0+10x30"}),
        _histogram(TTFT, {"1": "0+10x30", "2.5": "0+10x30", "5": "0+10x30", "+Inf": "0+10x30"}),
    ),
    "LlmLatencySlow": (
        20,
        {"severity": "warning"},
        _histogram(E2E, {"30": "0x30", "60": "0x30", "120": "0+10x30", "+Inf": "0+10x30"}),
        _histogram(E2E, {"30": "0+10x30", "60": "0+10x30", "120": "0+10x30", "+Inf": "0+10x30"}),
    ),
    "LlmQueueGrowing": (
        20,
        {"severity": "warning"},
        [{"series": f'vllm:num_requests_waiting{{model_name="{SERVED}",engine="0"}}', "values": "0+1x40"}],
        # a steady queue is the HPA's job, not an alert
        [{"series": f'vllm:num_requests_waiting{{model_name="{SERVED}",engine="0"}}', "values": "5x40"}],
    ),
    "LlmGpuIdle": (
        40,
        {"severity": "info", "Hostname": "gpu-node-1"},
        [{"series": 'DCGM_FI_DEV_GPU_UTIL{Hostname="gpu-node-1",gpu="0"}', "values": "1x60"}],
        [{"series": 'DCGM_FI_DEV_GPU_UTIL{Hostname="gpu-node-1",gpu="0"}', "values": "80x60"}],
    ),
    "LlmServerCrashLooping": (
        10,
        {"severity": "critical", "pod": "llm-0"},
        [{"series": f'kube_pod_container_status_waiting_reason{{{_labels(POD)},container="vllm"}}', "values": "1x20"}],
        # another container of the namespace crash-looping is not the server
        [
            {
                "series": f'kube_pod_container_status_waiting_reason{{{_labels(POD)},container="sidecar"}}',
                "values": "1x20",
            }
        ],
    ),
    "LlmWeightsPullFailing": (
        10,
        {"severity": "critical", "pod": "llm-0"},
        [
            {
                "series": f'kube_pod_init_container_status_waiting_reason{{{_labels(POD)},container="weights"}}',
                "values": "1x20",
            }
        ],
        [
            {
                "series": f'kube_pod_init_container_status_waiting_reason{{{_labels(POD | {"namespace": "other"})},container="weights"}}',
                "values": "1x20",
            }
        ],
    ),
}


def _summary(alert: str) -> str:
    return next(r for r in alerts.rules(parse(STACK), STACK) if r["alert"] == alert)["annotations"]["summary"]


def test_every_rule_has_a_case():
    assert sorted(CASES) == sorted(r["alert"] for r in alerts.rules(parse(STACK), STACK))


@pytest.mark.parametrize("alert", sorted(CASES))
def test_each_alert_fires_on_its_signal_and_stays_quiet_without_it(promtool, rules_file, tmp_path, alert):
    minutes, labels, firing, quiet = CASES[alert]
    expected = {"exp_labels": {**labels, "stack": STACK}, "exp_annotations": {"summary": _summary(alert)}}

    def group(series: list[dict[str, str]], exp: list[dict]) -> dict:
        return {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{"eval_time": f"{minutes}m", "alertname": alert, "exp_alerts": exp}],
        }

    tests = {"rule_files": [str(rules_file)], "tests": [group(firing, [expected]), group(quiet, [])]}
    spec = tmp_path / "tests.yaml"
    spec.write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run([str(promtool), "test", "rules", str(spec)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_thresholds_come_from_config():
    cfg = parse(
        STACK,
        {"observability": {"alerts": {"ttftP95Seconds": 0.5, "queueMinutes": 3, "gpuIdleMinutes": 90}}},
    )
    by_name = {r["alert"]: r for r in alerts.rules(cfg, STACK)}
    assert by_name["LlmTimeToFirstTokenSlow"]["expr"].endswith("> 0.5")
    assert by_name["LlmQueueGrowing"]["for"] == "3m"
    assert by_name["LlmGpuIdle"]["for"] == "90m"


def test_a_bad_email_is_one_line():
    from tests.harness import config_error

    message = config_error(STACK, {"observability": {"alerts": {"emails": ["ops"]}}})
    assert "observability.alerts.emails" in message and "'ops'" in message and "\n" not in message


def test_the_dashboard_covers_what_operators_watch():
    board = dashboard.dashboard(parse(STACK), STACK)
    titles = [p["title"] for p in board["panels"]]
    assert titles == [
        "Requests per second",
        "Time to first token",
        "Request latency",
        "Tokens per second",
        "Queue",
        "KV cache used",
        "GPU utilisation",
        "GPU memory used",
    ]
    # every query goes through the datasource variable and selects this stack's model
    assert board["templating"]["list"][0]["type"] == "datasource"
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            if "vllm:" in target["expr"]:
                assert f'model_name="{SERVED}"' in target["expr"]
    json.dumps(board)  # serialisable as it is imported


def test_queries_use_only_the_named_series():
    """Every series a rule or panel reads is one of signals' (which the e2e tier checks against vLLM)."""
    cfg = parse(STACK)
    known = {getattr(signals, n).name for n in dir(signals) if isinstance(getattr(signals, n), signals.Series)}
    exprs = [r["expr"] for r in alerts.rules(cfg, STACK)]
    exprs += [expr for _, _, queries in dashboard.panels(cfg) for expr, _ in queries]
    used = {m for e in exprs for m in re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\{", e)}
    assert used and used <= known, used - known


# --- GKE: Managed Service for Prometheus collects, evaluates the rules, and may scrape the server ----------


def test_gke_turns_on_managed_collection_gpu_metrics_and_control_plane_logs():
    from tests.harness import dev_plan

    gke = dev_plan(STACK).one("gcp:container/cluster:Cluster")
    monitoring = gke.get("monitoringConfig")
    assert monitoring["managedPrometheus"] == {"enabled": True}
    # DCGM: the GPU series of LlmGpuIdle and the dashboard; POD etc.: kube-state metrics for the crash alerts
    assert {"DCGM", "POD", "DEPLOYMENT"} <= set(monitoring["enableComponents"])
    assert {"APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"} <= set(gke.get("loggingConfig.enableComponents"))


def test_gke_scrapes_the_server_and_evaluates_the_alert_rules():
    from tests.harness import dev_plan
    from tests.serving_support import Serving

    served = Serving.of(dev_plan(STACK))
    monitor = served.one("PodMonitoring")
    assert monitor.type == "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
    assert monitor.get("metadata.namespace") == "llm"
    assert monitor.get("spec.selector.matchLabels") == served.deployment.get("spec.selector.matchLabels")
    ports = {p["name"]: p["containerPort"] for p in served.container("vllm")["ports"]}
    (endpoint,) = monitor.get("spec.endpoints")
    assert ports[endpoint["port"]] == 8000 and endpoint["path"] == "/metrics"
    # The rules are Cloud Monitoring alert policies on GKE (equal to this file's rules:
    # tests/test_gcp_observability.py), never also a ClusterRules evaluated in the cluster.
    assert served.kind("ClusterRules") == []
    collector = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gmp-system"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "collector"}},
    }
    assert collector in served.one("NetworkPolicy", "llm-ingress").get("spec.ingress.0.from")


def test_clouds_without_a_managed_pipeline_yet_get_no_gke_objects():
    from tests.harness import dev_plan
    from tests.serving_support import Serving

    for stack in ("aws-dev", "azure-dev"):
        served = Serving.of(dev_plan(stack))
        assert served.kind("PodMonitoring") == [] and served.kind("ClusterRules") == []
