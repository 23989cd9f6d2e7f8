"""Will the model fit the GPUs, and which instance is the cheapest that does — from config alone.

The fit check mirrors what vLLM does at start-up: it loads the weights, profiles a forward pass,
and gives what is left of `gpu_memory_utilization x GPU memory` to the KV cache; it refuses to
start when that cache cannot hold one sequence of `max_model_len` tokens. We compute the same
budget before anything is registered, so an OOM or a Pending pod becomes a one-line config error.
Every figure is an estimate (docs/sizing.md lists the method, the assumptions and the sources).
"""

from __future__ import annotations

import errno
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra import catalog

if TYPE_CHECKING:  # typing only: infra.config.schema imports this module
    from infra.config.schema import ModelConfig, StackConfig

AUTO = "auto"
GIB = 1024**3
# CUDA context + NCCL buffers + the activation peak of vLLM's profiling pass + CUDA graphs, per GPU.
# vLLM start-up logs show ~0.1-0.5 GiB non-torch memory and ~1-1.5 GiB activation peak for 7-8B
# models at the default batch size (Llama 3.1 8B on an H100: 0.35 + 1.24 GiB); 2 GiB keeps a margin.
RUNTIME_GIB_PER_GPU = 2.0
# Headroom on a pulled copy of the weights for config/tokenizer files and the puller's manifest.
WEIGHTS_HEADROOM = 1.1
IMAGE_DISK_GB = 60  # vLLM image (compressed layers + unpacked snapshot) and the system images
WEIGHT_BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
QUANTIZED = ("fp8", "int8", "int4")  # tried, in this order, when nothing fits unquantized
_TP_SIZES = (1, 2, 4, 8)  # vLLM shards attention heads evenly: powers of two that divide a node
# Multi-node: one replica is a group of N identical nodes (a LeaderWorkerSet), tensor parallel over
# all GPUs of a node x pipeline parallel N across nodes (docs/multi-node.md says why PP, not TP or
# DP+EP, across nodes). `auto` tries groups only when no single node of the cloud fits.
PIPELINE_MAX = 16
# GPUs with FP8 tensor cores (compute capability >= 8.9: Ada L4/L40S, Hopper H100/H200). vLLM runs
# FP8 W8A8 only there; older GPUs get a weight-only W8A16 Marlin path for dense layers, and FP8 MoE
# checkpoints (DeepSeek-V3/R1) need SM >= 8.9 (docs.vllm.ai/en/v0.32.0/features/quantization/
# llm_compressor/fp8; huggingface.co/neuralmagic/DeepSeek-Coder-V2-Instruct-FP8/discussions/1).
FP8_GPUS = frozenset({"L4", "L40S", "H100-80GB", "H200-141GB"})
# Without config.json the KV shape is estimated as a Llama-style GQA model: 8 KV heads x 128 dims
# (Llama 3 8B/70B/405B, Mistral 7B, Qwen2.5-72B) and depth from params ~ 12 * L * (128 L)^2.
_GQA_KV_HEADS, _GQA_HEAD_DIM, _DEPTH_COEFF = 8, 128, 12 * 128**2


@dataclass(frozen=True)
class KvShape:
    """What one token costs in KV cache: per layer 2 (K and V) x kv_heads x head_dim, or MLA's latent."""

    layers: int
    kv_heads: int
    head_dim: int
    source: str
    mla_dim: int = 0  # DeepSeek-V2/V3/R1 multi-head latent attention: kv_lora_rank + qk_rope_head_dim

    def bytes_per_token(self, element_bytes: float) -> float:
        if self.mla_dim:
            return self.layers * self.mla_dim * element_bytes
        return 2 * self.layers * self.kv_heads * self.head_dim * element_bytes


_MAX_DIM = 2**31 - 1  # any larger layer/head/width count is not a model; it would only overflow the arithmetic


def _size(data: dict[str, Any], field: str, default: int | None = None) -> int:
    """A positive whole number from config.json (`default` when absent or null)."""
    value = data.get(field)
    if value is None and default is not None:
        return default
    if value is None:
        raise ValueError(f"config.json lacks {field!r}; need num_hidden_layers, num_attention_heads, hidden_size")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_DIM:
        raise ValueError(f"config.json has {field} = {value!r:.40}; need a whole number from 1 to {_MAX_DIM}")
    return value


def kv_shape_from_hf_config(data: Any) -> KvShape:
    """The KV shape from a Hugging Face `config.json` (text config of multimodal models included).

    Every size must be a positive whole number: a zero, negative, fractional, string or boolean size
    is refused (a zero width would make the KV cache free, and any model would "fit")."""
    if not isinstance(data, dict):
        raise ValueError(f"config.json holds a JSON {_json_kind(data)}; need an object with the model's sizes")
    if "num_hidden_layers" not in data and "text_config" in data:
        data = data["text_config"]
        if not isinstance(data, dict):
            raise ValueError(f"config.json's text_config is a JSON {_json_kind(data)}; need an object")
    layers, heads = _size(data, "num_hidden_layers"), _size(data, "num_attention_heads")
    kv_heads = _size(data, "num_key_value_heads", default=heads)
    if data.get("head_dim") is not None:
        head_dim = _size(data, "head_dim")
    elif (head_dim := _size(data, "hidden_size") // heads) < 1:
        raise ValueError(f"config.json has hidden_size {data['hidden_size']} < num_attention_heads {heads}")
    mla = _size(data, "kv_lora_rank") if data.get("kv_lora_rank") else 0  # DeepSeek MLA; 0/absent: none
    mla_dim = mla + (_size(data, "qk_rope_head_dim") if data.get("qk_rope_head_dim") else 0) if mla else 0
    return KvShape(layers, kv_heads, head_dim, "config.json", mla_dim)


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def read_hf_config(folder: Path) -> KvShape:
    """The KV shape from `folder`/config.json; ValueError (one line) for anything that is not one."""
    path = folder / "config.json"
    if "\x00" in str(path):
        raise ValueError("a path cannot contain a NUL character")
    try:
        if not path.is_file():
            raise FileNotFoundError(errno.ENOENT, f"no config.json in {folder}")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError as e:
        raise ValueError(e.strerror) from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not JSON: {e.msg}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text, so not a config.json") from None
    except (RecursionError, ValueError):  # nested past the parser's depth, or a number of 4300+ digits
        raise ValueError(f"{path} is nested too deeply or holds a number too long to be a config.json") from None
    except OSError as e:  # unreadable, a name too long, ...
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
    return kv_shape_from_hf_config(data)


def kv_shape(model: ModelConfig) -> KvShape:
    if model.hf_config_dir is not None:
        return read_hf_config(model.hf_config_dir)
    layers = max(1, round((model.params_billions * 1e9 / _DEPTH_COEFF) ** (1 / 3)))
    return KvShape(layers, _GQA_KV_HEADS, _GQA_HEAD_DIM, "estimated from paramsBillions (set model.hfConfigDir)")


def dtype_problem(dtype: str, gpu_model: str) -> str | None:
    """Why `gpu_model` cannot serve weights of `dtype` (None: it can)."""
    if dtype == "fp8" and gpu_model not in FP8_GPUS:
        return (
            f"{gpu_model} has no FP8 tensor cores (vLLM runs FP8 W8A8 on compute capability >= 8.9: "
            f"{', '.join(sorted(FP8_GPUS))}); use model.dtype bfloat16 or a GPU that has them"
        )
    return None


@dataclass(frozen=True)
class Fit:
    """The memory budget of one replica: `tensor_parallel_size` GPUs on each of `nodes` nodes of `instance`."""

    instance: catalog.GpuInstance
    tensor_parallel_size: int
    utilization: float
    weights_gib: float
    runtime_gib: float
    kv_gib_per_sequence: float  # one sequence of max_model_len tokens
    kv_bytes_per_token: float
    kv_source: str
    nodes: int = 1  # pipeline parallel size: nodes per replica

    @property
    def available_gib(self) -> float:
        return self.instance.gpu_memory_gib * self.tensor_parallel_size * self.nodes * self.utilization

    @property
    def price_per_replica(self) -> float:
        return _price(self.instance) * self.nodes

    @property
    def needed_gib(self) -> float:
        return self.weights_gib + self.runtime_gib + self.kv_gib_per_sequence

    @property
    def fits(self) -> bool:
        return self.needed_gib <= self.available_gib

    @property
    def kv_cache_tokens(self) -> int:
        return max(0, int((self.available_gib - self.weights_gib - self.runtime_gib) * GIB / self.kv_bytes_per_token))

    def describe_need(self, model: ModelConfig) -> str:
        return (
            f"{model.name} ({model.params_billions:g}B {model.dtype}, maxModelLen {model.max_model_len}) needs "
            f"{self.needed_gib:.1f} GiB (weights {self.weights_gib:.1f} + KV cache {self.kv_gib_per_sequence:.1f} "
            f"for one full-length sequence + runtime {self.runtime_gib:.1f})"
        )

    def describe_available(self) -> str:
        i = self.instance
        if self.nodes > 1:
            return (
                f"{self.nodes} nodes x {self.tensor_parallel_size} x {i.gpu_model} give {self.available_gib:.1f} GiB "
                f"({i.gpu_memory_gib:.1f} GiB x tensorParallelSize {self.tensor_parallel_size} "
                f"x pipelineParallelSize {self.nodes} x gpuMemoryUtilization {self.utilization:g})"
            )
        return (
            f"{self.tensor_parallel_size} x {i.gpu_model} gives {self.available_gib:.1f} GiB "
            f"({i.gpu_memory_gib:.1f} GiB x tensorParallelSize {self.tensor_parallel_size} "
            f"x gpuMemoryUtilization {self.utilization:g})"
        )

    def as_dict(self, model: ModelConfig) -> dict[str, Any]:
        return {
            "instanceType": self.instance.name,
            "gpu": f"{self.instance.gpus} x {self.instance.gpu_model}",
            "tensorParallelSize": self.tensor_parallel_size,
            **({"pipelineParallelSize": self.nodes, "nodesPerReplica": self.nodes} if self.nodes > 1 else {}),
            "fits": self.fits,
            "neededGiB": round(self.needed_gib, 2),
            "availableGiB": round(self.available_gib, 2),
            "weightsGiB": round(self.weights_gib, 2),
            "kvCacheGiBPerSequence": round(self.kv_gib_per_sequence, 2),
            "runtimeGiB": round(self.runtime_gib, 2),
            "kvCacheTokens": self.kv_cache_tokens,
            "fullLengthSequences": self.kv_cache_tokens // model.max_model_len,
            "maxNumSeqs": model.max_num_seqs,
            "kvShape": self.kv_source,
        }


def fit(
    model: ModelConfig, instance: catalog.GpuInstance, tensor_parallel_size: int, utilization: float, nodes: int = 1
) -> Fit:
    shape = kv_shape(model)
    # vLLM keeps the KV cache in the activation dtype (16-bit) even when the weights are quantized.
    per_token = shape.bytes_per_token(4.0 if model.dtype == "float32" else 2.0)
    return Fit(
        instance=instance,
        tensor_parallel_size=tensor_parallel_size,
        utilization=utilization,
        weights_gib=model.params_billions * 1e9 * WEIGHT_BYTES[model.dtype] / GIB,
        runtime_gib=RUNTIME_GIB_PER_GPU * tensor_parallel_size * nodes,
        kv_gib_per_sequence=per_token * model.max_model_len / GIB,
        kv_bytes_per_token=per_token,
        kv_source=shape.source,
        nodes=nodes,
    )


def _price(instance: catalog.GpuInstance) -> float:
    return instance.price.on_demand if instance.price else math.inf


def _serves(model: ModelConfig, instance: catalog.GpuInstance) -> bool:
    return dtype_problem(model.dtype, instance.gpu_model) is None


def cheapest_fit(
    cloud: catalog.Cloud, model: ModelConfig, utilization: float, tensor_parallel_size: int | None = None
) -> Fit | None:
    """The cheapest (on-demand) catalog type of `cloud` that fits on one node, with the smallest TP that does."""
    candidates = []
    for instance in (i for i in catalog.instances(cloud).values() if _serves(model, i)):
        sizes = [tensor_parallel_size] if tensor_parallel_size else [t for t in _TP_SIZES if t <= instance.gpus]
        fits = (f for t in sizes if t <= instance.gpus and (f := fit(model, instance, t, utilization)).fits)
        candidates.extend(f for f in [next(fits, None)] if f)
    return min(candidates, key=lambda f: (_price(f.instance), f.instance.gpus, f.tensor_parallel_size), default=None)


def group_fit(model: ModelConfig, instance: catalog.GpuInstance, utilization: float, nodes: int | None) -> Fit | None:
    """The smallest group of `instance` nodes (all GPUs of each, 2..PIPELINE_MAX, or exactly `nodes`) that
    fits; only types with an inter-node fabric for collectives (catalog.FABRIC)."""
    if not _serves(model, instance) or instance.name not in catalog.FABRIC:
        return None
    sizes = [nodes] if nodes else range(2, PIPELINE_MAX + 1)
    fits = (f for n in sizes if (f := fit(model, instance, instance.gpus, utilization, n)).fits)
    return next(fits, None)


def cheapest_group(
    cloud: catalog.Cloud,
    model: ModelConfig,
    utilization: float,
    tensor_parallel_size: int | None = None,
    nodes: int | None = None,
) -> Fit | None:
    """The cheapest group of N identical nodes of `cloud` that fits (price x N), TP = the node's GPUs."""
    candidates = [
        f
        for i in catalog.instances(cloud).values()
        if tensor_parallel_size in (None, i.gpus) and (f := group_fit(model, i, utilization, nodes))
    ]
    return min(candidates, key=lambda f: (f.price_per_replica, f.nodes, f.instance.gpus), default=None)


def _offer(f: Fit) -> str:
    price = f"${f.instance.price.on_demand:g}/h" if f.instance.price else "price unknown"
    i = f.instance
    if f.nodes > 1:
        return (
            f"{f.nodes} x {i.name} per replica ({i.gpus} x {i.gpu_model} each, {price} each, "
            f"tensorParallelSize {f.tensor_parallel_size}, pipelineParallelSize {f.nodes})"
        )
    return f"{i.name} ({i.gpus} x {i.gpu_model}, {price}, tensorParallelSize {f.tensor_parallel_size})"


def _largest(cloud: catalog.Cloud) -> catalog.GpuInstance:
    return max(catalog.instances(cloud).values(), key=lambda i: i.gpus * i.gpu_memory_gib)


def advice(cloud: catalog.Cloud, model: ModelConfig, utilization: float, tensor_parallel_size: int | None) -> str:
    """What would fit instead: the cheapest type (or group of nodes) on this cloud, or the quantization that does."""
    best = cheapest_fit(cloud, model, utilization, tensor_parallel_size)
    if best:
        return f"cheapest {cloud} type that fits: {_offer(best)}"
    if tensor_parallel_size and (cheapest_fit(cloud, model, utilization) or cheapest_group(cloud, model, utilization)):
        return f"nothing fits at tensorParallelSize {tensor_parallel_size}; remove model.tensorParallelSize"
    group = cheapest_group(cloud, model, utilization, tensor_parallel_size)
    if group:
        return (
            f"no single {cloud} node fits it; cheapest group that fits: {_offer(group)} "
            "(gpu.instanceType auto chooses it, docs/multi-node.md)"
        )
    largest = _largest(cloud)
    usable = fit(model, largest, largest.gpus, utilization, PIPELINE_MAX).available_gib
    text = (
        f"nothing in the {cloud} catalog fits it, not even {PIPELINE_MAX} x {largest.name} "
        f"({largest.gpus} x {largest.gpu_model} each: {usable:.1f} GiB usable)"
    )
    for dtype in (d for d in QUANTIZED if WEIGHT_BYTES[d] < WEIGHT_BYTES[model.dtype]):
        quantized = cheapest_fit(cloud, model.model_copy(update={"dtype": dtype}), utilization)
        if quantized:
            return f"{text}; without quantization nothing fits — with model.dtype {dtype} it fits {_offer(quantized)}"
    return f"{text}, even quantized to int4"


def check(cfg: StackConfig) -> str | None:
    """None when the configured instance fits the model, else the one-line reason and the fix."""
    return check_instance(cfg, cfg.gpu_instance)


def check_instance(cfg: StackConfig, instance: catalog.GpuInstance) -> str | None:
    """`check` for one instance type (gpu.instanceType, or each of a gpu.spot list)."""
    util, tp, pp = cfg.serving.gpu_memory_utilization, cfg.model.tensor_parallel_size, cfg.model.pipeline_parallel_size
    unsupported = dtype_problem(cfg.model.dtype, instance.gpu_model)
    if unsupported:
        return f"model.dtype {cfg.model.dtype}: {unsupported}"
    f = fit(cfg.model, instance, tp, util, pp)
    if f.fits:
        return None
    more = (g for t in _TP_SIZES if tp < t <= instance.gpus and (g := fit(cfg.model, instance, t, util, pp)).fits)
    wider = next(more, None)
    group = group_fit(cfg.model, instance, util, None)
    if wider:
        fix = f"set model.tensorParallelSize {wider.tensor_parallel_size} to use more GPUs of {instance.name}"
    elif group and group.nodes > pp:
        fix = (
            f"set model.pipelineParallelSize {group.nodes} and model.tensorParallelSize {instance.gpus} "
            f"to serve each replica from {group.nodes} nodes of {instance.name} (docs/multi-node.md)"
        )
    else:
        fix = advice(cfg.cloud, cfg.model, util, None)
    return f"{f.describe_need(cfg.model)} but {f.describe_available()}; {fix}"


def choose(cfg: StackConfig) -> Fit | str:
    """For `gpu.instanceType: auto`: the cheapest fitting type — one node when any fits, else the
    cheapest group of N identical nodes — or the one-line reason none fits."""
    explicit_tp = cfg.model.tensor_parallel_size if "tensor_parallel_size" in cfg.model.model_fields_set else None
    explicit_pp = cfg.model.pipeline_parallel_size if "pipeline_parallel_size" in cfg.model.model_fields_set else None
    util = cfg.serving.gpu_memory_utilization
    if explicit_pp and explicit_pp > 1:
        best = cheapest_group(cfg.cloud, cfg.model, util, explicit_tp, explicit_pp)
    else:
        best = cheapest_fit(cfg.cloud, cfg.model, util, explicit_tp)
        if best is None and explicit_pp is None:
            best = cheapest_group(cfg.cloud, cfg.model, util, explicit_tp)
    if best:
        return best
    largest = _largest(cfg.cloud)  # the need as it would be on the biggest node (all its GPUs)
    need = fit(cfg.model, largest, explicit_tp or largest.gpus, util).describe_need(cfg.model)
    if explicit_pp and explicit_pp > 1:
        return (
            f"{need}; no group of {explicit_pp} identical {cfg.cloud} nodes fits it; remove model.pipelineParallelSize"
        )
    return f"{need}; {advice(cfg.cloud, cfg.model, util, explicit_tp)}"


def gpu_node_disk_gb(weights_gb: float, floor_gb: int = 100) -> int:
    """GPU node disk: the vLLM image plus one pulled copy of the weights (the pod's emptyDir), in
    10 GB steps. The same rule on every cloud; a cloud with a larger minimum passes its floor."""
    return max(floor_gb, math.ceil((weights_gb * WEIGHTS_HEADROOM + IMAGE_DISK_GB) / 10) * 10)
