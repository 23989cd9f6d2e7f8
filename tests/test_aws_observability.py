"""Observability on AWS (issue 18), on the recorded inputs of the shipped stacks: Amazon Managed
Prometheus and its managed collector, the alert rules and their SNS notifications, KEDA's query
identity, the DCGM exporter and kube-state-metrics, and container logs in CloudWatch."""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml

from infra.aws import footprint, logs, monitoring
from infra.aws.settings import collector_subnets, log_retention_days, subnet_plan
from infra.observability import alerts
from tests.harness import config_error, dev_plan, parse, plan

AWS_STACKS = ("aws-dev", "aws-prod")
ACCOUNT = "123456789012"
WORKSPACE = "aws:amp/workspace:Workspace"
SCRAPER = "aws:amp/scraper:Scraper"
KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
SUBNET = "aws:ec2/subnet:Subnet"


def doc(resource, key: str = "policy") -> dict:
    return json.loads(resource.inputs[key])


def arn(p, type_: str, name: str) -> str:
    return p.one(type_, name).outputs["arn"]


def scrape(p) -> dict:
    return yaml.safe_load(p.one(SCRAPER).inputs["scrapeConfiguration"])


def job(p, name: str) -> dict:
    (found,) = [j for j in scrape(p)["scrape_configs"] if j["job_name"] == name]
    return found


def keeps(job_: dict) -> dict[str, str]:
    """source label -> regex of the job's keep rules."""
    return {r["source_labels"][0]: r["regex"] for r in job_["relabel_configs"] if r["action"] == "keep"}


def targets(job_: dict) -> dict[str, str]:
    """target label -> source label of the job's replace rules."""
    return {r["target_label"]: r["source_labels"][0] for r in job_["relabel_configs"] if r["action"] == "replace"}


# --- item 1: workspace, collector, what it scrapes ---------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_workspace_is_encrypted_with_the_stack_key_and_logs_to_an_encrypted_group(stack):
    p, cfg = dev_plan(stack), parse(stack)
    ws = p.one(WORKSPACE).inputs
    assert ws["kmsKeyArn"] == arn(p, KEY, "monitoring-key")
    group = p.one(LOG_GROUP, "monitoring-amp-logs")
    assert ws["loggingConfiguration"] == {"logGroupArn": group.outputs["arn"] + ":*"}  # AMP wants the :* form
    assert group.inputs["kmsKeyId"] == arn(p, KEY, "audit-key")
    assert group.inputs["retentionInDays"] == log_retention_days(cfg)
    logged = p.one("aws:amp/scraperLoggingConfiguration:ScraperLoggingConfiguration").inputs
    assert logged["loggingDestination"] == {"cloudwatchLogs": {"logGroupArn": group.outputs["arn"] + ":*"}}


def test_the_monitoring_key_has_an_explicit_policy_without_the_account_root():
    p = dev_plan("aws-prod")
    statements = {s["Sid"]: s for s in doc(p.one(KEY, "monitoring-key"))["Statement"]}
    assert set(statements) == {"KeyAdministration", "AmpWorkspaceThroughService", "AmpAlertManagerTopic"}
    assert not [s for s in statements.values() if ":root" in json.dumps(s["Principal"])]
    use = statements["AmpWorkspaceThroughService"]
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == "aps.us-east-1.amazonaws.com"
    topic = statements["AmpAlertManagerTopic"]
    assert topic["Principal"] == {"Service": "aps.amazonaws.com"}
    assert topic["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": ACCOUNT,
            "kms:EncryptionContext:aws:sns:topicArn": p.one("aws:sns/topic:Topic").outputs["arn"],
        }
    }


def _collector_subnets(stack: str) -> list:
    """The collector's subnets: the workload's Network's, or (cluster.apiAccess runner) the bootstrap's."""
    p = dev_plan(stack)
    mine = [s for s in p.of_type(SUBNET) if "-collector-" in s.name]
    return mine or [s for s in dev_plan(f"{stack}-bootstrap").of_type(SUBNET) if "-collector-" in s.name]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_collector_scrapes_this_cluster_into_this_workspace_from_its_own_subnets(stack):
    p, cfg = dev_plan(stack), parse(stack)
    inputs = p.one(SCRAPER).inputs
    cluster = p.one("aws:eks/cluster:Cluster")
    subnets = sorted(_collector_subnets(stack), key=lambda s: s.inputs["cidrBlock"])
    assert inputs["source"]["eks"] == {
        "clusterArn": cluster.outputs["arn"],
        "subnetIds": [s.id for s in subnets],
        "securityGroupIds": [cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]],
    }
    assert inputs["destination"] == {"amp": {"workspaceArn": arn(p, WORKSPACE, "monitoring-workspace")}}
    # two zones (AMP's minimum), inside the VPC, clear of every other subnet of the plan
    cidrs = [s.inputs["cidrBlock"] for s in subnets]
    assert cidrs == collector_subnets(cfg.network.cidr, cfg.aws.availability_zones)
    assert len({s.inputs["availabilityZone"] for s in subnets}) == 2
    assert all(ipaddress.ip_network(c).subnet_of(cfg.network.cidr) for c in cidrs)
    others = [str(c) for half in subnet_plan(cfg.network.cidr, cfg.aws.availability_zones) for c in half]
    assert not [(c, o) for c in cidrs for o in others if ipaddress.ip_network(c).overlaps(ipaddress.ip_network(o))]


@pytest.mark.parametrize("zones", [2, 3, 6])
def test_collector_subnets_never_meet_the_nat_subnets(zones):
    cidr = ipaddress.ip_network("10.0.0.0/22")  # the smallest VPC the plan takes
    private, public = subnet_plan(cidr, zones)
    mine = [ipaddress.ip_network(c) for c in collector_subnets(cidr, zones)]
    assert len(mine) == 2
    assert not [m for m in mine for s in private + public if m.overlaps(s)]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_scrape_config_keeps_the_serving_pods_by_namespace_labels_and_port(stack):
    p, cfg = dev_plan(stack), parse(stack)
    assert scrape(p)["global"]["scrape_interval"] == "30s"  # the managed collector's minimum
    vllm = job(p, "vllm")
    assert vllm["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": [cfg.serving.namespace]}}]
    assert vllm["metrics_path"] == "/metrics"
    # what it keeps is what the serving Deployment's pods carry
    template = p.one("kubernetes:apps/v1:Deployment", "llm").inputs["spec"]["template"]
    kept = keeps(vllm)
    port = kept.pop("__meta_kubernetes_pod_container_port_name")
    (server,) = [c for c in template["spec"]["containers"] if c["name"] == "vllm"]
    assert port in {q["name"] for q in server["ports"]}
    labels = template["metadata"]["labels"]
    assert kept and all(labels[monitoring_key(k)] == v for k, v in kept.items())
    assert {
        "namespace": "__meta_kubernetes_namespace",
        "pod": "__meta_kubernetes_pod_name",
        "container": "__meta_kubernetes_pod_container_name",
    }.items() <= targets(vllm).items()


def monitoring_key(meta: str) -> str:
    """The pod label key a `__meta_kubernetes_pod_label_*` name stands for, among the known ones."""
    known = ["app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/instance"]
    (key,) = [k for k in known if monitoring._pod_label(k) == meta]
    return key


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_dcgm_exporter_runs_on_the_gpu_pool_and_is_scraped(stack):
    p, cfg = dev_plan(stack), parse(stack)
    ds = p.one("kubernetes:apps/v1:DaemonSet", "monitoring-dcgm-exporter").inputs
    pod = ds["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == cfg.aws.dcgm_exporter_image  # nvcr.io: no ECR cache (aws-prod: its mirror)
    assert pod["spec"]["nodeSelector"] == {"llz.io/pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
    dcgm = job(p, "dcgm-exporter")
    assert dcgm["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": [ds["metadata"]["namespace"]]}}]
    kept = keeps(dcgm)
    assert kept.pop("__meta_kubernetes_pod_container_port_number") == str(container["ports"][0]["containerPort"])
    assert all(pod["metadata"]["labels"][monitoring_key(k)] == v for k, v in kept.items()) and kept
    assert dcgm["honor_labels"] is True  # the GPU's pod labels win over the exporter's own


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_kube_state_metrics_is_the_eks_add_on_and_is_scraped(stack):
    p = dev_plan(stack)
    addon = p.one("aws:eks/addon:Addon", "monitoring-kube-state-metrics").inputs
    assert addon["addonName"] == "kube-state-metrics"
    ksm = job(p, "kube-state-metrics")
    assert ksm["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["kube-state-metrics"]}}]
    assert ksm["honor_labels"] is True  # the series name the pods they describe


# --- items 2 and 4: rules and notifications ----------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_rule_groups_namespace_holds_the_alert_rules(stack):
    p = dev_plan(stack)
    rules = p.one("aws:amp/ruleGroupNamespace:RuleGroupNamespace").inputs
    assert rules["workspaceId"] == p.one(WORKSPACE).id
    assert yaml.safe_load(rules["data"]) == alerts.rule_groups(parse(stack), stack)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_alert_manager_routes_every_alert_to_the_encrypted_topic(stack):
    p = dev_plan(stack)
    definition = p.one("aws:amp/alertManagerDefinition:AlertManagerDefinition").inputs
    assert definition["workspaceId"] == p.one(WORKSPACE).id
    config = yaml.safe_load(yaml.safe_load(definition["definition"])["alertmanager_config"])
    assert config["route"]["receiver"] == "sns" and "routes" not in config["route"]
    (receiver,) = config["receivers"]
    (sns,) = receiver["sns_configs"]
    topic = p.one("aws:sns/topic:Topic")
    assert sns["topic_arn"] == topic.outputs["arn"]
    assert sns["sigv4"] == {"region": "us-east-1"}  # AMP requires the region
    assert topic.inputs["kmsMasterKeyId"] == arn(p, KEY, "monitoring-key")


def test_only_this_workspace_may_publish_to_the_topic():
    p = dev_plan("aws-dev")
    topic = p.one("aws:sns/topic:Topic").outputs["arn"]
    policy = p.one("aws:sns/topicPolicy:TopicPolicy")
    assert policy.inputs["arn"] == topic
    statements = {s["Sid"]: s for s in doc(policy)["Statement"]}
    publish = statements["AmpAlertManagerPublish"]
    assert publish["Principal"] == {"Service": "aps.amazonaws.com"}
    assert publish["Resource"] == topic
    assert publish["Condition"] == {
        "ArnEquals": {"aws:SourceArn": arn(p, WORKSPACE, "monitoring-workspace")},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"


def test_alert_emails_subscribe_to_the_topic():
    emails = ["oncall@example.com", "ml-platform@example.org"]
    p = plan("aws-dev", {"observability": {"alerts": {"emails": emails}}})
    topic = p.one("aws:sns/topic:Topic").outputs["arn"]
    subs = p.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted((s.inputs["topic"], s.inputs["protocol"], s.inputs["endpoint"]) for s in subs) == sorted(
        (topic, "email", e) for e in emails
    )
    assert not dev_plan("aws-dev").of_type("aws:sns/topicSubscription:TopicSubscription")  # none configured


# --- item 3: KEDA's identity ---------------------------------------------------------------------------


def test_the_keda_operator_may_only_query_this_workspace():
    p = dev_plan("aws-dev")
    (statement,) = doc(p.one("aws:iam/rolePolicy:RolePolicy", "monitoring-keda-query"))["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == sorted(
        ["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"]
    )
    assert statement["Resource"] == arn(p, WORKSPACE, "monitoring-workspace")
    (trust,) = doc(p.one(ROLE, "monitoring-keda"), "assumeRolePolicy")["Statement"]
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-namespace"] == "keda"
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == "keda-operator"
    association = p.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "monitoring-keda-association")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("keda", "keda-operator")
    assert association.inputs["roleArn"] == arn(p, ROLE, "monitoring-keda")
    attached = [
        r
        for r in p.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.inputs["role"] == "monitoring-keda"
    ]
    assert attached == []  # no managed policy on top


def test_with_irsa_the_keda_operator_trusts_its_service_account_token():
    p = plan("aws-dev", {"aws": {"identity": "irsa"}})
    (trust,) = doc(p.one(ROLE, "monitoring-keda"), "assumeRolePolicy")["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    (sub,) = [v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert sub == "system:serviceaccount:keda:keda-operator"
    assert not [a for a in p.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") if "keda" in a.name]


def test_without_egress_keda_reaches_the_query_api_through_an_endpoint():
    assert "aps-workspaces" in footprint.interface_services(no_egress=True)
    assert "aps-workspaces" not in footprint.interface_services(no_egress=False)
    names = {r.name for r in dev_plan("aws-prod").of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert "endpoints-aps-workspaces" in names


# --- item 5: logs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_container_log_groups_exist_first_encrypted_with_the_configured_retention(stack):
    p, cfg = dev_plan(stack), parse(stack)
    groups = {g.inputs["name"]: g for g in p.of_type(LOG_GROUP) if g.name.startswith("container-logs-")}
    assert sorted(groups) == sorted(logs.log_group_names(f"llz-{stack}"))
    assert "/aws/containerinsights/llz-" + stack + "/application" in groups
    for group in groups.values():
        assert group.inputs["kmsKeyId"] == arn(p, KEY, "audit-key")
        assert group.inputs["retentionInDays"] == log_retention_days(cfg)
    addon = p.one("aws:eks/addon:Addon", "container-logs-addon")
    assert addon.inputs["addonName"] == "amazon-cloudwatch-observability"
    assert {g.urn for g in groups.values()} <= set(addon.dependencies)  # groups before the add-on writes
    values = json.loads(addon.inputs["configurationValues"])
    assert values["containerLogs"] == {"enabled": True}
    kubernetes = values["agent"]["config"]["logs"]["metrics_collected"]["kubernetes"]
    assert kubernetes["accelerated_compute_metrics"] is False  # GPU metrics come from our DCGM exporter
    (binding,) = addon.inputs["podIdentityAssociations"]
    assert binding == {"serviceAccount": "cloudwatch-agent", "roleArn": arn(p, ROLE, "container-logs-agent")}
    (policy,) = [
        r
        for r in p.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name == "container-logs-agent-policy"
    ]
    assert policy.inputs["policyArn"] == "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"


def test_log_retention_follows_the_config():
    p = plan("aws-dev", {"aws": {"logRetentionDays": 30}})
    groups = [g for g in p.of_type(LOG_GROUP) if g.name.startswith(("container-logs-", "monitoring-"))]
    assert len(groups) == 5 and {g.inputs["retentionInDays"] for g in groups} == {30}


@pytest.mark.parametrize("days", [2, 31, 1000])
def test_a_retention_cloudwatch_does_not_offer_fails_in_one_line(days):
    message = config_error("aws-dev", {"aws": {"logRetentionDays": days}})
    assert "aws.logRetentionDays" in message and str(days) in message and "731" in message


# --- the contract: what the serving component gets ---------------------------------------------------


def test_platform_metrics_point_the_serving_component_at_amp():
    from tests.harness import built_platform

    with built_platform("aws-dev") as (platform, e):
        metrics = platform.metrics
        assert metrics is not None and metrics.monitor is None  # cloud-side scraper
        cfg = parse("aws-dev")
        assert list(metrics.collector_cidrs) == collector_subnets(cfg.network.cidr, cfg.aws.availability_zones)
        assert metrics.collector_namespace is None and not metrics.collector_pod_labels
        scaler = metrics.scaler
        workspace = e.resolve(platform.exports["prometheusWorkspaceArn"]).rsplit("/", 1)[1]
        assert (
            e.resolve(scaler.server_address) == f"https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{workspace}"
        )
        assert dict(scaler.pod_identity) == {"provider": "aws"}
        assert dict(scaler.metadata) == {"awsRegion": "us-east-1", "identityOwner": "operator"}
        kinds = sorted(type(r).__name__ for r in scaler.ready)
        assert kinds == ["PodIdentityAssociation", "Release"]  # KEDA installed, its identity bound


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_serving_pods_admit_exactly_the_collector_subnets(stack):
    p, cfg = dev_plan(stack), parse(stack)
    ingress = p.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llm-ingress").inputs["spec"]["ingress"]
    blocks = [peer["ipBlock"]["cidr"] for rule in ingress for peer in rule["from"] if "ipBlock" in peer]
    for cidr in collector_subnets(cfg.network.cidr, cfg.aws.availability_zones):
        assert cidr in blocks
    callers = {str(c) for c in cfg.serving.allowed_cidrs}  # the load balancer's sources, configured
    private, _ = subnet_plan(cfg.network.cidr, cfg.aws.availability_zones)
    others = [b for b in blocks if b not in callers]
    assert not [b for b in others if any(ipaddress.ip_network(b).overlaps(s) for s in private)]  # no pod range


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_keda_scales_on_the_workspace_as_the_operator(stack):
    # aws-prod ships without staged weights (0 replicas, nothing to scale) until they are pushed
    p = dev_plan(stack) if stack == "aws-dev" else plan(stack, {"model": {"weightsStaged": True}})
    auth = p.one("kubernetes:keda.sh/v1alpha1:TriggerAuthentication").inputs["spec"]
    assert auth == {"podIdentity": {"provider": "aws"}}
    (trigger,) = p.one("kubernetes:keda.sh/v1alpha1:ScaledObject").inputs["spec"]["triggers"]
    workspace = p.one(WORKSPACE).id
    assert trigger["type"] == "prometheus"
    meta = trigger["metadata"]
    assert meta["serverAddress"] == f"https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{workspace}"
    assert (meta["awsRegion"], meta["identityOwner"]) == ("us-east-1", "operator")
    release = p.one("kubernetes:helm.sh/v3:Release", "keda")
    assert release.inputs["namespace"] == "keda"
    association = p.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "monitoring-keda-association")
    assert association.urn in release.dependencies  # the operator starts with its identity bound


def test_with_irsa_the_keda_chart_annotates_the_operator_service_account():
    p = plan("aws-dev", {"aws": {"identity": "irsa"}})
    values = p.one("kubernetes:helm.sh/v3:Release", "keda").inputs["values"]
    annotations = values["serviceAccount"]["operator"]["annotations"]
    assert annotations == {"eks.amazonaws.com/role-arn": p.one(ROLE, "monitoring-keda").outputs["arn"]}


# --- item 6: cost ------------------------------------------------------------------------------------


def test_the_plan_names_the_monitoring_parts_and_their_prices():
    notes = dev_plan("aws-dev").sizing["cost"]["notes"]
    joined = " ".join(notes)
    assert "Managed Prometheus" in joined and "aws.amazon.com/prometheus/pricing" in joined
    assert "CloudWatch Logs" in joined and "aws.amazon.com/cloudwatch/pricing" in joined
