"""What a real GKE deploy hits (issue 14) and explicit GCP admins (issue 12 item 4), asserted on
the recorded inputs and dependencies of the real program under the mock engine. Each test fails if
its fix regresses."""

from __future__ import annotations

import pytest

from infra.gcp import apis as gcp_apis
from infra.gcp import fakes as gcp_fakes
from infra.plan.engine import Plan
from tests.harness import config_error, dev_plan, plan

NUMBER = "487134576253"
SERVICE = "gcp:projects/service:Service"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"
KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
ADMIN = "group:llm-platform@example.com"  # stacks/Pulumi.gcp-dev.yaml


@pytest.fixture(scope="module")
def dev() -> Plan:
    return dev_plan("gcp-dev")


def services(p: Plan) -> dict[str, str]:
    """API name -> the URN of its projects.Service."""
    return {s.get("service"): s.urn for s in p.of_type(SERVICE)}


# --- issue 12 item 4: admins from config only ---------------------------------------------------------


def test_admin_members_get_cluster_and_bucket_access_from_config(dev):
    grants = [g for g in dev.of_type(PROJECT_IAM) if g.get("member") == ADMIN]
    assert sorted(g.get("role") for g in grants) == ["roles/container.clusterAdmin", "roles/container.developer"]
    (bucket_grant,) = [g for g in dev.of_type(BUCKET_IAM) if g.get("member") == ADMIN]
    assert bucket_grant.get("role") == "roles/storage.objectUser"
    assert bucket_grant.get("bucket") == dev.one("gcp:storage/bucket:Bucket").get("name")
    assert "condition" not in bucket_grant.inputs  # admins inspect and push every model


def test_no_admin_grant_without_admin_members_and_none_from_the_caller():
    p = plan("gcp-dev", {"gcp": {"adminMembers": []}})
    members = {g.get("member") for g in p.of_type(PROJECT_IAM) + p.of_type(BUCKET_IAM)}
    assert ADMIN not in members
    assert not [r for r in p.resources if r.type == "llz:gcp:AdminAccess"]
    # nothing in the program asks who the caller is (organizations.getClientConfig is never invoked)
    assert all(m.startswith(("serviceAccount:llz-gcp-dev-", "principal://")) for m in members), members


def test_several_admin_members_each_get_the_same_access():
    members = ["user:ana@example.com", "serviceAccount:ops@other-project.iam.gserviceaccount.com"]
    p = plan("gcp-dev", {"gcp": {"adminMembers": members}})
    for member in members:
        roles = sorted(
            g.get("role") for g in p.of_type(PROJECT_IAM) + p.of_type(BUCKET_IAM) if g.get("member") == member
        )
        assert roles == ["roles/container.clusterAdmin", "roles/container.developer", "roles/storage.objectUser"]


@pytest.mark.parametrize(
    "bad",
    ["platform@example.com", "domain:example.com", "allUsers", "group:", "user:ana@@example.com", "owner:a@b.com"],
)
def test_admin_members_must_be_google_members(bad):
    message = config_error("gcp-dev", {"gcp": {"adminMembers": [bad]}})
    assert message.startswith("llm-landing-zone:gcp.adminMembers[0]"), message
    assert message.endswith("need a Google member: group:<email>, user:<email> or serviceAccount:<email>")


# --- item 1 + 2: APIs ---------------------------------------------------------------------------------


def test_image_streaming_has_its_api_and_role(dev):
    pool = dev.one(NODE_POOL, "gpu-pool")
    assert pool.get("nodeConfig.gcfsConfig.enabled") is True
    assert "containerfilesystem.googleapis.com" in services(dev)
    node_sa = dev.one("gcp:serviceaccount/account:Account").outputs["member"]
    roles = {g.get("role") for g in dev.of_type(PROJECT_IAM) if g.get("member") == node_sa}
    assert "roles/serviceusage.serviceUsageConsumer" in roles


def test_image_projects_let_the_nodes_pull_and_stream_there():
    p = plan("gcp-dev", {"gcp": {"imageProjects": ["shared-images-1"]}})
    node_sa = p.one("gcp:serviceaccount/account:Account").outputs["member"]
    there = sorted(g.get("role") for g in p.of_type(PROJECT_IAM) if g.get("project") == "shared-images-1")
    assert there == ["roles/artifactregistry.reader", "roles/serviceusage.serviceUsageConsumer"]
    assert {g.get("member") for g in p.of_type(PROJECT_IAM) if g.get("project") == "shared-images-1"} == {node_sa}
    message = config_error("gcp-dev", {"gcp": {"imageProjects": ["my-llm-project"]}})
    assert message.startswith("llm-landing-zone:gcp.imageProjects[0] = 'my-llm-project': ")


def test_every_api_the_plan_uses_is_enabled_and_each_resource_waits_for_its_own(monkeypatch):
    invoked: list[str] = []
    real = gcp_fakes.invoke

    def recording(token, args, ctx):
        invoked.append(token)
        return real(token, args, ctx)

    monkeypatch.setattr(gcp_fakes, "invoke", recording)
    p = plan("gcp-dev")
    enabled = services(p)
    gcp_resources = [r for r in p.resources if r.type.startswith("gcp:") and r.type != SERVICE]
    # The set is derived from what the plan holds: every resource type and every data-source call.
    needed = {gcp_apis.api_for(r.type, r.inputs) for r in gcp_resources} | {gcp_apis.api_of(t) for t in invoked}
    assert None not in needed, "a GCP module with no API mapped in infra/gcp/apis.py"
    assert "cloudresourcemanager.googleapis.com" in needed  # project lookup and project IAM members
    assert needed <= set(enabled), sorted(needed - set(enabled))
    for r in gcp_resources:
        assert enabled[gcp_apis.api_for(r.type, r.inputs)] in r.dependencies, f"{r.urn} does not wait for its API"
    for service in p.of_type(SERVICE):
        assert service.get("disableOnDestroy") is False
        assert service.get("project") == "my-llm-project"


def test_runtime_apis_are_enabled_and_dns_only_when_used(dev):
    assert set(gcp_apis.RUNTIME_APIS) <= set(services(dev))
    assert "dns.googleapis.com" in services(dev)
    assert "dns.googleapis.com" not in services(plan("gcp-dev", {"gcp": {"googleApis": "default"}}))


# --- item 3: the system pool starts at its minimum ------------------------------------------------------


def test_system_pool_starts_at_its_minimum_and_ignores_later_changes(dev):
    system = dev.one(NODE_POOL, "gke-system")
    assert system.get("initialNodeCount") == system.get("autoscaling.minNodeCount") == 1
    assert "initialNodeCount" in system.ignore_changes  # ForceNew: a live pool is never replaced for it


# --- item 4: upgrades and rollouts ----------------------------------------------------------------------


def test_maintenance_window_and_exclusions_come_from_config(dev):
    policy = dev.one(CLUSTER).get("maintenancePolicy")
    assert policy["recurringWindow"] == {
        "startTime": "2026-01-03T02:00:00Z",
        "endTime": "2026-01-03T08:00:00Z",
        "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU",
    }
    assert policy["maintenanceExclusions"] == []
    exclusion = {"name": "launch", "start": "2026-12-10T00:00:00Z", "end": "2026-12-20T00:00:00Z"}
    window = {"start": "2026-01-05T22:00:00Z", "end": "2026-01-06T04:00:00Z", "recurrence": "FREQ=DAILY"}
    p = plan("gcp-dev", {"gcp": {"maintenanceWindow": window, "maintenanceExclusions": [exclusion]}})
    policy = p.one(CLUSTER).get("maintenancePolicy")
    assert policy["recurringWindow"]["recurrence"] == "FREQ=DAILY"
    assert policy["maintenanceExclusions"] == [
        {
            "exclusionName": "launch",
            "startTime": "2026-12-10T00:00:00Z",
            "endTime": "2026-12-20T00:00:00Z",
            "exclusionOptions": {"scope": "NO_MINOR_OR_NODE_UPGRADES"},
        }
    ]


@pytest.mark.parametrize(
    ("gcp", "key"),
    [
        (
            {"maintenanceWindow": {"start": "2026-01-03T02:00:00Z", "end": "2026-01-03T04:00:00Z"}},
            "maintenanceWindow = ",  # "... at least 4 hours"
        ),
        ({"maintenanceWindow": {"recurrence": "every sunday"}}, "maintenanceWindow.recurrence"),
        ({"maintenanceWindow": {"recurrence": "FREQ=DAILY;INTERVAL=0"}}, "maintenanceWindow = "),
        ({"maintenanceWindow": {"start": "2026-01-03 02:00"}}, "maintenanceWindow.start"),
        (
            {"maintenanceExclusions": [{"name": "x", "start": "2026-12-20T00:00:00Z", "end": "2026-12-10T00:00:00Z"}]},
            "maintenanceExclusions[0]",
        ),
        (
            {
                "maintenanceExclusions": [
                    {"name": "x", "start": "2026-12-10T00:00:00Z", "end": "2026-12-20T00:00:00Z"},
                    {"name": "x", "start": "2027-12-10T00:00:00Z", "end": "2027-12-20T00:00:00Z"},
                ]
            },
            "maintenanceExclusions[1].name",
        ),
        (
            {
                "maintenanceExclusions": [
                    {
                        "name": "x",
                        "start": "2026-12-01T00:00:00Z",
                        "end": "2027-01-15T00:00:00Z",
                        "scope": "NO_UPGRADES",
                    }
                ]
            },
            "maintenanceExclusions[0]",
        ),
        ({"maintenanceExclusions": [{"name": "x", "start": "2026-12-01T00:00:00Z"}]}, "maintenanceExclusions[0].end"),
    ],
)
def test_bad_maintenance_config_is_one_line(gcp, key):
    assert f"gcp.{key}" in config_error("gcp-dev", {"gcp": gcp})


def test_gpu_pool_upgrades_with_a_surge_node(dev):
    assert dev.one(NODE_POOL, "gpu-pool").get("upgradeSettings") == {
        "strategy": "SURGE",
        "maxSurge": 1,
        "maxUnavailable": 0,
    }


def test_max_nodes_must_leave_room_for_the_rollouts_surge_replica():
    message = config_error("gcp-dev", {"gpu": {"maxNodes": 2}})
    assert message.startswith("llm-landing-zone:gpu.maxNodes = 2: ")
    assert "gpu.maxNodes >= 3" in message
    # two L4 per node and two replicas: 3 replicas fit on 2 nodes
    plan("gcp-dev", {"gpu": {"instanceType": "g2-standard-24", "maxNodes": 2}})
    assert "gpu.maxNodes >= 4" in config_error("gcp-dev", {"serving": {"replicas": {"min": 1, "max": 3}}})


# --- item 5: prefix scoping and the project-wide pool ---------------------------------------------------


def test_listing_is_scoped_to_the_prefix_with_its_slash(dev):
    prefix = "models/deepseek-r1-distill-llama-8b"
    for name in ("serving-identity-reader", "weights-stager-writer"):
        expression = dev.one(BUCKET_IAM, name).get("condition.expression")
        assert f'objectListPrefix", "").startsWith("{prefix}/")' in expression, name
        assert f'startsWith("{prefix}")' not in expression, name


def test_shared_project_is_a_named_insecure_switch():
    plan("gcp-dev", {"gcp": {"insecureSharedProject": True}}, expect_warnings=["project-wide"])
    message = config_error("gcp-dev", {"environment": "prod", "gcp": {"insecureSharedProject": True}})
    assert "gcp.insecureSharedProject" in message and "prod" in message


# --- item 6: flow logs, audit logs, CMEK boot disks ----------------------------------------------------


def test_subnet_has_flow_logs(dev):
    assert dev.one("gcp:compute/subnetwork:Subnetwork").get("logConfig") == {
        "aggregationInterval": "INTERVAL_5_SEC",
        "flowSampling": 0.5,
        "metadata": "INCLUDE_ALL_METADATA",
    }


def test_cloud_storage_data_access_is_audited(dev):
    audit = dev.one("gcp:projects/iAMAuditConfig:IAMAuditConfig")
    assert audit.get("service") == "storage.googleapis.com"
    assert audit.get("project") == "my-llm-project"
    assert {c["logType"] for c in audit.get("auditLogConfigs")} == {"ADMIN_READ", "DATA_READ", "DATA_WRITE"}


def test_gpu_boot_disks_use_the_stacks_key_after_the_compute_agent_grant(dev):
    pool = dev.one(NODE_POOL, "gpu-pool")
    key = dev.one(KEY, "kms-node-disks")
    assert pool.get("nodeConfig.bootDiskKmsKey") == key.id
    (grant,) = [g for g in dev.of_type(KEY_IAM) if g.get("cryptoKeyId") == key.id]
    assert grant.get("member") == f"serviceAccount:service-{NUMBER}@compute-system.iam.gserviceaccount.com"
    assert grant.get("role") == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.urn in pool.dependencies


# --- item 7: zones --------------------------------------------------------------------------------------


def test_gcp_dev_pins_the_zones_that_offer_l4(dev):
    zones = ["us-central1-a", "us-central1-b", "us-central1-c"]
    assert dev.one(NODE_POOL, "gpu-pool").get("nodeLocations") == zones
    assert dev.one(NODE_POOL, "gke-system").get("nodeLocations") == zones


def test_every_node_zone_is_in_the_region():
    message = config_error("gcp-dev", {"gcp": {"nodeZones": ["us-central1-a", "us-east1-b"]}})
    assert message.startswith("llm-landing-zone:gcp.nodeZones[1] = 'us-east1-b': not a zone of region us-central1")


def test_maintenance_limits_say_what_gke_needs():
    short = {"maintenanceWindow": {"start": "2026-01-03T02:00:00Z", "end": "2026-01-03T05:59:59Z"}}
    assert config_error("gcp-dev", {"gcp": short}).endswith("GKE needs each window to last at least 4 hours")
    four_hours = {"start": "2026-01-03T02:00:00Z", "end": "2026-01-03T06:00:00Z", "recurrence": "FREQ=DAILY"}
    plan("gcp-dev", {"gcp": {"maintenanceWindow": four_hours}})
    weekly_once = {"start": "2026-01-03T02:00:00Z", "end": "2026-01-03T08:00:00Z", "recurrence": "FREQ=WEEKLY;BYDAY=SU"}
    assert "at least 48 hours of maintenance windows in any 32 days" in config_error(
        "gcp-dev", {"gcp": {"maintenanceWindow": weekly_once}}
    )  # 4 x 6 h = 24 h
    plan("gcp-dev", {"gcp": {"maintenanceWindow": {**weekly_once, "end": "2026-01-03T14:00:00Z"}}})  # 4 x 12 h
    frozen = {"name": "freeze", "start": "2026-12-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    long_no_upgrades = {"maintenanceExclusions": [{**frozen, "scope": "NO_UPGRADES"}]}
    assert "at most 30 days" in config_error("gcp-dev", {"gcp": long_no_upgrades})
    plan("gcp-dev", {"gcp": {"maintenanceExclusions": [frozen]}})  # NO_MINOR_OR_NODE_UPGRADES may be longer
