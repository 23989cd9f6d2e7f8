"""The first-deploy staging Job: copies `model.source` (a Hugging Face repo at a pinned commit) into the
bucket inside `pulumi up`, so the serving Deployment (which depends on it) finds a model.

Cloud-blind like the rest of the component: the write identity arrives as `Platform.stager` (its own
service account; the cloud bound it to a role that may write only the model prefix), the bucket as
`Platform.weights_uri`. The Job runs our weights image (`serving.pullerImage`) with
`llz weights stage hf://<repo>@<sha> <weights URI>`, which exits 0 at once when the manifest
already records that revision — so a re-run of `up`, or a replaced Job, copies nothing.

Waiting: the provider waits 10 minutes for a Job by default (pulumi-kubernetes
provider/pkg/await/job.go, DefaultJobTimeoutMins); `customTimeouts` and the
`pulumi.com/timeoutSeconds` annotation override it, in that order (provider/pkg/metadata/overrides.go,
TimeoutDuration, used by provider/pkg/await/await.go for every awaited kind, Job included). Both
carry the same number derived from the model's size (`timings.stage_await_seconds`): the option is
what the provider reads first, the annotation shows the number in the rendered manifests.
`pulumi.com/replaceUnready` makes the next `up` replace a Job that failed (e.g. the hub was down)
instead of waiting on it forever (provider/pkg/provider/provider.go, Diff).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config.schema import ModelConfig, ServingConfig
from infra.platform import Platform
from infra.serving import network, timings
from infra.serving.pod import container_security, env_list, pod_security

TOKEN_ENTRY = "token"  # the key inside the hub-token Secret
SCRATCH = "/scratch"  # the Job's emptyDir: the file in flight and huggingface_hub's small caches
TMP_GI = 1
# huggingface_hub in a one-shot pod: caches on the scratch volume, no telemetry, no Xet chunk cache
# (it would keep up to 10 GB of chunks that are never read again).
_HUB_ENV = {
    "HF_HOME": f"{SCRATCH}/hf",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_XET_CHUNK_CACHE_SIZE_BYTES": "0",
    "TMPDIR": "/tmp",
}


SOURCE_ANNOTATION = "llz.io/weights-source"  # on the serving pod template: hf://<repo>@<sha>


def with_source_annotation(template: dict[str, Any], model: ModelConfig) -> dict[str, Any]:
    """The pod template with the staged revision as an annotation, so a new revision rolls the pods
    (after its Job, which the Deployment depends on): their init containers then pull the new
    manifest. Without it, running pods would keep serving the old weights from their local copy."""
    if model.source is not None:
        annotations = template["metadata"].setdefault("annotations", {})
        annotations[SOURCE_ANNOTATION] = model.source.uri
    return template


def stage_command(model: ModelConfig, weights_uri: pulumi.Input[str]) -> list[pulumi.Input[str]]:
    """The Job's args (the image's ENTRYPOINT is `llz`)."""
    assert model.source is not None
    return ["weights", "stage", model.source.uri, weights_uri, "--workdir", f"{SCRATCH}/files"]


def staging_job(
    name: str,
    parent: pulumi.Resource,
    platform: Platform,
    model: ModelConfig,
    serving: ServingConfig,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
) -> k8s.batch.v1.Job:
    """The stager's service account, hub-token Secret (if any), NetworkPolicy and Job."""
    stager, source = platform.stager, model.source
    assert stager is not None and source is not None
    child = pulumi.ResourceOptions(parent=parent)
    selector = {"app.kubernetes.io/name": "llz-weights-stager", "app.kubernetes.io/instance": name}
    labels = {**labels, **selector, "app.kubernetes.io/component": "weights-stager"}

    def meta(object_name: str, **extra: object) -> dict[str, object]:
        return {"name": object_name, "namespace": namespace, "labels": labels, **extra}

    account = k8s.core.v1.ServiceAccount(
        f"{name}-stager-sa",
        metadata={**meta(stager.service_account), "annotations": dict(stager.service_account_annotations)},
        automount_service_account_token=False,
        opts=child,
    )
    env: list[dict[str, Any]] = [*env_list(stager.env), *env_list(_HUB_ENV)]
    if source.token is not None:
        token = k8s.core.v1.Secret(
            f"{name}-hub-token",
            metadata=meta(f"{name}-hub-token"),
            type="Opaque",
            string_data={TOKEN_ENTRY: pulumi.Output.secret(source.token.get_secret_value())},
            opts=child,
        )
        env.append(
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": token.metadata.name, "key": TOKEN_ENTRY}}}
        )
    k8s.networking.v1.NetworkPolicy(
        f"{name}-stager-egress",
        metadata=meta(f"{name}-stager-egress"),
        spec=network.stager_egress_spec(selector, platform.egress, platform.dns_cidrs),
        opts=child,
    )

    weights_gb, uid = model.weights_gb, serving.run_as_user
    scratch_gi = timings.stage_scratch_gi(weights_gb)
    wait_s = timings.stage_await_seconds(weights_gb)
    return k8s.batch.v1.Job(
        f"{name}-stage",
        metadata=meta(
            f"{name}-stage-{source.revision[:12]}",
            annotations={"pulumi.com/timeoutSeconds": str(wait_s), "pulumi.com/replaceUnready": "true"},
        ),
        spec={
            "backoffLimit": 2,
            "activeDeadlineSeconds": timings.stage_deadline_seconds(weights_gb),
            "template": {
                "metadata": {"labels": {**labels, **stager.pod_labels}},
                "spec": {
                    "serviceAccountName": account.metadata.name,
                    "automountServiceAccountToken": False,  # the identity webhooks project their own token
                    "enableServiceLinks": False,
                    "restartPolicy": "Never",  # a retry is a new pod, with its own log
                    "securityContext": pod_security(uid),
                    "containers": [
                        {
                            "name": "stage",
                            "image": platform.image(serving.puller_image),  # ENTRYPOINT llz
                            "imagePullPolicy": "IfNotPresent",
                            "args": stage_command(model, platform.weights_uri),
                            "env": env,
                            "resources": {
                                "requests": {
                                    "cpu": "1",
                                    "memory": "1Gi",
                                    "ephemeral-storage": f"{scratch_gi + TMP_GI}Gi",
                                },
                                "limits": {"memory": "4Gi"},
                            },
                            "securityContext": container_security(uid),
                            "volumeMounts": [
                                {"name": "scratch", "mountPath": SCRATCH},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "scratch", "emptyDir": {"sizeLimit": f"{scratch_gi}Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": f"{TMP_GI}Gi"}},
                    ],
                },
            },
        },
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(platform.stager_ready),
            custom_timeouts=pulumi.CustomTimeouts(create=f"{wait_s}s", update=f"{wait_s}s"),
        ),
    )
