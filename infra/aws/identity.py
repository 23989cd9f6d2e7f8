"""The serving pod's AWS identity: a role that may read only the model prefix, bound to one KSA.

Default is EKS Pod Identity: the role trusts `pods.eks.amazonaws.com` (with `sts:TagSession`,
without which credential fetches fail) only for this cluster's namespace/service account (the
agent's session tags, required by the trust), and a PodIdentityAssociation binds it to the serving
namespace/service account; the KSA needs no annotation. `aws.identity: irsa` instead registers
the cluster's OIDC issuer and trusts exactly `system:serviceaccount:<ns>:<sa>` via
AssumeRoleWithWebIdentity; the KSA then carries the role ARN annotation.

The permissions are the same either way: list the bucket under the prefix, get objects under
the prefix, and decrypt with the bucket's key only when S3 asks KMS on the pod's behalf.

`WeightsWriter` is the first-deploy staging Job's role, bound the same way to its own KSA: it may
also put and delete objects under the prefix and encrypt with the bucket's key (SSE-KMS writes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.aws.iam import irsa_trust, pod_identity_trust, read_prefix_policy, write_prefix_policy
from infra.renames import renamed_from

IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"


@dataclass(frozen=True)
class WeightsReaderArgs:
    mode: Literal["pod-identity", "irsa"]
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]  # Pod Identity trusts only this cluster's session tag
    oidc_issuer: pulumi.Input[str]
    namespace: str
    service_account: str
    bucket_arn: pulumi.Input[str]
    weights_prefix: str
    key_arn: pulumi.Input[str]
    region: str
    pod_identity_agent: pulumi.Resource


def workload_trust(
    mode: Literal["pod-identity", "irsa"],
    cluster_arn: pulumi.Input[str],
    oidc_provider_arn: pulumi.Input[str] | None,
    oidc_issuer: pulumi.Input[str],
    namespace: str,
    service_account: str,
) -> pulumi.Output[str]:
    """The trust policy of a role for one Kubernetes service account: Pod Identity for this cluster's
    namespace/service account, or IRSA through the cluster's OIDC provider."""
    if mode == "irsa":
        assert oidc_provider_arn is not None, "IRSA needs the cluster's OIDC provider"
        return pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
            lambda v: irsa_trust(v[0], v[1], namespace, service_account)
        )
    return pulumi.Output.from_input(cluster_arn).apply(lambda arn: pod_identity_trust(arn, namespace, service_account))


def bind_service_account(
    name: str,
    mode: Literal["pod-identity", "irsa"],
    cluster_name: pulumi.Input[str],
    namespace: str,
    service_account: str,
    role_arn: pulumi.Input[str],
    policy: pulumi.Resource,
    pod_identity_agent: pulumi.Resource,
    parent: pulumi.Resource,
) -> tuple[pulumi.Resource, dict[str, pulumi.Input[str]]]:
    """(what a workload waits for, the service account's annotations) of a role for one service account:
    a Pod Identity association (after the agent and the role's policy), or for IRSA the policy itself
    and the role-ARN annotation (the trust already names the service account)."""
    if mode == "irsa":
        return policy, {IRSA_ROLE_ANNOTATION: role_arn}
    association = aws.eks.PodIdentityAssociation(
        name,
        cluster_name=cluster_name,
        namespace=namespace,
        service_account=service_account,
        role_arn=role_arn,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[pod_identity_agent, policy]),
    )
    return association, {}


class _PrefixRole(pulumi.ComponentResource):
    """A role with one inline policy on the model prefix, bound to one KSA: a Pod Identity association,
    or for IRSA the policy itself (the trust already names the KSA)."""

    role_arn: pulumi.Output[str]
    binding: pulumi.Resource  # what the workload must wait for
    service_account_annotations: dict[str, pulumi.Input[str]]

    def _bind(
        self,
        name: str,
        args: WeightsReaderArgs,
        oidc: aws.iam.OpenIdConnectProvider | None,
        policy: tuple[str, Callable[[str, str, str, str], str]],
        purpose: str,
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        trust = workload_trust(
            args.mode,
            args.cluster_arn,
            oidc.arn if oidc else None,
            args.oidc_issuer,
            args.namespace,
            args.service_account,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=trust,
            description=f"llm-landing-zone: {args.namespace}/{args.service_account} {purpose} {args.weights_prefix}",
            opts=child,
        )
        policy_name, document = policy
        attached = aws.iam.RolePolicy(
            f"{name}-{policy_name}",
            role=role.id,
            policy=pulumi.Output.all(args.bucket_arn, args.key_arn).apply(
                lambda v: document(v[0], args.weights_prefix, v[1], args.region)
            ),
            opts=child,
        )
        self.role_arn = role.arn
        self.binding, self.service_account_annotations = bind_service_account(
            f"{name}-association",
            args.mode,
            args.cluster_name,
            args.namespace,
            args.service_account,
            role.arn,
            attached,
            args.pod_identity_agent,
            self,
        )
        self.register_outputs({"roleArn": self.role_arn})


class WeightsReader(_PrefixRole):
    oidc_provider: aws.iam.OpenIdConnectProvider | None  # IRSA: the cluster's one provider (the writer's too)

    def __init__(self, name: str, args: WeightsReaderArgs, opts: pulumi.ResourceOptions | None = None):
        opts = renamed_from("llz:aws:ServingIdentity", opts)  # was ServingIdentity: same URNs, no replacement
        super().__init__("llz:aws:WeightsReader", name, None, opts)
        self.oidc_provider = None
        if args.mode == "irsa":
            self.oidc_provider = aws.iam.OpenIdConnectProvider(
                f"{name}-oidc",
                url=args.oidc_issuer,
                client_id_lists=["sts.amazonaws.com"],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self._bind(name, args, self.oidc_provider, ("read-weights", read_prefix_policy), "reads")


class WeightsWriter(_PrefixRole):
    """The staging Job's role: write (and replace) only the model prefix, encrypting with the bucket's key.
    `args` are the reader's facts with the staging Job's KSA; IRSA trusts the reader's OIDC provider
    (one per cluster: a second one for the same issuer would fail)."""

    def __init__(
        self,
        name: str,
        args: WeightsReaderArgs,
        oidc_provider: aws.iam.OpenIdConnectProvider | None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("llz:aws:WeightsWriter", name, None, opts)
        self._bind(name, args, oidc_provider, ("write-weights", write_prefix_policy), "stages")
