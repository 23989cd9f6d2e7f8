"""VPC endpoints: the private path from nodes and pods to S3 and the AWS APIs EKS needs.

S3 is a Gateway endpoint on every private route table (free; ECR image layers come from S3
too). The Interface endpoints (private DNS on, so the normal hostnames resolve to them) sit in
the private subnets behind a security group that admits HTTPS from the VPC only. `eks-auth` is
what the Pod Identity agent calls; without it a private cluster's pods get no credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.footprint import interface_services


@dataclass(frozen=True)
class EndpointsArgs:
    region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]
    route_table_ids: Sequence[pulumi.Input[str]]
    no_egress: bool


class Endpoints(pulumi.ComponentResource):
    s3_endpoint_id: pulumi.Output[str]
    interface: dict[str, aws.ec2.VpcEndpoint]
    all: list[aws.ec2.VpcEndpoint]  # what a node without NAT needs before it can join

    def __init__(self, name: str, args: EndpointsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:Endpoints", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        s3 = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=args.vpc_id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=list(args.route_table_ids),
            tags={"Name": f"{name}-s3"},
            opts=child,
        )
        self.s3_endpoint_id = s3.id

        sg = aws.ec2.SecurityGroup(
            f"{name}-https",
            vpc_id=args.vpc_id,
            description="HTTPS from inside the VPC to the interface endpoints",
            tags={"Name": f"{name}-https"},
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-https-from-vpc",
            security_group_id=sg.id,
            cidr_ipv4=args.vpc_cidr,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS from the VPC only",
            opts=child,
        )

        services = interface_services(args.no_egress)
        self.interface = {
            service: aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=args.vpc_id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=list(args.subnet_ids),
                security_group_ids=[sg.id],
                tags={"Name": f"{name}-{service}"},
                opts=child,
            )
            for service in services
        }
        self.all = [s3, *self.interface.values()]
        self.register_outputs(
            {"s3EndpointId": self.s3_endpoint_id, "interfaceEndpoints": {k: v.id for k, v in self.interface.items()}}
        )
