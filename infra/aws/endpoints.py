"""VPC endpoints: the private path from nodes and pods to S3 and the AWS APIs EKS needs.

S3 is a Gateway endpoint on every private route table (free; ECR image layers come from S3
too). The Interface endpoints (private DNS on, so the normal hostnames resolve to them) sit in
the private subnets behind a security group that admits HTTPS from the VPC only. `eks-auth` is
what the Pod Identity agent calls; without it a private cluster's pods get no credentials.

Data perimeter (issue 13 item 3): without a policy a gateway endpoint lets anything in the VPC
reach every bucket in the region, any account's. Its policy allows S3 only on buckets of this
account (`aws:ResourceAccount`), plus GetObject on the regional ECR layer bucket
(`prod-<region>-starport-layer-bucket`, AWS's "Minimum Amazon S3 bucket permissions for Amazon
ECR": image layers come from there) and the buckets named in `aws.s3EndpointAllowedBuckets`.

With IRSA the serving pod's only credential path is the STS interface endpoint: its address in
each private subnet is fixed (`subnet_configurations`) inside an explicit subnet CIDR reservation
(EC2 never hands those addresses to a node or pod), so the pod's NetworkPolicy names those /32s
instead of the whole VPC.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.aws.footprint import interface_services


def ecr_layer_bucket(region: str) -> str:
    """The AWS-owned bucket ECR serves image layers from (docs: ECR interface VPC endpoints)."""
    return f"prod-{region}-starport-layer-bucket"


def s3_endpoint_policy(account_id: str, region: str, partition: str, extra_buckets: Sequence[str] = ()) -> str:
    """This account's buckets, ECR's layer bucket (read) and the configured extra buckets (read)."""
    read_only = [ecr_layer_bucket(region), *sorted(extra_buckets)]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OwnAccountBuckets",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:ResourceAccount": account_id}},
                },
                {
                    "Sid": "EcrLayersAndAllowedBuckets",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:GetObject"],
                    "Resource": [f"arn:{partition}:s3:::{b}/*" for b in read_only],
                },
            ],
        }
    )


@dataclass(frozen=True)
class StsAddress:
    """Where the STS interface endpoint sits in one private subnet (IRSA)."""

    subnet_id: pulumi.Input[str]
    reservation: str  # a CIDR inside the subnet that EC2 never assigns on its own
    ip: str


@dataclass(frozen=True)
class EndpointsArgs:
    region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]
    route_table_ids: Sequence[pulumi.Input[str]]
    no_egress: bool
    account_id: str = ""
    partition: str = "aws"
    s3_allowed_buckets: Sequence[str] = ()
    sts_addresses: Sequence[StsAddress] = field(default_factory=tuple)  # IRSA: fixed STS endpoint addresses


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
            policy=s3_endpoint_policy(args.account_id, args.region, args.partition, args.s3_allowed_buckets),
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

        reservations = [
            aws.ec2.SubnetCidrReservation(
                f"{name}-sts-{i}",
                subnet_id=a.subnet_id,
                cidr_block=a.reservation,
                reservation_type="explicit",  # only explicit assignments take these addresses
                description="llm-landing-zone: STS interface endpoint (IRSA egress names its addresses)",
                opts=child,
            )
            for i, a in enumerate(args.sts_addresses)
        ]

        def fixed(service: str) -> dict:
            if service != "sts" or not args.sts_addresses:
                return {}
            return {
                "subnet_configurations": [{"subnet_id": a.subnet_id, "ipv4": a.ip} for a in args.sts_addresses],
                "opts": pulumi.ResourceOptions(parent=self, depends_on=reservations),
            }

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
                **({"opts": child} | fixed(service)),
            )
            for service in services
        }
        self.all = [s3, *self.interface.values()]
        self.register_outputs(
            {"s3EndpointId": self.s3_endpoint_id, "interfaceEndpoints": {k: v.id for k, v in self.interface.items()}}
        )
