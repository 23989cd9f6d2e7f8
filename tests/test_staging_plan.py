"""First deploy on the recorded inputs: the staging Job, its identity on each cloud, its NetworkPolicy,
the Deployment waiting for it, the derived wait, the no-egress two-phase path and the config errors."""

from __future__ import annotations

import json

import pytest

from infra.config import loader
from infra.config.errors import ConfigError
from infra.plan.engine import SECRET, Plan
from infra.serving import timings
from infra.serving.network import NOT_PUBLIC
from tests.harness import dev_plan, plan, stack_file
from tests.serving_support import Serving, env_of, resolve_platform

REPO = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
REVISION = "6a6f4aa4197940add57724a7707d069478df56b1"  # pinned in every dev stack
PREFIX = "models/deepseek-r1-distill-llama-8b"
STAGER_SA = "vllm-stager"
JOB = "kubernetes:batch/v1:Job"
WEIGHTS_GB = 8.03 * 2  # bf16


def _cfg(stack: str, overrides: dict | None = None):
    return loader.parse(loader.from_pulumi_config(stack_file(stack, overrides).config))


def _error(stack: str, overrides: dict) -> str:
    with pytest.raises(ConfigError) as e:
        _cfg(stack, overrides)
    assert len(str(e.value).splitlines()) == 1
    return str(e.value)


# --- the Job, per dev stack -----------------------------------------------------------------------


def test_dev_stacks_stage_their_pinned_model(dev_stack):
    cfg = _cfg(dev_stack)
    assert (cfg.model.source.repo, cfg.model.source.revision) == (REPO, REVISION)
    served = Serving.of(dev_plan(dev_stack))
    job = served.one("Job")
    (container,) = job.get("spec.template.spec.containers")
    uri = dev_plan(dev_stack).outputs["weightsUri"]
    assert container["args"] == ["weights", "stage", f"hf://{REPO}@{REVISION}", uri, "--workdir", "/scratch/files"]
    # the puller, from the stack's registry where the platform has one (issue 17)
    assert container["image"] == resolve_platform(dev_stack).image(cfg.serving.puller_image)
    assert "command" not in container  # ENTRYPOINT llz
    assert job.get("metadata.name") == f"llm-stage-{REVISION[:12]}"
    assert job.get("metadata.namespace") == "llm"


def test_the_wait_is_derived_from_the_model_size_not_the_providers_ten_minutes(dev_stack):
    job = Serving.of(dev_plan(dev_stack)).one("Job")
    annotations = job.get("metadata.annotations")
    deadline = job.get("spec.activeDeadlineSeconds")
    # 300 s start + 16.06 GB at 25 MB/s from the hub + 16.06 GB at 50 MB/s to the bucket
    assert deadline == timings.stage_deadline_seconds(WEIGHTS_GB) == 300 + 643 + 322
    assert annotations["pulumi.com/timeoutSeconds"] == str(deadline + timings.STAGE_AWAIT_MARGIN_S) == "1385"
    assert int(annotations["pulumi.com/timeoutSeconds"]) > 600, "the provider's default Job wait is 10 minutes"
    assert annotations["pulumi.com/replaceUnready"] == "true"  # a failed Job is replaced on the next up
    small = Serving.of(plan("gcp-dev", {"model": {"paramsBillions": 1.5}})).one("Job")
    assert small.get("metadata.annotations")["pulumi.com/timeoutSeconds"] == str(timings.stage_await_seconds(3.0))
    assert small.get("spec.activeDeadlineSeconds") == 300 + 120 + 60 < deadline


def test_the_deployment_waits_for_the_job_and_the_job_for_its_identity(dev_stack):
    p = dev_plan(dev_stack)
    served = Serving.of(p)
    job = served.one("Job")
    assert job.urn in served.deployment.dependencies
    writer = next(r for r in p.resources if r.type.endswith(":WeightsWriter"))
    binding_types = {
        "aws-dev": "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "gcp-dev": "gcp:storage/bucketIAMMember:BucketIAMMember",
        "azure-dev": "azure-native:authorization:RoleAssignment",
    }
    bindings = [r for r in p.children(writer) if r.type == binding_types[dev_stack]]
    assert bindings and all(b.urn in job.dependencies for b in bindings)


def test_a_new_revision_makes_a_new_job_and_then_rolls_the_serving_pods(dev_stack):
    served = Serving.of(dev_plan(dev_stack))
    annotation = served.pod["metadata"]["annotations"]["llz.io/weights-source"]
    assert annotation == f"hf://{REPO}@{REVISION}" == served.one("Job").get("spec.template.spec.containers.0.args.2")
    other = "0123456789abcdef0123456789abcdef01234567"
    moved = Serving.of(plan(dev_stack, {"model": {"source": {"revision": other}}}))
    assert moved.one("Job").get("metadata.name") == f"llm-stage-{other[:12]}"
    # The pod template changes with the revision, so the Deployment (which waits for the new Job) rolls
    # its pods, whose init containers pull the new manifest; the old pods would keep the old weights.
    assert moved.pod["metadata"]["annotations"]["llz.io/weights-source"] == f"hf://{REPO}@{other}"
    assert "llz.io/weights-source" not in Serving.of(plan("aws-prod")).pod["metadata"]["annotations"]


def test_job_pod_is_restricted_one_shot_and_sized_for_two_files(dev_stack):
    job = Serving.of(dev_plan(dev_stack)).one("Job")
    spec = job.get("spec.template.spec")
    (container,) = spec["containers"]
    assert spec["restartPolicy"] == "Never" and job.get("spec.backoffLimit") == 2
    assert spec["serviceAccountName"] == STAGER_SA and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["capabilities"] == {"drop": ["ALL"]}
    scratch = next(v for v in spec["volumes"] if v["name"] == "scratch")
    assert scratch["emptyDir"]["sizeLimit"] == f"{timings.stage_scratch_gi(WEIGHTS_GB)}Gi" == "17Gi"
    env = env_of(container)
    assert env["HF_HOME"] == "/scratch/hf" and "HF_TOKEN" not in env and "HF_HUB_OFFLINE" not in env
    assert "nodeSelector" not in spec and "tolerations" not in spec, "staging needs no GPU node"


def test_stager_has_its_own_account_and_the_serving_account_stays_read_only(dev_stack):
    served = Serving.of(dev_plan(dev_stack))
    accounts = {r.get("metadata.name") for r in served.kind("ServiceAccount")}
    assert accounts == {"vllm", STAGER_SA}
    assert served.pod["spec"]["serviceAccountName"] == "vllm"


# --- the Job's NetworkPolicy ------------------------------------------------------------------------


def test_only_the_jobs_pods_may_reach_the_hub(dev_stack):
    served = Serving.of(dev_plan(dev_stack))
    job_labels = served.one("Job").get("spec.template.metadata.labels")
    stager = served.one("NetworkPolicy", "llm-stager-egress")
    selector = stager.get("spec.podSelector.matchLabels")
    assert selector.items() <= job_labels.items()
    assert not selector.items() <= served.pod["metadata"]["labels"].items(), "serving pods must not match"
    hub = stager.get("spec.egress")[-1]
    assert hub == {
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NOT_PUBLIC)}}],
        "ports": [{"port": 443, "protocol": "TCP"}],
    }
    # Everything the serving pods may reach (DNS, storage, tokens), and nothing more than the hub rule.
    assert stager.get("spec.egress")[:-1] == served.one("NetworkPolicy", "llm-egress").get("spec.egress")
    assert hub not in served.one("NetworkPolicy", "llm-egress").get("spec.egress")


# --- the write identity, per cloud ------------------------------------------------------------------


def test_aws_writer_role_puts_only_under_the_prefix_and_encrypts_through_s3():
    p = dev_plan("aws-dev")
    policy = json.loads(p.one("aws:iam/rolePolicy:RolePolicy", "weights-stager-write-weights").get("policy"))
    bucket_arn = p.one("aws:s3/bucket:Bucket", "weights").outputs["arn"]
    key_arn = p.one("aws:kms/key:Key", "weights-key").outputs["arn"]
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["WriteModelObjects"]["Resource"] == f"{bucket_arn}/{PREFIX}/*"
    assert set(by_sid["WriteModelObjects"]["Action"]) == {
        "s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"
    }  # fmt: skip
    assert by_sid["ListModelPrefix"]["Condition"] == {"StringLike": {"s3:prefix": [PREFIX, f"{PREFIX}/*"]}}
    assert by_sid["EncryptWeights"] == {
        "Sid": "EncryptWeights",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
    }
    association = p.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "weights-stager-association")
    role = p.one("aws:iam/role:Role", "weights-stager-role")
    assert (association.get("namespace"), association.get("serviceAccount")) == ("llm", STAGER_SA)
    assert association.get("roleArn") == role.outputs["arn"]
    reader = json.loads(p.one("aws:iam/rolePolicy:RolePolicy", "serving-identity-read-weights").get("policy"))
    assert "s3:PutObject" not in json.dumps(reader), "the serving role stays read-only"


def test_aws_irsa_writer_trusts_the_stager_account_through_the_one_oidc_provider():
    p = plan("aws-dev", {"aws": {"identity": "irsa"}})
    (provider,) = p.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    trust = json.loads(p.one("aws:iam/role:Role", "weights-stager-role").get("assumeRolePolicy"))
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Federated": provider.outputs["arn"]}
    assert f"system:serviceaccount:llm:{STAGER_SA}" in statement["Condition"]["StringEquals"].values()
    sa = Serving.of(p).one("ServiceAccount", STAGER_SA)
    role_arn = p.one("aws:iam/role:Role", "weights-stager-role").outputs["arn"]
    assert sa.get("metadata.annotations") == {"eks.amazonaws.com/role-arn": role_arn}


def test_gcp_writer_is_an_object_user_on_the_prefix_for_the_stager_principal():
    p = dev_plan("gcp-dev")
    writer = p.one("gcp:storage/bucketIAMMember:BucketIAMMember", "weights-stager-writer")
    assert writer.get("role") == "roles/storage.objectUser"
    assert writer.get("member").endswith(f".svc.id.goog/subject/ns/llm/sa/{STAGER_SA}")
    bucket = p.one("gcp:storage/bucket:Bucket").get("name")
    expression = writer.get("condition.expression")
    assert f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{PREFIX}/")' in expression
    assert f'objectListPrefix", "").startsWith("{PREFIX}/")' in expression  # not models/x-other
    reader = p.one("gcp:storage/bucketIAMMember:BucketIAMMember", "serving-identity-reader")
    assert reader.get("role") == "roles/storage.objectViewer"
    assert not p.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember") or all(
        STAGER_SA not in g.get("member") for g in p.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    ), "GCS encrypts through its service agent; the writer needs no key rights"


def test_gcp_gsa_mode_gives_the_stager_its_own_gsa():
    p = plan("gcp-dev", {"gcp": {"identityMode": "gsa"}})
    gsa = p.one("gcp:serviceaccount/account:Account", "weights-stager-gsa")
    impersonation = p.one("gcp:serviceaccount/iAMMember:IAMMember", "weights-stager-wi-user")
    assert impersonation.get("member") == f"serviceAccount:my-llm-project.svc.id.goog[llm/{STAGER_SA}]"
    assert p.one("gcp:storage/bucketIAMMember:BucketIAMMember", "weights-stager-writer").get("member") == (
        f"serviceAccount:{gsa.outputs['email']}"
    )
    sa = Serving.of(p).one("ServiceAccount", STAGER_SA)
    assert sa.get("metadata.annotations") == {"iam.gke.io/gcp-service-account": gsa.outputs["email"]}


def test_azure_writer_is_a_prefix_conditioned_contributor_federated_to_the_stager_account():
    p = dev_plan("azure-dev")
    federation = p.one("azure-native:managedidentity:FederatedIdentityCredential", "weights-stager-federation")
    assert federation.get("subject") == f"system:serviceaccount:llm:{STAGER_SA}"
    grant = p.one("azure-native:authorization:RoleAssignment", "weights-stager-weights-writer")
    assert grant.get("roleDefinitionId").endswith("/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe")
    assert grant.get("principalType") == "ServicePrincipal"
    reader = p.one("azure-native:authorization:RoleAssignment", "serving-identity-weights-reader")
    assert grant.get("scope") == reader.get("scope") and grant.get("scope").endswith("/containers/weights")
    condition = grant.get("condition")
    assert grant.get("conditionVersion") == "2.0"
    for action in ("blobs/write", "blobs/add/action", "blobs/delete", "blobs/read"):
        assert f"containers/{action}'}}" in condition, action
    assert f"StringStartsWith '{PREFIX}/'))" in condition
    assert condition.count(f"'{PREFIX}/'") == 2, "blob paths and listings both end at the prefix's slash"
    uami = p.one("azure-native:managedidentity:UserAssignedIdentity", "weights-stager-uami")
    served = Serving.of(p)
    assert served.one("ServiceAccount", STAGER_SA).get("metadata.annotations") == {
        "azure.workload.identity/client-id": uami.outputs["clientId"]
    }
    assert served.one("Job").get("spec.template.metadata.labels")["azure.workload.identity/use"] == "true"


# --- no internet egress: two phases ----------------------------------------------------------------


def _prod(overrides: dict | None = None) -> Plan:
    return plan("aws-prod", overrides)


def test_no_egress_stack_has_no_job_and_runs_no_replica_until_the_weights_are_staged():
    p = _prod()
    served = Serving.of(p)
    assert served.kind("Job") == [] and not [r for r in p.resources if r.type.endswith(":WeightsWriter")]
    assert served.deployment.get("spec.replicas") == 0
    assert served.kind("HorizontalPodAutoscaler") == [], "an HPA would scale the empty Deployment up"
    assert {r.get("metadata.name") for r in served.kind("ServiceAccount")} == {"vllm"}


def test_no_egress_stack_after_the_push_serves_with_its_replica_range():
    served = Serving.of(_prod({"model": {"weightsStaged": True}}))
    assert "replicas" not in served.deployment.inputs["spec"]  # KEDA's HPA owns it (min 2, max 4)
    scaled = served.one("ScaledObject")
    assert (scaled.get("spec.minReplicaCount"), scaled.get("spec.maxReplicaCount")) == (2, 4)
    assert served.kind("Job") == []


def test_a_stack_without_source_or_egress_staged_flag_on_a_fixed_size_serves_min_replicas():
    served = Serving.of(plan("azure-dev", {"model": {"source": None, "weightsStaged": True}}))
    assert served.deployment.get("spec.replicas") == 1 and served.kind("Job") == []


# --- config: one line each ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"model": {"source": {"revision": "main"}}},
            "llm-landing-zone:model.source.revision = 'main': a branch or tag name moves",
        ),
        (
            {"model": {"source": {"revision": "6a6f4aa"}}},
            "llm-landing-zone:model.source.revision = '6a6f4aa': an abbreviated or upper-case sha",
        ),
        ({"model": {"source": {"repo": "just-a-name"}}}, "llm-landing-zone:model.source.repo = 'just-a-name'"),
        (
            {"model": {"source": {"repo": "örg/model"}}},
            "llm-landing-zone:model.source.repo = 'örg/model': does not match ^[A-Za-z0-9_.-]{1,96}/",
        ),
        (
            {"network": {"egress": "none"}},
            'llm-landing-zone:model.source = {"repo": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "revision": '
            '"6a6f4aa4197940add57724a7707d069478df56b1"}: the staging Job downloads from the Hugging Face Hub, '
            "and network.egress is none",
        ),
        (
            {"model": {"weightsStaged": True}},
            "llm-landing-zone:model.weightsStaged = true: model.source stages the weights itself",
        ),
    ],
)
def test_bad_sources_are_one_line(overrides, expected):
    assert _error("aws-dev", overrides).startswith(expected)


def test_the_hub_token_is_a_secret_from_config_end_to_end():
    p = plan("aws-dev", {"model": {"source": {"token": "hf_plaintext_from_the_engine"}}})
    served = Serving.of(p)
    secret = served.one("Secret", "llm-hub-token")
    assert secret.get("stringData") == {"token": SECRET}  # the shape is kept, the value masked
    env = env_of(served.one("Job").get("spec.template.spec.containers.0"))
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "llm-hub-token", "key": "token"}}
    assert "hf_plaintext_from_the_engine" not in json.dumps([r.inputs for r in p.resources])
    cfg = _cfg("aws-dev", {"model": {"source": {"token": "hf_plaintext_from_the_engine"}}})
    assert "hf_plaintext" not in repr(cfg) and "hf_plaintext" not in str(cfg.model.source)
    # Offline, the stack file's still-encrypted value plans as the placeholder.
    offline = Serving.of(plan("aws-dev", {"model": {"source": {"token": {"secure": "v1:AAAA"}}}}))
    assert offline.one("Secret", "llm-hub-token").get("stringData") == {"token": SECRET}
