"""VPC with private subnets (one per AZ, each with its own route table) and optional NAT egress.

Nodes never get public IPs. With `network.egress: nat` a single NAT gateway in a small public
subnet gives the private route tables a default route (image pulls from Docker Hub / nvcr.io);
with `none` there is no internet gateway at all and the VPC endpoints are the only way out.
VPC flow logs (accepted and rejected) go to a CloudWatch log group encrypted with its own
customer-managed key, kept `aws.logRetentionDays` (365 days in prod); the flow-logs role may be
assumed only for this account's flow logs (aws:SourceAccount / aws:SourceArn).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.audit import Account, logs_key
from infra.aws.iam import service_trust, source_condition
from infra.aws.settings import COLLECTOR_ZONES, collector_subnets, subnet_plan


@dataclass(frozen=True)
class NetworkArgs:
    cidr: ipaddress.IPv4Network
    zones: Sequence[str]
    nat_egress: bool
    cluster_name: str  # subnet discovery tags for load balancers
    account: Account
    key_admin_arns: Sequence[str]  # administer the flow logs' key
    log_retention_days: int


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    collector_subnet_ids: list[pulumi.Output[str]]  # the AMP managed collector's own (infra/aws/monitoring.py)
    logs_key_arn: pulumi.Output[str]  # the flow logs' key; the bootstrap's runner logs use it too

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        private_cidrs, public_cidrs = subnet_plan(args.cidr, len(args.zones))
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_support=True,
            enable_dns_hostnames=True,  # both needed for interface endpoints with private DNS
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        self.vpc_id = vpc.id
        # Adopt the VPC's default security group and strip its allow-all rules (CIS AWS 5.4):
        # anything launched without an explicit group then gets no network access.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=child)

        self._flow_logs(name, vpc, args, child)

        nat = None
        if args.nat_egress:
            igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=child)
            public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, tags={"Name": f"{name}-public"}, opts=child)
            aws.ec2.Route(
                f"{name}-public-default",
                route_table_id=public_rt.id,
                destination_cidr_block="0.0.0.0/0",
                gateway_id=igw.id,
                opts=child,
            )
            public_subnets = []
            for zone, cidr in zip(args.zones, public_cidrs, strict=True):
                subnet = aws.ec2.Subnet(
                    f"{name}-public-{zone}",
                    vpc_id=vpc.id,
                    cidr_block=str(cidr),
                    availability_zone=zone,
                    map_public_ip_on_launch=False,  # only the NAT gateway's Elastic IP is public
                    tags={"Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1", **cluster_tag},
                    opts=child,
                )
                aws.ec2.RouteTableAssociation(
                    f"{name}-public-{zone}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child
                )
                public_subnets.append(subnet)
            eip = aws.ec2.Eip(f"{name}-nat", domain="vpc", tags={"Name": f"{name}-nat"}, opts=child)
            # One NAT gateway (cost); an AZ outage stops image pulls, not serving.
            nat = aws.ec2.NatGateway(
                f"{name}-nat",
                allocation_id=eip.id,
                subnet_id=public_subnets[0].id,
                connectivity_type="public",
                tags={"Name": f"{name}-nat"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )

        self.private_subnet_ids, self.private_route_table_ids = [], []
        for zone, cidr in zip(args.zones, private_cidrs, strict=True):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(cidr),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{zone}", "kubernetes.io/role/internal-elb": "1", **cluster_tag},
                opts=child,
            )
            rt = aws.ec2.RouteTable(
                f"{name}-private-{zone}", vpc_id=vpc.id, tags={"Name": f"{name}-private-{zone}"}, opts=child
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=rt.id, opts=child
            )
            if nat is not None:
                aws.ec2.Route(
                    f"{name}-private-{zone}-default",
                    route_table_id=rt.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=nat.id,
                    opts=child,
                )
            self.private_subnet_ids.append(subnet.id)
            self.private_route_table_ids.append(rt.id)

        # The Managed Prometheus collector's network interfaces, alone in two subnets of two zones, so the
        # serving NetworkPolicy can admit exactly them by CIDR (AMP needs two zones; the VPC's main route
        # table's local route is all it uses: it scrapes pods and writes through AMP's own endpoint).
        self.collector_subnet_ids = [
            aws.ec2.Subnet(
                f"{name}-collector-{zone}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-collector-{zone}"},
                opts=child,
            ).id
            for zone, cidr in zip(
                args.zones[:COLLECTOR_ZONES], collector_subnets(args.cidr, len(args.zones)), strict=True
            )
        ]

        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "privateRouteTableIds": self.private_route_table_ids,
                "collectorSubnetIds": self.collector_subnet_ids,
            }
        )

    def _flow_logs(self, name: str, vpc: aws.ec2.Vpc, args: NetworkArgs, opts: pulumi.ResourceOptions) -> None:
        """Every accepted and rejected flow to CloudWatch Logs, for audit and debugging egress."""
        a = args.account
        key = logs_key(f"{name}-flow-logs", args.key_admin_arns, a, opts)
        self.logs_key_arn = key.arn
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", retention_in_days=args.log_retention_days, kms_key_id=key.arn, opts=opts
        )
        # VPC user guide, flow logs to CloudWatch Logs: the confused-deputy conditions of the role's trust.
        flow_logs = f"arn:{a.partition}:ec2:{a.region}:{a.account_id}:vpc-flow-log/*"
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=service_trust("vpc-flow-logs.amazonaws.com", source_condition(a.account_id, flow_logs)),
            opts=opts,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=opts,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=600,
            opts=opts,
        )
