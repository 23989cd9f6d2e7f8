"""llm-landing-zone: config -> platform (one cloud) -> serving component (no cloud) -> exports."""

import importlib

import pulumi

from infra import config, sizing
from infra.serving import ModelServing, ModelServingArgs

cfg = config.load()  # every bad value fails here, before any resource is registered

# The only branch on cloud: import just that cloud's module (and so just its SDK).
platform = importlib.import_module(f"infra.{cfg.cloud}").build(cfg)

serving = ModelServing("llm", ModelServingArgs(platform=platform, model=cfg.model, serving=cfg.serving))

pulumi.export("cloud", cfg.cloud)
pulumi.export("endpoint", serving.endpoint)
pulumi.export("servedModelName", serving.served_model_name)
pulumi.export("weightsUri", platform.weights_uri)
pulumi.export("kubeconfig", platform.kubeconfig)
pulumi.export("apiKey", serving.api_key)
pulumi.export("costEstimate", sizing.cost_summary(cfg))
for key, value in platform.exports.items():
    pulumi.export(key, value)
