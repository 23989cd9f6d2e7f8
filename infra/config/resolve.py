"""What the program derives from the config before anything uses it, as explicit steps that each
return a new frozen config (nothing is mutated):

- `cloud_section`: the stack's cloud section, filled with that cloud's defaults when omitted (or
  the one-line error when the cloud has required keys);
- `gpu_type`: `gpu.instanceType: auto` -> the cheapest catalog type that fits the model, with
  the tensor-parallel size it needs, and the nodes per replica (pipeline parallel) when no single
  node fits (`AutoGpuPoolConfig` marks the choice for the plan).
"""

from __future__ import annotations

from infra import clouds, fit
from infra.config import checks
from infra.config.errors import key_error
from infra.config.schema import AutoGpuPoolConfig, StackConfig


def cloud_section(cfg: StackConfig) -> StackConfig:
    if cfg.section(cfg.cloud) is not None:
        return cfg
    return cfg.model_copy(update={cfg.cloud: clouds.part(cfg.cloud, "settings").default()})


def gpu_type(cfg: StackConfig) -> StackConfig:
    if cfg.gpu.instance_type != fit.AUTO:
        return cfg
    choice = fit.choose(cfg)
    if isinstance(choice, str):
        raise key_error("gpu.instanceType", fit.AUTO, choice)
    gpu = AutoGpuPoolConfig(**{**dict(cfg.gpu), "instance_type": choice.instance.name})
    model = cfg.model.model_copy(
        update={"tensor_parallel_size": choice.tensor_parallel_size, "pipeline_parallel_size": choice.nodes}
    )
    resolved = cfg.model_copy(update={"gpu": gpu, "model": model})
    if choice.nodes > 1:  # a group of nodes per replica: the rollout's surge group must fit gpu.maxNodes too
        checks.gpu_nodes_leave_room_for_rollout(resolved)
    return resolved
