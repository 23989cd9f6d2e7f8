"""GPU sizing: known models against published figures, `auto` on every cloud, cost arithmetic.

Published figures used below (each test names the one it checks):
- HF-LLAMA31: Hugging Face blog "Llama 3.1 - 405B, 70B & 8B with multilinguality and long context"
  (huggingface.co/blog/llama31), "Inference Memory Requirements": weights 8B = 16 GB and 70B = 140 GB
  in FP16/BF16; KV cache (FP16) for 128k tokens: 8B = 15.62 GB, 70B = 39.06 GB.
- LLAMA31-CONFIG: meta-llama/Llama-3.1-8B and -70B config.json on Hugging Face (layers 32/80,
  hidden 4096/8192, 32/64 attention heads, 8 KV heads).
- DEEPSEEK-V3: DeepSeek-V3 technical report (arXiv 2412.19437) and the deepseek-ai/DeepSeek-R1 model
  card: 671B total parameters (37B active, MoE), 61 layers, MLA with kv_lora_rank 512 and
  qk_rope_head_dim 64, released in FP8 — so a bf16 copy is ~1.34 TB.
- VLLM-MEM: vLLM docs "Conserving memory": the model must fit with its KV cache in
  gpu_memory_utilization x GPU memory, else vLLM refuses to start.
- VLLM-LOG: a vLLM start-up log (Llama 3.1 8B bf16, one H100 80GB, gpu_memory_utilization 0.90,
  max_model_len 32768) quoted in a public repo's log-parser tests: "model weights take 14.99GiB;
  non_torch_memory takes 0.35GiB; PyTorch activation peak memory takes 1.24GiB; the rest of the
  memory reserved for KV Cache is 54.62GiB ... GPU KV cache size: 447,088 tokens ... Maximum
  concurrency for 32,768 tokens per request: 13.64x".
"""

from __future__ import annotations

import json
import math

import pytest

from infra import catalog, fit
from infra.config import loader
from infra.config.errors import ConfigError
from infra.config.schema import StackConfig
from infra.cost import cost as stack_cost
from infra.cost import report
from tests.ci_support import CIDR_MODE
from tests.harness import stack_file

LLAMA31_8B = {  # LLAMA31-CONFIG (the fields sizing reads)
    "num_hidden_layers": 32,
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 131072,
}
LLAMA31_70B = {**LLAMA31_8B, "num_hidden_layers": 80, "hidden_size": 8192, "num_attention_heads": 64}
DEEPSEEK_R1 = {  # DEEPSEEK-V3 config.json fields
    "num_hidden_layers": 61,
    "hidden_size": 7168,
    "num_attention_heads": 128,
    "num_key_value_heads": 128,
    "kv_lora_rank": 512,
    "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 128,
    "v_head_dim": 128,
}
M70B = {"name": "meta-llama/Llama-3.1-70B-Instruct", "paramsBillions": 70.6, "tensorParallelSize": None}
AUTO = {"instanceType": "auto"}
R1 = {"name": "deepseek-ai/DeepSeek-R1", "paramsBillions": 671, "tensorParallelSize": None}


def parse(stack: str, overrides: dict) -> StackConfig:
    return loader.parse(loader.from_pulumi_config(stack_file(stack, overrides).config))


def error(stack: str, overrides: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse(stack, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def hf_dir(tmp_path, name: str, data: dict) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(data))
    return str(folder)


# ---- published figures ---------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "published_gib"), [(LLAMA31_8B, 15.62), (LLAMA31_70B, 39.06)])
def test_kv_cache_matches_hf_llama31_table(shape, published_gib):
    """HF-LLAMA31: KV cache for 128k (128,000) tokens in FP16."""
    per_token = fit.kv_shape_from_hf_config(shape).bytes_per_token(2.0)
    assert per_token * 128_000 / fit.GIB == pytest.approx(published_gib, abs=0.01)


@pytest.mark.parametrize(("params", "published_gb"), [(8.03, 16), (70.6, 140)])
def test_weights_match_hf_llama31_table(params, published_gb):
    """HF-LLAMA31: 8B -> 16 GB, 70B -> 140 GB in BF16 (the params are the models' exact counts)."""
    cfg = parse("aws-dev", {"model": {"paramsBillions": params, "tensorParallelSize": None}, "gpu": AUTO})
    assert cfg.model.weights_gb == pytest.approx(published_gb, rel=0.01)


def test_estimated_kv_shape_is_close_to_llama_configs():
    """Without config.json, the Llama-style estimate is within 15% of the published configs."""
    for params, real in ((8.03, LLAMA31_8B), (70.6, LLAMA31_70B)):
        cfg = parse("aws-dev", {"model": {"paramsBillions": params, "tensorParallelSize": None}, "gpu": AUTO})
        estimate = fit.kv_shape(cfg.model).bytes_per_token(2.0)
        assert estimate == pytest.approx(fit.kv_shape_from_hf_config(real).bytes_per_token(2.0), rel=0.15)


def test_8b_bf16_fits_one_24gb_gpu_at_modest_context(tmp_path):
    """HF-LLAMA31 16 GB weights + 8k tokens of KV (1 GiB) fit 24 GB x 0.9; VLLM-MEM."""
    cfg = parse("aws-dev", {"model": {"hfConfigDir": hf_dir(tmp_path, "llama8b", LLAMA31_8B)}})
    found = report(cfg)["fit"]
    assert (cfg.gpu.instance_type, found["fits"], found["kvShape"]) == ("g6.xlarge", True, "config.json")
    assert found["kvCacheGiBPerSequence"] == pytest.approx(8192 * 131072 / fit.GIB, abs=0.01)
    assert found["neededGiB"] < found["availableGiB"] < 24


def test_kv_cache_budget_matches_a_vllm_startup_log(tmp_path):
    """VLLM-LOG: our weights, runtime and KV-cache tokens are within 1-3% of what vLLM measured."""
    model = {"paramsBillions": 8.03, "maxModelLen": 32768, "hfConfigDir": hf_dir(tmp_path, "llama8b", LLAMA31_8B)}
    found = report(parse("aws-dev", {"gpu": {"instanceType": "p5.48xlarge"}, "model": model}))["fit"]
    assert found["weightsGiB"] == pytest.approx(14.99, rel=0.01)
    assert 0.35 + 1.24 <= found["runtimeGiB"] <= 2.5  # vLLM's non-torch + activation peak, with a margin
    assert found["kvCacheTokens"] == pytest.approx(447_088, rel=0.03)
    assert found["fullLengthSequences"] == 13  # vLLM: 13.64x concurrency at 32,768 tokens


def test_8b_bf16_does_not_fit_a_16gb_t4_and_names_the_cheapest_fix():
    message = error("aws-dev", {"gpu": {"instanceType": "g4dn.xlarge"}})
    assert message.startswith("llm-landing-zone:gpu.instanceType = 'g4dn.xlarge': deepseek-ai/")
    assert "1 x T4 gives 13.5 GiB" in message  # 15360 MiB x 0.9
    assert "cheapest aws type that fits: g6.xlarge (1 x L4, $0.805/h, tensorParallelSize 1)" in message
    azure = error("azure-dev", {"gpu": {"instanceType": "Standard_NC4as_T4_v3"}})
    assert "cheapest azure type that fits: Standard_NC24ads_A100_v4" in azure


def test_70b_bf16_needs_two_80gb_gpus():
    """HF-LLAMA31: 140 GB of weights do not fit one 80 GB GPU; two do (at 8k context)."""
    one = error("azure-dev", {"model": M70B})
    assert "1 x A100-80GB gives 72.0 GiB" in one
    assert "cheapest azure type that fits: Standard_NC48ads_A100_v4 (2 x A100-80GB" in one
    assert "tensorParallelSize 2)" in one
    nc48 = {"instanceType": "Standard_NC48ads_A100_v4"}
    wider = error("azure-dev", {"model": M70B, "gpu": nc48})  # the right type, but TP 1 uses one GPU
    assert "set model.tensorParallelSize 2 to use more GPUs of Standard_NC48ads_A100_v4" in wider
    ok = parse("azure-dev", {"model": {**M70B, "tensorParallelSize": 2}, "gpu": nc48})
    assert report(ok)["fit"]["fits"]


@pytest.mark.parametrize(
    ("stack", "fix"),
    [
        ("aws-dev", "with model.dtype fp8 it fits p5e.48xlarge"),
        ("gcp-dev", "with model.dtype fp8 it fits a3-ultragpu-8g"),
        ("azure-dev", "with model.dtype int4 it fits Standard_ND96amsr_A100_v4"),
    ],
)
def test_671b_moe_fits_no_single_node_without_quantization(stack, fix, tmp_path):
    """DEEPSEEK-V3: 671B params in bf16 are ~1.25 TiB; the largest node has 8 x 141 GB (H200)."""
    model = {**R1, "hfConfigDir": hf_dir(tmp_path, "r1", DEEPSEEK_R1)}
    message = error(stack, {"model": model, "gpu": {"instanceType": "auto"}})
    assert "gpu.instanceType = 'auto'" in message
    assert f"no single {stack.split('-')[0]} node in the catalog fits it" in message
    assert "without quantization nothing fits" in message and fix in message
    assert "(weights 1249.8 + KV cache " in message and "runtime 16.0)" in message  # 671e9 x 2 B; 8 GPUs x 2


def test_mla_kv_cache_is_the_compressed_latent():
    """DEEPSEEK-V3: MLA caches kv_lora_rank + qk_rope_head_dim = 576 values per layer per token."""
    shape = fit.kv_shape_from_hf_config(DEEPSEEK_R1)
    assert shape.bytes_per_token(2.0) == 61 * 576 * 2


# ---- auto -------------------------------------------------------------------------------------


def _cheapest_by_brute_force(cfg: StackConfig) -> tuple[str, int]:
    options = [
        (i.price.on_demand, i.name, tp)
        for i in catalog.instances(cfg.cloud).values()
        for tp in (1, 2, 4, 8)
        if tp <= i.gpus and fit.fit(cfg.model, i, tp, cfg.serving.gpu_memory_utilization).fits
    ]
    name = min(options)[1]
    return name, min(tp for _, n, tp in options if n == name)


@pytest.mark.parametrize(
    ("stack", "model", "expected"),
    [
        ("aws-dev", {}, ("g6.xlarge", 1)),
        ("gcp-dev", {}, ("g2-standard-4", 1)),
        ("azure-dev", {}, ("Standard_NC24ads_A100_v4", 1)),
        ("aws-dev", M70B, ("g6e.12xlarge", 4)),
        ("gcp-dev", M70B, ("g2-standard-96", 8)),
        ("azure-dev", M70B, ("Standard_NC48ads_A100_v4", 2)),
    ],
)
def test_auto_picks_the_cheapest_type_that_fits(stack, model, expected):
    cfg = parse(stack, {"gpu": {"instanceType": "auto"}, "model": model})
    assert (cfg.gpu.instance_type, cfg.model.tensor_parallel_size) == expected
    assert _cheapest_by_brute_force(cfg) == expected
    assert cfg.gpu.auto_selected and cfg.gpu_instance.name == expected[0]  # what the platforms read
    assert report(cfg)["fit"]["auto"] is True
    with pytest.raises(ValueError, match="frozen"):
        cfg.gpu.instance_type = "auto"  # type: ignore[misc]


def test_auto_keeps_an_explicit_tensor_parallel_size():
    cfg = parse("aws-dev", {"gpu": {"instanceType": "auto"}, "model": {**M70B, "tensorParallelSize": 8}})
    assert (cfg.gpu.instance_type, cfg.model.tensor_parallel_size) == ("g6.48xlarge", 8)
    message = error("aws-dev", {"gpu": {"instanceType": "auto"}, "model": {**M70B, "tensorParallelSize": 1}})
    assert "nothing fits at tensorParallelSize 1; remove model.tensorParallelSize" in message


def test_explicit_type_is_not_marked_auto():
    assert parse("gcp-dev", {}).gpu.auto_selected is False


def test_unknown_type_lists_auto():
    assert "valid: auto, g4dn.xlarge" in error("aws-dev", {"gpu": {"instanceType": "m5.large"}})


def test_hf_config_dir_must_hold_a_config_json(tmp_path):
    message = error("aws-dev", {"model": {"hfConfigDir": str(tmp_path)}})
    assert "model.hfConfigDir" in message and "no config.json" in message
    broken = hf_dir(tmp_path, "broken", {"hidden_size": 1})
    assert "config.json lacks 'num_hidden_layers'" in error("aws-dev", {"model": {"hfConfigDir": broken}})


# ---- cost -------------------------------------------------------------------------------------


def _fixed_per_hour(cloud: str, counts: dict[str, int]) -> float:
    parts = catalog.fixed_parts(cloud)
    return sum(parts[k].usd_per_hour * n for k, n in counts.items())


def test_cost_arithmetic_aws_dev():
    cfg = parse("aws-dev", {})
    cost = stack_cost(cfg)
    node = catalog.instances("aws")["g6.xlarge"].price.on_demand
    system = 2 * catalog.SYSTEM_NODE_PRICES["m6i.large"].on_demand  # EKS system group: 2 x m6i.large
    fixed = _fixed_per_hour("aws", {"control-plane": 1, "nat": 1, "endpoints": 6 * 2}) + system  # 6 x 2 AZs
    for key, nodes in (("atMinReplicas", 1), ("atMaxReplicas", 2)):
        scenario = cost[key]
        assert scenario["gpuNodes"] == nodes
        assert scenario["onDemand"]["perHour"] == round(nodes * node + fixed, 2)
        assert scenario["onDemand"]["perMonth"] == round((nodes * node + fixed) * 730, 2)
        assert scenario["spot"] is None  # no catalog spot price for g6.xlarge
    assert cost["billing"] == "on-demand" and cost["estimate"] is True


def test_cost_arithmetic_gcp_dev_spot():
    cost = stack_cost(parse("gcp-dev", {}))
    price = catalog.instances("gcp")["g2-standard-8"].price
    for key, nodes in (("atMinReplicas", 1), ("atMaxReplicas", 2)):
        system = 3 * catalog.SYSTEM_NODE_PRICES["e2-standard-2"].on_demand  # 1 per zone x 3 zones
        fixed = _fixed_per_hour("gcp", {"control-plane": 1, "nat": nodes + 3}) + system  # NAT bills per VM
        assert cost[key]["spot"]["perHour"] == round(nodes * price.spot + fixed, 2)
        assert cost[key]["onDemand"]["perMonth"] == round((nodes * price.on_demand + fixed) * 730, 2)
    assert cost["billing"] == "spot"


def test_cost_azure_control_plane_tier_follows_environment():
    dev = stack_cost(parse("azure-dev", {}))["atMinReplicas"]
    prod = stack_cost(parse("azure-dev", {"environment": "prod"}))["atMinReplicas"]
    tier = catalog.fixed_parts("azure")["control-plane"].usd_per_hour
    assert prod["fixedPerHour"] - dev["fixedPerHour"] == pytest.approx(tier)


def test_cost_counts_nodes_from_replicas_per_node_and_pool_limits():
    # 4 replicas of an 8B model on 4-GPU nodes at TP 1: one node holds all four.
    cfg = parse("aws-dev", {"gpu": {"instanceType": "g6.12xlarge"}, "serving": {"replicas": {"min": 1, "max": 4}}})
    assert [stack_cost(cfg)[k]["gpuNodes"] for k in ("atMinReplicas", "atMaxReplicas")] == [1, 1]
    # maxNodes caps the estimate, and the plan says so.
    capped = stack_cost(parse("aws-dev", {"serving": {"replicas": {"min": 1, "max": 3}}}))
    assert capped["atMaxReplicas"]["gpuNodes"] == 2
    assert "gpu.maxNodes 2 holds only 2 replica(s) of g6.xlarge" in capped["notes"]


def test_cost_without_nat_and_outside_the_reference_region():
    cost = stack_cost(parse("aws-dev", {"network": {"egress": "none"}, "region": "eu-west-1", **CIDR_MODE["aws-dev"]}))
    items = {line["item"].split(" (")[0]: line["count"] for line in cost["atMinReplicas"]["fixed"]}
    assert "NAT gateway" not in items and items["interface endpoint-AZ"] == 8 * 2  # + elb, autoscaling
    assert "prices are for us-east-1; eu-west-1 may differ" in cost["notes"]


def test_cost_gcp_one_zone_counts_one_system_node_and_its_nat_vms():
    """gcp.nodeZones of one zone: the system pool is 1 node (min 1 per zone), NAT bills 1 + GPU VMs."""
    cost = stack_cost(parse("gcp-dev", {"gcp": {"nodeZones": ["us-central1-a"]}}))
    items = {line["item"].split(" (")[0]: line["count"] for line in cost["atMinReplicas"]["fixed"]}
    assert items["system node e2-standard-2"] == 1
    assert items["Cloud NAT per VM"] == 1 + 1  # one system VM + one GPU VM at min replicas
    three = stack_cost(parse("gcp-dev", {"gcp": {"nodeZones": ["us-central1-a", "us-central1-b", "us-central1-c"]}}))
    assert {line["item"]: line["count"] for line in three["atMinReplicas"]["fixed"]}["system node e2-standard-2"] == 3


def test_every_catalog_entry_is_priced_and_sourced():
    for instance in catalog.CATALOG:
        price = instance.price
        assert price and price.on_demand > 0 and price.source and len(price.as_of) == 7, instance.name
        assert price.spot is None or price.spot < price.on_demand, instance.name
        assert instance.gpu_model in catalog.GPU_MEMORY_MIB, instance.name
        assert instance.gpu_memory_gib <= instance.gpu_memory_gb * 1.08, instance.name  # MiB vs vendor GB
    assert not math.isnan(sum(p.usd_per_hour for p in catalog.FIXED_PARTS))


def test_auto_with_a_tensor_parallel_size_no_node_has():
    message = error("aws-dev", {"gpu": {"instanceType": "auto"}, "model": {"tensorParallelSize": 16}})
    assert message == (
        "llm-landing-zone:model.tensorParallelSize = 16: the largest aws node has 8 GPU(s); "
        "need 1 <= tensorParallelSize <= 8"
    )


def test_unpriced_system_node_type_is_named_not_guessed():
    cost = stack_cost(parse("aws-dev", {"aws": {"systemInstanceType": "c7i.large"}}))
    assert "system node type c7i.large has no catalog price: not in the totals" in cost["notes"]
    assert not [line for line in cost["atMinReplicas"]["fixed"] if line["item"].startswith("system node")]
