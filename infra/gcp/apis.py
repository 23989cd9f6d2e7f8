"""The Google APIs the stack uses, enabled by the stack itself (`projects.Service`).

Every resource and data-source call of the program goes to one API, named by its pulumi-gcp
module (`API_OF_MODULE`); the nodes and pods call a few more at run time (`RUNTIME_APIS`). Each is
a `projects.Service` with `disable_on_destroy=False`: an API is project-wide state that other
stacks may share, so destroying this stack never turns one off. Every GCP resource registered
under the platform waits for the Service of its own API (`needs_api`, a transformation inherited
by the components' children), so a fresh project's first `up` does not race the enablement.

The one API this cannot enable is Service Usage (`serviceusage.googleapis.com`) itself, which
`projects.Service` calls: it is on by default in every new project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_gcp as gcp

# pulumi-gcp module (the `gcp:<module>/...` type token) -> the API its resources call.
API_OF_MODULE: Mapping[str, str] = {
    "compute": "compute.googleapis.com",
    "container": "container.googleapis.com",
    "kms": "cloudkms.googleapis.com",
    "storage": "storage.googleapis.com",
    "serviceaccount": "iam.googleapis.com",
    "dns": "dns.googleapis.com",
    "artifactregistry": "artifactregistry.googleapis.com",
    # Project IAM members, audit configs and project lookups (organizations.getProject) go through
    # Cloud Resource Manager (FIELD-REVIEW, GCP).
    "projects": "cloudresourcemanager.googleapis.com",
    "organizations": "cloudresourcemanager.googleapis.com",
    # Alert policies, notification channels, the dashboard; the _Default log bucket's retention.
    "monitoring": "monitoring.googleapis.com",
    "logging": "logging.googleapis.com",
}
# Called by nodes and pods, not by Pulumi: image streaming (gcfs_config needs the Container File
# System API: cloud.google.com/kubernetes-engine/docs/how-to/image-streaming#requirements,
# terraform-google-kubernetes-engine#2251), image pulls, Workload Identity token exchange (STS)
# and GSA impersonation (IAM Credentials), node logs and metrics.
RUNTIME_APIS: Sequence[str] = (
    "containerfilesystem.googleapis.com",
    # Artifact Analysis scans the registry's images when this API is on (the repositories'
    # vulnerability_scanning_config is INHERITED: cloud.google.com/artifact-analysis/docs/enable-automatic-scanning).
    "containerscanning.googleapis.com",
    "sts.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
)


SERVICE_IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"


def api_of(type_token: str) -> str | None:
    """The API a `gcp:<module>/<name>:<Kind>` resource or `gcp:<module>/<fn>:<fn>` invoke calls."""
    if not type_token.startswith("gcp:"):
        return None
    return API_OF_MODULE.get(type_token.split(":")[1].split("/")[0])


def api_for(type_token: str, inputs: Mapping[str, object]) -> str | None:
    """The API a resource needs on before it is created: its module's, except for a service agent
    (`projects.ServiceIdentity`), which is generated for the service it names."""
    if type_token == SERVICE_IDENTITY:
        return str(inputs["service"])
    return api_of(type_token)


def required(uses_dns: bool) -> list[str]:
    """Every API the program calls: its resources' modules and the run-time APIs."""
    apis = {api for module, api in API_OF_MODULE.items() if uses_dns or module != "dns"}
    return sorted(apis | set(RUNTIME_APIS))


class Services(pulumi.ComponentResource):
    """One `projects.Service` per API, never disabled on destroy."""

    by_api: dict[str, gcp.projects.Service]

    def __init__(self, name: str, project: str, apis: Sequence[str], opts: pulumi.ResourceOptions | None = None):
        super().__init__("llz:gcp:Services", name, None, opts)
        self.by_api = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=project,
                service=api,
                disable_on_destroy=False,  # project-wide: other stacks may use it
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in apis
        }
        self.register_outputs({"apis": list(apis)})

    def needs_api(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        """Transformation: a GCP resource also depends on the Service of the API it calls."""
        api = api_for(args.type_, args.props)
        service = self.by_api.get(api) if api else None
        if service is None or args.resource is service:
            return None
        # merge() concatenates depends_on: the resource keeps its own dependencies.
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=[service]))
        )

    def invoke_opts(self, provider: pulumi.ProviderResource, module: str) -> pulumi.InvokeOutputOptions:
        """Options for a data-source call of `module`: the explicit provider, after its API is on."""
        return pulumi.InvokeOutputOptions(provider=provider, depends_on=[self.by_api[API_OF_MODULE[module]]])
