"""ModelServing: the one vLLM deployment every cloud gets, built only from the Platform.

Imports pulumi_kubernetes and nothing cloud-specific; cloud differences arrive through
`Platform` (scheduling, identity, weights URI, LB annotations).

SEAM for the serving-component issue: today it creates the namespace and the identity-bound
service account only; the Deployment, Service, autoscaling and NetworkPolicy are that issue's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config import ModelConfig, ServingConfig
from infra.platform import Platform

PORT = 8000


@dataclass(frozen=True)
class ModelServingArgs:
    platform: Platform
    model: ModelConfig
    serving: ServingConfig


class ModelServing(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    served_model_name: pulumi.Output[str]

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            "llz:serving:ModelServing",
            name,
            None,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[args.platform.k8s])),
        )
        identity = args.platform.identity
        child = pulumi.ResourceOptions(parent=self)

        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": identity.namespace, "labels": {"app.kubernetes.io/part-of": "llm-landing-zone"}},
            opts=child,
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={
                "name": identity.service_account,
                "namespace": namespace.metadata.name,
                "annotations": dict(identity.service_account_annotations),
            },
            automount_service_account_token=False,
            opts=child,
        )
        self.endpoint = pulumi.Output.from_input(f"http://{name}.{identity.namespace}.svc.cluster.local:{PORT}/v1")
        self.served_model_name = pulumi.Output.from_input(args.model.served_name)
        self.register_outputs({"endpoint": self.endpoint, "servedModelName": self.served_model_name})
