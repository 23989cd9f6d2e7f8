"""EKS control plane, its IAM roles and KMS key, the managed add-ons and the small CPU system group.

Access is by EKS access entries only (`authenticationMode: API`, no aws-auth ConfigMap). The API
endpoint is private, and public only for the public CIDRs in `cluster.apiAllowedCidrs`; private
(RFC 1918) CIDRs there are admitted to the private endpoint through the cluster security group.
`bootstrapSelfManagedAddons` is off, so the add-ons that run are exactly the managed ones below,
created in dependency order: vpc-cni, kube-proxy and the Pod Identity agent before any node
(nodes need a CNI to become Ready), CoreDNS after the system nodes (its pods need a node).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.footprint import SYSTEM_DESIRED, SYSTEM_MAX, SYSTEM_MIN
from infra.aws.iam import key_policy, key_use, service_trust, source_condition

LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# What the cluster role does with the secrets key (EKS user guide, "Encrypt Kubernetes secrets with
# KMS": Encrypt, Decrypt, ListGrants, DescribeKey); the deployer creates EKS's grant (kms:CreateGrant
# is in the key administrators' kms:Create*).
SECRETS_KEY_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",  # also eks-auth:AssumeRoleForPodIdentity for the agent
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
)  # deliberately no S3: pods must not inherit bucket access from the node


def split_api_cidrs(
    cidrs: Sequence[ipaddress.IPv4Network],
) -> tuple[list[str], list[str]]:
    """(public, private) CIDRs: public ones go on the public endpoint's allow list."""
    private = [c for c in cidrs if any(c.subnet_of(r) for r in _PRIVATE_RANGES)]
    return [str(c) for c in cidrs if c not in private], [str(c) for c in private]


def node_launch_template(
    name: str,
    disk_gib: int,
    device_name: str,
    opts: pulumi.ResourceOptions,
    placement_group: pulumi.Input[str] | None = None,
) -> aws.ec2.LaunchTemplate:
    """IMDSv2 only with hop limit 1 (pods cannot reach the node role) and an encrypted gp3 disk; in
    `placement_group` when given (LaunchTemplatePlacement.group_name)."""
    return aws.ec2.LaunchTemplate(
        name,
        update_default_version=True,
        **({"placement": {"group_name": placement_group}} if placement_group is not None else {}),
        metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
        block_device_mappings=[
            {
                "device_name": device_name,
                "ebs": {
                    "volume_size": disk_gib,
                    "volume_type": "gp3",
                    "encrypted": "true",
                    "delete_on_termination": "true",
                },
            }
        ],
        opts=opts,
    )


def launch_template_ref(template: aws.ec2.LaunchTemplate) -> dict[str, pulumi.Input[str]]:
    return {"id": template.id, "version": template.latest_version.apply(str)}


@dataclass(frozen=True)
class AmiFamily:
    """Which EKS AMI family the node groups use, and its data disk device."""

    gpu_ami_type: str
    system_ami_type: str
    data_device: str  # Bottlerocket keeps containers on a second volume

    @staticmethod
    def of(name: str) -> AmiFamily:
        if name == "bottlerocket":
            return AmiFamily("BOTTLEROCKET_x86_64_NVIDIA", "BOTTLEROCKET_x86_64", "/dev/xvdb")
        return AmiFamily("AL2023_x86_64_NVIDIA", "AL2023_x86_64_STANDARD", "/dev/xvda")


def cluster_admin(
    name: str,
    cluster_name: pulumi.Input[str],
    principal_arn: pulumi.Input[str],
    partition: str,
    opts: pulumi.ResourceOptions,
) -> aws.eks.AccessPolicyAssociation:
    """An access entry for `principal_arn` with AmazonEKSClusterAdminPolicy on the whole cluster."""
    entry = aws.eks.AccessEntry(
        name, cluster_name=cluster_name, principal_arn=principal_arn, type="STANDARD", opts=opts
    )
    return aws.eks.AccessPolicyAssociation(
        name,
        cluster_name=cluster_name,
        principal_arn=entry.principal_arn,
        policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        access_scope={"type": "cluster"},
        opts=opts,
    )


@dataclass(frozen=True)
class ClusterArgs:
    cluster_name: str
    kubernetes_version: str
    subnet_ids: Sequence[pulumi.Input[str]]
    api_allowed_cidrs: Sequence[ipaddress.IPv4Network]
    deployer_role_arn: str  # gets cluster-admin by an access entry, like the admins
    admin_principal_arns: Sequence[str]
    deletion_protection: bool
    system_instance_type: str
    system_labels: Mapping[str, str]
    ami: AmiFamily
    partition: str
    account_id: str
    region: str
    logs_key_arn: pulumi.Input[str]  # encrypts the control-plane log group
    log_retention_days: int
    nodes_depend_on: Sequence[pulumi.Resource] = ()  # e.g. the interface endpoints when there is no NAT


class Cluster(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    ca_data: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    node_role: aws.iam.Role
    pod_identity_agent: aws.eks.Addon
    system_nodes: aws.eks.NodeGroup
    node_prerequisites: list[pulumi.Resource]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy_arn = f"arn:{args.partition}:iam::aws:policy"

        # EKS accepts aws:SourceArn/aws:SourceAccount in the cluster role's trust (EKS user guide,
        # "Cross-service confused deputy prevention in Amazon EKS", 2025-08-19): only this cluster.
        cluster_arn = f"arn:{args.partition}:eks:{args.region}:{args.account_id}:cluster/{args.cluster_name}"
        cluster_role = aws.iam.Role(
            f"{name}-cluster",
            assume_role_policy=service_trust("eks.amazonaws.com", source_condition(args.account_id, cluster_arn)),
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=cluster_role.name,
            policy_arn=f"{policy_arn}/AmazonEKSClusterPolicy",
            opts=child,
        )
        # An explicit key policy: administration by the deployer and admins, use by the cluster role
        # only (no account-root statement that would hand the key to any IAM policy in the account).
        key_admins = [args.deployer_role_arn, *args.admin_principal_arns]
        secrets_key = aws.kms.Key(
            f"{name}-secrets",
            description="llm-landing-zone: envelope encryption of Kubernetes secrets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=cluster_role.arn.apply(
                lambda arn: key_policy(key_admins, [key_use("ClusterRoleUse", {"AWS": arn}, SECRETS_KEY_ACTIONS)])
            ),
            opts=child,
        )
        role_key_use = aws.iam.RolePolicy(
            f"{name}-cluster-kms",
            role=cluster_role.id,
            policy=secrets_key.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                                "Resource": arn,
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        # Created first, so EKS does not create it unencrypted with unlimited retention.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        public_cidrs, private_cidrs = split_api_cidrs(args.api_allowed_cidrs)
        self.cluster = aws.eks.Cluster(
            name,
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            # Access from config only: the creator gets no implicit admin entry (which would also
            # collide, 409, with an explicit one for the same role: terraform-aws-eks #3293). It
            # cannot change on a live cluster without replacing it, so older clusters keep theirs
            # (ignored below) and adopt it with `pulumi import` (docs/aws.md).
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            bootstrap_self_managed_addons=False,
            vpc_config={
                "subnet_ids": list(args.subnet_ids),
                "endpoint_private_access": True,
                "endpoint_public_access": bool(public_cidrs),
                "public_access_cidrs": public_cidrs,
            },
            encryption_config={"provider": {"key_arn": secrets_key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(LOG_TYPES),
            upgrade_policy={"support_type": "STANDARD"},  # no extended-support charges
            deletion_protection=args.deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[cluster_policy, role_key_use, log_group],
                ignore_changes=["accessConfig.bootstrapClusterCreatorAdminPermissions"],
            ),
        )
        self.name = self.cluster.name
        self.endpoint = self.cluster.endpoint
        self.ca_data = self.cluster.certificate_authority.apply(lambda ca: ca.data)
        self.oidc_issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)

        for i, cidr in enumerate(private_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-private-{i}",
                security_group_id=self.cluster.vpc_config.cluster_security_group_id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description="Kubernetes API (private endpoint) from cluster.apiAllowedCidrs",
                opts=child,
            )
        admins = {f"{name}-admin-{i}": arn for i, arn in enumerate(args.admin_principal_arns)}
        if args.deployer_role_arn not in admins.values():
            admins[f"{name}-deployer"] = args.deployer_role_arn
        self.admin_access = [
            cluster_admin(resource_name, self.name, principal, args.partition, child)
            for resource_name, principal in admins.items()
        ]

        self.node_role = aws.iam.Role(f"{name}-node", assume_role_policy=service_trust("ec2.amazonaws.com"), opts=child)
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=self.node_role.name, policy_arn=f"{policy_arn}/{policy}", opts=child
            )
            for policy in NODE_POLICIES
        ]

        def addon(addon_name: str, depends_on: Sequence[pulumi.Resource] = (), **extra) -> aws.eks.Addon:
            return aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=self.name,
                addon_name=addon_name,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
                **extra,
            )

        # enableNetworkPolicy: without it EKS ignores the serving NetworkPolicy.
        vpc_cni = addon("vpc-cni", configuration_values=json.dumps({"enableNetworkPolicy": "true"}))
        kube_proxy = addon("kube-proxy")
        self.pod_identity_agent = addon("eks-pod-identity-agent")
        self.node_prerequisites = [vpc_cni, kube_proxy, self.pod_identity_agent, *attachments, *args.nodes_depend_on]

        template = node_launch_template(f"{name}-system", 50, args.ami.data_device, child)
        self.system_nodes = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=self.name,
            node_role_arn=self.node_role.arn,
            subnet_ids=list(args.subnet_ids),
            ami_type=args.ami.system_ami_type,
            version=self.cluster.version,  # nodes follow cluster.kubernetesVersion, after the control plane
            capacity_type="ON_DEMAND",
            instance_types=[args.system_instance_type],
            launch_template=launch_template_ref(template),
            scaling_config={"min_size": SYSTEM_MIN, "desired_size": SYSTEM_DESIRED, "max_size": SYSTEM_MAX},
            update_config={"max_unavailable": 1},
            labels=dict(args.system_labels),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=self.node_prerequisites, ignore_changes=["scalingConfig.desiredSize"]
            ),
        )
        addon("coredns", depends_on=[self.system_nodes])

        self.register_outputs({"clusterName": self.name, "endpoint": self.endpoint, "oidcIssuer": self.oidc_issuer})
