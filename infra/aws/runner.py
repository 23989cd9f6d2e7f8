"""CodeBuild-hosted GitHub Actions runners in the private subnets, and what the cluster grants them.

`Runner` (in the `<stack>-bootstrap` stack): per kind (`deploy` for up and drift, `preview` for
pull requests) a CodeBuild project in the VPC's private subnets whose webhook starts a build for
every queued workflow job labelled `codebuild-<project>-<run id>-<attempt>` (filter
WORKFLOW_JOB_QUEUED, AWS CodeBuild user guide "Tutorial: Configure a CodeBuild-hosted GitHub
Actions runner"; pulumi-aws 7.51.1 `codebuild.Webhook` "For CodeBuild Runner Project"). The build
IS the runner: one ephemeral job, then gone. Each project runs as its own role, which is the
identity Pulumi uses on that runner (no OIDC login in the job):

- trust: `codebuild.amazonaws.com`, only for this project (`aws:SourceAccount`, `aws:SourceArn`);
- what the runner itself needs: its log streams, the VPC network interfaces CodeBuild creates in
  exactly these subnets (CodeBuild user guide, "Allow CodeBuild access to AWS services required
  to create a VPC network interface"), and the GitHub connection (`codeconnections:UseConnection`,
  `GetConnection`, `GetConnectionToken` on that one connection);
- what Pulumi may do: `aws.runner.deployPolicyArns` (deploy), `previewPolicyArns` or AWS's
  `ReadOnlyAccess` (preview). Nothing else.

The source is authenticated per project with the connection (`source.auth` type CODECONNECTIONS),
not with an account-wide `codebuild.SourceCredential`, which would replace the one credential
per server type and region that other projects in the account use.

The deploy role IS `aws.deployerRoleArn`: the bootstrap creates the role of that name and path, so
access still comes from config only (the cluster's `eks-deployer` access entry, infra/aws/cluster.py;
no creator-implicit admin). `RunnerAccess` (in the workload stack): the runners reach the EKS
private endpoint because the cluster security group admits their security group on 443; the
workload checks the bootstrap's deploy role is the configured deployer, and the preview role gets
an access entry with cluster-admin, because `pulumi preview` diffs Kubernetes objects by
server-side dry-run apply, which Kubernetes authorizes like the write itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import bootstrap, ci
from infra.aws.cluster import cluster_admin
from infra.aws.settings import COLLECTOR_ZONES, AwsRunnerConfig
from infra.config.errors import key_error
from infra.config.runner import proxy_variables

# Destinations a runner reaches directly even through a proxy: instance metadata and the
# container-credentials endpoint CodeBuild serves the role on, and the EKS endpoint (private DNS).
_DIRECT = ("localhost", "127.0.0.1", "169.254.169.254", "169.254.170.2", ".eks.amazonaws.com")


def codebuild_trust(account_id: str, project_arn: str) -> str:
    """CodeBuild may assume the role, for this one project only (confused-deputy conditions)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "codebuild.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": project_arn},
                    },
                }
            ],
        }
    )


def runner_policy(log_group_arn: str, subnet_arns: Sequence[str], connection_arn: str, eni_arn: str) -> str:
    """What the runner needs to exist: no Pulumi rights here (those are the attached policies)."""
    service = connection_arn.split(":")[2]  # codeconnections, or codestar-connections (older ARNs)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "BuildLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [log_group_arn, f"{log_group_arn}:*"],
                },
                {
                    "Sid": "VpcNetworkInterfaces",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:CreateNetworkInterface",
                        "ec2:DeleteNetworkInterface",
                        "ec2:DescribeDhcpOptions",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSecurityGroups",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeVpcs",
                    ],
                    "Resource": "*",  # these EC2 actions support no resource-level permissions
                },
                {
                    "Sid": "VpcNetworkInterfacesInTheseSubnets",
                    "Effect": "Allow",
                    "Action": "ec2:CreateNetworkInterfacePermission",
                    "Resource": eni_arn,
                    "Condition": {
                        "StringEquals": {
                            "ec2:Subnet": list(subnet_arns),
                            "ec2:AuthorizedService": "codebuild.amazonaws.com",
                        }
                    },
                },
                {
                    "Sid": "GitHubConnection",
                    "Effect": "Allow",
                    "Action": [f"{service}:{a}" for a in ("GetConnection", "GetConnectionToken", "UseConnection")],
                    "Resource": connection_arn,
                },
            ],
        }
    )


def proxy_environment(proxy: str | None, vpc_cidr: str) -> list[dict[str, str]]:
    """CodeBuild environment variables for the egress proxy (none without one)."""
    variables = proxy_variables(proxy, (*_DIRECT, vpc_cidr))
    return [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()]


def webhook_filters(kind: str) -> list[dict[str, list[dict[str, str]]]]:
    """Start a build only for queued jobs of this kind's workflows (WORKFLOW_NAME filter)."""
    workflows = "|".join(ci.WORKFLOWS[kind])
    return [
        {
            "filters": [
                {"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"},
                {"type": "WORKFLOW_NAME", "pattern": f"^({workflows})$"},
            ]
        }
    ]


def _port(proxy: str | None) -> int | None:
    if proxy is None:
        return None
    rest = proxy.split("://", 1)[1].rstrip("/")
    return int(rest.rsplit(":", 1)[1]) if ":" in rest else (443 if proxy.startswith("https") else 80)


@dataclass(frozen=True)
class RunnerArgs:
    stack: str  # the workload stack the runners serve (names: llz-<stack>-<kind>)
    region: str
    account_id: str
    partition: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]
    settings: AwsRunnerConfig
    deploy_role: tuple[str, str]  # (path, name) of aws.deployerRoleArn: the deploy runner's role
    logs_key_arn: pulumi.Input[str]  # the network's logs key (CloudWatch Logs of this account)
    log_retention_days: int


class Runner(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    roles: dict[str, aws.iam.Role]
    projects: dict[str, aws.codebuild.Project]

    def __init__(self, name: str, args: RunnerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:Runner", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        arn = f"arn:{args.partition}"

        # No ingress at all; out only to HTTPS (GitHub, the state backend, AWS APIs through NAT or
        # the interface endpoints, the EKS private endpoint) and to the proxy's port.
        ports = sorted({443, *([_port(s.egress_proxy)] if s.egress_proxy else [])})
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="CI runners: no ingress; HTTPS (and the egress proxy) out",
            egress=[
                {"protocol": "tcp", "from_port": p, "to_port": p, "cidr_blocks": ["0.0.0.0/0"], "description": "out"}
                for p in ports
            ],
            tags={"Name": f"{name}-sg"},
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/codebuild/llz-{args.stack}-runners",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        subnet_arns = pulumi.Output.all(*args.subnet_ids).apply(
            lambda ids: [f"{arn}:ec2:{args.region}:{args.account_id}:subnet/{i}" for i in ids]
        )
        eni_arn = f"{arn}:ec2:{args.region}:{args.account_id}:network-interface/*"
        rights = {
            "deploy": list(s.deploy_policy_arns),
            "preview": list(s.preview_policy_arns) or [f"{arn}:iam::aws:policy/ReadOnlyAccess"],
        }

        self.roles, self.projects = {}, {}
        for kind in ci.KINDS:
            project = ci.runner_name(args.stack, kind)
            project_arn = f"{arn}:codebuild:{args.region}:{args.account_id}:project/{project}"
            # The deploy role is the configured deployer (aws.deployerRoleArn), by name and path.
            path, role_name = args.deploy_role if kind == "deploy" else (None, None)
            role = aws.iam.Role(
                f"{name}-{kind}",
                name=role_name,
                path=path,
                assume_role_policy=codebuild_trust(args.account_id, project_arn),
                description=f"GitHub Actions {kind} runner of {args.stack}: the identity Pulumi uses there",
                opts=child,
            )
            base = aws.iam.RolePolicy(
                f"{name}-{kind}-runner",
                role=role.id,
                policy=pulumi.Output.all(log_group.arn, subnet_arns).apply(
                    lambda v: runner_policy(v[0], v[1], s.connection_arn, eni_arn)
                ),
                opts=child,
            )
            attached = [
                aws.iam.RolePolicyAttachment(f"{name}-{kind}-{i}", role=role.name, policy_arn=policy, opts=child)
                for i, policy in enumerate(rights[kind])
            ]
            # CodeBuild checks the role's EC2 rights when the project is created with a VPC.
            built = aws.codebuild.Project(
                f"{name}-{kind}",
                name=project,
                description=f"GitHub Actions {kind} runner for {args.stack} (llm-landing-zone)",
                service_role=role.arn,
                source={
                    "type": "GITHUB",
                    "location": f"https://github.com/{s.repository}.git",
                    "auth": {"type": "CODECONNECTIONS", "resource": s.connection_arn},
                    "git_clone_depth": 1,
                },
                artifacts={"type": "NO_ARTIFACTS"},
                environment={
                    "type": "LINUX_CONTAINER",
                    "compute_type": s.compute_type,
                    "image": s.image,
                    "image_pull_credentials_type": "CODEBUILD",
                    "privileged_mode": False,
                    "environment_variables": proxy_environment(s.egress_proxy, args.vpc_cidr),
                },
                vpc_config={
                    "vpc_id": args.vpc_id,
                    "subnets": list(args.subnet_ids),
                    "security_group_ids": [self.security_group.id],
                },
                build_timeout=s.timeout_minutes,
                queued_timeout=30,
                concurrent_build_limit=s.max_runners,
                logs_config={
                    "cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name},
                    "s3_logs": {"status": "DISABLED"},
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[base, *attached]),
            )
            aws.codebuild.Webhook(
                f"{name}-{kind}",
                project_name=built.name,
                build_type="BUILD",
                filter_groups=webhook_filters(kind),
                opts=child,
            )
            self.roles[kind], self.projects[kind] = role, built

        self.register_outputs(
            {
                "securityGroupId": self.security_group.id,
                **{f"{kind}RoleArn": role.arn for kind, role in self.roles.items()},
            }
        )


@dataclass(frozen=True)
class RunnerAccessArgs:
    cluster_name: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    runner_security_group_id: pulumi.Input[str]
    preview_role_arn: pulumi.Input[str]
    partition: str


class RunnerAccess(pulumi.ComponentResource):
    """What the workload's cluster grants the bootstrap's runners: the private endpoint, and access."""

    def __init__(self, name: str, args: RunnerAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:RunnerAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-api",
            security_group_id=args.cluster_security_group_id,
            referenced_security_group_id=args.runner_security_group_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="Kubernetes API (private endpoint) from the CI runners",
            opts=child,
        )
        cluster_admin(f"{name}-preview", args.cluster_name, args.preview_role_arn, args.partition, child)
        self.register_outputs({})


def exports(runner: Runner) -> Mapping[str, pulumi.Input[object]]:
    return {
        "runnerSecurityGroupId": runner.security_group.id,
        "deployRoleArn": runner.roles["deploy"].arn,
        "previewRoleArn": runner.roles["preview"].arn,
        "runnerProjects": [p.name for p in runner.projects.values()],
    }


@dataclass(frozen=True)
class BootstrapNetwork:
    """The bootstrap's network as the workload's platform code uses a `Network`."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    collector_subnet_ids: list[pulumi.Output[str]]
    runner_security_group_id: pulumi.Output[str]
    deploy_role_arn: pulumi.Output[str]
    preview_role_arn: pulumi.Output[str]


def from_bootstrap(zones: int) -> BootstrapNetwork:
    ref = bootstrap.reference()

    def each(key: str, count: int = zones) -> list[pulumi.Output[str]]:
        values = ref.require_output(key)
        return [values.apply(lambda ids, i=i: ids[i]) for i in range(count)]

    return BootstrapNetwork(
        vpc_id=ref.require_output("vpcId"),
        private_subnet_ids=each("privateSubnetIds"),
        private_route_table_ids=each("privateRouteTableIds"),
        collector_subnet_ids=each("collectorSubnetIds", COLLECTOR_ZONES),
        runner_security_group_id=ref.require_output("runnerSecurityGroupId"),
        deploy_role_arn=ref.require_output("deployRoleArn"),
        preview_role_arn=ref.require_output("previewRoleArn"),
    )


def checked_preview_role(deploy_role_arn: str, preview_role_arn: str, deployer: str, admins: Sequence[str]) -> str:
    """The preview role, once the bootstrap is known to match the config: its deploy role must be
    aws.deployerRoleArn (who gets cluster-admin comes from config), and the preview role, which gets
    its own access entry here, may not be the deployer or an admin (two entries for one principal: 409)."""
    if deploy_role_arn != deployer:
        raise key_error(
            "aws.deployerRoleArn",
            deployer,
            f"the bootstrap stack's deploy runner role is {deploy_role_arn}; with cluster.apiAccess=runner they "
            "must be the same role (same account, path and name): fix the ARN, then run pulumi up on the bootstrap",
        )
    if preview_role_arn == deployer or preview_role_arn in admins:
        raise key_error(
            "aws.adminRoleArns",
            list(admins),
            f"names the preview runner role {preview_role_arn}, which already gets its own access entry; remove it",
        )
    return preview_role_arn


def admit_runners(
    network: BootstrapNetwork,
    cluster_name: pulumi.Input[str],
    cluster_sg: pulumi.Input[str],
    partition: str,
    deployer: str,
    admins: Sequence[str],
    opts: pulumi.ResourceOptions,
) -> RunnerAccess:
    """The workload's grants to the bootstrap's runners (the private endpoint, preview's access)."""
    preview = pulumi.Output.all(network.deploy_role_arn, network.preview_role_arn).apply(
        lambda arns: checked_preview_role(arns[0], arns[1], deployer, admins)
    )
    return RunnerAccess(
        "runner-access",
        RunnerAccessArgs(
            cluster_name=cluster_name,
            cluster_security_group_id=cluster_sg,
            runner_security_group_id=network.runner_security_group_id,
            preview_role_arn=preview,
            partition=partition,
        ),
        opts,
    )
