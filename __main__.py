"""llm-landing-zone: config -> platform (one cloud) -> serving component (no cloud) -> exports.

A `<stack>-bootstrap` stack (role: bootstrap) registers only what <stack>'s in-network CI runner
needs, its network and the runners, and is applied first (infra/config/roles.py, docs/first-deploy.md).
"""

import pulumi

from infra import clouds, cost
from infra.config import loader
from infra.serving import ModelServing, ModelServingArgs

cfg = loader.load()  # every bad value fails here, before any resource is registered

if cfg.role == "bootstrap":
    pulumi.export("cloud", cfg.cloud)
    for key, value in clouds.part(cfg.cloud, "bootstrap").build(cfg).items():
        pulumi.export(key, value)
else:
    # The only branch on cloud: import just that cloud's platform (and so just its SDK).
    platform = clouds.part(cfg.cloud, "platform").build(cfg)

    serving = ModelServing(
        "llm",
        ModelServingArgs(platform=platform, model=cfg.model, serving=cfg.serving),
    )

    pulumi.export("cloud", cfg.cloud)
    pulumi.export("endpoint", serving.endpoint)
    pulumi.export("servedModelName", serving.served_model_name)
    pulumi.export("weightsUri", platform.weights_uri)
    pulumi.export("kubeconfig", platform.kubeconfig)
    pulumi.export("apiKey", serving.api_key)
    pulumi.export("costEstimate", cost.cost_summary(cfg))
    for key, value in platform.exports.items():
        pulumi.export(key, value)
