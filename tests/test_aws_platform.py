"""The AWS platform as planned: every security and wiring property of issue 3, on recorded inputs."""

from __future__ import annotations

import json

import pytest

from infra.plan.engine import Plan, Resource

# In cidr mode, where the Network is part of the workload (aws-dev itself: tests/test_ci_access.py).
from tests.ci_support import cidr_plan as plan

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
REQUIRED_INTERFACE = {"ecr.api", "ecr.dkr", "sts", "eks-auth", "logs", "ec2"}
PREFIX = "models/deepseek-r1-distill-llama-8b"


@pytest.fixture(scope="module")
def dev() -> Plan:
    return plan("aws-dev")


def private_subnets(p: Plan) -> list[Resource]:
    return [r for r in p.of_type(SUBNET) if "-private-" in r.name]


def private_route_tables(p: Plan) -> list[Resource]:
    return [r for r in p.of_type(ROUTE_TABLE) if "-private-" in r.name]


def interface_endpoints(p: Plan) -> dict[str, Resource]:
    return {
        r.inputs["serviceName"].split(".", 3)[3]: r
        for r in p.of_type(ENDPOINT)
        if r.inputs.get("vpcEndpointType") == "Interface"
    }


def addon(p: Plan, name: str) -> Resource:
    return next(r for r in p.of_type(ADDON) if r.inputs["addonName"] == name)


def role_of(p: Plan, role_name: str) -> Resource:
    return next(r for r in p.of_type(ROLE) if r.outputs["name"] == role_name)


def policy_doc(r: Resource, key: str = "policy") -> dict:
    return json.loads(r.inputs[key])


# --- structure -------------------------------------------------------------------------------


def test_every_aws_resource_uses_the_explicit_provider_inside_a_component(dev):
    provider = dev.one("pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"
    components = {r.urn: r.type for r in dev.resources if r.type.startswith("llz:aws:")}
    assert set(components.values()) == {
        "llz:aws:Network",
        "llz:aws:Endpoints",
        "llz:aws:AuditLogs",
        "llz:aws:WeightsBucket",
        "llz:aws:Cluster",
        "llz:aws:GpuPool",
        "llz:aws:WeightsReader",
        "llz:aws:WeightsWriter",  # the staging Job's role (model.source)
        "llz:aws:ClusterAutoscaler",
        "llz:aws:Registry",  # the ECR pull-through caches (issue 17)
    }
    aws_resources = [r for r in dev.resources if r.type.startswith("aws:")]
    assert len(aws_resources) > 50
    for r in aws_resources:
        assert r.provider.rsplit("::", 1)[0] == provider.urn, r.urn
        assert r.parent in components, f"{r.urn} is not grouped under an llz:aws component"


def test_json_plan_is_deterministic():
    from infra.plan import render

    first = json.dumps(render.as_json(plan("aws-dev")), sort_keys=True)
    second = json.dumps(render.as_json(plan("aws-dev")), sort_keys=True)
    assert first == second


# --- network -----------------------------------------------------------------------------------


def test_vpc_dns_and_private_subnets_in_two_azs(dev):
    vpc = dev.one(VPC)
    assert vpc.inputs["cidrBlock"] == "10.40.0.0/16"
    assert vpc.inputs["enableDnsSupport"] is True and vpc.inputs["enableDnsHostnames"] is True
    subnets = private_subnets(dev)
    assert len({s.inputs["availabilityZone"] for s in subnets}) == len(subnets) >= 2
    for s in dev.of_type(SUBNET):
        assert s.inputs["mapPublicIpOnLaunch"] is False
        assert s.inputs["vpcId"] == vpc.id
    for s in subnets:
        assert s.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1"
    # each private subnet has its own route table
    assoc = {
        a.inputs["subnetId"]: a.inputs["routeTableId"]
        for a in dev.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    assert sorted(assoc[s.id] for s in subnets) == sorted(rt.id for rt in private_route_tables(dev))


def test_vpc_flow_logs_go_to_a_retained_log_group(dev):
    flow = dev.one("aws:ec2/flowLog:FlowLog")
    group = dev.one("aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")
    assert flow.inputs["vpcId"] == dev.one(VPC).id and flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["logDestination"] == group.outputs["arn"] and group.inputs["retentionInDays"] == 90
    role = dev.one(ROLE, "network-flow-logs")
    assert flow.inputs["iamRoleArn"] == role.outputs["arn"]
    assert policy_doc(role, "assumeRolePolicy")["Statement"][0]["Principal"] == {
        "Service": "vpc-flow-logs.amazonaws.com"
    }
    (statement,) = policy_doc(dev.one(ROLE_POLICY, "network-flow-logs"))["Statement"]
    assert statement["Resource"] == [group.outputs["arn"], group.outputs["arn"] + ":*"]


def test_nat_egress_on_routes_private_tables_through_one_nat(dev):
    nat = dev.one("aws:ec2/natGateway:NatGateway")
    public_ids = {s.id for s in dev.of_type(SUBNET) if "-public-" in s.name}
    assert nat.inputs["subnetId"] in public_ids
    defaults = {r.inputs["routeTableId"]: r.inputs for r in dev.of_type(ROUTE)}
    for rt in private_route_tables(dev):
        assert defaults[rt.id]["destinationCidrBlock"] == "0.0.0.0/0"
        assert defaults[rt.id]["natGatewayId"] == nat.id


def test_no_egress_mode_has_no_internet_path_and_the_full_endpoint_set():
    p = plan("aws-dev", {"network": {"egress": "none"}, "model": {"source": None}})
    for typ in ("aws:ec2/natGateway:NatGateway", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/eip:Eip", ROUTE):
        assert p.of_type(typ) == [], typ
    assert all("-public-" not in s.name for s in p.of_type(SUBNET))
    endpoints = interface_endpoints(p)
    assert REQUIRED_INTERFACE | {"elasticloadbalancing", "autoscaling"} <= set(endpoints)
    # nodes can only join once ECR (and its S3 layers), STS and EC2 are reachable privately
    for group in p.of_type(NODE_GROUP):
        assert {e.urn for e in p.of_type(ENDPOINT)} <= set(group.dependencies), group.name


def test_too_small_vpc_is_a_config_error_before_any_resource():
    from infra.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"network.cidr = '10.0.0.0/24': too small"):
        plan("aws-dev", {"network": {"cidr": "10.0.0.0/24"}})


# --- endpoints -----------------------------------------------------------------------------


def test_s3_gateway_endpoint_on_every_private_route_table(dev):
    s3 = next(r for r in dev.of_type(ENDPOINT) if r.inputs["serviceName"] == "com.amazonaws.us-east-1.s3")
    assert s3.inputs["vpcEndpointType"] == "Gateway"
    assert sorted(s3.inputs["routeTableIds"]) == sorted(rt.id for rt in private_route_tables(dev))


def test_interface_endpoints_private_dns_and_https_from_vpc_only(dev):
    endpoints = interface_endpoints(dev)
    assert set(endpoints) >= REQUIRED_INTERFACE
    sg = dev.one("aws:ec2/securityGroup:SecurityGroup")
    subnet_ids = sorted(s.id for s in private_subnets(dev))
    for service, ep in endpoints.items():
        assert ep.inputs["privateDnsEnabled"] is True, service
        assert ep.inputs["securityGroupIds"] == [sg.id], service
        assert sorted(ep.inputs["subnetIds"]) == subnet_ids, service
    rules = [
        r
        for r in dev.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == sg.id
    ]
    assert [
        (r.inputs["cidrIpv4"], r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) for r in rules
    ] == [("10.40.0.0/16", "tcp", 443, 443)]
    assert not sg.inputs.get("ingress")


# --- cluster ----------------------------------------------------------------------------------


def test_eks_cluster_access_endpoint_encryption_logs(dev):
    cluster = dev.one(CLUSTER)
    assert cluster.inputs["version"] == "1.35"
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert sorted(vpc["subnetIds"]) == sorted(s.id for s in private_subnets(dev))
    secrets_key = dev.one("aws:kms/key:Key", "eks-secrets")
    assert secrets_key.inputs["enableKeyRotation"] is True
    assert cluster.inputs["encryptionConfig"] == {
        "provider": {"keyArn": secrets_key.outputs["arn"]},
        "resources": ["secrets"],
    }
    assert set(cluster.inputs["enabledClusterLogTypes"]) == {
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    }
    logs = dev.one("aws:cloudwatch/logGroup:LogGroup", "eks-logs")
    assert logs.inputs["name"] == "/aws/eks/llz-aws-dev/cluster" and logs.inputs["retentionInDays"] > 0
    assert logs.urn in cluster.dependencies
    assert cluster.inputs["deletionProtection"] is False
    assert cluster.inputs["upgradePolicy"] == {"supportType": "STANDARD"}


def test_cluster_role_can_use_the_secrets_key(dev):
    cluster = dev.one(CLUSTER)
    role = next(r for r in dev.of_type(ROLE) if r.outputs["arn"] == cluster.inputs["roleArn"])
    trust = policy_doc(role, "assumeRolePolicy")["Statement"][0]
    assert trust["Principal"] == {"Service": "eks.amazonaws.com"}
    attached = {a.inputs["policyArn"] for a in dev.of_type(ATTACHMENT) if a.inputs["role"] == role.outputs["name"]}
    assert attached == {"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"}
    kms = next(r for r in dev.of_type(ROLE_POLICY) if r.inputs["role"] == role.id)
    statement = policy_doc(kms)["Statement"][0]
    assert statement["Resource"] == dev.one("aws:kms/key:Key", "eks-secrets").outputs["arn"]
    assert "kms:Decrypt" in statement["Action"]


def test_prod_turns_deletion_protection_on():
    p = plan("aws-dev", {"environment": "prod"})
    assert p.one(CLUSTER).inputs["deletionProtection"] is True
    assert p.one("aws:s3/bucket:Bucket", "weights").protect is True
    assert p.one("aws:s3/bucket:Bucket", "weights").inputs["forceDestroy"] is False


def test_private_api_cidrs_go_to_the_cluster_security_group_not_the_public_endpoint():
    p = plan("aws-dev", {"cluster": {"apiAllowedCidrs": ["10.8.0.0/16", "198.51.100.7/32"]}})
    cluster = p.one(CLUSTER)
    assert cluster.inputs["vpcConfig"]["publicAccessCidrs"] == ["198.51.100.7/32"]
    api_rules = [
        r for r in p.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") if "api-private" in r.name
    ]
    assert [(r.inputs["cidrIpv4"], r.inputs["fromPort"]) for r in api_rules] == [("10.8.0.0/16", 443)]
    assert api_rules[0].inputs["securityGroupId"] == cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]

    only_private = plan("aws-dev", {"cluster": {"apiAllowedCidrs": ["10.8.0.0/16"]}})
    assert only_private.one(CLUSTER).inputs["vpcConfig"]["endpointPublicAccess"] is False


def test_open_api_endpoint_only_with_the_insecure_switch():
    from infra.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"insecure\.publicApiEndpoint"):
        plan("aws-dev", {"cluster": {"apiAllowedCidrs": ["0.0.0.0/0"]}})
    p = plan("aws-dev", {"cluster": {"apiAllowedCidrs": ["0.0.0.0/0"]}, "insecure": {"publicApiEndpoint": True}})
    assert p.one(CLUSTER).inputs["vpcConfig"]["publicAccessCidrs"] == ["0.0.0.0/0"]


DEPLOYER = "arn:aws:iam::123456789012:role/llz-deployer"  # aws.deployerRoleArn of the shipped stack


def test_deployer_and_admins_get_access_entries_from_config_only():
    admin = "arn:aws:iam::123456789012:role/platform-admins"
    p = plan("aws-dev", {"aws": {"adminRoleArns": [admin]}})
    entries = {e.name: e.inputs for e in p.of_type("aws:eks/accessEntry:AccessEntry")}
    assert {n: (e["principalArn"], e["type"]) for n, e in entries.items()} == {
        "eks-admin-0": (admin, "STANDARD"),  # same name as before: existing entries stay
        "eks-deployer": (DEPLOYER, "STANDARD"),
    }
    assocs = p.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert {a.inputs["principalArn"] for a in assocs} == {admin, DEPLOYER}
    for assoc in assocs:
        assert assoc.inputs["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
        assert assoc.inputs["accessScope"] == {"type": "cluster"}
    # The creator gets no implicit entry (it would 409 against the explicit one), and a live
    # cluster's setting is left alone: changing it would replace the cluster.
    cluster = p.one("aws:eks/cluster:Cluster")
    assert cluster.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    assert cluster.ignore_changes == ["accessConfig.bootstrapClusterCreatorAdminPermissions"]
    # Every Kubernetes object waits for the deployer's cluster-admin association.
    provider = p.one("pulumi:providers:kubernetes")
    deployer_assoc = next(a for a in assocs if a.inputs["principalArn"] == DEPLOYER)
    assert deployer_assoc.urn in provider.dependencies
    deny = policy_doc(p.one("aws:s3/bucketPolicy:BucketPolicy", "weights-policy"))["Statement"][1]
    assert deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == sorted([admin, DEPLOYER])


def test_a_deployer_listed_as_admin_gets_one_entry():
    p = plan("aws-dev", {"aws": {"adminRoleArns": [DEPLOYER]}})
    assert [e.name for e in p.of_type("aws:eks/accessEntry:AccessEntry")] == ["eks-admin-0"]


def test_node_role_has_only_the_three_managed_policies_and_no_s3(dev):
    node_group = dev.one(NODE_GROUP, "gpu-nodes")
    role = next(r for r in dev.of_type(ROLE) if r.outputs["arn"] == node_group.inputs["nodeRoleArn"])
    assert policy_doc(role, "assumeRolePolicy")["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {
        a.inputs["policyArn"].rsplit("/", 1)[1]
        for a in dev.of_type(ATTACHMENT)
        if a.inputs["role"] == role.outputs["name"]
    }
    assert attached == {"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly"}
    assert not any("S3" in a for a in attached)
    # one inline policy: the first pull through the stack's ECR caches (tests/test_registry_aws.py)
    inline = [r for r in dev.of_type(ROLE_POLICY) if r.inputs["role"] in (role.id, role.outputs["name"])]
    assert [r.name for r in inline] == ["registry-node-cache"]
    assert policy_doc(inline[0], "policy")["Statement"][0]["Action"] == [
        "ecr:BatchImportUpstreamImage",
        "ecr:CreateRepository",
    ]
    assert dev.one(NODE_GROUP, "eks-system").inputs["nodeRoleArn"] == role.outputs["arn"]


def test_addons_and_their_order(dev):
    names = {r.inputs["addonName"] for r in dev.of_type(ADDON)}
    assert names == {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent"}
    before_nodes = {addon(dev, n).urn for n in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")}
    system = dev.one(NODE_GROUP, "eks-system")
    for group in dev.of_type(NODE_GROUP):
        assert before_nodes <= set(group.dependencies), group.name
    assert system.urn in addon(dev, "coredns").dependencies
    assert json.loads(addon(dev, "vpc-cni").inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    for group in dev.of_type(NODE_GROUP):  # nodes follow the pinned control-plane version
        assert group.inputs["version"] == "1.35", group.name
    assert dev.one(CLUSTER).inputs["bootstrapSelfManagedAddons"] is False


# --- GPU pool ----------------------------------------------------------------------------------


def test_gpu_node_group(dev):
    gpu = dev.one(NODE_GROUP, "gpu-nodes")
    assert gpu.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert gpu.inputs["instanceTypes"] == ["g6.xlarge"]
    assert gpu.inputs["capacityType"] == "ON_DEMAND"
    assert gpu.inputs["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 3}
    assert gpu.inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert gpu.inputs["labels"] == {"llz.io/pool": "gpu", "k8s.amazonaws.com/accelerator": "nvidia-l4"}
    assert gpu.ignore_changes == ["scalingConfig.desiredSize"]
    template = dev.one("aws:ec2/launchTemplate:LaunchTemplate", "gpu-nodes")
    assert gpu.inputs["launchTemplate"] == {"id": template.id, "version": "1"}
    disk = template.inputs["blockDeviceMappings"][0]
    assert disk["deviceName"] == "/dev/xvda"
    assert (
        disk["ebs"]["volumeSize"] >= 100 and disk["ebs"]["volumeType"] == "gp3" and disk["ebs"]["encrypted"] == "true"
    )
    assert template.inputs["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }


def test_gpu_disk_grows_with_the_model_and_can_be_set():
    from infra.fit import gpu_node_disk_gb as gpu_disk_gib

    assert gpu_disk_gib(16) == 100
    assert gpu_disk_gib(141) == 220  # 70B bf16: one copy of the weights + images
    p = plan("aws-dev", {"aws": {"gpuDiskGib": 400}})
    assert (
        p.one("aws:ec2/launchTemplate:LaunchTemplate", "gpu-nodes").get("blockDeviceMappings.0.ebs.volumeSize") == 400
    )


def test_spot_and_bottlerocket():
    p = plan("aws-dev", {"gpu": {"spot": True}, "aws": {"amiType": "bottlerocket"}})
    gpu = p.one(NODE_GROUP, "gpu-nodes")
    assert gpu.inputs["capacityType"] == "SPOT"
    assert gpu.inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    assert p.one(NODE_GROUP, "eks-system").inputs["amiType"] == "BOTTLEROCKET_x86_64"
    assert (
        p.one("aws:ec2/launchTemplate:LaunchTemplate", "gpu-nodes").get("blockDeviceMappings.0.deviceName")
        == "/dev/xvdb"
    )
    assert p.of_type(DAEMONSET) == [], "Bottlerocket NVIDIA ships the device plugin"


def test_cluster_autoscaler_node_template_tags_on_the_asg(dev):
    gpu = dev.one(NODE_GROUP, "gpu-nodes")
    asg = gpu.outputs["resources"][0]["autoscalingGroups"][0]["name"]
    tags = {t.inputs["tag"]["key"]: t.inputs for t in dev.of_type("aws:autoscaling/tag:Tag")}
    prefix = "k8s.io/cluster-autoscaler/node-template"
    assert {k: v["tag"]["value"] for k, v in tags.items()} == {
        f"{prefix}/label/llz.io/pool": "gpu",
        f"{prefix}/label/k8s.amazonaws.com/accelerator": "nvidia-l4",
        f"{prefix}/taint/nvidia.com/gpu": "present:NoSchedule",
        f"{prefix}/resources/nvidia.com/gpu": "1",
        f"{prefix}/resources/ephemeral-storage": "90Gi",  # 90% of the 100 GiB disk
    }
    for t in tags.values():
        assert t["autoscalingGroupName"] == asg
        assert t["tag"]["propagateAtLaunch"] is False


def test_device_plugin_daemonset_tolerates_the_gpu_taint(dev):
    ds = dev.one(DAEMONSET)
    assert ds.provider.rsplit("::", 1)[0] == dev.one("pulumi:providers:kubernetes").urn
    assert ds.get("metadata.namespace") == "kube-system"
    pod = ds.get("spec.template.spec")
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"llz.io/pool": "gpu"}
    assert pod["priorityClassName"] == "system-node-critical"
    container = pod["containers"][0]
    assert (
        container["image"]
        == "nvcr.io/nvidia/k8s-device-plugin:v0.17.4@sha256:3c54348fe5a57e5700e7d8068e7531d2ef2d5f3ccb70c8f6bac0953432527abd"
    )  # pinned by digest
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["volumeMounts"][0]["mountPath"] == "/var/lib/kubelet/device-plugins"
    assert pod["volumes"][0]["hostPath"]["path"] == "/var/lib/kubelet/device-plugins"


# --- bucket ------------------------------------------------------------------------------------


def test_bucket_blocks_public_access_and_acls(dev):
    bucket = dev.one("aws:s3/bucket:Bucket", "weights")
    pab = dev.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "weights-public-access")
    assert pab.inputs["bucket"] == bucket.id
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert pab.inputs[flag] is True, flag
    ownership = dev.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "weights-ownership")
    assert ownership.inputs == {"bucket": bucket.id, "rule": {"objectOwnership": "BucketOwnerEnforced"}}
    versioning = dev.one("aws:s3/bucketVersioning:BucketVersioning", "weights-versioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    for deprecated in ("acl", "policy", "versioning", "serverSideEncryptionConfiguration"):
        assert deprecated not in bucket.inputs


def test_bucket_expires_old_versions_and_failed_uploads(dev):
    lifecycle = dev.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "weights-lifecycle")
    assert lifecycle.inputs["bucket"] == dev.one("aws:s3/bucket:Bucket", "weights").id
    (rule,) = lifecycle.inputs["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": ""}
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
    assert "expiration" not in rule, "current weights must never expire"


def test_default_security_group_is_stripped(dev):
    default = dev.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.inputs["vpcId"] == dev.one(VPC).id
    assert default.inputs.get("ingress", []) == [] and default.inputs.get("egress", []) == []


def test_bucket_sse_kms_with_the_stacks_key_and_bucket_key(dev):
    key = dev.one("aws:kms/key:Key", "weights-key")
    assert key.inputs["enableKeyRotation"] is True
    sse = dev.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "weights-sse"
    )
    (rule,) = sse.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key.outputs["arn"],
    }
    assert rule["bucketKeyEnabled"] is True
    assert key.outputs["arn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")


def test_bucket_policy_denies_plain_http_and_reads_outside_the_endpoint(dev):
    bucket = dev.one("aws:s3/bucket:Bucket", "weights")
    policy = dev.one("aws:s3/bucketPolicy:BucketPolicy", "weights-policy")
    assert (
        dev.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "weights-public-access").urn
        in policy.dependencies
    )
    tls, reads = policy_doc(policy)["Statement"]
    arn = bucket.outputs["arn"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert tls["Resource"] == [arn, f"{arn}/*"]
    s3 = next(r for r in dev.of_type(ENDPOINT) if r.inputs["vpcEndpointType"] == "Gateway")
    assert reads["Effect"] == "Deny"
    assert set(reads["Action"]) == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"}  # never s3:* here
    assert reads["Condition"]["StringNotEquals"] == {"aws:SourceVpce": s3.id}
    # the deployer (the role behind the assumed-role caller) is never locked out
    assert reads["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == ["arn:aws:iam::123456789012:role/llz-deployer"]


def test_bucket_policy_without_the_endpoint_restriction():
    p = plan("aws-dev", {"aws": {"restrictReadsToVpcEndpoint": False}})
    statements = policy_doc(p.one("aws:s3/bucketPolicy:BucketPolicy", "weights-policy"))["Statement"]
    assert [s["Sid"] for s in statements] == ["DenyInsecureTransport"]


# --- identity ----------------------------------------------------------------------------------


def _serving_role(p: Plan) -> Resource:
    return p.one(ROLE, "serving-identity-role")


def test_pod_identity_trust_and_association(dev):
    role = _serving_role(dev)
    (trust,) = policy_doc(role, "assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(trust["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    assoc = dev.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "serving-identity-association")
    assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == ("llm", "vllm")
    assert assoc.inputs["clusterName"] == dev.one(CLUSTER).outputs["name"]
    assert assoc.inputs["roleArn"] == role.outputs["arn"]
    assert addon(dev, "eks-pod-identity-agent").urn in assoc.dependencies
    assert dev.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []


def test_serving_policy_is_scoped_to_the_prefix_and_key(dev):
    role = _serving_role(dev)
    (policy,) = [r for r in dev.of_type(ROLE_POLICY) if r.inputs["role"] == role.id]
    statements = policy_doc(policy)["Statement"]
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        assert all("*" not in a for a in actions), s
        assert all(r != "*" and not r.endswith(":*") for r in resources), s
        assert s["Effect"] == "Allow"
    by_action = {s["Action"]: s for s in statements}
    assert set(by_action) == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    bucket_arn = dev.one("aws:s3/bucket:Bucket", "weights").outputs["arn"]
    assert by_action["s3:ListBucket"]["Resource"] == bucket_arn
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": [PREFIX, f"{PREFIX}/*"]}}
    assert by_action["s3:GetObject"]["Resource"] == f"{bucket_arn}/{PREFIX}/*"
    assert by_action["kms:Decrypt"]["Resource"] == dev.one("aws:kms/key:Key", "weights-key").outputs["arn"]
    assert by_action["kms:Decrypt"]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def test_irsa_mode_trusts_exactly_the_serving_service_account():
    p = plan("aws-dev", {"aws": {"identity": "irsa"}})
    issuer = p.one(CLUSTER).outputs["identities"][0]["oidcs"][0]["issuer"]
    oidc = p.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"] == issuer and oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    (trust,) = policy_doc(_serving_role(p), "assumeRolePolicy")["Statement"]
    host = issuer.removeprefix("https://")
    assert trust["Principal"] == {"Federated": oidc.outputs["arn"]}
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"]["StringEquals"] == {
        f"{host}:sub": "system:serviceaccount:llm:vllm",
        f"{host}:aud": "sts.amazonaws.com",
    }
    associations = p.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert [a.inputs["namespace"] for a in associations] == ["kube-system"]  # only the autoscaler's
    sa = p.one("kubernetes:core/v1:ServiceAccount", "llm-sa")
    assert sa.get("metadata.annotations") == {"eks.amazonaws.com/role-arn": _serving_role(p).outputs["arn"]}
