"""The shared serving component (vLLM on Kubernetes), built only from the Platform contract.

`component` wires the objects; `pod`, `network`, `scaling` hold their specs; `timings` derives
probe, drain, autoscaling and volume numbers from the model.
"""

from infra.serving.component import ModelServing, ModelServingArgs

__all__ = ["ModelServing", "ModelServingArgs"]
