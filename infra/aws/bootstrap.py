"""The AWS side of `<stack>-bootstrap`: the workload's VPC and its CodeBuild runners, and the
workload's view of them (cluster.apiAccess: runner).

`build(cfg)` is the bootstrap program (run by `__main__.py` for `role: bootstrap`): the very
`Network` component the workload would build (same logical name, same address plan) and the
`Runner` in its private subnets. The workload uses `infra.aws.runner.from_bootstrap` instead:
the same attributes, read from these outputs through the StackReference.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.audit import Account
from infra.aws.network import Network, NetworkArgs
from infra.aws.platform import _zones
from infra.aws.runner import Runner, RunnerArgs, exports
from infra.aws.settings import log_retention_days, role_name
from infra.config import roles
from infra.config.schema import StackConfig
from infra.conventions import tags

# What the workload reads from the bootstrap stack (a test plans both and checks each is exported).
OUTPUTS = (
    "vpcId",
    "privateSubnetIds",
    "privateRouteTableIds",
    "collectorSubnetIds",
    "runnerSecurityGroupId",
    "deployRoleArn",
    "previewRoleArn",
)


def build(cfg: StackConfig) -> dict[str, Any]:
    """The bootstrap program: network + runners of the workload stack this one serves."""
    assert cfg.aws is not None and cfg.aws.runner is not None  # checked: role bootstrap needs runners
    stack = pulumi.get_stack()
    workload = roles.workload_of(stack)
    assert workload is not None  # infra.config.roles checked the name
    deploy_role = role_name(cfg.aws.deployer_role_arn)
    assert deploy_role is not None  # infra.aws.settings.check: a role with cluster.apiAccess runner
    provider = aws.Provider("aws", region=cfg.region, default_tags={"tags": tags(stack)})
    invoke = pulumi.InvokeOptions(provider=provider)
    on_aws = pulumi.ResourceOptions(providers=[provider])
    partition = aws.get_partition(opts=invoke).partition
    caller = aws.get_caller_identity(opts=invoke)
    # The flow logs' key is administered by the deployer and admins, and by the role running this
    # stack (its OIDC role, not the deploy runner's): KMS refuses a key policy that would lock its
    # creator out of PutKeyPolicy, and this stack must keep managing the key it creates.
    creator = aws.iam.get_session_context(arn=caller.arn, opts=invoke).issuer_arn
    # The same component, logical name and arguments infra/aws/platform.py uses in cidr mode.
    network = Network(
        "network",
        NetworkArgs(
            cfg.network.cidr,
            [name for name, _ in _zones(cfg.aws, invoke)],
            nat_egress=cfg.network.egress == "nat",
            cluster_name=f"llz-{workload}",
            account=Account(caller.account_id, cfg.region, partition),
            key_admin_arns=sorted({cfg.aws.deployer_role_arn, *cfg.aws.admin_role_arns, creator}),
            log_retention_days=log_retention_days(cfg),
        ),
        on_aws,
    )
    runner = Runner(
        "runner",
        RunnerArgs(
            stack=workload,
            region=cfg.region,
            # The deployer's account: the runners' roles live where the deploy role does (no caller
            # lookup; the workload checks the bootstrap's deploy role equals aws.deployerRoleArn).
            account_id=cfg.aws.deployer_role_arn.split(":")[4],
            partition=partition,
            vpc_id=network.vpc_id,
            vpc_cidr=str(cfg.network.cidr),
            subnet_ids=network.private_subnet_ids,
            settings=cfg.aws.runner,
            deploy_role=deploy_role,
            logs_key_arn=network.logs_key_arn,
            log_retention_days=log_retention_days(cfg),
        ),
        on_aws,
    )
    return {
        "region": cfg.region,
        "vpcId": network.vpc_id,
        "privateSubnetIds": network.private_subnet_ids,
        "privateRouteTableIds": network.private_route_table_ids,
        "collectorSubnetIds": network.collector_subnet_ids,
        **exports(runner),
    }
