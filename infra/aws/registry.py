"""The stack's ECR: pull-through caches of the upstreams the pods' images come from (issue 17).

One pull-through cache rule per upstream (infra.aws.settings.CACHES: Docker Hub and GHCR with the
Secrets Manager credential from aws.upstreamCredentials, registry.k8s.io anonymous), each under its
own repository prefix `llz-<stack>-<upstream>`. ECR creates a cached repository on the first pull
(`BatchImportUpstreamImage` by the node, which also needs `CreateRepository` there) with the
settings of the repository creation template for that prefix: encrypted with the stack's registry
key (explicit key policy, rotation), immutable tags, a lifecycle policy keeping the newest images,
the stack's tags. KMS and tags need the template's `custom_role_arn` (ECR user guide,
repository-creation-templates-create-iam): a role ECR assumes, which may create repositories under
the prefixes and have KMS create grants on the registry key, nothing else.

Nodes read with AmazonEC2ContainerRegistryPullOnly (infra/aws/cluster.py) and get, here, exactly
`ecr:BatchImportUpstreamImage` and `ecr:CreateRepository` on `repository/<prefix>/*`: no push.
The ECR API and dkr interface endpoints exist already (infra/aws/endpoints.py); ECR fetches from the
upstream on AWS's side, so `network.egress: none` needs no hand mirroring (except nvcr.io, which
ECR has no cache for: the device plugin stays a direct pull, copied into ECR by CI for egress none).

Argument names are pulumi-aws 7.51.1's: `ecr.PullThroughCacheRule(ecr_repository_prefix,
upstream_registry_url, credential_arn)`, `ecr.RepositoryCreationTemplate(prefix, applied_fors
[PULL_THROUGH_CACHE], custom_role_arn ("Required if using repository tags or KMS encryption"),
encryption_configurations[{encryption_type: KMS, kms_key}], image_tag_mutability IMMUTABLE,
lifecycle_policy, resource_tags)`, `ecr.RegistryScanningConfiguration(scan_type, rules[{
scan_frequency, repository_filters[{filter, filter_type: WILDCARD}]}])`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.audit import Account
from infra.aws.iam import key_policy, key_use, service_trust
from infra.aws.settings import CACHE_KEEP_IMAGES, CACHES, cache_prefix
from infra.images import parse

# What the template role does with the registry key when ECR creates an encrypted repository (ECR
# user guide, repository-creation-templates-create-iam): ECR's grant on the key, and describing it.
TEMPLATE_KEY_ACTIONS = ["kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"]
TEMPLATE_ECR_ACTIONS = ["ecr:CreateRepository", "ecr:ReplicateImage", "ecr:TagResource"]
# The first pull through a cache: import the upstream image and create its repository (ECR user guide,
# pull-through-cache-iam). Reading images is AmazonEC2ContainerRegistryPullOnly's.
NODE_CACHE_ACTIONS = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]


def lifecycle_policy(keep: int = CACHE_KEEP_IMAGES) -> str:
    """Expire all but the newest `keep` images of each cached repository (a cache refills on demand)."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the newest {keep} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                    "action": {"type": "expire"},
                }
            ]
        }
    )


def registry_host(account: Account) -> str:
    """The private registry's host: <account>.dkr.ecr.<region>.amazonaws.com (.com.cn in China)."""
    suffix = ".cn" if account.partition == "aws-cn" else ""
    return f"{account.account_id}.dkr.ecr.{account.region}.amazonaws.com{suffix}"


def repository_arns(account: Account, prefixes: Sequence[str]) -> list[str]:
    return [f"arn:{account.partition}:ecr:{account.region}:{account.account_id}:repository/{p}/*" for p in prefixes]


@dataclass(frozen=True)
class RegistryArgs:
    account: Account
    stack: str
    caches: Mapping[str, str | None]  # image host -> credential ARN (settings.caches)
    key_admin_arns: Sequence[str]
    node_role: pulumi.Input[str]  # the node role's name
    images: Sequence[str]  # every upstream reference the stack's pods run
    resource_tags: Mapping[str, str]
    manage_scanning: bool


class Registry(pulumi.ComponentResource):
    key: aws.kms.Key
    rules: dict[str, aws.ecr.PullThroughCacheRule]
    templates: dict[str, aws.ecr.RepositoryCreationTemplate]
    images: dict[str, pulumi.Output[str]]  # upstream reference -> its reference in the stack's ECR
    prefixes: dict[str, str]  # image host -> repository prefix

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:aws:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = args.account
        self.prefixes = {host: cache_prefix(args.stack, CACHES[host].suffix) for host in args.caches}
        repos = repository_arns(account, list(self.prefixes.values()))

        # The role ECR assumes to create cached repositories from the templates (KMS + tags need one).
        role = aws.iam.Role(f"{name}-template", assume_role_policy=service_trust("ecr.amazonaws.com"), opts=child)
        self.key = aws.kms.Key(
            f"{name}-key",
            description="llm-landing-zone: the stack's ECR repositories (pull-through caches)",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=role.arn.apply(
                lambda arn: key_policy(
                    list(args.key_admin_arns),
                    [
                        key_use(
                            "EcrTemplateRoleUse",
                            {"AWS": arn},
                            TEMPLATE_KEY_ACTIONS,
                            {"StringEquals": {"kms:ViaService": f"ecr.{account.region}.amazonaws.com"}},
                        )
                    ],
                )
            ),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-template",
            role=role.id,
            policy=self.key.arn.apply(
                lambda key_arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "CreateCachedRepositories",
                                "Effect": "Allow",
                                "Action": TEMPLATE_ECR_ACTIONS,
                                "Resource": repos,
                            },
                            {
                                "Sid": "EncryptWithRegistryKey",
                                "Effect": "Allow",
                                "Action": TEMPLATE_KEY_ACTIONS,
                                "Resource": key_arn,
                            },
                        ],
                    }
                )
            ),
            opts=child,
        )
        node_policy = aws.iam.RolePolicy(
            f"{name}-node-cache",
            role=args.node_role,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "FirstPullThroughCache",
                            "Effect": "Allow",
                            "Action": NODE_CACHE_ACTIONS,
                            "Resource": repos,
                        }
                    ],
                }
            ),
            opts=child,
        )
        self.templates, self.rules = {}, {}
        for host, credential in args.caches.items():
            prefix, cache = self.prefixes[host], CACHES[host]
            template = aws.ecr.RepositoryCreationTemplate(
                f"{name}-{cache.suffix}",
                prefix=prefix,
                applied_fors=["PULL_THROUGH_CACHE"],
                description=f"llm-landing-zone: pull-through cache of {cache.upstream_url}",
                custom_role_arn=role.arn,
                encryption_configurations=[{"encryption_type": "KMS", "kms_key": self.key.arn}],
                image_tag_mutability="IMMUTABLE",
                lifecycle_policy=lifecycle_policy(),
                resource_tags=dict(args.resource_tags),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
            )
            self.templates[host] = template
            # After its template: the first pull must find the template to create an encrypted repository.
            self.rules[host] = aws.ecr.PullThroughCacheRule(
                f"{name}-{cache.suffix}",
                ecr_repository_prefix=prefix,
                upstream_registry_url=cache.upstream_url,
                credential_arn=credential,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[template]),
            )
        if args.manage_scanning:
            # One per account and region: this replaces the account's scanning configuration.
            aws.ecr.RegistryScanningConfiguration(
                f"{name}-scanning",
                scan_type="BASIC",
                rules=[
                    {
                        "scan_frequency": "SCAN_ON_PUSH",
                        "repository_filters": [
                            {"filter": f"{p}/*", "filter_type": "WILDCARD"} for p in self.prefixes.values()
                        ],
                    }
                ],
                opts=child,
            )

        host_name = registry_host(account)
        self.images = {}
        for ref in args.images:
            image = parse(ref)
            if image.host in self.rules:
                rule, template = self.rules[image.host], self.templates[image.host]
                # The reference waits for the rule, its template and the nodes' first-pull rights.
                # By tag: a pull-through cache does not fill on a first pull by digest, not even for
                # `tag@digest` (aws/containers-roadmap#2837); the cached repositories' tags
                # are immutable (the creation template above; docs/images.md).
                self.images[ref] = pulumi.Output.all(rule.ecr_repository_prefix, template.prefix, node_policy.id).apply(
                    lambda v, image=image: image.by_tag().under(f"{host_name}/{v[0]}")
                )
        self.register_outputs({"images": self.images})
