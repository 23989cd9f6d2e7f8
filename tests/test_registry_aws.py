"""The stack's private registry on AWS (issue 17): pods run images from the stack's ECR pull-through
caches (infra/aws/registry.py), the caches are encrypted and immutable, and the nodes may only read
and make the first pull through a cache. Asserted on the recorded inputs of aws-dev and aws-prod."""

from __future__ import annotations

import json

import pytest

from infra.aws.settings import ECR_PREFIX, ECR_PREFIX_MAX, cache_prefix
from infra.conventions import pinned
from infra.serving.pod import WEIGHTS_CONTAINER
from tests.harness import config_error, dev_plan, plan, stack_file
from tests.serving_support import Serving

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
TEMPLATE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/"
UPSTREAMS = {"dockerhub": "registry-1.docker.io", "ghcr": "ghcr.io", "k8s": "registry.k8s.io"}
NVCR = "nvcr.io/nvidia/k8s-device-plugin:"


def _pod_images(p) -> dict[str, list[str]]:
    """Resource name -> the images of its pod template (Deployments, Jobs, DaemonSets)."""
    kinds = ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job", "kubernetes:apps/v1:DaemonSet")
    out = {}
    for r in p.resources:
        if r.type in kinds:
            spec = r.get("spec.template.spec")
            out[r.name] = [c["image"] for c in [*spec.get("initContainers", []), *spec["containers"]]]
    return out


def _credentials(stack: str) -> dict[str, str]:
    aws = json.loads(stack_file(stack).config["llm-landing-zone:aws"])
    return aws["upstreamCredentials"]


@pytest.fixture(scope="module", params=["aws-dev", "aws-prod"])
def stack(request):
    return request.param, dev_plan(request.param)


def test_every_pod_image_is_in_the_stacks_ecr_except_the_documented_one(stack):
    name, p = stack
    images = _pod_images(p)
    prefixes = {f"llz-{name}-{s}" for s in UPSTREAMS}
    expected = {"llm", "cluster-autoscaler", "gpu-device-plugin", *(["llm-stage"] if name == "aws-dev" else [])}
    assert set(images) == expected, images
    for owner, refs in images.items():
        for ref in refs:
            if owner == "gpu-device-plugin":
                continue  # below: nvcr.io has no ECR cache
            assert ref.startswith(f"{ECR}/"), ref
            assert ref.split("/")[1] in prefixes, f"{owner}: {ref} is not served from a cache of the stack"
    (vllm,) = [i for i in images["llm"] if "vllm-openai" in i]
    assert vllm.startswith(f"{ECR}/llz-{name}-dockerhub/vllm/vllm-openai:")
    assert [i for i in images["llm"] if i.startswith(f"{ECR}/llz-{name}-ghcr/llm-landing-zone/llz:")]
    (autoscaler,) = images["cluster-autoscaler"]
    assert autoscaler.startswith(f"{ECR}/llz-{name}-k8s/autoscaling/cluster-autoscaler:v1.35.")
    (plugin,) = images["gpu-device-plugin"]
    direct = p.outputs["imagesPulledDirectly"]
    if name == "aws-dev":  # nvcr.io: a direct pull, and the plan says why and what egress none needs
        assert plugin.startswith(NVCR)
        assert "no pull-through cache for nvcr.io" in direct[plugin] and "egress none" in direct[plugin]
    else:  # egress none: the device plugin is the copy CI puts into ECR (aws.devicePluginImage)
        assert plugin.startswith(f"{ECR}/nvidia/k8s-device-plugin:")
    # the pinned upstream (tag@digest) -> the cache's reference by tag (docs/images.md: ECR caches fill by tag)
    upstream = pinned(autoscaler.replace(f"{ECR}/llz-{name}-k8s/", "registry.k8s.io/"))
    assert "@sha256:" in upstream and p.outputs["images"][upstream] == autoscaler


def test_cache_rules_per_upstream_with_the_configured_credentials(stack):
    name, p = stack
    creds = _credentials(name)
    rules = {r.get("ecrRepositoryPrefix"): r for r in p.of_type(RULE)}
    assert sorted(rules) == sorted(f"llz-{name}-{s}" for s in UPSTREAMS)
    for suffix, url in UPSTREAMS.items():
        assert rules[f"llz-{name}-{suffix}"].get("upstreamRegistryUrl") == url
    assert rules[f"llz-{name}-dockerhub"].get("credentialArn") == creds["dockerHub"]
    assert rules[f"llz-{name}-ghcr"].get("credentialArn") == creds["ghcr"]
    assert rules[f"llz-{name}-k8s"].get("credentialArn") is None
    for arn in creds.values():
        assert arn.startswith(SECRET)


def test_creation_templates_encrypt_with_the_stacks_key_immutable_with_lifecycle(stack):
    name, p = stack
    key = p.one("aws:kms/key:Key", "registry-key")
    role = p.one("aws:iam/role:Role", "registry-template")
    templates = {t.get("prefix"): t for t in p.of_type(TEMPLATE)}
    rules = {r.get("ecrRepositoryPrefix"): r for r in p.of_type(RULE)}
    assert sorted(templates) == sorted(rules), "a creation template for every cache prefix"
    for prefix, t in templates.items():
        assert t.get("appliedFors") == ["PULL_THROUGH_CACHE"]
        assert t.get("encryptionConfigurations") == [{"encryptionType": "KMS", "kmsKey": key.outputs["arn"]}]
        assert t.get("imageTagMutability") == "IMMUTABLE"
        assert t.get("customRoleArn") == role.outputs["arn"]
        assert t.get("resourceTags")["stack"] == name
        (rule,) = json.loads(t.get("lifecyclePolicy"))["rules"]
        assert rule["action"] == {"type": "expire"}
        assert rule["selection"]["countType"] == "imageCountMoreThan" and rule["selection"]["countNumber"] >= 1
        assert t.urn in rules[prefix].dependencies, "the rule exists before its template: first pulls unencrypted"
    # the key: rotated, an explicit policy letting (only) the template role create ECR's grant
    assert key.get("enableKeyRotation") is True
    statements = json.loads(key.get("policy"))["Statement"]
    assert all(":root" not in json.dumps(s["Principal"]) for s in statements)
    (use,) = [s for s in statements if s["Sid"] != "KeyAdministration"]
    assert use["Principal"] == {"AWS": role.outputs["arn"]}
    assert sorted(use["Action"]) == ["kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant"]
    assert use["Condition"] == {"StringEquals": {"kms:ViaService": "ecr.us-east-1.amazonaws.com"}}
    # the role: ECR assumes it; it may create repositories under the prefixes and use this key only
    assert json.loads(role.get("assumeRolePolicy"))["Statement"][0]["Principal"] == {"Service": "ecr.amazonaws.com"}
    rights = json.loads(p.one(ROLE_POLICY, "registry-template").get("policy"))["Statement"]
    by_sid = {s["Sid"]: s for s in rights}
    assert sorted(by_sid["CreateCachedRepositories"]["Action"]) == [
        "ecr:CreateRepository",
        "ecr:ReplicateImage",
        "ecr:TagResource",
    ]
    assert by_sid["CreateCachedRepositories"]["Resource"] == [
        f"arn:aws:ecr:us-east-1:123456789012:repository/{prefix}/*" for prefix in rules
    ]
    assert by_sid["EncryptWithRegistryKey"]["Resource"] == key.outputs["arn"]


def test_nodes_get_exactly_the_first_pull_rights_on_the_cache_prefixes(stack):
    name, p = stack
    node_role = p.one("aws:iam/role:Role", "eks-node")
    on_node = [r for r in p.of_type(ROLE_POLICY) if r.get("role") == node_role.outputs["name"]]
    assert [r.name for r in on_node] == ["registry-node-cache"]
    (statement,) = json.loads(on_node[0].get("policy"))["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    assert statement["Resource"] == [
        f"arn:aws:ecr:us-east-1:123456789012:repository/llz-{name}-{s}/*" for s in ("dockerhub", "ghcr", "k8s")
    ]
    managed = sorted(
        r.get("policyArn").rsplit("/", 1)[1]
        for r in p.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.get("role") == node_role.outputs["name"]
    )
    assert managed == ["AmazonEC2ContainerRegistryPullOnly", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy"]


def test_the_registry_scanning_configuration_is_left_to_the_account_unless_asked(stack):
    _, p = stack
    assert not p.of_type("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration")
    managed = plan("aws-dev", {"aws": {"manageRegistryScanning": True}})
    (scan,) = managed.of_type("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration")
    (rule,) = scan.get("rules")
    assert scan.get("scanType") == "BASIC" and rule["scanFrequency"] == "SCAN_ON_PUSH"
    assert rule["repositoryFilters"] == [
        {"filter": f"llz-aws-dev-{s}/*", "filterType": "WILDCARD"} for s in ("dockerhub", "ghcr", "k8s")
    ]


def test_without_a_credential_that_upstream_is_pulled_directly_and_the_plan_warns():
    p = plan(
        "aws-dev",
        {"aws": {"upstreamCredentials": {"ghcr": None}}},
        expect_warnings=[
            r"ghcr\.io/llm-landing-zone/llz:\S+ is pulled directly from ghcr\.io .*aws\.upstreamCredentials\.ghcr"
        ],
    )
    assert sorted(r.get("ecrRepositoryPrefix") for r in p.of_type(RULE)) == ["llz-aws-dev-dockerhub", "llz-aws-dev-k8s"]
    assert sorted(t.get("prefix") for t in p.of_type(TEMPLATE)) == ["llz-aws-dev-dockerhub", "llz-aws-dev-k8s"]
    served = Serving.of(p)
    assert served.container(WEIGHTS_CONTAINER)["image"].startswith("ghcr.io/llm-landing-zone/llz:")
    assert served.container("vllm")["image"].startswith(f"{ECR}/llz-aws-dev-dockerhub/")
    assert any(ref.startswith("ghcr.io/") for ref in p.outputs["imagesPulledDirectly"])


@pytest.mark.parametrize(
    ("overrides", "key", "says"),
    [
        (
            {"aws": {"upstreamCredentials": {"dockerHub": None}}},
            "aws.upstreamCredentials.dockerHub",
            "ecr-pullthroughcache/",
        ),
        (
            {"aws": {"upstreamCredentials": None}},
            "aws.upstreamCredentials.",
            "network.egress none",
        ),
        (
            {
                "aws": {
                    "upstreamCredentials": {"ghcr": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ghcr-token"}
                }
            },
            "aws.upstreamCredentials.ghcr",
            "ecr-pullthroughcache/",
        ),
    ],
    ids=["egress-none-no-docker-hub", "egress-none-none", "not-a-cache-secret"],
)
def test_credential_errors_are_one_line(overrides, key, says):
    message = config_error("aws-prod", overrides)  # network.egress none
    assert key in message and says in message, message


def test_egress_none_needs_no_credential_for_images_from_your_own_registry():
    own = f"{ECR}/team/vllm:v0.32.0@sha256:" + "c" * 64
    puller = f"{ECR}/team/llz:0.1.0"
    p = plan(
        "aws-prod",
        {"aws": {"upstreamCredentials": None}, "serving": {"image": own, "pullerImage": puller}},
    )
    served = Serving.of(p)
    assert served.container("vllm")["image"] == own
    assert served.container(WEIGHTS_CONTAINER)["image"] == puller
    assert [r.get("ecrRepositoryPrefix") for r in p.of_type(RULE)] == ["llz-aws-prod-k8s"]


def test_a_teams_own_registry_image_is_used_as_it_is():
    own = "registry.example.com:5000/team/vllm:v0.32.0@sha256:" + "b" * 64
    served = Serving.of(plan("aws-dev", {"serving": {"image": own}}))
    assert served.container("vllm")["image"] == own


@pytest.mark.parametrize("stack_name", ["aws-dev", "a", "My_Very.Long--Stack.Name-For-Production-EU", "x" * 60])
def test_cache_prefixes_fit_ecrs_pattern(stack_name):
    for suffix in UPSTREAMS:
        prefix = cache_prefix(stack_name, suffix)
        assert 2 <= len(prefix) <= ECR_PREFIX_MAX and ECR_PREFIX.match(prefix), prefix
        assert prefix.endswith(f"-{suffix}")
