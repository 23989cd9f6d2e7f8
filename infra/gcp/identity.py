"""Who may do what: the nodes' least-privilege service account, and the serving pod's read-only
access to the model prefix through Workload Identity Federation for GKE.

`direct` (default) grants the Kubernetes service account's own federated principal
(`principal://…/subject/ns/<ns>/sa/<ksa>`) on the bucket: no Google service account, no key, no
annotation. `gsa` lets the KSA impersonate a Google service account instead (annotation +
roles/iam.workloadIdentityUser), for APIs that do not accept federated principals. Never both: an
annotated KSA acts as the GSA, so grants to its principal would silently stop applying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from infra.renames import renamed_from

READER = "roles/storage.objectViewer"  # objects.get + objects.list: all vLLM's streamer needs
WRITER = "roles/storage.objectUser"  # + objects.create/delete/update: the staging Job (prefix condition)
# serviceUsageConsumer: image streaming with a custom node SA (cloud.google.com/kubernetes-engine/
# docs/how-to/image-streaming#requirements; terraform-google-kubernetes-engine#2251, PR #2262).
NODE_ROLES = (
    "roles/container.defaultNodeServiceAccount",
    "roles/artifactregistry.reader",
    "roles/serviceusage.serviceUsageConsumer",
)
# gcp.adminMembers: operate the cluster (node pools, upgrades, maintenance: clusterAdmin) and its
# Kubernetes objects (developer: everything but RBAC and IAM changes), not roles/container.admin;
# GKE grants these at project level only ("Lowest-level resources where you can grant this role:
# Project", cloud.google.com/kubernetes-engine/docs/how-to/iam). On the bucket: objectUser (read,
# list, write, delete objects; no bucket or IAM changes) to inspect and push weights.
ADMIN_PROJECT_ROLES = ("roles/container.clusterAdmin", "roles/container.developer")
ADMIN_BUCKET_ROLE = WRITER
GSA_ANNOTATION = "iam.gke.io/gcp-service-account"


# In a project that only holds images: pull them, and stream them.
IMAGE_PROJECT_ROLES = ("roles/artifactregistry.reader", "roles/serviceusage.serviceUsageConsumer")


@dataclass(frozen=True)
class NodeIdentityArgs:
    project: str
    account_id: str
    image_projects: tuple[str, ...] = ()  # gcp.imageProjects


class NodeIdentity(pulumi.ComponentResource):
    """The node pools' service account: logs, metrics, image pulls. Never bucket access."""

    account: gcp.serviceaccount.Account
    email: pulumi.Output[str]

    def __init__(self, name: str, args: NodeIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:NodeIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=args.account_id,
            display_name="llm-landing-zone GKE nodes (least privilege)",
            opts=child,
        )
        self.grants = [
            gcp.projects.IAMMember(
                f"{name}-{role.rsplit('/', 1)[1]}",
                project=args.project,
                role=role,
                member=self.account.member,
                opts=child,
            )
            for role in NODE_ROLES
        ]
        self.grants += [
            gcp.projects.IAMMember(
                f"{name}-{project}-{role.rsplit('/', 1)[1]}",
                project=project,
                role=role,
                member=self.account.member,
                opts=child,
            )
            for project in args.image_projects
            for role in IMAGE_PROJECT_ROLES
        ]
        self.email = self.account.email
        self.register_outputs({"email": self.email})


@dataclass(frozen=True)
class WeightsReaderArgs:
    mode: Literal["direct", "gsa"]
    project_id: str
    project_number: pulumi.Input[str]
    namespace: str
    service_account: str  # the Kubernetes service account the serving pods run as
    bucket: pulumi.Input[str]
    prefix: str  # the model's object prefix: the only objects the pod may read or list
    cluster: pulumi.Resource  # the identity pool exists once the cluster has Workload Identity
    gsa_account_id: str  # used in gsa mode only


def principal(project_number: pulumi.Input[str], project_id: str, namespace: str, ksa: str) -> pulumi.Output[str]:
    """The KSA's federated principal: project NUMBER in the path, project ID in the pool name."""
    return pulumi.Output.concat(
        "principal://iam.googleapis.com/projects/",
        project_number,
        f"/locations/global/workloadIdentityPools/{project_id}.svc.id.goog/subject/ns/{namespace}/sa/{ksa}",
    )


def prefix_condition(
    bucket: pulumi.Input[str], prefix: str, title: str = "model-prefix-only"
) -> pulumi.Output[dict[str, str]]:
    """IAM condition: objects under `prefix/` only, and listings only with a prefix inside `prefix/`
    (the trailing `/`: `models/x` must not list `models/x-other/...`, issue 14 item 5)."""
    expression = pulumi.Output.concat(
        'resource.name.startsWith("projects/_/buckets/',
        bucket,
        f'/objects/{prefix}/") || ',
        f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{prefix}/")',
    )
    verb = "read" if title == "model-prefix-only" else "write"
    return expression.apply(lambda e: {"title": title, "description": f"{verb} {prefix}/ only", "expression": e})


def _bind(
    owner: pulumi.Resource,
    name: str,
    args: WeightsReaderArgs,
    role: str,
    condition: pulumi.Input[dict[str, str]],
    purpose: str,
    display: str,
) -> tuple[list[pulumi.Resource], dict[str, pulumi.Input[str]]]:
    """Grant `role` on the bucket (under `condition`) to the KSA: its own principal (direct) or a GSA it
    impersonates (gsa). Returns (bindings the workload waits for, KSA annotations)."""
    child = pulumi.ResourceOptions(parent=owner)
    after_cluster = pulumi.ResourceOptions(parent=owner, depends_on=[args.cluster])
    if args.mode == "direct":
        member = principal(args.project_number, args.project_id, args.namespace, args.service_account)
        grant = gcp.storage.BucketIAMMember(
            f"{name}-{purpose}", bucket=args.bucket, role=role, member=member, condition=condition, opts=after_cluster
        )
        return [grant], {}
    gsa = gcp.serviceaccount.Account(
        f"{name}-gsa",
        account_id=args.gsa_account_id,
        display_name=f"llm-landing-zone {display} ({args.namespace}/{args.service_account})",
        opts=child,
    )
    grant = gcp.storage.BucketIAMMember(
        f"{name}-{purpose}", bucket=args.bucket, role=role, member=gsa.member, condition=condition, opts=child
    )
    impersonation = gcp.serviceaccount.IAMMember(
        f"{name}-wi-user",
        service_account_id=gsa.name,
        role="roles/iam.workloadIdentityUser",
        member=f"serviceAccount:{args.project_id}.svc.id.goog[{args.namespace}/{args.service_account}]",
        opts=after_cluster,
    )
    return [grant, impersonation], {GSA_ANNOTATION: gsa.email}


class WeightsReader(pulumi.ComponentResource):
    bindings: list[pulumi.Resource]
    annotations: Mapping[str, pulumi.Input[str]]

    def __init__(self, name: str, args: WeightsReaderArgs, opts: pulumi.ResourceOptions | None = None):
        opts = renamed_from("llz:gcp:WorkloadIdentity", opts)  # was WorkloadIdentity: same URNs, no replacement
        super().__init__("llz:gcp:WeightsReader", name, None, opts)
        condition = prefix_condition(args.bucket, args.prefix)
        self.bindings, self.annotations = _bind(self, name, args, READER, condition, "reader", "serving")
        self.register_outputs({"mode": args.mode})


class WeightsWriter(pulumi.ComponentResource):
    """The staging Job's access: create, overwrite and delete objects under the prefix only.

    No KMS grant: with CMEK, GCS encrypts through its own service agent (already an encrypter on
    the bucket's key, infra/gcp/kms.py), never with the caller's rights.
    """

    bindings: list[pulumi.Resource]
    annotations: Mapping[str, pulumi.Input[str]]

    def __init__(self, name: str, args: WeightsReaderArgs, opts: pulumi.ResourceOptions | None = None):
        # `args`: the reader's facts with the staging Job's KSA and its own GSA id.
        super().__init__("llz:gcp:WeightsWriter", name, None, opts)
        condition = prefix_condition(args.bucket, args.prefix, title="model-prefix-write")
        self.bindings, self.annotations = _bind(self, name, args, WRITER, condition, "writer", "weights stager")
        self.register_outputs({"mode": args.mode})


@dataclass(frozen=True)
class AdminAccessArgs:
    project: str
    members: tuple[str, ...]  # gcp.adminMembers, validated Google members
    bucket: pulumi.Input[str]


class AdminAccess(pulumi.ComponentResource):
    """What gcp.adminMembers may do, from config only: nothing here depends on who runs `pulumi up`."""

    grants: list[pulumi.Resource]

    def __init__(self, name: str, args: AdminAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:AdminAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.grants = []
        for i, member in enumerate(args.members):
            for role in ADMIN_PROJECT_ROLES:
                self.grants.append(
                    gcp.projects.IAMMember(
                        f"{name}-{i}-{role.rsplit('.', 1)[1]}",
                        project=args.project,
                        role=role,
                        member=member,
                        opts=child,
                    )
                )
            self.grants.append(
                gcp.storage.BucketIAMMember(
                    f"{name}-{i}-weights", bucket=args.bucket, role=ADMIN_BUCKET_ROLE, member=member, opts=child
                )
            )
        self.register_outputs({"members": list(args.members)})


# Reads Managed Service for Prometheus through its Prometheus HTTP API (monitoring.googleapis.com/
# v1/projects/<p>/location/global/prometheus): "Monitoring Viewer" is the role GMP's query docs
# grant a querying Kubernetes service account (docs.cloud.google.com/stackdriver/docs/
# managed-prometheus/query-api-ui). Read-only; the smallest predefined role with monitoring.timeSeries.list.
METRICS_READER = "roles/monitoring.viewer"


@dataclass(frozen=True)
class MetricsReaderArgs:
    project_id: str
    project_number: pulumi.Input[str]
    namespace: str
    service_account: str  # the Kubernetes service account that queries (KEDA's operator)
    cluster: pulumi.Resource  # the identity pool exists once the cluster has Workload Identity


class MetricsReader(pulumi.ComponentResource):
    """A Kubernetes service account's own federated principal may query the project's metrics: how
    KEDA's operator (TriggerAuthentication podIdentity provider gcp) reads vLLM's queue. Direct
    Workload Identity Federation: no Google service account, key or annotation."""

    binding: gcp.projects.IAMMember
    member: pulumi.Output[str]

    def __init__(self, name: str, args: MetricsReaderArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:MetricsReader", name, None, opts)
        self.member = principal(args.project_number, args.project_id, args.namespace, args.service_account)
        self.binding = gcp.projects.IAMMember(
            f"{name}-monitoring-viewer",
            project=args.project_id,
            role=METRICS_READER,
            member=self.member,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.cluster]),
        )
        self.register_outputs({"member": self.member})
