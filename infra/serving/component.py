"""ModelServing: the one vLLM deployment every cloud gets, built only from the Platform.

Imports pulumi_kubernetes and pulumi_random and nothing cloud-specific; cloud differences arrive
through `Platform` (scheduling, identity, weights URI, LB annotations, egress, readiness). Every
object has an explicit metadata.name, so manifests and URNs are stable across runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.config.schema import ModelConfig, ServingConfig
from infra.platform import Platform
from infra.serving import group, network, scaling, timings
from infra.serving.pod import API_KEY_ENTRY, PORT, pod_template
from infra.serving.staging import staging_job, with_source_annotation


@dataclass(frozen=True)
class ModelServingArgs:
    platform: Platform
    model: ModelConfig
    serving: ServingConfig


class ModelServing(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    served_model_name: pulumi.Output[str]
    api_key: pulumi.Output[str]  # secret

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            "llz:serving:ModelServing",
            name,
            None,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[args.platform.k8s])),
        )
        platform, model, serving = args.platform, args.model, args.serving
        identity = platform.identity
        child = pulumi.ResourceOptions(parent=self)
        selector = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": name}
        labels = {
            **selector,
            "app.kubernetes.io/component": "inference",
            "app.kubernetes.io/part-of": "llm-landing-zone",
            "app.kubernetes.io/managed-by": "pulumi",
        }
        pulls = serving.load_format == "pull"

        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={
                "name": identity.namespace,
                "labels": {
                    "app.kubernetes.io/part-of": "llm-landing-zone",
                    # Every pod here must meet the "restricted" Pod Security Standard.
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
            opts=child,
        )
        ns = namespace.metadata.name

        def meta(object_name: str, **extra: object) -> dict[str, object]:
            return {"name": object_name, "namespace": ns, "labels": labels, **extra}

        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={
                "name": identity.service_account,
                "namespace": ns,
                "labels": labels,
                "annotations": dict(identity.service_account_annotations),
            },
            automount_service_account_token=False,
            opts=child,
        )

        random_provider = random.Provider(f"{name}-random", opts=child)
        password = random.RandomPassword(
            f"{name}-api-key",
            length=48,
            special=False,  # header- and shell-safe
            opts=pulumi.ResourceOptions(parent=self, provider=random_provider),
        )
        api_key_secret = k8s.core.v1.Secret(
            f"{name}-api-key",
            metadata=meta(f"{name}-api-key"),
            type="Opaque",
            string_data={API_KEY_ENTRY: password.result},
            opts=child,
        )

        # Weights: staged by a Job in this run (model.source), pushed by hand (weightsStaged), or not
        # there yet: then no replica runs (and no GPU node starts) until a later run says they are.
        staging = []
        if model.source is not None:
            if platform.stager is None:
                raise ValueError(f"{name}: model.source is set but the Platform has no stager identity")
            staging = [staging_job(name, self, platform, model, serving, ns, labels)]
        weights_there = bool(staging) or model.weights_staged
        if not weights_there:  # the expected first phase of a no-egress stack: said, not warned
            pulumi.log.info(
                f"{name}: model.weightsStaged is false and there is no model.source: the server runs 0 replicas; "
                "push the weights (llz weights push), set model.weightsStaged: true and run up again",
                self,
            )

        metrics = platform.metrics
        scaler = metrics.scaler if metrics is not None else None
        wants_range = weights_there and serving.replicas.max > serving.replicas.min
        autoscale = wants_range and scaler is not None
        if wants_range and scaler is None:
            pulumi.log.warn(
                f"{name}: the Platform gives no queue source for autoscaling; the server stays at "
                f"serving.replicas.min ({serving.replicas.min})",
                self,
            )
        cold_start = timings.cold_start_seconds(model.weights_gb, pulls)
        wait = f"{math.ceil(cold_start / 60) + 10}m"
        replicas = serving.replicas.min if weights_there else 0
        template = with_source_annotation(
            pod_template(platform, model, serving, labels, account.metadata.name, api_key_secret.metadata.name),
            model,
        )
        ready = [*platform.ready, *staging]  # the staging Job: the weights are in the bucket
        timeouts = pulumi.CustomTimeouts(create=wait, update=wait)
        multi_node = model.pipeline_parallel_size > 1
        if multi_node:  # one replica = a group of nodes: a LeaderWorkerSet (infra/serving/group.py)
            workload = group.leader_worker_set(
                name, self, platform, model, template, meta(name),
                replicas=None if autoscale else replicas, depends_on=ready, timeouts=timeouts,
            )  # fmt: skip
            served, target_name = group.leader_selector(selector), group.set_name(name)
        else:
            workload = k8s.apps.v1.Deployment(
                name,
                metadata=meta(name),
                spec={
                    # Autoscaled, the replica count is KEDA's HPA's field; setting it here would fight it on every up.
                    **({} if autoscale else {"replicas": replicas}),
                    "selector": {"matchLabels": selector},
                    "revisionHistoryLimit": 3,
                    # Longer than a cold start, or a rollout onto a fresh GPU node is reported as failed.
                    "progressDeadlineSeconds": cold_start + 300,
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                    "template": template,
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=ready, custom_timeouts=timeouts),
            )
            served, target_name = selector, workload.metadata.name

        service = k8s.core.v1.Service(
            f"{name}-svc",
            metadata=meta(name, annotations=network.service_annotations(serving, platform.internal_lb_annotations)),
            spec=network.service_spec(serving, served),
            opts=child,
        )

        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta(f"{name}-default-deny"),
            spec=network.default_deny_spec(),
            opts=child,
        )
        peers = network.ingress_peers(serving, platform.metrics)
        if peers:  # no peers: the default deny stands (port-forward still works)
            k8s.networking.v1.NetworkPolicy(
                f"{name}-ingress",
                metadata=meta(f"{name}-ingress"),
                spec=network.ingress_spec(served, peers),
                opts=child,
            )
        if not platform.egress:
            pulumi.log.warn(
                f"{name}: the Platform lists no egress rules; serving pods can reach only DNS, "
                "so the weights download will be blocked by the NetworkPolicy",
                self,
            )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata=meta(f"{name}-egress"),
            spec=network.egress_spec(selector, platform.egress, platform.dns_cidrs),
            opts=child,
        )

        if autoscale:
            assert scaler is not None
            window = timings.scale_down_window_seconds(model.weights_gb, pulls)
            auth = k8s.apiextensions.CustomResource(
                f"{name}-queue-auth",
                api_version="keda.sh/v1alpha1",
                kind="TriggerAuthentication",
                metadata=meta(f"{name}-queue"),
                spec={"podIdentity": dict(scaler.pod_identity)},
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(scaler.ready)),
            )
            query = scaling.queue_query(serving, identity.namespace, model.served_name, scaler)
            scaled = scaling.scaled_object_spec(serving, target_name, name, window, scaler, query, f"{name}-queue")
            if multi_node:  # the set's scale subresource: whole groups
                scaled["scaleTargetRef"] = group.scale_target_ref(target_name)
            k8s.apiextensions.CustomResource(
                f"{name}-scaler",
                api_version="keda.sh/v1alpha1",
                kind="ScaledObject",
                # KEDA adopts the HPA the stack created before it scaled through KEDA (same name).
                metadata=meta(name, annotations={"scaledobject.keda.sh/transfer-hpa-ownership": "true"}),
                spec=scaled,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[auth, *scaler.ready]),
            )
        pdb = group.pdb_spec(selector) if multi_node else scaling.pdb_spec(serving, selector)
        k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=meta(name), spec=pdb, opts=child)
        if serving.metrics.service_monitor:
            k8s.apiextensions.CustomResource(
                f"{name}-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=meta(name),
                spec={
                    "selector": {"matchLabels": served},
                    "namespaceSelector": {"matchNames": [identity.namespace]},
                    "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
                },
                opts=child,
            )

        if metrics is not None and metrics.monitor is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-scrape",
                api_version=metrics.monitor.api_version,
                kind=metrics.monitor.kind,
                metadata=meta(name),
                spec={
                    "selector": {"matchLabels": served},
                    metrics.monitor_endpoints_field: [{"port": "http", "path": "/metrics", "interval": "15s"}],
                },
                opts=child,
            )

        self.endpoint = pulumi.Output.concat(
            "http://", service.metadata.name, ".", service.metadata.namespace, f".svc.cluster.local:{PORT}/v1"
        )
        self.served_model_name = pulumi.Output.from_input(model.served_name)
        self.api_key = pulumi.Output.secret(password.result)
        self.register_outputs(
            {"endpoint": self.endpoint, "servedModelName": self.served_model_name, "apiKey": self.api_key}
        )
