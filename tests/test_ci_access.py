"""Issue 12 item 1: CI reaches the Kubernetes API of the stack it deploys, on every cloud, without
opening the API to the internet (`cluster.apiAccess`, docs/first-deploy.md).

- GKE (`dns`): the IAM-authenticated DNS endpoint admits user traffic and the kubeconfig points at
  its name; the IP endpoint stays restricted to apiAllowedCidrs.
- EKS, AKS (`runner`): `<stack>-bootstrap` builds the network and two in-network runners (deploy,
  preview) with only the identity they need; the workload reads the network through a
  StackReference and admits the runners; the bootstrap exports exactly what the workload reads.
- Config mistakes are one line; the CI side (infra/ci.py) sends each job to its stack's runner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

from infra import ci
from infra.config import loader
from infra.config.errors import ConfigError
from infra.conventions import SECRET
from infra.plan.engine import mocked_engine
from infra.plan.stackfile import stack_names
from tests.ci_support import bootstrap_plan, cidr_plan
from tests.harness import ROOT, config_error, dev_plan, plan, stack_file

AWS_RUNNER = {
    "repository": "acme/llm",
    "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-aaaa-bbbb-cccc-111122223333",
    "deployPolicyArns": ["arn:aws:iam::123456789012:policy/llz-deploy"],
}
AZURE_RUNNER = {
    "repository": "acme/llm",
    "githubAppId": 123456,
    "githubAppInstallationId": 7890123,
    "image": "llzacr.azurecr.io/llz-runner:2.329.0-1",
}


def parse(stack: str, overrides: dict) -> object:
    return loader.parse(loader.from_pulumi_config(stack_file(stack, overrides).config))


# --- config ------------------------------------------------------------------------------------

BAD = [
    (
        "aws-dev",
        {"cluster": {"apiAccess": "dns"}},
        ["cluster.apiAccess = 'dns'", "not available on aws; valid: cidr, runner"],
    ),
    ("gcp-dev", {"cluster": {"apiAccess": "runner"}}, ["cluster.apiAccess = 'runner'", "valid: cidr, dns"]),
    ("gcp-dev", {"cluster": {"apiAccess": "vpn"}}, ["cluster.apiAccess = 'vpn'", "'cidr', 'dns' or 'runner'"]),
    ("aws-dev", {"aws": {"runner": None}}, ["aws.runner = null", "required with cluster.apiAccess=runner"]),
    (
        "aws-dev",
        {"cluster": {"apiAccess": "cidr"}},
        ["aws.runner = '(set)'", "only used with cluster.apiAccess=runner"],
    ),
    (
        "aws-dev",
        {"network": {"egress": "none"}, "model": {"source": None}},
        ["network.egress = 'none'", "GitHub", "aws.runner.egressProxy"],
    ),
    (
        "azure-dev",
        {"network": {"egress": "none"}, "model": {"source": None}},
        ["network.egress = 'none'", "azure.runner.egressProxy"],
    ),
    ("aws-dev", {"aws": {"runner": {"timeoutMinutes": 60}}}, ["aws.runner.timeoutMinutes = 60", "100"]),
    ("aws-dev", {"aws": {"runner": {"deployPolicyArns": []}}}, ["aws.runner.deployPolicyArns", "at least 1"]),
    ("aws-dev", {"aws": {"runner": {"connectionArn": "arn:aws:s3:::x"}}}, ["aws.runner.connectionArn"]),
    ("aws-dev", {"aws": {"runner": {"repository": "not a repo"}}}, ["aws.runner.repository"]),
    (
        "azure-dev",
        {"azure": {"runner": {"subnetCidr": "10.60.250.0/28"}}},
        ["azure.runner.subnetCidr", "/27 or larger"],
    ),
    ("azure-dev", {"azure": {"runner": {"subnetCidr": "10.60.4.0/27"}}}, ["azure.runner.subnetCidr", "overlaps"]),
    ("azure-dev", {"azure": {"runner": {"image": "runner:latest"}}}, ["azure.runner.image", "pinned"]),
    ("azure-dev", {"githubAppKey": "pem"}, ["githubAppKey", "only a bootstrap stack"]),
]


@pytest.mark.parametrize(("stack", "overrides", "fragments"), BAD, ids=[str(b[1]) for b in BAD])
def test_bad_access_config_is_one_line(stack, overrides, fragments):
    with pytest.raises(ConfigError) as info:
        parse(stack, overrides)
    message = str(info.value)
    assert "\n" not in message and message.startswith("llm-landing-zone:")
    for fragment in fragments:
        assert fragment in message


def test_egress_none_works_with_an_explicit_proxy():
    cfg = parse(
        "aws-dev",
        {
            "network": {"egress": "none"},
            "model": {"source": None},  # no staging Job without egress (issue 12 item 2)
            "aws": {"runner": {"egressProxy": "http://proxy.corp:3128"}},
        },
    )
    assert cfg.aws.runner.egress_proxy == "http://proxy.corp:3128"


@pytest.mark.parametrize(
    ("stack", "overrides", "own", "fragments"),
    [
        ("gcp-dev", {}, {}, ["role = 'bootstrap'", "the workload has dns"]),
        ("azure-dev", {}, {}, ["githubAppKey = null", "pulumi config set --secret githubAppKey"]),
    ],
)
def test_bootstrap_mistakes_fail_before_anything_is_registered(stack, overrides, own, fragments):
    with pytest.raises(ConfigError) as info:
        bootstrap_plan(stack, overrides, **own)
    assert "\n" not in str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_a_bootstrap_stack_is_named_after_its_workload():
    from infra.config import roles

    config = {"llm-landing-zone:role": "bootstrap"}
    with pytest.raises(ConfigError, match=r"role = 'bootstrap': a bootstrap stack is named <workload stack>-bootstrap"):
        roles.with_workload("aws-dev-infra", config, lambda s: {})
    with pytest.raises(ConfigError, match=r"the workload stack 'nope' has no stack file"):
        roles.with_workload("nope-bootstrap", config, lambda s: (_ for _ in ()).throw(FileNotFoundError(s)))
    assert roles.with_workload("aws-dev", {"a": "1"}, lambda s: {}) == {"a": "1"}  # a workload reads no file


def test_shipped_bootstrap_stacks_read_their_workload_file():
    for workload in ("aws-dev", "azure-dev"):
        base = stack_file(workload).config
        merged = stack_file(f"{workload}-bootstrap").config
        assert {k: v for k, v in merged.items() if k != "llm-landing-zone:role" and k in base} == {
            k: v for k, v in base.items() if k in merged and k != "llm-landing-zone:role"
        }
        assert merged["llm-landing-zone:role"] == "bootstrap" and merged.keys() >= base.keys()
    assert "llm-landing-zone:githubAppKey" in stack_file("azure-dev-bootstrap").secret_keys


# --- GKE: the DNS endpoint ----------------------------------------------------------------------

CLUSTER = "gcp:container/cluster:Cluster"


def _kubeconfig(stack: str, overrides: dict) -> dict:
    import importlib

    sf = stack_file(stack, overrides)
    cfg = loader.parse(loader.from_pulumi_config(sf.config))
    with mocked_engine(sf.project, sf.stack, sf.config) as (monitor, run, errors):
        built = []
        run(lambda: built.append(importlib.import_module(f"infra.{cfg.cloud}.platform").build(cfg)))
        assert _sync_await(built[0].kubeconfig.is_secret())
        doc = json.loads(_sync_await(built[0].kubeconfig.future()))
        assert (errors.errors, errors.warnings) == ([], [])
    return {"doc": doc, "recorded": monitor.recorded}


def test_gke_dns_endpoint_admits_iam_traffic_and_the_ip_endpoint_stays_restricted():
    p = dev_plan("gcp-dev")  # ships with cluster.apiAccess: dns
    cluster = p.one(CLUSTER)
    assert cluster.get("controlPlaneEndpointsConfig") == {
        "dnsEndpointConfig": {
            "allowExternalTraffic": True,
            "enableK8sCertsViaDns": False,
            "enableK8sTokensViaDns": False,
        },
        "ipEndpointsConfig": {"enabled": True},
    }
    assert cluster.get("masterAuthorizedNetworksConfig.cidrBlocks") == [
        {"cidrBlock": "203.0.113.0/24", "displayName": "allowed-0"}
    ]
    assert cluster.get("masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled") is False
    assert cluster.get("privateClusterConfig.enablePrivateNodes") is True
    assert p.policy == []


def test_gke_kubeconfig_points_at_the_dns_name_with_adc():
    built = _kubeconfig("gcp-dev", {})
    cluster = next(r for r in built["recorded"] if r.type == CLUSTER)
    dns = cluster.outputs["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["endpoint"]
    assert dns.endswith(".us-central1.gke.goog")
    (entry,) = built["doc"]["clusters"]
    assert entry["cluster"] == {"server": f"https://{dns}"}  # public CA: no certificate-authority-data
    exec_ = built["doc"]["users"][0]["user"]["exec"]
    assert exec_["command"] == "gke-gcloud-auth-plugin"
    assert exec_["args"] == ["--use_application_default_credentials"]


def test_gke_cidr_mode_has_no_dns_endpoint_and_uses_the_ip_endpoint():
    p = plan("gcp-dev", {"cluster": {"apiAccess": "cidr"}})
    assert p.one(CLUSTER).get("controlPlaneEndpointsConfig") is None
    doc = _kubeconfig("gcp-dev", {"cluster": {"apiAccess": "cidr"}})["doc"]
    assert doc["clusters"][0]["cluster"]["server"].startswith("https://34.")
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"]


# --- EKS: CodeBuild runners in the private subnets ------------------------------------------------


@pytest.fixture(scope="module")
def aws_bootstrap():
    return dev_plan("aws-dev-bootstrap")


@pytest.fixture(scope="module")
def aws_workload():
    return dev_plan("aws-dev")


def test_aws_bootstrap_holds_the_very_network_the_workload_would_build(aws_bootstrap):
    in_workload = cidr_plan("aws-dev")
    network = [r for r in in_workload.resources if r.urn.split("::")[-2].startswith("llz:aws:Network")]
    assert network
    by_name = {(r.type, r.name): r for r in aws_bootstrap.resources}
    plain = ("cidrBlock", "availabilityZone", "mapPublicIpOnLaunch", "destinationCidrBlock", "tags", "trafficType")
    for r in network:  # same components and logical names; the same address plan and settings
        twin = by_name[(r.type, r.name)]
        assert {k: twin.inputs.get(k) for k in plain} == {k: r.inputs.get(k) for k in plain}, r.name
        assert set(twin.inputs) == set(r.inputs), r.name
    assert aws_bootstrap.policy == [] and aws_bootstrap.sizing == {}


def test_aws_runners_are_codebuild_projects_in_the_private_subnets(aws_bootstrap):
    subnets = sorted(s.id for s in aws_bootstrap.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name)
    sg = aws_bootstrap.one("aws:ec2/securityGroup:SecurityGroup", "runner-sg")
    assert sg.get("ingress") in (None, [])
    assert {(e["fromPort"], tuple(e["cidrBlocks"])) for e in sg.get("egress")} == {(443, ("0.0.0.0/0",))}
    projects = {p.get("name"): p for p in aws_bootstrap.of_type("aws:codebuild/project:Project")}
    assert set(projects) == {"llz-aws-dev-deploy", "llz-aws-dev-preview"}
    for name, project in projects.items():
        assert sorted(project.get("vpcConfig.subnets")) == subnets
        assert project.get("vpcConfig.securityGroupIds") == [sg.id]
        assert project.get("vpcConfig.vpcId") == aws_bootstrap.one("aws:ec2/vpc:Vpc").id
        assert project.get("buildTimeout") > 90  # above the job's timeout-minutes
        assert project.get("environment.privilegedMode") is False
        assert project.get("source.auth") == {
            "type": "CODECONNECTIONS",
            "resource": AWS_RUNNER["connectionArn"].replace(
                "0a1b2c3d-aaaa-bbbb-cccc-111122223333", "00000000-0000-0000-0000-000000000000"
            ),
        }
        assert project.get("source.location") == "https://github.com/my-org/llm-landing-zone.git"
        assert project.get("logsConfig.cloudwatchLogs.status") == "ENABLED"
        # the label the workflows use lands on this project (AWS: codebuild-<project>-<run id>-<attempt>)
        kind = name.rsplit("-", 1)[1]
        assert ci.runs_on("aws", "aws-dev", kind, "77", "2") == f"codebuild-{name}-77-2"
    hooks = {h.get("projectName"): h for h in aws_bootstrap.of_type("aws:codebuild/webhook:Webhook")}
    assert hooks.keys() == projects.keys()
    assert hooks["llz-aws-dev-deploy"].get("filterGroups") == [
        {
            "filters": [
                {"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"},
                {"type": "WORKFLOW_NAME", "pattern": "^(up|drift)$"},
            ]
        }
    ]
    assert hooks["llz-aws-dev-preview"].get("filterGroups.0.filters.1.pattern") == "^(preview)$"


def test_aws_runner_roles_have_only_the_identity_they_need(aws_bootstrap):
    roles = {r.name: r for r in aws_bootstrap.of_type("aws:iam/role:Role") if r.name.startswith("runner-")}
    assert set(roles) == {"runner-deploy", "runner-preview"}
    projects = {p.name: p for p in aws_bootstrap.of_type("aws:codebuild/project:Project")}
    attachments = aws_bootstrap.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    for kind, role in ((n.split("-")[1], r) for n, r in roles.items()):
        (trust,) = json.loads(role.get("assumeRolePolicy"))["Statement"]
        assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
        assert trust["Condition"] == {
            "StringEquals": {"aws:SourceAccount": "123456789012"},
            "ArnLike": {"aws:SourceArn": f"arn:aws:codebuild:us-east-1:123456789012:project/llz-aws-dev-{kind}"},
        }
        assert projects[f"runner-{kind}"].get("serviceRole") == role.outputs["arn"]
        attached = sorted(a.get("policyArn") for a in attachments if a.get("role") == role.outputs["name"])
        expected = {
            "deploy": ["arn:aws:iam::123456789012:policy/llz-deploy"],
            "preview": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        }
        assert attached == expected[kind]
        (inline,) = [
            p for p in aws_bootstrap.of_type("aws:iam/rolePolicy:RolePolicy") if p.name == f"runner-{kind}-runner"
        ]
        statements = {s["Sid"]: s for s in json.loads(inline.get("policy"))["Statement"]}
        assert set(statements) == {
            "BuildLogs",
            "VpcNetworkInterfaces",
            "VpcNetworkInterfacesInTheseSubnets",
            "GitHubConnection",
        }
        log_group = aws_bootstrap.one("aws:cloudwatch/logGroup:LogGroup", "runner-logs")
        assert statements["BuildLogs"]["Resource"] == [log_group.outputs["arn"], log_group.outputs["arn"] + ":*"]
        assert all(
            a.startswith("ec2:Describe") or a in ("ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface")
            for a in statements["VpcNetworkInterfaces"]["Action"]
        )
        condition = statements["VpcNetworkInterfacesInTheseSubnets"]["Condition"]["StringEquals"]
        subnets = sorted(s.id for s in aws_bootstrap.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name)
        assert sorted(a.rsplit("/", 1)[1] for a in condition["ec2:Subnet"]) == subnets
        assert condition["ec2:AuthorizedService"] == "codebuild.amazonaws.com"
        assert statements["GitHubConnection"]["Resource"].startswith("arn:aws:codeconnections:")
        assert "*" not in json.dumps(statements["GitHubConnection"])


def test_aws_workload_uses_the_bootstrap_network_and_admits_the_runners(aws_workload, aws_bootstrap):
    for typ in (
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/natGateway:NatGateway",
        "aws:codebuild/project:Project",
    ):
        assert aws_workload.of_type(typ) == [], typ
    private = sorted(s.id for s in aws_bootstrap.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name)
    assert sorted(aws_workload.one("aws:eks/cluster:Cluster").get("vpcConfig.subnetIds")) == private
    gateway = next(
        e for e in aws_workload.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.get("vpcEndpointType") == "Gateway"
    )
    tables = sorted(r.id for r in aws_bootstrap.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name)
    assert (
        sorted(gateway.get("routeTableIds")) == tables
        and gateway.get("vpcId") == aws_bootstrap.one("aws:ec2/vpc:Vpc").id
    )
    rule = aws_workload.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "runner-access-api")
    cluster = aws_workload.one("aws:eks/cluster:Cluster")
    assert rule.get("securityGroupId") == cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]
    assert (
        rule.get("referencedSecurityGroupId")
        == aws_bootstrap.one("aws:ec2/securityGroup:SecurityGroup", "runner-sg").id
    )
    assert (rule.get("fromPort"), rule.get("toPort"), rule.get("ipProtocol")) == (443, 443, "tcp")
    preview_arn = aws_bootstrap.outputs["previewRoleArn"]
    entries = [
        e for e in aws_workload.of_type("aws:eks/accessEntry:AccessEntry") if e.get("principalArn") == preview_arn
    ]
    assert len(entries) == 1 and entries[0].get("type") == "STANDARD"
    policy = aws_workload.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "runner-access-preview")
    assert policy.get("policyArn").endswith("AmazonEKSClusterAdminPolicy") and policy.get("principalArn") == preview_arn
    # Access from config only: the deploy role is aws.deployerRoleArn (the bootstrap creates the role
    # of that name), admin through the cluster's eks-deployer entry; no creator-implicit entry, and
    # exactly one entry per principal (409 otherwise).
    assert cluster.get("accessConfig.bootstrapClusterCreatorAdminPermissions") is False
    deployer = "arn:aws:iam::123456789012:role/llz-aws-dev-deploy"
    assert aws_bootstrap.outputs["deployRoleArn"] == deployer
    assert aws_bootstrap.one("aws:iam/role:Role", "runner-deploy").get("name") == "llz-aws-dev-deploy"
    principals = [e.get("principalArn") for e in aws_workload.of_type("aws:eks/accessEntry:AccessEntry")]
    assert sorted(principals) == sorted([deployer, preview_arn])
    assert aws_workload.one("aws:eks/accessEntry:AccessEntry", "eks-deployer").get("principalArn") == deployer
    # Kubernetes objects wait for the runners' path to the private endpoint
    provider = aws_workload.one("pulumi:providers:kubernetes")
    assert rule.urn in provider.dependencies or aws_workload.one("llz:aws:RunnerAccess").urn in provider.dependencies
    assert aws_workload.policy == []


def test_aws_proxy_for_egress_none():
    overrides = {
        "network": {"egress": "none"},
        "model": {"source": None},  # no staging Job without egress (issue 12 item 2)
        "aws": {"runner": {"egressProxy": "http://proxy.corp:3128"}},
    }
    b = bootstrap_plan("aws-dev", overrides)
    assert (
        b.of_type("aws:ec2/natGateway:NatGateway") == [] and b.of_type("aws:ec2/internetGateway:InternetGateway") == []
    )
    sg = b.one("aws:ec2/securityGroup:SecurityGroup", "runner-sg")
    assert sorted(e["fromPort"] for e in sg.get("egress")) == [443, 3128]
    for project in b.of_type("aws:codebuild/project:Project"):
        env = {v["name"]: v["value"] for v in project.get("environment.environmentVariables")}
        assert env["HTTPS_PROXY"] == env["https_proxy"] == "http://proxy.corp:3128"
        assert "10.40.0.0/16" in env["NO_PROXY"] and ".eks.amazonaws.com" in env["NO_PROXY"]


# --- AKS: Container Apps runners in the VNet ------------------------------------------------------


@pytest.fixture(scope="module")
def azure_bootstrap():
    return dev_plan("azure-dev-bootstrap")


@pytest.fixture(scope="module")
def azure_workload():
    return dev_plan("azure-dev")


def _runner_jobs() -> dict:
    """The Container Apps jobs as built (their configuration holds the App key, so the plan masks it)."""
    import infra.azure.bootstrap

    sf = stack_file("azure-dev-bootstrap")
    cfg = loader.parse(loader.from_pulumi_config(sf.config))
    with mocked_engine(sf.project, sf.stack, sf.config, sf.secret_keys) as (monitor, run, errors):
        built = []
        run(lambda: built.append(infra.azure.bootstrap.build(cfg)))
        jobs = {r.name: r for r in monitor.recorded if r.type == "azure-native:app:Job"}
        import pulumi

        configs = {}
        for resource in pulumi.runtime.settings.SETTINGS.monitor.resources.values():
            if resource.urn.split("::")[-2].endswith("azure-native:app:Job"):
                secret = resource.state["configuration"]  # the engine's secret wrapper: {<sig>: <secret>, value}
                assert secret[rpc._special_sig_key] == rpc._special_secret_sig
                configs[resource.urn.rsplit("::", 1)[1]] = secret["value"]
        assert (errors.errors, errors.warnings) == ([], [])
    return {"recorded": jobs, "configuration": configs, "all": monitor.recorded}


def test_azure_runner_subnet_environment_and_identities(azure_bootstrap):
    subnets = {s.get("subnetName"): s for s in azure_bootstrap.of_type("azure-native:network:Subnet")}
    runner = subnets["ci-runners"]
    assert runner.get("addressPrefix") == "10.60.4.32/27"  # the /27 after the endpoint subnet
    assert runner.get("delegations") == [{"name": "container-apps", "serviceName": "Microsoft.App/environments"}]
    assert runner.get("natGateway.id") == azure_bootstrap.one("azure-native:network:NatGateway").id
    assert runner.get("defaultOutboundAccess") is False
    assert subnets["api-server"].urn in runner.dependencies  # one subnet write per VNet at a time
    env = azure_bootstrap.one("azure-native:app:ManagedEnvironment")
    assert env.get("vnetConfiguration") == {"infrastructureSubnetId": runner.id, "internal": True}
    assert env.get("workloadProfiles") == [{"name": "Consumption", "workloadProfileType": "Consumption"}]
    identities = {i.name: i for i in azure_bootstrap.of_type("azure-native:managedidentity:UserAssignedIdentity")}
    assert set(identities) == {"runner-deploy", "runner-preview"}
    assert azure_bootstrap.policy == []


def test_azure_runner_rights_are_on_the_stacks_resource_group_only(azure_bootstrap):
    from infra.azure import runner

    group = azure_bootstrap.one("azure-native:resources:ResourceGroup").id
    principals = {
        i.name.split("-")[1]: i.outputs["principalId"]
        for i in azure_bootstrap.of_type("azure-native:managedidentity:UserAssignedIdentity")
    }
    grants = {g.name: g for g in azure_bootstrap.of_type("azure-native:authorization:RoleAssignment")}
    roles = {name: g.get("roleDefinitionId").rsplit("/", 1)[1] for name, g in grants.items()}
    assert roles == {
        "runner-deploy-contributor": runner.CONTRIBUTOR,
        "runner-deploy-rbac-admin": runner.RBAC_ADMINISTRATOR,
        "runner-deploy-key-officer": runner.KEY_VAULT_CRYPTO_OFFICER,  # the workload's Key Vault keys (always)
        "runner-preview-reader": runner.READER,
    }
    for name, g in grants.items():
        assert g.get("scope") == group and g.get("principalType") == "ServicePrincipal"
        assert g.get("principalId") == principals[name.split("-")[1]]
    admin = grants["runner-deploy-rbac-admin"]
    assert admin.get("conditionVersion") == "2.0"
    condition = admin.get("condition")
    for role in runner.WORKLOAD_ROLES:
        assert condition.count(role) == 2  # may write and delete assignments of these roles, nothing else
    assert runner.CONTRIBUTOR not in condition and "8e3af657" not in condition  # never Contributor or Owner


@pytest.mark.parametrize("overrides", [{}, {"azure": {"customerManagedKey": True}}])
def test_azure_deploy_runner_may_assign_every_role_the_workload_assigns(overrides):
    from infra.azure import runner

    p = plan("azure-dev", overrides)
    assigned = {
        g.get("roleDefinitionId").rsplit("/", 1)[1] for g in p.of_type("azure-native:authorization:RoleAssignment")
    }
    assert assigned and assigned <= set(runner.WORKLOAD_ROLES)


@pytest.mark.parametrize(
    ("urn_path", "scope", "role", "extra", "finding"),
    [
        (
            "llz:azure:Runner$",
            "/subscriptions/s/resourceGroups/llz-x",
            "b24988ac-6180-42a0-ab88-20f7382dd24c",
            {},
            False,
        ),
        (
            "llz:azure:Runner$",
            "/subscriptions/s/resourceGroups/llz-x",
            "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
            {},
            True,
        ),
        (
            "llz:azure:Runner$",
            "/subscriptions/s/resourceGroups/llz-x",
            "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
            {"condition": "c", "conditionVersion": "2.0"},
            False,
        ),
        (
            "llz:azure:Runner$",
            "/subscriptions/s/resourceGroups/llz-x",
            "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            {},
            True,
        ),
        ("llz:azure:Runner$", "/subscriptions/s", "acdd72a7-3385-48ef-bd42-f606fba81ae7", {}, True),
        (
            "llz:azure:WeightsReader$",
            "/subscriptions/s/resourceGroups/llz-x",
            "acdd72a7-3385-48ef-bd42-f606fba81ae7",
            {},
            True,
        ),
    ],
)
def test_policy_admits_group_scope_only_for_bounded_runner_grants(urn_path, scope, role, extra, finding):
    from infra.policy_rules import azure as rules
    from infra.policy_rules.model import Res

    (rule,) = [r for r in rules.RULES if r.name == "azure-role-assignment-scope"]
    res = Res(
        type="azure-native:authorization:RoleAssignment",
        urn=f"urn:pulumi:s::llm-landing-zone::{urn_path}azure-native:authorization:RoleAssignment::g",
        name="g",
        props={
            "scope": scope,
            "roleDefinitionId": f"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{role}",
            "principalType": "ServicePrincipal",
            **extra,
        },
    )
    assert bool(list(rule.check(res))) is finding


def test_azure_runner_jobs_scale_on_queued_github_jobs_as_their_own_identity(azure_bootstrap):
    built = _runner_jobs()
    identities = {r.name: r for r in built["all"] if r.type == "azure-native:managedidentity:UserAssignedIdentity"}
    env_id = azure_bootstrap.one("azure-native:app:ManagedEnvironment").id
    for kind in ci.KINDS:
        job = built["recorded"][f"runner-{kind}"]
        config = built["configuration"][f"runner-{kind}"]
        identity = identities[f"runner-{kind}"]
        assert job.get("environmentId") == env_id and job.get("workloadProfileName") == "Consumption"
        assert job.get("identity") == {"type": "UserAssigned", "userAssignedIdentities": [identity.id]}
        assert config["triggerType"] == "Event" and config["replicaRetryLimit"] == 0
        assert config["replicaTimeout"] > 90 * 60
        (rule,) = config["eventTriggerConfig"]["scale"]["rules"]
        assert rule["type"] == "github-runner"
        assert rule["metadata"] | {} == {
            "githubApiURL": "https://api.github.com",
            "owner": "my-org",
            "runnerScope": "repo",
            "repos": "llm-landing-zone",
            "labels": f"llz-azure-dev-{kind}",
            "targetWorkflowQueueLength": "1",
            "applicationID": "123456",
            "installationID": "12345678",
        }
        assert rule["auth"] == [{"triggerParameter": "appKey", "secretRef": "github-app-key"}]
        assert config["registries"] == [{"server": "myregistry.azurecr.io", "identity": identity.id}]
        (container,) = job.get("template.containers")
        env = {e["name"]: e.get("value", e.get("secretRef")) for e in container["env"]}
        assert env["RUNNER_LABELS"] == ci.runs_on("azure", "azure-dev", kind, "1", "1") == f"llz-azure-dev-{kind}"
        assert env["AZURE_CLIENT_ID"] == env["ARM_CLIENT_ID"] == identity.outputs["clientId"]
        assert env["ARM_USE_MSI"] == "true" and env["GITHUB_APP_KEY"] == "github-app-key"
        # The App key is inside: the whole block is secret (the plan masks every value, keeps the shape).
        assert _leaves(job.get("configuration")) and set(_leaves(job.get("configuration"))) == {SECRET}


def test_azure_workload_uses_the_bootstrap_vnet_and_authorizes_the_runners(azure_workload, azure_bootstrap):
    for typ in ("network:VirtualNetwork", "network:Subnet", "network:NatGateway", "resources:ResourceGroup", "app:Job"):
        assert azure_workload.of_type(f"azure-native:{typ}") == [], typ
    aks = azure_workload.one("azure-native:containerservice:ManagedCluster")
    nodes = next(s for s in azure_bootstrap.of_type("azure-native:network:Subnet") if s.get("subnetName") == "nodes")
    assert aks.get("agentPoolProfiles.0.vnetSubnetID") == nodes.id
    assert aks.get("resourceGroupName") == "llz-azure-dev"
    nat_ip = azure_bootstrap.one("azure-native:network:PublicIPAddress").outputs["ipAddress"]
    assert aks.get("apiServerAccessProfile.authorizedIPRanges") == ["203.0.113.0/24", f"{nat_ip}/32"]
    grants = {g.name: g for g in azure_workload.of_type("azure-native:authorization:RoleAssignment")}
    deployer = grants["cluster-deployer-admin"]  # the deploy runner's identity, whoever runs the program
    assert deployer.get("principalType") == "ServicePrincipal"
    assert deployer.get("principalId") == azure_bootstrap.outputs["deployPrincipalId"]
    preview = azure_bootstrap.outputs["previewPrincipalId"]
    for name in ("runner-access-preview-admin", "runner-access-preview-user"):
        assert grants[name].get("principalId") == preview and grants[name].get("principalType") == "ServicePrincipal"
        assert grants[name].get("scope") == aks.id
    assert azure_workload.policy == []


def test_azure_refuses_egress_none_even_with_a_proxy():
    """Issue 15 item 2: nodes and the token exchange need the internet on Azure; a runner proxy does
    not change that (tests/test_azure_reality.py has the message)."""
    overrides = {
        "network": {"egress": "none"},
        "model": {"source": None},
        "azure": {"runner": {"egressProxy": "http://proxy.corp:3128"}},
    }
    assert "network.egress = 'none': not supported on Azure" in config_error("azure-dev", overrides)


def test_azure_runner_proxy_env():
    b = bootstrap_plan(
        "azure-dev", {"azure": {"runner": {"egressProxy": "http://proxy.corp:3128"}}}, githubAppKey=SECRET
    )
    for job in b.of_type("azure-native:app:Job"):
        env = {e["name"]: e.get("value") for e in job.get("template.containers.0.env")}
        assert env["HTTPS_PROXY"] == env["https_proxy"] == "http://proxy.corp:3128"
        assert "10.60.0.0/16" in env["NO_PROXY"] and ".azmk8s.io" in env["NO_PROXY"]


def test_azure_runner_kubeconfig_uses_kubelogin_msi():
    doc = _kubeconfig("azure-dev", {})["doc"]
    args = doc["users"][0]["user"]["exec"]["args"]
    assert args[:3] == ["get-token", "--login", "msi"]  # the client id comes from AZURE_CLIENT_ID (runner env)
    assert "--client-id" not in args


def test_azure_private_cluster_runner_needs_no_authorized_ip():
    p = plan("azure-dev", {"azure": {"privateCluster": True}})
    profile = p.one("azure-native:containerservice:ManagedCluster").get("apiServerAccessProfile")
    assert profile["enablePrivateCluster"] is True and "authorizedIPRanges" not in profile


# --- the contract between the two stacks ------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "azure"])
def test_bootstrap_exports_what_the_workload_reads(cloud):
    import importlib

    reads = importlib.import_module(f"infra.{cloud}.bootstrap").OUTPUTS
    exported = dev_plan(f"{cloud}-dev-bootstrap").outputs
    assert set(reads) <= set(exported)
    fakes = importlib.import_module(f"infra.{cloud}.fakes")
    from infra.plan.fakes import _context

    answered = fakes.bootstrap_outputs(_context(f"{cloud}-dev", stack_file(f"{cloud}-dev").config))
    for key in reads:  # the plan's StackReference answers what the bootstrap's plan exports
        want, got = exported[key], answered[key]
        assert (got[: len(want)] if isinstance(want, list) else got) == want, key  # lists: one id per AZ


def test_every_runner_stack_has_its_bootstrap_stack_file():
    names = stack_names()
    for stack in names:
        config = stack_file(stack).config
        runner = json.loads(config.get("llm-landing-zone:cluster", "{}")).get("apiAccess") == "runner"
        if runner and config.get("llm-landing-zone:role") != "bootstrap":
            assert f"{stack}-bootstrap" in names, stack


# --- CI: which runner each job takes ----------------------------------------------------------------


def _matrix(env: dict[str, str] | None = None) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "infra.ci"],
        cwd=ROOT,
        env={**os.environ, "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "3", **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return {k: json.loads(v) for k, v in (line.split("=", 1) for line in result.stdout.splitlines())}


def test_ci_matrix_sends_jobs_to_the_stacks_runners():
    out = _matrix({"LLZ_RUNNERS": "", "LLZ_STACKS": ""})
    assert out["all"] == stack_names() and out["list"] == out["bootstrap"] == out["workloads"] == []  # none listed
    runners = out["runners"]
    assert runners["aws-dev"] == {
        "deploy": "codebuild-llz-aws-dev-deploy-4242-3",
        "preview": "codebuild-llz-aws-dev-preview-4242-3",
        "identity": True,
    }
    assert runners["azure-dev"] == {
        "deploy": "llz-azure-dev-deploy",
        "preview": "llz-azure-dev-preview",
        "identity": True,
    }
    for hosted in ("aws-dev-bootstrap", "azure-dev-bootstrap", "gcp-dev", "aws-prod"):
        assert runners[hosted] == {"deploy": ci.HOSTED, "preview": ci.HOSTED, "identity": False}


def test_ci_matrix_takes_overrides_from_the_repository_variable():
    overrides = {"aws-prod": "llz-static-egress", "azure-dev": {"preview": "my-preview-runner"}}
    runners = _matrix({"LLZ_RUNNERS": json.dumps(overrides)})["runners"]
    assert runners["aws-prod"] == {"deploy": "llz-static-egress", "preview": "llz-static-egress", "identity": False}
    assert runners["azure-dev"] == {"deploy": "llz-azure-dev-deploy", "preview": "my-preview-runner", "identity": False}
    bad = subprocess.run(
        [sys.executable, "-m", "infra.ci"],
        cwd=ROOT,
        env={**os.environ, "LLZ_RUNNERS": "[1"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "LLZ_RUNNERS is not JSON" in bad.stderr


def test_ci_module_needs_only_pyyaml():
    script = "import sys, infra.ci; print(sorted(m for m in ('pulumi', 'pydantic', 'pulumi_aws') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the workflows -----------------------------------------------------------------------------------


def _workflows():
    from tests import test_workflows as wf

    return wf


def test_no_job_that_touches_a_cluster_hard_codes_its_runner():
    wf = _workflows()
    reusable = wf.load("pulumi-stack.yml")
    (job,) = reusable["jobs"].values()
    assert job["runs-on"] == "${{ inputs.runner }}"
    runner_input = wf.triggers(reusable)["workflow_call"]["inputs"]["runner"]
    assert runner_input["required"] is True and "default" not in runner_input
    calls = 0
    for name in wf.CALLERS:
        for job_id, job in wf.load(name)["jobs"].items():
            if job.get("uses") == wf.REUSABLE:  # the only jobs that reach a cluster (they log in to a cloud)
                calls += 1
                runner = job["with"]["runner"]
                assert (
                    runner.startswith("${{ fromJSON(needs.stacks.outputs.runners)[matrix.stack].")
                    and "ubuntu" not in runner
                )
                assert (
                    job["with"]["runner-identity"]
                    == "${{ fromJSON(needs.stacks.outputs.runners)[matrix.stack].identity }}"
                )
                assert "stacks" in job["needs"], f"{name}:{job_id}"
            else:  # offline jobs (list, tests, llz plan) hold no cloud credential
                assert "id-token" not in job.get("permissions", {}), f"{name}:{job_id}"
    assert calls == 5  # preview, bootstrap, preview-prod, up, drift


def test_every_other_workflow_touches_no_cluster():
    """Outside the callers of pulumi-stack.yml, a workflow may run on ubuntu-latest only because it
    reaches no cluster: image.yml builds and publishes the puller image, pins.yml checks the image
    digest pins against the public registries, nothing more (no stack, no Pulumi, no kubeconfig). A
    new workflow that does reach a cluster fails here until it takes its runner from infra/ci.py."""
    wf = _workflows()
    others = sorted(p.name for p in wf.WORKFLOWS.glob("*.yml") if p.name not in (*wf.CALLERS, "pulumi-stack.yml"))
    assert others == ["image.yml", "pins.yml"]
    for name in others:
        text = (wf.WORKFLOWS / name).read_text().lower()
        for word in ("pulumi", "kubectl", "kubeconfig", "llz-", "infra.ci"):
            assert word not in text, f"{name} mentions {word}"


def test_stacks_job_takes_runners_from_infra_ci_and_the_repository_variable():
    wf = _workflows()
    for name in wf.CALLERS:
        stacks = wf.load(name)["jobs"]["stacks"]
        step = next(s for s in stacks["steps"] if s.get("id") == "list")
        assert "python -m infra.ci" in step["run"]
        env = {"LLZ_RUNNERS": "${{ vars.LLZ_RUNNERS }}", "LLZ_STACKS": "${{ vars.LLZ_STACKS }}"}
        if name == "preview.yml":
            env["REPOSITORY_PRIVATE"] = "${{ github.event.repository.private }}"
        assert step["env"] == env
        assert stacks["outputs"]["runners"] == "${{ steps.list.outputs.runners }}"


def test_bootstrap_stacks_go_first_on_github_hosted_runners():
    wf = _workflows()
    up = wf.load("up.yml")["jobs"]
    assert up["bootstrap"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.bootstrap) }}"
    assert up["bootstrap"]["if"] == "needs.stacks.outputs.bootstrap != '[]'"
    assert up["up"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.workloads) }}"
    assert "bootstrap" in up["up"]["needs"]
    assert up["up"]["if"] == "${{ !failure() && !cancelled() && needs.stacks.outputs.workloads != '[]' }}"
    out = _matrix()
    bootstrap = [s for s in out["all"] if s.endswith("-bootstrap")]
    assert bootstrap and {out["runners"][s]["deploy"] for s in bootstrap} == {ci.HOSTED}


def test_previews_of_forks_never_reach_an_in_network_runner():
    wf = _workflows()
    preview = wf.load("preview.yml")["jobs"]["preview"]
    assert preview["if"].startswith("github.event.pull_request.head.repo.full_name == github.repository && ")


def test_runner_webhooks_filter_on_workflows_that_exist():
    import yaml

    names = {yaml.safe_load(p.read_text())["name"] for p in (ROOT / ".github" / "workflows").glob("*.yml")}
    assert {w for kind in ci.KINDS for w in ci.WORKFLOWS[kind]} <= names
    wf = _workflows()
    kinds = {"preview.yml": "preview", "up.yml": "deploy", "drift.yml": "deploy"}
    for name, kind in kinds.items():
        jobs = [j for j in wf.load(name)["jobs"].values() if j.get("uses") == wf.REUSABLE]
        assert all(j["with"]["runner"].endswith(f".{kind} }}}}") for j in jobs), name
        assert wf.load(name)["name"] in ci.WORKFLOWS[kind]


@pytest.mark.parametrize(
    ("env", "ready"),
    [
        ({"CLOUD": "aws", "PULUMI_ACCESS_TOKEN": "t", "RUNNER_IDENTITY": "true"}, "true"),  # the CodeBuild role
        ({"CLOUD": "azure", "PULUMI_ACCESS_TOKEN": "t", "RUNNER_IDENTITY": "true"}, "true"),  # the managed identity
        ({"CLOUD": "aws", "RUNNER_IDENTITY": "true"}, "false"),  # still needs the state backend's token
        ({"CLOUD": "gcp", "PULUMI_ACCESS_TOKEN": "t", "RUNNER_IDENTITY": "true"}, "false"),  # GKE: OIDC as always
        ({"CLOUD": "aws", "PULUMI_ACCESS_TOKEN": "t", "RUNNER_IDENTITY": "false"}, "false"),
    ],
)
def test_in_network_runner_brings_its_own_cloud_identity(tmp_path, env, ready):
    script = _workflows()._step_script("gate")
    output = tmp_path / "out"
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), "COMMAND": "up", "STACK": "s", **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert output.read_text() == f"ready={ready}\n"


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_aws_bootstrap_and_config_must_agree_on_who_deploys():
    """The workload admits the runners only if the bootstrap's deploy role IS aws.deployerRoleArn, and
    the preview role (which gets its own access entry) is neither the deployer nor an admin."""
    from infra.aws.runner import checked_preview_role

    deployer = "arn:aws:iam::123456789012:role/llz-aws-dev-deploy"
    preview = "arn:aws:iam::123456789012:role/runner-preview-abc"
    assert checked_preview_role(deployer, preview, deployer, ()) == preview
    with pytest.raises(ConfigError) as other_account:
        checked_preview_role("arn:aws:iam::999999999999:role/llz-aws-dev-deploy", preview, deployer, ())
    assert str(other_account.value).startswith(f"llm-landing-zone:aws.deployerRoleArn = '{deployer}'")
    assert "must be the same role" in str(other_account.value) and "\n" not in str(other_account.value)
    with pytest.raises(ConfigError, match=r"aws\.adminRoleArns = .*own access entry"):
        checked_preview_role(deployer, preview, deployer, (preview,))


def test_aws_runner_mode_deployer_listed_as_admin_gets_one_entry():
    p = plan("aws-dev", {"aws": {"adminRoleArns": ["arn:aws:iam::123456789012:role/llz-aws-dev-deploy"]}})
    principals = [e.get("principalArn") for e in p.of_type("aws:eks/accessEntry:AccessEntry")]
    assert len(principals) == len(set(principals)) == 2  # the deployer (as admin-0) and the preview role
