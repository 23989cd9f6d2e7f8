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
- AWS-PRICES (us-east-1, Linux on-demand, per hour): g4dn.xlarge (1 T4, 16 GB) $0.526, g6.xlarge
  (1 L4, 24 GB) $0.8048, g5.xlarge (1 A10G, 24 GB) $1.006, m6i.large $0.096
  (aws.amazon.com/ec2/pricing/on-demand); EKS $0.10 per cluster in standard support
  (aws.amazon.com/eks/pricing); NAT gateway $0.045 (aws.amazon.com/vpc/pricing); interface
  endpoint $0.01 per endpoint per AZ (aws.amazon.com/privatelink/pricing). 730 hours a month.
- GCP-PRICES (us-central1, per hour): g2-standard-4 (1 L4) $0.7068, g2-standard-8 (1 L4) $0.8536,
  e2-standard-2 $0.067006 (cloud.google.com/compute/vm-instance-pricing); GKE cluster management
  fee $0.10 (cloud.google.com/kubernetes-engine/pricing); Cloud NAT $0.0014 per VM up to 32 VMs
  (cloud.google.com/nat/pricing); a regional cluster's node pool spans three zones by default
  (cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters).
- AZURE-PRICES (East US, Linux pay-as-you-go, per hour): Standard_NC24ads_A100_v4 (1 A100 80GB)
  $3.673, Standard_D4ds_v5 $0.226 (Azure Retail Prices API, prices.azure.com); AKS Free tier no
  fee, Standard tier $0.10 per cluster (learn.microsoft.com/azure/aks/free-standard-pricing-tiers);
  NAT gateway $0.045 (azure.microsoft.com/pricing/details/azure-nat-gateway); private endpoint $0.01
  (azure.microsoft.com/pricing/details/private-link).

Spot prices move with supply and demand and are not a published constant: the tests check their
arithmetic, not their value.
"""

from __future__ import annotations

import json
import math

import pytest

from infra import catalog, fit
from infra.config.errors import ConfigError
from infra.cost import cost as stack_cost
from infra.cost import report
from tests.ci_support import CIDR_MODE
from tests.harness import config_error as error
from tests.harness import parse

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
    assert per_token * 128_000 / 2**30 == pytest.approx(published_gib, abs=0.01)


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
    # LLAMA31-CONFIG: K and V x 32 layers x 8 KV heads x 128 head dim x 2 bytes = 131,072 B per token;
    # 8,192 tokens of it are exactly 1 GiB.
    assert found["kvCacheGiBPerSequence"] == pytest.approx(1.0, abs=0.01)
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
    ("stack", "group"),
    [
        ("aws-dev", (3, "p4de.24xlarge")),  # 3 x $27.45 beats 2 x p5e ($84.80) and 3 x p5 ($55.04)
        ("gcp-dev", (2, "a3-ultragpu-8g")),  # A2 has no inter-node fabric (catalog.FABRIC)
        ("azure-dev", (3, "Standard_ND96amsr_A100_v4")),
    ],
)
def test_671b_moe_fits_no_single_node_so_auto_picks_the_cheapest_group(stack, group, tmp_path):
    """DEEPSEEK-V3: 671B params in bf16 are ~1.25 TiB; the largest node has 8 x 141 GB (H200), so `auto`
    serves a replica from a group of nodes (issue 21: this used to be refused as multi-node)."""
    model = {**R1, "hfConfigDir": hf_dir(tmp_path, "r1", DEEPSEEK_R1)}
    nodes, name = group
    message = error(stack, {"model": model, "gpu": {"instanceType": "auto"}})  # maxNodes 1 cannot hold it
    surge = (parse(stack).serving.replicas.max + 1) * nodes  # a rolling update's surge group too
    assert f"needs {surge} node(s) of {name}; set gpu.maxNodes >= {surge}" in message
    cfg = parse(
        stack, {"model": model, "gpu": {"instanceType": "auto", "maxNodes": 16}, "serving": {"replicas": {"max": 1}}}
    )
    assert (cfg.gpu.instance_type, cfg.model.tensor_parallel_size, cfg.model.pipeline_parallel_size) == (name, 8, nodes)
    sized = report(cfg)["fit"]
    assert sized["nodesPerReplica"] == nodes and sized["fits"]
    assert sized["weightsGiB"] == 1249.83 and sized["runtimeGiB"] == 2.0 * 8 * nodes  # 671e9 x 2 B; 2 GiB a GPU


def test_mla_kv_cache_is_the_compressed_latent():
    """DEEPSEEK-V3: MLA caches kv_lora_rank + qk_rope_head_dim = 576 values per layer per token."""
    shape = fit.kv_shape_from_hf_config(DEEPSEEK_R1)
    assert shape.bytes_per_token(2.0) == 61 * 576 * 2


# ---- auto -------------------------------------------------------------------------------------


# The 8B rows by AWS-PRICES / GCP-PRICES: ~18 GiB do not fit a 16 GB T4 (g4dn.xlarge, $0.526), so the
# 24 GB L4 of g6.xlarge ($0.8048) beats the 24 GB A10G of g5.xlarge ($1.006); on GCP g2-standard-4
# ($0.7068) has the same L4 as g2-standard-8 ($0.8536) for less.
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


def _assert_totals(scenario: dict, per_hour: float) -> None:
    """A scenario's totals against a figure worked from published prices (1%: the estimate rounds)."""
    assert scenario["onDemand"]["perHour"] == pytest.approx(per_hour, rel=0.01)
    assert scenario["onDemand"]["perMonth"] == pytest.approx(per_hour * 730, rel=0.01)


def test_cost_arithmetic_aws_dev():
    """AWS-PRICES: g6.xlarge GPU nodes + EKS + one NAT gateway + the platform's six interface endpoints
    in two AZs + the EKS system group's two m6i.large."""
    cost = stack_cost(parse("aws-dev"))
    fixed = 0.10 + 0.045 + 6 * 2 * 0.01 + 2 * 0.096  # $0.457/h
    for key, nodes in (("atMinReplicas", 1), ("atMaxReplicas", 2)):
        scenario = cost[key]
        assert scenario["gpuNodes"] == nodes
        _assert_totals(scenario, nodes * 0.8048 + fixed)  # $1.26/h, $2.07/h
        assert scenario["spot"] is None  # no spot price in the catalog for g6.xlarge
    assert cost["billing"] == "on-demand" and cost["estimate"] is True


def test_cost_arithmetic_gcp_dev_spot():
    """GCP-PRICES: g2-standard-8 GPU nodes + the GKE fee + Cloud NAT for every VM (GPU and system) + one
    e2-standard-2 system node in each of the regional pool's three zones."""
    cost = stack_cost(parse("gcp-dev"))
    spot = cost["instance"]["spotPerHour"]
    assert 0 < spot < 0.8536
    for key, nodes in (("atMinReplicas", 1), ("atMaxReplicas", 2)):
        fixed = 0.10 + (nodes + 3) * 0.0014 + 3 * 0.067006
        _assert_totals(cost[key], nodes * 0.8536 + fixed)  # $1.16/h, $2.02/h
        assert cost[key]["spot"]["perHour"] == pytest.approx(nodes * spot + fixed, abs=0.01)
    assert cost["billing"] == "spot"


def test_cost_arithmetic_azure_dev():
    """AZURE-PRICES: one Standard_NC24ads_A100_v4 + NAT gateway + the blob and registry private endpoints +
    the two Standard_D4ds_v5 system nodes + the Premium registry ($1.667/day); Free tier, so no cluster fee."""
    cost = stack_cost(parse("azure-dev"))
    _assert_totals(cost["atMinReplicas"], 3.673 + 0.045 + 2 * 0.01 + 2 * 0.226 + 1.667 / 24)  # $4.26/h


def test_cost_azure_control_plane_tier_follows_environment():
    """AZURE-PRICES: prod runs the Standard tier, $0.10 per cluster-hour more than the Free tier."""
    dev = stack_cost(parse("azure-dev", {}))["atMinReplicas"]
    prod = stack_cost(parse("azure-dev", {"environment": "prod"}))["atMinReplicas"]
    assert prod["fixedPerHour"] - dev["fixedPerHour"] == pytest.approx(0.10)


def test_cost_counts_nodes_from_replicas_per_node_and_pool_limits():
    # 4 replicas of an 8B model on 4-GPU nodes at TP 1: one node holds all four.
    cfg = parse("aws-dev", {"gpu": {"instanceType": "g6.12xlarge"}, "serving": {"replicas": {"min": 1, "max": 4}}})
    assert [stack_cost(cfg)[k]["gpuNodes"] for k in ("atMinReplicas", "atMaxReplicas")] == [1, 1]
    # maxNodes caps the estimate, and the plan says so (a fixed type must leave room for the rollout's
    # surge replica, so a cap below replicas.max is only possible with instanceType auto's choice).
    capped = stack_cost(parse("aws-dev", {"serving": {"replicas": {"min": 1, "max": 4}}, "gpu": {"maxNodes": 5}}))
    assert capped["atMaxReplicas"]["gpuNodes"] == 4
    with pytest.raises(ConfigError, match=r"gpu\.maxNodes = 3: a rolling update at serving\.replicas\.max=3"):
        parse("aws-dev", {"serving": {"replicas": {"min": 1, "max": 3}}})


def test_cost_without_nat_and_outside_the_reference_region():
    cost = stack_cost(
        parse(
            "aws-dev",
            {"network": {"egress": "none"}, "model": {"source": None}, "region": "eu-west-1", **CIDR_MODE["aws-dev"]},
        )
    )
    items = {line["item"].split(" (")[0]: line["count"] for line in cost["atMinReplicas"]["fixed"]}
    assert (
        "NAT gateway" not in items and items["interface endpoint-AZ"] == 10 * 2
    )  # + elb, autoscaling, eks, aps-workspaces
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
