"""What AWS would answer, for `llz plan` (mock engine). Imports no SDK.

`outputs()` returns the computed attributes the program reads back (ids in AWS's own formats,
ARNs, the EKS endpoint/CA/OIDC issuer, a node group's Auto Scaling group, a launch template's
version); `invoke()` answers data-source calls (caller, partition, AZs, S3 prefix list). All of
it is derived from the stack and the logical name, so two plans are byte-identical.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from infra.aws.settings import EKS_UNSUPPORTED_ZONE_IDS

# Short ids AWS gives resources, by type token: "<prefix>-<17 hex>".
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
}
# The real us-east-1 S3 prefix list (pl-63a5400a); other regions get the same shape.
_S3_PREFIX_LIST = ("3.5.0.0/19", "16.15.176.0/20", "16.182.0.0/16", "18.34.0.0/19", "52.216.0.0/15", "54.231.0.0/16")


def _uuid(ctx: Any, *parts: str) -> str:
    h = ctx.digest(*parts, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def outputs(typ: str, name: str, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    _, module, kind = typ.split(":")
    service = module.split("/")[0]
    account, region = ctx.aws_account_id, ctx.region
    physical = inputs.get("name") or inputs.get("bucket") or ctx.physical_name(typ, name)
    out: dict[str, Any] = {}
    if ctx.declares(typ, "arn"):  # generic answers only where the SDK declares them
        out["arn"] = f"arn:aws:{service}:{region}:{account}:{kind[0].lower() + kind[1:]}/{physical}"
    if ctx.declares(typ, "name"):
        out["name"] = physical
    if typ in _ID_PREFIX:
        out["id"] = f"{_ID_PREFIX[typ]}-{ctx.digest(typ, name, length=17)}"
        if "arn" in out:
            out["arn"] = f"arn:aws:{service}:{region}:{account}:{_ID_PREFIX[typ]}/{out['id']}"
    if typ == "aws:ec2/vpcEndpoint:VpcEndpoint" and inputs.get("vpcEndpointType") == "Gateway":
        out |= {"prefixListId": "pl-63a5400a", "cidrBlocks": list(_S3_PREFIX_LIST)}
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        out |= {"latestVersion": 1, "defaultVersion": 1}
    if typ == "aws:iam/role:Role":
        out |= {
            "id": physical,
            "arn": f"arn:aws:iam::{account}:role{inputs.get('path') or '/'}{physical}",
            "uniqueId": "AROA" + ctx.digest(name).upper(),
        }
    if typ == "aws:kms/key:Key":
        key_id = _uuid(ctx, typ, name)
        out |= {"id": key_id, "keyId": key_id, "arn": f"arn:aws:kms:{region}:{account}:key/{key_id}"}
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix', name + '-')}{ctx.digest(typ, name, length=12)}"
        out |= {"id": bucket, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        out["arn"] = f"arn:aws:logs:{region}:{account}:log-group:{physical}"
    if typ == "aws:eks/cluster:Cluster":
        oidc = ctx.digest(typ, name, "oidc", length=32).upper()
        out |= {
            "id": physical,
            "arn": f"arn:aws:eks:{region}:{account}:cluster/{physical}",
            "endpoint": f"https://{ctx.digest(typ, name, length=32).upper()}.gr7.{region}.eks.amazonaws.com",
            "certificateAuthority": {"data": base64.b64encode(f"fake CA of {physical}".encode()).decode()},
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc}"}]}],
            "vpcConfig": {
                **(inputs.get("vpcConfig") or {}),
                "clusterSecurityGroupId": f"sg-{ctx.digest(name, 'cluster-sg', length=17)}",
            },
            "status": "ACTIVE",
        }
    eks_arn = f"arn:aws:eks:{region}:{account}"
    if typ == "aws:eks/nodeGroup:NodeGroup":
        group = inputs.get("nodeGroupName") or physical
        out |= {
            "nodeGroupName": group,
            "arn": f"{eks_arn}:nodegroup/{inputs.get('clusterName')}/{group}/{_uuid(ctx, typ, name)}",
            "resources": [{"autoscalingGroups": [{"name": f"eks-{group}-{_uuid(ctx, typ, name)}"}]}],
            "status": "ACTIVE",
        }
    if typ == "aws:eks/podIdentityAssociation:PodIdentityAssociation":
        assoc = f"a-{ctx.digest(typ, name, length=17)}"
        out |= {
            "associationId": assoc,
            "associationArn": f"{eks_arn}:podidentityassociation/{inputs.get('clusterName')}/{assoc}",
        }
    if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        out["arn"] = f"arn:aws:iam::{account}:oidc-provider/{str(inputs.get('url', '')).removeprefix('https://')}"
    if typ == "aws:amp/workspace:Workspace":  # ids and endpoint as AMP spells them (ws-<uuid>)
        ws = f"ws-{_uuid(ctx, typ, name)}"
        out |= {
            "id": ws,
            "arn": f"arn:aws:aps:{region}:{account}:workspace/{ws}",
            "prometheusEndpoint": f"https://aps-workspaces.{region}.amazonaws.com/workspaces/{ws}/",
        }
    if typ == "aws:amp/scraper:Scraper":
        scraper = f"s-{_uuid(ctx, typ, name)}"
        out |= {
            "id": scraper,
            "arn": f"arn:aws:aps:{region}:{account}:scraper/{scraper}",
            "roleArn": f"arn:aws:iam::{account}:role/aws-service-role/scraper.aps.amazonaws.com/"
            f"AWSServiceRoleForAmazonPrometheusScraper_{scraper[2:14]}",
        }
    if typ == "aws:sns/topic:Topic":
        out |= {"id": f"arn:aws:sns:{region}:{account}:{physical}", "arn": f"arn:aws:sns:{region}:{account}:{physical}"}
    return out


def _zone_names(region: str) -> list[str]:
    return [f"{region}{x}" for x in ("abcdef" if region == "us-east-1" else "abc")]


# An account's name -> zone ID mapping (it differs per account). In this one, as in many real
# us-east-1 accounts, us-east-1e is use1-az3, the zone EKS rejects.
_US_EAST_1_IDS = ("use1-az1", "use1-az2", "use1-az4", "use1-az5", "use1-az3", "use1-az6")


def zone_ids(region: str) -> list[str]:
    if region == "us-east-1":
        return list(_US_EAST_1_IDS)
    prefix = region.split("-")[0][:2] + region.split("-")[1][0] + region.split("-")[2]  # eu-west-3 -> euw3
    return [f"{prefix}-az{i + 1}" for i in range(len(_zone_names(region)))]


# Zone IDs that do NOT offer an instance type (EC2 DescribeInstanceTypeOfferings by
# availability-zone-id); every other type is offered everywhere. Tests may extend it.
UNOFFERED: dict[str, set[str]] = {"p5.48xlarge": {"use1-az1", "use1-az2", "use1-az4"}}


def bootstrap_outputs(ctx: Any) -> dict[str, Any]:
    """What `<stack>-bootstrap` exports (infra/aws/bootstrap.py), with the ids this module gives
    that stack's resources, so the workload's plan reads what the bootstrap's plan would export."""
    b = dataclasses.replace(ctx, stack=f"{ctx.stack}-bootstrap")
    # the bootstrap's zones, as infra.aws.settings.choose_zones picks them (EKS's excluded IDs left out)
    zones = zip(_zone_names(ctx.region), zone_ids(ctx.region), strict=True)
    private = [f"network-private-{name}" for name, zone_id in zones if zone_id not in EKS_UNSUPPORTED_ZONE_IDS]
    # The bootstrap names its deploy role after aws.deployerRoleArn (path and name).
    path, _, name = ctx.aws_deployer_role_arn.partition(":role/")[2].rpartition("/")
    path = f"/{path}/" if path else "/"
    return {
        "region": ctx.region,
        "vpcId": outputs("aws:ec2/vpc:Vpc", "network-vpc", {}, b)["id"],
        "privateSubnetIds": [outputs("aws:ec2/subnet:Subnet", n, {}, b)["id"] for n in private],
        "privateRouteTableIds": [outputs("aws:ec2/routeTable:RouteTable", n, {}, b)["id"] for n in private],
        "collectorSubnetIds": [
            outputs("aws:ec2/subnet:Subnet", n.replace("-private-", "-collector-"), {}, b)["id"] for n in private[:2]
        ],
        "runnerSecurityGroupId": outputs("aws:ec2/securityGroup:SecurityGroup", "runner-sg", {}, b)["id"],
        "deployRoleArn": outputs("aws:iam/role:Role", "runner-deploy", {"name": name, "path": path}, b)["arn"],
        "previewRoleArn": outputs("aws:iam/role:Role", "runner-preview", {}, b)["arn"],
    }


def invoke(token: str, args: dict[str, Any], ctx: Any) -> dict[str, Any] | None:
    region = ctx.region
    if token == "aws:index/getRegion:getRegion":
        return {"name": region, "region": region, "id": region}
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        account = ctx.aws_account_id
        return {
            "accountId": account,
            "arn": f"arn:aws:sts::{account}:assumed-role/deployer/plan",
            "userId": "AROAFAKE",
            "id": account,
        }
    if token == "aws:iam/getSessionContext:getSessionContext":  # the plan's caller: a CI OIDC role
        arn = str(args.get("arn", ""))
        account = arn.split(":")[4] if arn.count(":") >= 5 else ctx.aws_account_id
        role = arn.split("/")[1] if arn.count("/") >= 2 else "deployer"
        issuer = f"arn:aws:iam::{account}:role/{role}"
        return {"arn": arn, "issuerArn": issuer, "issuerId": "AROAFAKE", "issuerName": role, "sessionName": "plan"}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        names = _zone_names(region)
        return {
            "names": names,
            "zoneIds": zone_ids(region),
            "id": region,
        }
    if token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
        filters = {f["name"]: list(f.get("values", [])) for f in args.get("filters", [])}
        types = filters.get("instance-type", [])
        wanted = filters.get("location") or zone_ids(region)
        pairs = [(t, z) for t in types for z in wanted if z in zone_ids(region) and z not in UNOFFERED.get(t, set())]
        return {
            "id": region,
            "locationType": args.get("locationType", "region"),
            "instanceTypes": [t for t, _ in pairs],
            "locations": [z for _, z in pairs],
            "locationTypes": ["availability-zone-id"] * len(pairs),
        }
    if token == "aws:ec2/getPrefixList:getPrefixList":
        return {
            "id": "pl-63a5400a",
            "prefixListId": "pl-63a5400a",
            "name": args.get("name"),
            "cidrBlocks": list(_S3_PREFIX_LIST),
        }
    return None  # no fake: the engine reports it
