"""AWS data perimeter (issue 13 item 3): the S3 gateway endpoint admits only this account's buckets
and ECR's layer bucket; without egress the autoscaler's `eks` endpoint exists; with IRSA the serving
pod may reach only the STS endpoint's own addresses, not the whole VPC."""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.harness import config_error, dev_plan, plan

ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


def _s3_policy(p) -> dict:
    return json.loads(p.one(ENDPOINT, "endpoints-s3").inputs["policy"])


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_s3_gateway_endpoint_admits_only_own_buckets_and_ecr_layers(stack):
    p = dev_plan(stack)
    by_sid = {s["Sid"]: s for s in _s3_policy(p)["Statement"]}
    assert set(by_sid) == {"OwnAccountBuckets", "EcrLayersAndAllowedBuckets"}
    own = by_sid["OwnAccountBuckets"]
    assert own["Effect"] == "Allow" and own["Resource"] == "*"
    assert own["Condition"] == {"StringEquals": {"aws:ResourceAccount": "123456789012"}}  # the caller's account
    ecr = by_sid["EcrLayersAndAllowedBuckets"]
    assert ecr["Action"] == ["s3:GetObject"]
    assert ecr["Resource"] == ["arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*"]
    assert all("Condition" in s or s is ecr for s in by_sid.values())  # no unconditional s3:* on "*"


def test_extra_buckets_are_read_only_and_validated():
    p = plan("aws-dev", {"aws": {"s3EndpointAllowedBuckets": ["al2023-repos-us-east-1-de612dc2"]}})
    ecr = {s["Sid"]: s for s in _s3_policy(p)["Statement"]}["EcrLayersAndAllowedBuckets"]
    assert "arn:aws:s3:::al2023-repos-us-east-1-de612dc2/*" in ecr["Resource"]
    assert ecr["Action"] == ["s3:GetObject"]
    error = config_error("aws-dev", {"aws": {"s3EndpointAllowedBuckets": ["Not_A_Bucket"]}})
    assert "aws.s3EndpointAllowedBuckets" in error and "Not_A_Bucket" in error


def test_no_egress_adds_the_eks_endpoint_the_autoscaler_calls():
    prod = dev_plan("aws-prod")
    services = {r.inputs["serviceName"].rsplit(".", 1)[-1] for r in prod.of_type(ENDPOINT)}
    assert "eks" in services
    dev = dev_plan("aws-dev")  # NAT: the autoscaler reaches eks.<region>.amazonaws.com through it
    assert "com.amazonaws.us-east-1.eks" not in {r.inputs["serviceName"] for r in dev.of_type(ENDPOINT)}


def _policy_egress(p) -> list[dict]:
    return p.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llm-egress").get("spec.egress")


def test_irsa_egress_names_the_sts_endpoints_addresses_only():
    p = plan("aws-prod", {"aws": {"identity": "irsa"}})
    sts = p.one(ENDPOINT, "endpoints-sts")
    configured = sts.inputs["subnetConfigurations"]
    assert len(configured) == 3 and {c["subnetId"] for c in configured} == set(sts.inputs["subnetIds"])
    reservations = {r.inputs["subnetId"]: r for r in p.of_type("aws:ec2/subnetCidrReservation:SubnetCidrReservation")}
    for c in configured:  # each fixed address lies in an explicit reservation of its own subnet
        r = reservations[c["subnetId"]].inputs
        assert r["reservationType"] == "explicit"
        assert ipaddress.ip_address(c["ipv4"]) in ipaddress.ip_network(r["cidrBlock"])
    https = [
        peer["ipBlock"]["cidr"]
        for rule in _policy_egress(p)
        if rule["ports"] == [{"port": 443, "protocol": "TCP"}]
        for peer in rule["to"]
    ]
    addresses = {f"{c['ipv4']}/32" for c in configured}
    assert addresses <= set(https)
    vpc = ipaddress.ip_network("10.41.0.0/16")
    inside = {c for c in https if ipaddress.ip_network(c).subnet_of(vpc)}
    assert inside == addresses, "no rule may open more of the VPC than the STS endpoint"


def test_pod_identity_pins_no_sts_addresses():
    p = dev_plan("aws-prod")
    assert "subnetConfigurations" not in p.one(ENDPOINT, "endpoints-sts").inputs
    assert not p.of_type("aws:ec2/subnetCidrReservation:SubnetCidrReservation")
