"""The shared serving component, on the recorded inputs of each dev stack's plan.

Identity wiring is asserted generically (whatever each cloud's Platform hands over must arrive on
the ServiceAccount, the pod template and the bucket-reading container); the cloud tests assert
their specific values.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest

from infra.config.errors import ConfigError
from tests.harness import ROOT, dev_plan, parse, plan
from tests.serving_support import Serving, env_of, flags, resolve_platform

# The dev stacks serve an 8.03B-parameter model in bf16 (16.06 GB of weights) with the default
# maxRequestSeconds 600. The numbers below are the ones docs/serving.md publishes for that model
# ("Derived numbers and their assumptions"), worked by hand from its stated assumptions, not by
# calling infra.serving.timings: load 0.1 GB/s + 300 s warm-up = 461 s -> 47 checks of 10 s;
# cold start = 300 s node + 300 s image + 161 s download + 461 s = 1,222 s; scale-down window =
# that rounded up to a minute + 60 s = 1,320 s; grace = 15 s deregistration + 600 s + 30 s shutdown.
STARTUP_CHECKS_8B = 47
COLD_START_8B_S = 1222
SCALE_DOWN_WINDOW_8B_S = 1320
GRACE_8B_S = 15 + 600 + 30
# autoscaling/v2 HorizontalPodAutoscalerBehavior: stabilizationWindowSeconds "must be greater than
# or equal to zero and less than or equal to 3600 (one hour)" (Kubernetes API reference).
HPA_MAX_WINDOW_S = 3600
# How long the init container waits for a manifest that is being staged (docs/weights.md): a staging
# run's deadline, 300 s start + 16.06 GB at 25 MB/s from the hub (643 s) + at 50 MB/s to the bucket (322 s).
PULL_WAIT_8B_S = 300 + 643 + 322


@functools.cache
def _platform(stack: str):
    return resolve_platform(stack)


@pytest.fixture
def serving(dev_stack) -> Serving:
    return Serving.of(dev_plan(dev_stack))


def test_component_is_cloud_blind():
    script = (
        "import sys, infra.serving\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi_aws', 'pulumi_gcp', 'pulumi_azure_native', 'boto3', 'botocore', 'azure') "
        "or m.startswith('google.cloud')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"infra.serving imports a cloud SDK: {out.stdout}"


def test_every_object_has_an_explicit_name_in_the_namespace(serving, dev_stack):
    ns = parse(dev_stack).serving.namespace
    k8s_objects = [r for r in serving.children if r.type.startswith("kubernetes:")]
    assert len(k8s_objects) >= 9
    for r in k8s_objects:
        assert r.get("metadata.name"), f"{r.urn} has no explicit metadata.name"
        if not r.type.endswith((":Namespace", ":ClusterRules")):  # cluster-scoped kinds
            assert r.get("metadata.namespace") == ns, r.urn


def test_namespace_enforces_restricted_pod_security(serving, dev_stack):
    namespace = serving.one("Namespace")
    assert namespace.get("metadata.name") == parse(dev_stack).serving.namespace
    assert namespace.get("metadata.labels")["pod-security.kubernetes.io/enforce"] == "restricted"


def test_service_account_carries_the_platform_identity(serving, dev_stack):
    resolved = _platform(dev_stack)
    identity = resolved.platform.identity
    account = serving.one("ServiceAccount", identity.service_account)
    assert account.get("metadata.name") == identity.service_account
    assert account.get("metadata.namespace") == identity.namespace
    assert account.get("metadata.annotations", {}) == resolved.sa_annotations
    assert account.get("automountServiceAccountToken") is False
    assert serving.pod["spec"]["serviceAccountName"] == identity.service_account


def test_pod_carries_identity_labels_and_the_puller_its_env(serving, dev_stack):
    resolved = _platform(dev_stack)
    labels = serving.pod["metadata"]["labels"]
    assert resolved.platform.identity.pod_labels.items() <= labels.items()
    puller_env = env_of(serving.container("weights"))
    assert resolved.identity_env.items() <= puller_env.items()
    # pull mode: only the init container touches the bucket
    vllm_env = env_of(serving.container("vllm"))
    assert not set(resolved.identity_env) & set(vllm_env)


def test_api_key_is_random_secret_and_reaches_vllm_by_env(serving):
    password = serving.one("RandomPassword")
    assert password.get("length") >= 32 and password.get("special") is False
    assert password.provider and "pulumi:providers:random" in password.provider
    secret = serving.one("Secret")
    vllm = serving.container("vllm")
    ref = env_of(vllm)["VLLM_API_KEY"]
    assert ref == {"secretKeyRef": {"name": secret.get("metadata.name"), "key": "api-key"}}
    assert secret.get("stringData") == {"api-key": "[secret]"}, "the Secret holds the referenced key, masked"
    assert "--api-key" not in vllm["args"], "the key must not appear in the pod spec or the process list"
    assert secret.urn in serving.deployment.dependencies


def test_init_container_pulls_the_platform_weights_uri(serving, dev_stack):
    cfg = parse(dev_stack)
    puller = serving.container("weights")
    assert puller["image"] == _platform(dev_stack).image(cfg.serving.puller_image)
    assert "command" not in puller, "the image's ENTRYPOINT (llz) must run"
    wait = str(PULL_WAIT_8B_S)  # a missing manifest is waited for, not crash-looped on
    assert puller["args"] == [
        "weights", "pull", _platform(dev_stack).pod_weights_uri, "/models/weights", "--wait-seconds", wait
    ]  # fmt: skip
    assert {"name": "weights", "mountPath": "/models"} in puller["volumeMounts"]


def test_vllm_args_come_from_config_and_platform(serving, dev_stack):
    cfg = parse(dev_stack)
    vllm = serving.container("vllm")
    assert vllm["image"] == _platform(dev_stack).image(cfg.serving.image)
    assert vllm["command"] == ["vllm", "serve"]
    assert vllm["args"][0] == "/models/weights"
    got = flags(vllm["args"])
    assert got["--served-model-name"] == cfg.model.served_name
    assert got["--max-model-len"] == str(cfg.model.max_model_len)
    assert got["--tensor-parallel-size"] == str(_platform(dev_stack).platform.gpu.gpus_per_replica)
    assert got["--gpu-memory-utilization"] == str(cfg.serving.gpu_memory_utilization)
    assert got["--max-num-seqs"] == str(cfg.model.max_num_seqs)
    assert got["--port"] == "8000"
    assert got.get("--enable-prefix-caching") is True
    assert "--load-format" not in got
    env = env_of(vllm)
    assert env["HF_HUB_OFFLINE"] == "1"
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in vllm["ports"]


def test_gpu_limits_node_selector_and_tolerations(serving, dev_stack):
    gpu = _platform(dev_stack).platform.gpu
    vllm = serving.container("vllm")
    assert vllm["resources"]["limits"][gpu.resource_name] == str(gpu.gpus_per_replica)
    spec = serving.pod["spec"]
    assert spec["nodeSelector"] == dict(gpu.node_selector)
    assert spec["tolerations"] == [t.as_k8s() for t in gpu.tolerations]
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])


def test_volumes_shm_in_memory_and_weights_sized_from_model(serving, dev_stack):
    cfg = parse(dev_stack)
    volumes = {v["name"]: v for v in serving.pod["spec"]["volumes"]}
    assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
    weights_gi = int(volumes["weights"]["emptyDir"]["sizeLimit"].removesuffix("Gi"))
    assert weights_gi * 2**30 >= cfg.model.weights_gb * 1e9, "the weights volume cannot hold the weights"
    assert weights_gi * 2**30 <= cfg.model.weights_gb * 1e9 * 1.5, "the weights volume is oversized"
    mounts = {m["mountPath"]: m for m in serving.container("vllm")["volumeMounts"]}
    assert mounts["/dev/shm"]["name"] == "shm"
    assert mounts["/models"] == {"name": "weights", "mountPath": "/models", "readOnly": True}
    requests = serving.container("vllm")["resources"]["requests"]
    assert int(requests["ephemeral-storage"].removesuffix("Gi")) >= weights_gi


@pytest.mark.parametrize(
    ("memory", "limit"),
    [("12Gi", "14Gi"), ("12345.67Gi", "12347.67Gi"), ("1.5Ti", "1651414925312"), ("16000M", "18147483648")],
)
def test_memory_limit_adds_the_shm_volume_exactly(memory, limit):
    """The limit is the request plus /dev/shm (2 GiB for one GPU), as an exact quantity: no float
    rounding, no exponent form (which is not a Kubernetes quantity)."""
    served = Serving.of(plan("aws-dev", {"serving": {"resources": {"memory": memory}}}))
    vllm = served.container("vllm")
    shm = next(v for v in served.pod["spec"]["volumes"] if v["name"] == "shm")["emptyDir"]["sizeLimit"]
    assert (vllm["resources"]["requests"]["memory"], shm) == (memory, "2Gi")
    assert vllm["resources"]["limits"]["memory"] == limit


def test_probes_startup_budget_derives_from_model_size(serving):
    vllm = serving.container("vllm")
    startup = vllm["startupProbe"]
    assert (startup["periodSeconds"], startup["failureThreshold"]) == (10, STARTUP_CHECKS_8B)  # 470 s
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert vllm[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe


def test_startup_budget_grows_with_the_model():
    small = plan("aws-dev", {"model": {"paramsBillions": 1}})
    large = plan(
        "aws-dev",
        {"model": {"paramsBillions": 70, "tensorParallelSize": 4}, "gpu": {"instanceType": "p4de.24xlarge"}},
    )
    budgets = [Serving.of(p).container("vllm")["startupProbe"]["failureThreshold"] for p in (small, large)]
    # 1B bf16 = 2 GB: 300 s + 20 s = 32 checks; 70B bf16 = 140 GB: 300 s + 1,400 s = 1,700 s (docs/serving.md)
    assert budgets == [32, 170]
    # tensor parallelism: GPUs per replica from the Platform, and /dev/shm grows with them
    vllm = Serving.of(large).container("vllm")
    assert flags(vllm["args"])["--tensor-parallel-size"] == "4"
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == "4"
    shm = next(v for v in Serving.of(large).pod["spec"]["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["sizeLimit"] == "8Gi"  # 2 GiB per GPU (docs/serving.md) x 4


def test_graceful_drain_covers_the_longest_request(serving):
    spec = serving.pod["spec"]
    assert spec["terminationGracePeriodSeconds"] == GRACE_8B_S
    pre_stop = serving.container("vllm")["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[:2] == ["python3", "-c"]
    assert "vllm:num_requests_running" in pre_stop[2]
    assert pre_stop[3:] == ["15", "600"]  # wait for deregistration, then at most the longest request
    compile(pre_stop[2], "preStop", "exec")  # the drain script is valid Python


def test_max_request_seconds_sets_the_grace_period():
    served = Serving.of(plan("gcp-dev", {"serving": {"maxRequestSeconds": 1800}}))
    assert served.pod["spec"]["terminationGracePeriodSeconds"] == 15 + 1800 + 30
    assert served.container("vllm")["lifecycle"]["preStop"]["exec"]["command"][-1] == "1800"


def test_every_container_is_hardened(serving, dev_stack):
    uid = parse(dev_stack).serving.run_as_user
    spec = serving.pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    for container in spec["containers"] + spec["initContainers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, container["name"]
        assert sc["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, container["name"]
        assert sc["readOnlyRootFilesystem"] is True, container["name"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] == uid, container["name"]
        writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
        assert "/tmp" in writable, container["name"]
    env = env_of(serving.container("vllm"))
    assert env["HOME"] == "/cache" and "/cache" in {m["mountPath"] for m in serving.container("vllm")["volumeMounts"]}


def test_rolling_update_keeps_the_last_ready_replica(serving):
    strategy = serving.deployment.get("spec.strategy")
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def test_deployment_waits_for_the_platform(serving, dev_stack):
    ready = _platform(dev_stack).ready_urns
    assert ready, f"{dev_stack}: the Platform lists nothing to wait for"
    assert set(ready) <= set(serving.deployment.dependencies)
    assert serving.deployment.get("spec.progressDeadlineSeconds") > COLD_START_8B_S


def test_service_is_cluster_ip_by_default(serving, dev_stack):
    service = serving.one("Service")
    assert service.get("spec.type") == "ClusterIP"
    assert service.get("metadata.annotations", {}) == {}
    assert service.get("spec.ports") == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]
    assert service.get("spec.selector") == serving.deployment.get("spec.selector.matchLabels")
    name, ns = service.get("metadata.name"), service.get("metadata.namespace")
    assert serving.plan.outputs["endpoint"] == f"http://{name}.{ns}.svc.cluster.local:8000/v1"
    assert serving.plan.outputs["servedModelName"] == parse(dev_stack).model.served_name


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-dev", "azure-dev"])
def test_internal_lb_uses_the_platform_annotations(stack):
    served = Serving.of(plan(stack, {"serving": {"expose": "internal-lb", "allowedCidrs": ["10.0.0.0/8"]}}))
    service = served.one("Service")
    assert service.get("spec.type") == "LoadBalancer"
    assert service.get("metadata.annotations") == dict(_platform(stack).platform.internal_lb_annotations)
    assert service.get("spec.loadBalancerSourceRanges") == ["10.0.0.0/8"]
    assert service.get("spec.externalTrafficPolicy") == "Local"
    peers = served.one("NetworkPolicy", "llm-ingress").get("spec.ingress.0.from")
    assert {"ipBlock": {"cidr": "10.0.0.0/8"}} in peers


def test_public_lb_only_with_the_insecure_switch():
    with pytest.raises(ConfigError, match=r"serving.expose = 'public-lb'.*insecure.publicLoadBalancer"):
        parse("aws-dev", {"serving": {"expose": "public-lb", "allowedCidrs": ["198.51.100.0/24"]}})
    served = Serving.of(
        plan(
            "aws-dev",
            {
                "serving": {"expose": "public-lb", "allowedCidrs": ["198.51.100.0/24"]},
                "insecure": {"publicLoadBalancer": True},
            },
        )
    )
    service = served.one("Service")
    assert service.get("spec.type") == "LoadBalancer"
    assert service.get("metadata.annotations", {}) == {}, "a public LB must not carry the internal-LB annotations"
    assert service.get("spec.loadBalancerSourceRanges") == ["198.51.100.0/24"]
    peers = served.one("NetworkPolicy", "llm-ingress").get("spec.ingress.0.from")
    assert {"ipBlock": {"cidr": "198.51.100.0/24"}} in peers and {"ipBlock": {"cidr": "0.0.0.0/0"}} not in peers


def test_public_lb_without_cidrs_is_open_only_by_the_insecure_switch():
    served = Serving.of(plan("gcp-dev", {"serving": {"expose": "public-lb"}, "insecure": {"publicLoadBalancer": True}}))
    assert served.one("Service").get("spec.loadBalancerSourceRanges") is None
    peers = served.one("NetworkPolicy", "llm-ingress").get("spec.ingress.0.from")
    assert {"ipBlock": {"cidr": "0.0.0.0/0"}} in peers


def test_hpa_scales_on_the_vllm_queue_when_replicas_can_vary(serving, dev_stack):
    cfg = parse(dev_stack)
    hpas = serving.kind("HorizontalPodAutoscaler")
    if serving.kind("ScaledObject"):  # KEDA owns the HPA where the platform gives a scaler (test_serving_keda)
        assert hpas == [] and serving.deployment.get("spec.replicas") is None
        return
    if cfg.serving.replicas.max == cfg.serving.replicas.min:
        assert hpas == []
        assert serving.deployment.get("spec.replicas") == cfg.serving.replicas.min
        return
    scaled = serving.kind("ScaledObject")
    if scaled:  # the platform's queue scaler: KEDA owns the HPA (tests/test_serving_keda.py)
        assert hpas == [] and serving.deployment.get("spec.replicas") is None
        (so,) = scaled
        assert (so.get("spec.minReplicaCount"), so.get("spec.maxReplicaCount")) == (
            cfg.serving.replicas.min,
            cfg.serving.replicas.max,
        )
        return
    hpa = serving.one("HorizontalPodAutoscaler")
    assert serving.deployment.get("spec.replicas") is None, "the HPA owns the replica count"
    assert hpa.get("spec.scaleTargetRef") == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": serving.deployment.get("metadata.name"),
    }
    assert (hpa.get("spec.minReplicas"), hpa.get("spec.maxReplicas")) == (
        cfg.serving.replicas.min,
        cfg.serving.replicas.max,
    )
    metric = hpa.get("spec.metrics.0")
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "vllm:num_requests_waiting"
    assert metric["pods"]["target"] == {
        "type": "AverageValue",
        "averageValue": str(cfg.serving.autoscaling.target_per_replica),
    }
    window = hpa.get("spec.behavior.scaleDown.stabilizationWindowSeconds")
    assert window == SCALE_DOWN_WINDOW_8B_S > COLD_START_8B_S
    assert window <= HPA_MAX_WINDOW_S


def test_autoscaling_on_a_stack_with_a_replica_range():
    # azure-dev's platform gives a queue scaler (the AKS KEDA add-on): a ScaledObject, no HPA of the stack's own
    served = Serving.of(plan("azure-dev", {"serving": {"replicas": {"min": 1, "max": 3}}, "gpu": {"maxNodes": 4}}))
    scaled = served.one("ScaledObject")
    assert (scaled.get("spec.minReplicaCount"), scaled.get("spec.maxReplicaCount")) == (1, 3)
    assert served.kind("HorizontalPodAutoscaler") == []
    assert served.deployment.get("spec.replicas") is None


def test_pod_disruption_budget(serving):
    pdb = serving.one("PodDisruptionBudget")
    assert pdb.get("spec.selector.matchLabels") == serving.deployment.get("spec.selector.matchLabels")
    assert pdb.get("spec.unhealthyPodEvictionPolicy") == "AlwaysAllow"


@pytest.mark.parametrize(("low", "allowed"), [(1, 1), (2, 1), (3, 1), (4, 1)])
def test_the_budget_always_allows_one_eviction_and_never_more(low, allowed):
    """A drain proceeds at every replica count (a budget allowing none stalls managed node
    upgrades), and from two replicas on one stays ready while it does."""
    overrides = {"serving": {"replicas": {"min": low, "max": low + 1}}, "gpu": {"maxNodes": low + 2}}
    served = Serving.of(plan("gcp-dev", overrides))
    spec = served.one("PodDisruptionBudget").get("spec")
    evictable = spec["maxUnavailable"] if "maxUnavailable" in spec else low - spec["minAvailable"]
    assert evictable == allowed
    assert low - evictable >= (1 if low >= 2 else 0)


def test_network_policy_default_deny_and_narrow_allows(serving, dev_stack):
    cfg = parse(dev_stack)
    deny = serving.one("NetworkPolicy", "llm-default-deny")
    assert deny.get("spec") == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    selector = serving.deployment.get("spec.selector.matchLabels")
    ingress = serving.one("NetworkPolicy", "llm-ingress")
    assert ingress.get("spec.podSelector.matchLabels") == selector
    rules = ingress.get("spec.ingress")
    assert len(rules) == 1 and rules[0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert rules[0]["from"], "an empty from would allow everyone"
    scraper = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": cfg.serving.metrics.scraper.namespace}}
    }
    assert scraper in rules[0]["from"]

    egress = serving.one("NetworkPolicy", "llm-egress")
    rules = egress.get("spec.egress")
    dns = rules[0]
    assert {p["port"] for p in dns["ports"]} == {53} and {p["protocol"] for p in dns["ports"]} == {"UDP", "TCP"}
    kube_dns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
    # Only GKE answers DNS on link-local node addresses (NodeLocal DNSCache, Cloud DNS via the
    # metadata server); elsewhere DNS may reach kube-system only, never all of 169.254.0.0/16.
    node_local = {"gcp-dev": ["169.254.20.10/32", "169.254.169.254/32"]}.get(dev_stack, [])
    assert dns["to"] == [kube_dns, *({"ipBlock": {"cidr": c}} for c in node_local)]
    platform_rules = _platform(dev_stack).platform.egress
    assert rules[1:] == [
        {"to": [{"ipBlock": {"cidr": r.cidr}}], "ports": [{"port": p, "protocol": "TCP"} for p in r.ports]}
        for r in platform_rules
    ]
    for rule in rules:
        assert rule["to"], "an empty to would allow every destination"


def test_allowed_clients_become_ingress_peers():
    served = Serving.of(
        plan(
            "gcp-dev",
            {
                "serving": {
                    "allowedClients": [{"namespace": "apps", "podLabels": {"app": "chat"}}, {"namespace": "batch"}],
                    "metrics": {"scrapeAnnotations": False},
                }
            },
        )
    )
    peers = served.one("NetworkPolicy", "llm-ingress").get("spec.ingress.0.from")
    assert peers == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}},
            "podSelector": {"matchLabels": {"app": "chat"}},
        },
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "batch"}}},
        # GKE's managed Prometheus collectors (Platform.metrics), whatever serving.metrics says
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gmp-system"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "collector"}},
        },
    ]
    assert "prometheus.io/scrape" not in served.pod["metadata"]["annotations"]


def test_no_clients_and_no_scraper_means_no_ingress_allow():
    """Only the cloud's managed collector stays admitted (on AWS: its two subnets, issue 18)."""
    served = Serving.of(plan("aws-dev", {"serving": {"metrics": {"scrapeAnnotations": False}}}))
    names = [r.get("metadata.name") for r in served.kind("NetworkPolicy")]
    assert names == ["llm-default-deny", "llm-egress", "llm-ingress", "llm-stager-egress"]
    peers = served.one("NetworkPolicy", "llm-ingress").get("spec.ingress.0.from")
    assert peers == [{"ipBlock": {"cidr": "10.40.248.0/22"}}, {"ipBlock": {"cidr": "10.40.252.0/22"}}]


def test_metrics_annotations_and_service_monitor(serving):
    annotations = serving.pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8000"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert serving.kind("ServiceMonitor") == []
    served = Serving.of(plan("aws-dev", {"serving": {"metrics": {"serviceMonitor": True}}}))
    monitor = served.one("ServiceMonitor")
    assert monitor.type == "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
    assert monitor.get("spec.selector.matchLabels") == served.one("Service").get("spec.selector")
    assert monitor.get("spec.endpoints") == [{"port": "http", "path": "/metrics", "interval": "15s"}]


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-dev", "azure-dev"])
def test_runai_streamer_streams_from_the_bucket(stack):
    served = Serving.of(plan(stack, {"serving": {"loadFormat": "runai_streamer"}}))
    resolved = _platform(stack)
    spec = served.pod["spec"]
    assert "initContainers" not in spec
    assert "weights" not in {v["name"] for v in spec["volumes"]}
    vllm = served.container("vllm")
    assert vllm["args"][0] == resolved.pod_weights_uri
    assert flags(vllm["args"])["--load-format"] == "runai_streamer"
    assert resolved.identity_env.items() <= env_of(vllm).items(), "vLLM reads the bucket: it needs the identity env"
