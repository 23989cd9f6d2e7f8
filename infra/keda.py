"""KEDA, the autoscaler that turns vLLM's queue in the managed Prometheus into a replica count.

One design on the three clouds (issue 18): KEDA's Prometheus scaler queries the cloud's managed
Prometheus as the keda-operator's own cloud identity (AMP signs with SigV4, GMP and Azure Monitor
take a workload-identity token), and KEDA feeds the HPA it owns. A custom-metrics adapter would need
a different adapter per cloud (GKE's stackdriver adapter, prometheus-adapter behind a SigV4 proxy on
AWS, none managed on Azure); KEDA is an AKS add-on and one Helm chart elsewhere.

EKS and GKE install the upstream chart here, at a pinned version, fetched by the Helm provider at
deploy time (no copy of upstream manifests in the repository); AKS enables its managed add-on
instead (namespace kube-system, service account keda-operator).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import images
from infra.conventions import KEDA_IMAGES, KEDA_NAMESPACE, KEDA_OPERATOR_SA, KEDA_VERSION

CHART_REPO = "https://kedacore.github.io/charts"  # kedacore/charts, chart `keda`, version = app version


def _image_values(ref: str) -> dict[str, str]:
    """The chart's `image.<component>` values for a full reference: it renders registry/repository:tag
    (kedacore/charts keda/templates/manager/deployment.yaml), so a digest rides on the tag."""
    image = images.parse(ref)
    return {"registry": image.host, "repository": image.path, "tag": image.chart_tag(KEDA_VERSION)}


def chart_values(
    image: Callable[[str], pulumi.Input[str]],
    operator_annotations: Mapping[str, pulumi.Input[str]],
    operator_pod_labels: Mapping[str, str],
) -> dict[str, Any]:
    """The chart values: images through the stack's registry, the operator's identity, JSON logs."""
    return {
        "image": {
            component: pulumi.Output.from_input(image(ref)).apply(_image_values)
            for component, ref in KEDA_IMAGES.items()
        },
        "serviceAccount": {"operator": {"name": KEDA_OPERATOR_SA, "annotations": dict(operator_annotations)}},
        "podLabels": {"keda": dict(operator_pod_labels)},
        "logging": {"operator": {"format": "json"}},
    }


def install(
    name: str,
    provider: k8s.Provider,
    *,
    image: Callable[[str], pulumi.Input[str]],
    operator_annotations: Mapping[str, pulumi.Input[str]] | None = None,
    operator_pod_labels: Mapping[str, str] | None = None,
    opts: pulumi.ResourceOptions | None = None,
) -> k8s.helm.v3.Release:
    """The KEDA chart in namespace `keda`; the operator's service account is `keda-operator`, which
    the caller binds to a cloud identity allowed only to query its managed Prometheus."""
    return k8s.helm.v3.Release(
        name,
        name="keda",
        chart="keda",
        version=KEDA_VERSION,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
        namespace=KEDA_NAMESPACE,
        create_namespace=True,
        # A failed install is rolled back rather than left half-applied for the next `up`.
        atomic=True,
        values=chart_values(image, operator_annotations or {}, operator_pod_labels or {}),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=provider)),
    )
