"""The serving pod's AWS identity: a role that may read only the model prefix, bound to one KSA.

Default is EKS Pod Identity: the role trusts `pods.eks.amazonaws.com` (with `sts:TagSession`,
without which credential fetches fail) and a PodIdentityAssociation binds it to the serving
namespace/service account; the KSA needs no annotation. `aws.identity: irsa` instead registers
the cluster's OIDC issuer and trusts exactly `system:serviceaccount:<ns>:<sa>` via
AssumeRoleWithWebIdentity; the KSA then carries the role ARN annotation.

The permissions are the same either way: list the bucket under the prefix, get objects under
the prefix, and decrypt with the bucket's key only when S3 asks KMS on the pod's behalf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.aws.iam import irsa_trust, pod_identity_trust, read_prefix_policy

IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"


@dataclass(frozen=True)
class WeightsReaderArgs:
    mode: Literal["pod-identity", "irsa"]
    cluster_name: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    namespace: str
    service_account: str
    bucket_arn: pulumi.Input[str]
    weights_prefix: str
    key_arn: pulumi.Input[str]
    region: str
    pod_identity_agent: pulumi.Resource


class WeightsReader(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    binding: pulumi.Resource  # what the workload must wait for (association or OIDC provider)
    service_account_annotations: dict[str, pulumi.Input[str]]

    def __init__(self, name: str, args: WeightsReaderArgs, opts: pulumi.ResourceOptions | None = None):
        # Renamed from ServingIdentity: the alias keeps deployed stacks' URNs (no replacement).
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="llz:aws:ServingIdentity")])
        )
        super().__init__("llz:aws:WeightsReader", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        oidc = None
        if args.mode == "irsa":
            oidc = aws.iam.OpenIdConnectProvider(
                f"{name}-oidc", url=args.oidc_issuer, client_id_lists=["sts.amazonaws.com"], opts=child
            )
            trust = pulumi.Output.all(oidc.arn, args.oidc_issuer).apply(
                lambda v: irsa_trust(v[0], v[1], args.namespace, args.service_account)
            )
        else:
            trust = pulumi.Output.from_input(pod_identity_trust())
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=trust,
            description=f"llm-landing-zone: {args.namespace}/{args.service_account} reads {args.weights_prefix}",
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-read-weights",
            role=role.id,
            policy=pulumi.Output.all(args.bucket_arn, args.key_arn).apply(
                lambda v: read_prefix_policy(v[0], args.weights_prefix, v[1], args.region)
            ),
            opts=child,
        )
        self.role_arn = role.arn
        if oidc is not None:
            self.binding = policy
            self.service_account_annotations = {IRSA_ROLE_ANNOTATION: role.arn}
        else:
            self.binding = aws.eks.PodIdentityAssociation(
                f"{name}-association",
                cluster_name=args.cluster_name,
                namespace=args.namespace,
                service_account=args.service_account,
                role_arn=role.arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.pod_identity_agent, policy]),
            )
            self.service_account_annotations = {}
        self.register_outputs({"roleArn": self.role_arn})
