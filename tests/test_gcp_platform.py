"""The GCP platform (issue 4), asserted on what the program registers under the mock engine.

Each test pins one security or wiring property to the recorded inputs / dependencies, so it
fails if the property is lost. Numbers come from the plan fakes: project `my-llm-project`,
project NUMBER 487134576253.
"""

from __future__ import annotations

import json

import pytest

from infra.plan.engine import Plan, Resource
from tests.harness import built_platform, dev_plan, plan, program_error

PROJECT, NUMBER = "my-llm-project", "487134576253"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
ACCOUNT = "gcp:serviceaccount/account:Account"
KSA = "kubernetes:core/v1:ServiceAccount"
GSA_ANNOTATION = "iam.gke.io/gcp-service-account"


@pytest.fixture(scope="module")
def dev() -> Plan:
    return dev_plan("gcp-dev")


def gpu_pool(p: Plan) -> Resource:
    return p.one(NODE_POOL, "gpu-pool")


def key_grant(p: Plan, agent_suffix: str) -> Resource:
    (grant,) = [r for r in p.of_type(KEY_IAM) if r.get("member", "").endswith(agent_suffix)]
    return grant


# --- weights bucket --------------------------------------------------------------------------------


def test_bucket_is_private_uniform_versioned(dev):
    bucket = dev.one(BUCKET)
    assert bucket.get("publicAccessPrevention") == "enforced"
    assert bucket.get("uniformBucketLevelAccess") is True
    assert bucket.get("versioning.enabled") is True
    assert bucket.get("location") == "US-CENTRAL1"
    assert bucket.get("name") == f"{PROJECT}-llz-gcp-dev-weights"


def test_bucket_uses_its_cmek_key_after_the_gcs_agent_grant(dev):
    bucket = dev.one(BUCKET)
    key = dev.one(KEY, "kms-weights")
    assert bucket.get("encryption.defaultKmsKeyName") == key.id
    assert key.id.startswith(f"projects/{PROJECT}/locations/us-central1/keyRings/")
    grant = key_grant(dev, "@gs-project-accounts.iam.gserviceaccount.com")
    assert grant.get("member") == f"serviceAccount:service-{NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
    assert grant.get("role") == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.get("cryptoKeyId") == key.id
    assert grant.urn in bucket.dependencies, "the CMEK bucket must wait for the GCS agent's key grant"


def test_bucket_deletion_follows_environment(dev):
    assert dev.one(BUCKET).get("forceDestroy") is True
    assert dev.one(BUCKET).get("deletionPolicy") == "DELETE"
    prod = plan("gcp-dev", {"environment": "prod"})
    assert prod.one(BUCKET).get("forceDestroy") is False
    assert prod.one(BUCKET).get("deletionPolicy") == "PREVENT"
    assert {k.get("deletionPolicy") for k in prod.of_type(KEY)} == {"PREVENT"}


# --- workload identity -------------------------------------------------------------------------------


def principal(ns: str, ksa: str) -> str:
    return (
        f"principal://iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/"
        f"{PROJECT}.svc.id.goog/subject/ns/{ns}/sa/{ksa}"
    )


def test_direct_principal_reads_the_bucket_after_the_cluster(dev):
    reader = dev.one(BUCKET_IAM, "serving-identity-reader")
    assert reader.get("member") == principal("llm", "vllm")
    assert reader.get("role") == "roles/storage.objectViewer"
    assert reader.get("bucket") == dev.one(BUCKET).get("name")
    assert dev.one(CLUSTER).urn in reader.dependencies, "the identity pool exists once the cluster does"


def test_reader_is_limited_to_the_model_prefix(dev):
    reader = dev.one(BUCKET_IAM, "serving-identity-reader")
    expression = reader.get("condition.expression")
    bucket = dev.one(BUCKET).get("name")
    prefix = "models/deepseek-r1-distill-llama-8b"
    assert f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}/")' in expression
    assert f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{prefix}/")' in expression


def test_principal_follows_the_serving_namespace_and_service_account():
    p = plan("gcp-dev", {"serving": {"namespace": "inference", "serviceAccount": "reader"}})
    reader = p.one(BUCKET_IAM, "serving-identity-reader")
    assert reader.get("member") == principal("inference", "reader")
    assert p.one(KSA, "llm-sa").get("metadata.namespace") == "inference"


def test_direct_mode_has_no_annotation_and_no_gsa(dev):
    assert GSA_ANNOTATION not in (dev.one(KSA, "llm-sa").get("metadata.annotations") or {})
    assert dev.of_type(SA_IAM) == []
    assert [a.get("accountId") for a in dev.of_type(ACCOUNT)] == ["llz-gcp-dev-nodes"]


def test_gsa_mode_annotates_and_grants_workload_identity_user_never_both():
    p = plan("gcp-dev", {"gcp": {"identityMode": "gsa"}})
    gsa = p.one(ACCOUNT, "serving-identity-gsa")
    email = gsa.outputs["email"]
    assert p.one(KSA, "llm-sa").get("metadata.annotations")[GSA_ANNOTATION] == email
    impersonation = p.one(SA_IAM, "serving-identity-wi-user")
    assert impersonation.get("role") == "roles/iam.workloadIdentityUser"
    assert impersonation.get("member") == f"serviceAccount:{PROJECT}.svc.id.goog[llm/vllm]"
    assert impersonation.get("serviceAccountId") == gsa.outputs["name"]
    assert p.one(CLUSTER).urn in impersonation.dependencies
    reader = p.one(BUCKET_IAM, "serving-identity-reader")
    assert reader.get("member") == f"serviceAccount:{email}"
    # No grant to the serving KSA's own principal (KEDA's operator, unannotated, keeps its own: issue 18).
    assert not any(str(r.get("member", "")).endswith("/ns/llm/sa/vllm") for r in p.resources)


def test_no_storage_role_at_project_level_and_node_sa_has_no_bucket_access(dev):
    for grant in dev.of_type(PROJECT_IAM):
        assert not grant.get("role").startswith("roles/storage."), grant.urn
    node_sa = dev.one(ACCOUNT).outputs["email"]
    node_grants = [g for g in dev.of_type(PROJECT_IAM) if g.get("member") == f"serviceAccount:{node_sa}"]
    assert sorted(g.get("role") for g in node_grants) == [
        "roles/artifactregistry.reader",
        "roles/container.defaultNodeServiceAccount",
        "roles/serviceusage.serviceUsageConsumer",  # image streaming with a custom node SA
    ]
    # Every other project grant is an admin's from gcp.adminMembers (tests/test_gcp_reality.py).
    others = {g.get("member") for g in dev.of_type(PROJECT_IAM)} - {f"serviceAccount:{node_sa}"}
    keda = f"principal://iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/{PROJECT}.svc.id.goog/subject/ns/keda/sa/keda-operator"
    assert others == {"group:llm-platform@example.com", keda}  # KEDA's: roles/monitoring.viewer (issue 18)
    assert all(node_sa not in b.get("member") for b in dev.of_type(BUCKET_IAM))


# --- cluster -----------------------------------------------------------------------------------------


def test_cluster_is_private_with_only_the_configured_authorized_networks():
    cidrs = ["203.0.113.0/24", "198.51.100.7/32"]
    cluster = plan("gcp-dev", {"cluster": {"apiAllowedCidrs": cidrs}}).one(CLUSTER)
    assert cluster.get("privateClusterConfig.enablePrivateNodes") is True
    assert [b["cidrBlock"] for b in cluster.get("masterAuthorizedNetworksConfig.cidrBlocks")] == cidrs
    assert cluster.get("masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled") is False
    assert cluster.get("masterAuth.clientCertificateConfig.issueClientCertificate") is False


def test_cluster_identity_pool_channel_version_and_dataplane(dev):
    cluster = dev.one(CLUSTER)
    assert cluster.get("workloadIdentityConfig.workloadPool") == f"{PROJECT}.svc.id.goog"
    assert cluster.get("releaseChannel.channel") == "REGULAR"
    assert cluster.get("minMasterVersion") == "1.35"
    assert cluster.get("networkingMode") == "VPC_NATIVE"
    assert cluster.get("datapathProvider") == "ADVANCED_DATAPATH"  # enforces the serving NetworkPolicy
    assert cluster.get("ipAllocationPolicy") == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }
    stable = plan("gcp-dev", {"gcp": {"releaseChannel": "STABLE"}}).one(CLUSTER)
    assert stable.get("releaseChannel.channel") == "STABLE"


def test_default_pool_removed_and_transient_pool_uses_node_sa(dev):
    cluster = dev.one(CLUSTER)
    assert cluster.get("removeDefaultNodePool") is True
    assert cluster.get("initialNodeCount") == 1
    assert cluster.get("nodeConfig.serviceAccount") == dev.one(ACCOUNT).outputs["email"]
    assert cluster.get("nodeConfig.workloadMetadataConfig.mode") == "GKE_METADATA"
    assert cluster.ignore_changes == ["nodeConfig"]  # else the removed pool reads as a replacing diff


def test_secrets_encrypted_with_kms_after_the_gke_agent_grant(dev):
    cluster = dev.one(CLUSTER)
    key = dev.one(KEY, "kms-gke-secrets")
    assert cluster.get("databaseEncryption") == {"state": "ENCRYPTED", "keyName": key.id}
    grant = key_grant(dev, "@container-engine-robot.iam.gserviceaccount.com")
    assert grant.get("member") == f"serviceAccount:service-{NUMBER}@container-engine-robot.iam.gserviceaccount.com"
    assert grant.get("cryptoKeyId") == key.id
    assert grant.urn in cluster.dependencies


def test_deletion_protection_per_environment(dev):
    assert dev.one(CLUSTER).get("deletionProtection") is False
    assert plan("gcp-dev", {"environment": "prod"}).one(CLUSTER).get("deletionProtection") is True


def test_master_cidr_only_when_configured(dev):
    assert "masterIpv4CidrBlock" not in dev.one(CLUSTER).get("privateClusterConfig")
    peered = plan("gcp-dev", {"gcp": {"masterIpv4CidrBlock": "172.16.0.16/28"}}).one(CLUSTER)
    assert peered.get("privateClusterConfig.masterIpv4CidrBlock") == "172.16.0.16/28"


# --- node pools ----------------------------------------------------------------------------------


def test_gpu_pool_scales_from_zero_with_gke_metadata_and_taint(dev):
    pool = gpu_pool(dev)
    assert pool.get("autoscaling.totalMinNodeCount") == 0
    assert pool.get("autoscaling.totalMaxNodeCount") == 3
    assert pool.get("initialNodeCount") == 0
    assert pool.get("nodeConfig.workloadMetadataConfig.mode") == "GKE_METADATA"
    assert pool.get("nodeConfig.taints") == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert pool.get("nodeConfig.labels") == {"llz.io/pool": "gpu"}
    assert pool.get("nodeConfig.serviceAccount") == dev.one(ACCOUNT).outputs["email"]
    assert pool.get("nodeConfig.gcfsConfig.enabled") is True  # image streaming
    assert pool.get("cluster") == dev.one(CLUSTER).get("name")


def test_gpu_pool_accelerator_driver_and_spot(dev):
    node = gpu_pool(dev).get("nodeConfig")
    assert node["machineType"] == "g2-standard-8"
    assert node["guestAccelerators"] == [
        {"type": "nvidia-l4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}
    ]
    assert node["spot"] is True
    other = gpu_pool(
        plan(
            "gcp-dev",
            {"gpu": {"instanceType": "g2-standard-24", "spot": False}, "gcp": {"gpuDriverVersion": "DEFAULT"}},
        )
    ).get("nodeConfig")
    assert other["machineType"] == "g2-standard-24"
    assert other["guestAccelerators"][0]["count"] == 2
    assert other["guestAccelerators"][0]["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "DEFAULT"}
    assert other["spot"] is False


def test_gke_manages_gpu_driver_and_device_plugin_no_daemonset(dev):
    assert dev.of_type("kubernetes:apps/v1:DaemonSet") == []
    # The one chart is KEDA's (issue 18), on the system pool; nothing GPU-related is installed.
    assert [r.name for r in dev.resources if r.type.startswith("kubernetes:helm")] == ["keda"]


def test_system_pool_keeps_addons_off_the_gpu_pool(dev):
    system = dev.one(NODE_POOL, "gke-system")
    assert system.get("autoscaling.minNodeCount") >= 1
    assert "guestAccelerators" not in system.get("nodeConfig")
    assert system.get("nodeConfig.workloadMetadataConfig.mode") == "GKE_METADATA"
    assert system.get("nodeConfig.machineType") == "e2-standard-2"


def test_node_zones_pin_both_pools():
    p = plan("gcp-dev", {"gcp": {"nodeZones": ["us-central1-a"]}})
    assert {tuple(pool.get("nodeLocations")) for pool in p.of_type(NODE_POOL)} == {("us-central1-a",)}


# --- network and the private path ------------------------------------------------------------------


def test_subnet_has_private_google_access_and_the_gke_ranges(dev):
    vpc = dev.one("gcp:compute/network:Network")
    assert vpc.get("autoCreateSubnetworks") is False
    assert vpc.get("deleteDefaultRoutesOnCreate") is False  # Private Google Access needs the default route
    subnet = dev.one("gcp:compute/subnetwork:Subnetwork")
    assert subnet.get("privateIpGoogleAccess") is True
    assert subnet.get("ipCidrRange") == "10.50.0.0/20"
    assert subnet.get("secondaryIpRanges") == [
        {"rangeName": "pods", "ipCidrRange": "10.64.0.0/14"},
        {"rangeName": "services", "ipCidrRange": "10.68.0.0/20"},
    ]
    assert dev.one(CLUSTER).get("subnetwork") == subnet.id


def test_nat_is_a_switch(dev):
    nat = dev.one("gcp:compute/routerNat:RouterNat")
    assert nat.get("sourceSubnetworkIpRangesToNat") == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    closed = plan("gcp-dev", {"network": {"egress": "none"}, "model": {"source": None}})
    assert closed.of_type("gcp:compute/routerNat:RouterNat") == []
    assert closed.of_type("gcp:compute/router:Router") == []
    assert closed.one("gcp:compute/subnetwork:Subnetwork").get("privateIpGoogleAccess") is True


def test_google_apis_resolve_to_the_private_vips(dev):
    route = dev.one("gcp:compute/route:Route")
    assert (route.get("destRange"), route.get("nextHopGateway")) == ("199.36.153.8/30", "default-internet-gateway")
    vpc_id = dev.one("gcp:compute/network:Network").id
    zones = dev.of_type("gcp:dns/managedZone:ManagedZone")
    assert sorted(z.get("dnsName") for z in zones) == ["gcr.io.", "googleapis.com.", "pkg.dev."]
    for zone in zones:
        assert zone.get("visibility") == "private"
        assert zone.get("privateVisibilityConfig.networks") == [{"networkUrl": vpc_id}]
    records = {r.get("name"): r for r in dev.of_type("gcp:dns/recordSet:RecordSet")}
    assert records["private.googleapis.com."].get("rrdatas") == [f"199.36.153.{i}" for i in range(8, 12)]
    assert records["*.googleapis.com."].get("rrdatas") == ["private.googleapis.com."]


def test_restricted_and_default_api_modes():
    restricted = plan("gcp-dev", {"gcp": {"googleApis": "restricted"}})
    assert restricted.one("gcp:compute/route:Route").get("destRange") == "199.36.153.4/30"
    default = plan("gcp-dev", {"gcp": {"googleApis": "default"}})
    assert default.of_type("gcp:compute/route:Route") == []
    assert default.of_type("gcp:dns/managedZone:ManagedZone") == []


# --- config checks that need more than the gcp section ------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"gcp": {"nodeZones": ["europe-west4-a"]}}, ["gcp.nodeZones[0]", "'europe-west4-a'", "us-central1"]),
        ({"gcp": {"podsCidr": "10.50.0.0/16"}}, ["gcp.podsCidr", "'10.50.0.0/16'", "network.cidr"]),
        ({"gcp": {"podsCidr": "10.68.0.0/16"}}, ["gcp", "podsCidr", "overlaps servicesCidr"]),
        ({"gcp": {"masterIpv4CidrBlock": "172.16.0.0/24"}}, ["gcp.masterIpv4CidrBlock", "/28"]),
        ({"gcp": {"identityMode": "both"}}, ["gcp.identityMode", "'direct' or 'gsa'"]),
    ],
)
def test_bad_gcp_values_fail_as_one_line_before_any_resource(overrides, fragments):
    message = program_error("gcp-dev", overrides)
    for fragment in fragments:
        assert fragment in message


# --- the Platform handed to serving -------------------------------------------------------------


def test_exports(dev):
    assert dev.outputs["project"] == PROJECT
    assert dev.outputs["region"] == "us-central1"
    assert dev.outputs["clusterName"] == dev.one(CLUSTER).get("name") == "llz-gcp-dev"
    assert dev.outputs["bucketName"] == dev.one(BUCKET).get("name")
    assert dev.outputs["weightsUri"] == f"gs://{PROJECT}-llz-gcp-dev-weights/models/deepseek-r1-distill-llama-8b"


def test_serving_waits_for_the_gpu_pool_and_the_iam_binding(dev):
    deployment = dev.one("kubernetes:apps/v1:Deployment")
    assert gpu_pool(dev).urn in deployment.dependencies
    assert dev.one(BUCKET_IAM, "serving-identity-reader").urn in deployment.dependencies


def test_platform_scheduling_identity_egress_and_kubeconfig():
    with built_platform("gcp-dev") as (platform, engine):
        kubeconfig = json.loads(engine.resolve(platform.kubeconfig))
        assert engine.is_secret(platform.kubeconfig)
    assert platform.gpu.node_selector == {
        "cloud.google.com/gke-accelerator": "nvidia-l4",
        "llz.io/pool": "gpu",
    }
    assert [t.as_k8s() for t in platform.gpu.tolerations] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert (platform.identity.namespace, platform.identity.service_account) == ("llm", "vllm")
    assert dict(platform.identity.service_account_annotations) == {}
    assert {(e.cidr, tuple(e.ports)) for e in platform.egress} == {
        ("199.36.153.8/30", (443,)),
        ("169.254.169.254/32", (80,)),
        ("169.254.169.252/32", (988,)),
    }
    assert {type(r).__name__ for r in platform.ready} >= {"NodePool", "BucketIAMMember"}
    cluster = kubeconfig["clusters"][0]["cluster"]
    # gcp-dev: cluster.apiAccess dns, so the DNS endpoint (public CA: no CA data); tests/test_ci_access.py
    assert cluster["server"].endswith(".us-central1.gke.goog") and "certificate-authority-data" not in cluster
    user = kubeconfig["users"][0]["user"]["exec"]
    assert user["command"] == "gke-gcloud-auth-plugin"
    # Application default credentials: the WIF credential file in CI refreshes for the whole run.
    assert user["args"] == ["--use_application_default_credentials"]
    assert kubeconfig["current-context"] == "llz-gcp-dev"


def test_plans_are_deterministic():
    first = plan("gcp-dev", {"gcp": {"identityMode": "gsa"}})
    second = plan("gcp-dev", {"gcp": {"identityMode": "gsa"}})
    as_json = lambda p: json.dumps([r.__dict__ for r in p.resources], sort_keys=True)  # noqa: E731
    assert as_json(first) == as_json(second)


def test_generated_names_fit_gcp_limits():
    from infra.gcp.platform import gcp_name

    assert gcp_name("llz", "gcp-dev", "nodes", limit=30) == "llz-gcp-dev-nodes"
    long = gcp_name("llz", "Team_A.very-long-stack-name-for-prod", "nodes", limit=30)
    assert len(long) <= 30 and long.startswith("llz-team-a-very") and long[-7] == "-"
    assert long == gcp_name("llz", "Team_A.very-long-stack-name-for-prod", "nodes", limit=30)  # stable
    assert len(gcp_name("a-thirty-character-project-id1", "llz", "x" * 40, "weights", limit=63)) == 63
