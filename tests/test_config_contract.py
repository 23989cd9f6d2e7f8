"""The config contract, for every class of bad input: the parser returns a `StackConfig` or raises
`ConfigError` whose message is ONE line starting with `llm-landing-zone:<the key>`; never another
exception, never a traceback. Hypothesis drives the in-process parser with generated bad values
for every key of the schema (the keys are read from the schema, so a new key is covered too);
`llz plan` runs as a subprocess once per class of bad input (exit 2, one line on stderr).

The hypothesis profile is fixed (tests/conftest.py): derandomized, no example database, bounded
example counts, so every run tries the same inputs.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import subprocess
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from infra import cost
from infra.config import loader
from infra.config.errors import ConfigError
from infra.config.schema import StackConfig
from infra.conventions import PROJECT
from infra.plan import render, stackfile
from infra.serving import timings
from tests.harness import DEV_STACKS, copy_project, plan, stack_file
from tests.test_sizing import DEEPSEEK_R1, LLAMA31_8B

INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1
# Published limits (cited in infra/config/schema.py): object keys of S3/GCS/Azure Blob are 1024 bytes,
# a file name is at most NAME_MAX = 255 bytes; Kubernetes counts CPU in int64 millicores.
WEIGHTS_PREFIX_MAX = 1024 - len("/") - 255
CPU_MAX = INT64_MAX // 1000
CLOUD_OF = {stack: stack.split("-")[0] for stack in DEV_STACKS}

# ---- the keys, from the schema ----------------------------------------------------------------

Path_ = tuple[str | int, ...]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    options = typing.get_args(annotation) or (annotation,)
    return next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None)


def _paths(section: type[BaseModel], prefix: Path_ = ()) -> list[Path_]:
    """Every key of `section` (sections themselves included); a list of objects by its first item."""
    out: list[Path_] = []
    for name, field in section.model_fields.items():
        path = (*prefix, field.alias or name)
        out.append(path)
        if typing.get_origin(field.annotation) is tuple:
            item = _model_in(typing.get_args(field.annotation)[0])
            out += _paths(item, (*path, 0)) if item is not None else []
        elif (inner := _model_in(field.annotation)) is not None:
            out += _paths(inner, path)
    return out


ALL_PATHS = _paths(StackConfig)


def key_of(path: Path_) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


def stacks_for(path: Path_) -> list[str]:
    """A cloud's own keys are tried on that cloud's stack, every other key on each dev stack."""
    own = [stack for stack, cloud in CLOUD_OF.items() if cloud == path[0]]
    return own or list(DEV_STACKS)


def nest(path: Path_, value: Any) -> dict[str, Any]:
    """{"a": {"b": [{"c": value}]}} for ("a", "b", 0, "c"): an override for `stack_file`."""
    for part in reversed(path[1:]):
        value = [value] if isinstance(part, int) else {part: value}
    return {path[0]: value}


# A bad value may legitimately be reported on a key that a cross-section rule names instead: the
# GPU type the model no longer fits, the subnet a changed range now overlaps. Each pair is a rule.
ALSO_BLAMED: dict[str, tuple[str, ...]] = {
    "model": ("gpu.instanceType",),  # every model key feeds the fit check
    "serving.gpuMemoryUtilization": ("gpu.instanceType",),
    "serving.expose": ("serving.allowedCidrs",),
    "gpu.instanceType": ("model.tensorParallelSize",),
    "network.cidr": ("azure.nodeSubnetCidr", "azure.endpointSubnetCidr", "gcp."),
    "region": ("gcp.nodeZones",),
    "aws.availabilityZones": ("network.cidr",),
    "azure.nodeSubnetCidr": ("azure.endpointSubnetCidr",),
    "serving.replicas": ("gpu.maxNodes",),  # the rollout's surge replica needs a node (checks)
    "model.tensorParallelSize": ("gpu.maxNodes",),
}


def blamable(key: str) -> tuple[str, ...]:
    """`key`, its sections (a rule over a whole section), and the keys `ALSO_BLAMED` names."""
    parts = key.split(".")
    own = tuple(".".join(parts[: i + 1]) for i in range(len(parts)))
    return own + tuple(k for prefix, ks in ALSO_BLAMED.items() if key.startswith(prefix) for k in ks)


# ---- the contract -----------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def _stack_files_read_once():
    """The stack files do not change during these tests: read each once (YAML is 10 ms a parse)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stackfile, "load", functools.cache(stackfile.load))
        yield


def parse(stack: str, overrides: dict[str, Any]) -> StackConfig:
    return loader.parse(loader.from_pulumi_config(stack_file(stack, overrides).config))


def derived(cfg: StackConfig) -> None:
    """What the program and the plan compute from an accepted config must not crash either, and
    every number that lands in a Kubernetes int32/int64 field must fit it."""
    cost.report(cfg)  # fit (KV cache, tokens) and cost arithmetic
    weights_gb = cfg.model.weights_gb
    assert math.isfinite(weights_gb) and weights_gb > 0
    assert 1 <= timings.startup_failure_threshold(weights_gb) <= INT32_MAX  # startupProbe.failureThreshold
    assert 0 <= timings.scale_down_window_seconds(weights_gb, pulls=True) <= INT32_MAX
    assert timings.weights_volume_gi(weights_gb) * 2**30 <= INT64_MAX  # emptyDir sizeLimit
    assert timings.grace_seconds(cfg.serving.max_request_seconds) <= INT64_MAX  # terminationGracePeriodSeconds
    assert 1 <= cfg.serving.replicas.min <= cfg.serving.replicas.max <= INT32_MAX  # replicas, HPA bounds
    assert 1 <= cfg.serving.run_as_user <= INT32_MAX  # runAsUser/runAsGroup/fsGroup (API: 0..MaxInt32)
    assert 1 <= cfg.serving.autoscaling.target_per_replica <= INT32_MAX
    assert 0 <= cfg.gpu.min_nodes <= cfg.gpu.max_nodes <= INT32_MAX  # node-group sizes (int32 in every cloud API)
    assert cfg.model.max_model_len <= INT32_MAX and cfg.model.max_num_seqs <= INT32_MAX


def assert_contract(stack: str, overrides: dict[str, Any], *keys: str) -> StackConfig | None:
    """Parse; on success check what is derived from the config; on failure check the one line,
    which must start with one of the keys that were set (or a key a rule over them may name)."""
    try:
        cfg = parse(stack, overrides)
    except ConfigError as e:
        message = str(e)
        assert len(e.args) == 1 and message == e.args[0]
        assert "\n" not in message and "\r" not in message, message
        assert "Traceback" not in message, message
        assert message.isprintable(), message
        starts = [f"{PROJECT}:{k}" for key in keys for k in blamable(key)]
        assert any(message.startswith(s) and message[len(s) : len(s) + 1] in " .[" for s in starts) or any(
            message.startswith(s) for s in starts if s.endswith(".")
        ), f"{message!r} does not start with one of {starts}"
        return None
    derived(cfg)
    return cfg


# ---- generated bad values ---------------------------------------------------------------------

NON_FINITE = [math.inf, -math.inf, math.nan, 1e308 * 10, "inf", "-inf", "nan", "Infinity", "1e400"]
HUGE = [2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30, 10**400, -(2**63) - 1, 1e300, -1e300]
SMALL = [0, -1, -0.0, 5e-324, 1e-300, 0.5, -7, True, False]
CIDRS = [
    "0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "255.255.255.255/32", "255.255.255.0/24", "255.255.255.192/26",
    "255.255.255.224/27", "255.255.252.0/22", "10.0.0.0/30", "10.0.0.0/29", "10.0.0.0/8", "0.0.0.0/8", "::/0",
    "10.0.0.0/33", "10.0.0.1/24", "224.0.0.0/4", "240.0.0.0/4", "100.64.0.0/10",
]  # fmt: skip
WORDS = ["", " ", "\n", "a\nb", "\r\n", "\t", "\x00", "\x7f", "ä", "模型", "🙂", "auto", "null", "true", "[]", "{}"]
INTERNET_SPLITS = [["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"]]

# Arabic-Indic digits, Cyrillic look-alike letters, look-alike punctuation: non-ASCII that reads as valid
_NON_ASCII = str.maketrans(
    "0123456789aeiop-./:",
    "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0430\u0435\u0456\u043e\u0440\u2010\uff0e\uff0f\uff1a",
)


def _mutations(valid: Any) -> list[Any]:
    """Near misses of the key's valid value: a newline, non-ASCII look-alikes, far too long, scaled."""
    if isinstance(valid, bool) or valid is None:
        return []
    if isinstance(valid, (int, float)):
        return [valid * 10**12, -valid, valid + 0.5, str(valid) + "\n", valid * 2**40]
    if isinstance(valid, str):
        return [
            valid + "\n",
            "\n" + valid,
            valid + "\nx",
            valid.translate(_NON_ASCII),
            valid + "ä",
            (valid + "/") * 200,
            valid * 300,
            valid + "x" * 1100,
            valid.upper(),
        ]
    if isinstance(valid, list) and valid:
        return [[m] for m in _mutations(valid[0])] + [valid * 400]
    return []


ATOMS = st.one_of(
    st.sampled_from(NON_FINITE + HUGE + SMALL + CIDRS + WORDS),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
SHAPES = st.recursive(
    ATOMS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@functools.cache
def valid_value(stack: str, path: Path_) -> Any:
    """The key's value in the parsed stack (its default when the stack does not set it)."""
    node: Any = parse(stack, {}).model_dump(by_alias=True, mode="json")
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or not node:
                return None
        elif not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


@st.composite
def bad_values(draw: st.DrawFn, stack: str, path: Path_) -> Any:
    valid = valid_value(stack, path)
    near = _mutations(valid)
    choices = [ATOMS, SHAPES, st.sampled_from(INTERNET_SPLITS), st.lists(st.sampled_from(CIDRS), max_size=4)]
    if near:
        choices.insert(0, st.sampled_from(near))
    return draw(st.one_of(*choices))


@pytest.mark.parametrize("path", ALL_PATHS, ids=key_of)
@settings(max_examples=max(25, settings.default.max_examples // 8))  # per key: 90 keys x 25 in CI
@given(data=st.data())
def test_any_bad_value_is_one_line_naming_its_key(path, data):
    stack = data.draw(st.sampled_from(stacks_for(path)), label="stack")
    value = data.draw(bad_values(stack, path), label="value")
    assert_contract(stack, nest(path, value), key_of(path))


def merged(*overrides: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for override in overrides:
        for key, value in override.items():
            both = isinstance(out.get(key), dict) and isinstance(value, dict)
            out[key] = merged(out[key], value) if both else value
    return out


@given(st.sampled_from(DEV_STACKS), st.data())
def test_bad_values_together_are_one_line(stack, data):
    """Rules across keys see several bad values at once."""
    keys = [p for p in ALL_PATHS if stack in stacks_for(p)]
    paths = data.draw(st.lists(st.sampled_from(keys), min_size=2, max_size=4, unique=True), label="keys")
    values = [data.draw(bad_values(stack, path), label=key_of(path)) for path in paths]
    assert_contract(stack, merged(*(nest(p, v) for p, v in zip(paths, values, strict=True))), *map(key_of, paths))


_EDGES = [0, 1, 2**31, 2**32 - 2**16, 2**32 - 2**8, 2**32 - 64, 2**32 - 32, 2**32 - 8, 2**32 - 1]


@st.composite
def cidrs(draw: st.DrawFn, prefixes: st.SearchStrategy[int] | None = None) -> str:
    """Any IPv4 network, often at the edges of the address space (where address arithmetic overflows)."""
    address = draw(st.sampled_from(_EDGES) | st.integers(0, 2**32 - 1))
    return str(ipaddress.IPv4Network((address, draw(prefixes or st.integers(0, 32))), strict=False))


# Each cloud's address plan: network.cidr and the cloud's own ranges, drawn together.
_PLAN_KEYS = {
    "aws-dev": {"aws": {"availabilityZones": st.integers(2, 6)}},
    "gcp-dev": {"gcp": {"podsCidr": cidrs(), "servicesCidr": cidrs(), "masterIpv4CidrBlock": cidrs(st.just(28))}},
    "azure-dev": {"azure": {"nodeSubnetCidr": cidrs(), "endpointSubnetCidr": cidrs(st.integers(24, 32))}},
}


@given(st.sampled_from(DEV_STACKS), st.data())
def test_any_address_plan_is_a_config_or_one_line(stack, data):
    network = data.draw(cidrs(), label="network.cidr")
    ((cloud, keys),) = _PLAN_KEYS[stack].items()
    own = {k: data.draw(st.none() | strategy, label=f"{cloud}.{k}") for k, strategy in keys.items()}
    section = {k: v for k, v in own.items() if v is not None}
    overrides = {"network": {"cidr": network}, **({cloud: section} if section else {})}
    assert_contract(stack, overrides, "network.cidr", *(f"{cloud}.{k}" for k in section), cloud)


# ---- model.hfConfigDir: the folder and its config.json ----------------------------------------

_HF_FIELDS = ["num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_size", "head_dim"]
_MLA_FIELDS = ["kv_lora_rank", "qk_rope_head_dim"]
_BAD_SIZES = st.sampled_from([0, -1, -32, 2**31, 2**63, 10**400, math.inf, math.nan, 1.5, "32", True, None, [], {}, ""])


@st.composite
def hf_configs(draw: st.DrawFn) -> bytes:
    """A config.json that is malformed or nonsensical: wrong shape, wrong types, zero/negative/huge sizes."""
    kind = draw(st.sampled_from(["shape", "field", "nested", "raw"]))
    if kind == "shape":
        return json.dumps(draw(SHAPES)).encode()
    if kind == "raw":
        return draw(st.sampled_from([b"", b"\xff\xfe{", b"{", b"[" * 100_000, b"\x00", b'{"a": NaN']))
    base = dict(draw(st.sampled_from([LLAMA31_8B, DEEPSEEK_R1])))
    for field in draw(st.lists(st.sampled_from(_HF_FIELDS + _MLA_FIELDS), min_size=1, max_size=3)):
        base[field] = draw(_BAD_SIZES)
    if kind == "nested":
        base = {"text_config": draw(st.sampled_from([base, [base], "x", 3, None]))}
    return json.dumps(base).encode()


@functools.cache
def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="llz-hf-"))


@given(hf_configs(), st.sampled_from(DEV_STACKS))
def test_any_bad_hf_config_is_one_line(content, stack):
    folder = Path(tempfile.mkdtemp(dir=_scratch()))
    (folder / "config.json").write_bytes(content)
    assert_contract(stack, {"model": {"hfConfigDir": str(folder)}}, "model.hfConfigDir")


@pytest.mark.parametrize(
    "where",
    [
        "not-there",
        "a-file",
        "config-is-a-folder",
        "\x00nul",
        "new\nline",
        "x" * 5000,
        "ünï",
        "/proc/self/mem",
    ],
)
def test_hf_config_dir_that_is_not_a_folder_with_a_file_is_one_line(tmp_path, where):
    (tmp_path / "a-file").write_text("{}")
    (tmp_path / "config-is-a-folder" / "config.json").mkdir(parents=True)
    assert_contract("aws-dev", {"model": {"hfConfigDir": str(tmp_path / where)}}, "model.hfConfigDir")


# ---- the internet as several CIDRs ------------------------------------------------------------

_EVERYTHING = ipaddress.IPv4Network("0.0.0.0/0")


@st.composite
def internet_splits(draw: st.DrawFn) -> list[str]:
    """0.0.0.0/0 cut into random pieces (the pieces together still cover every address)."""
    pieces = [_EVERYTHING]
    for _ in range(draw(st.integers(0, 12))):
        i = draw(st.integers(0, len(pieces) - 1))
        if pieces[i].prefixlen < 32:
            pieces[i : i + 1] = list(pieces[i].subnets())
    return [str(p) for p in draw(st.permutations(pieces))]


@given(internet_splits(), st.sampled_from(DEV_STACKS))
def test_the_internet_in_pieces_is_public_api(cidrs, stack):
    with pytest.raises(ConfigError, match=r"^llm-landing-zone:cluster\.apiAllowedCidrs = .*to the internet"):
        parse(stack, {"cluster": {"apiAllowedCidrs": cidrs}})


@given(internet_splits(), st.sampled_from(DEV_STACKS))
def test_the_internet_in_pieces_is_not_a_caller_list_for_internal_lb(cidrs, stack):
    with pytest.raises(ConfigError, match=r"^llm-landing-zone:serving\.allowedCidrs = .*whole internet"):
        parse(stack, {"serving": {"expose": "internal-lb", "allowedCidrs": cidrs}})


def test_a_value_nested_past_the_json_parser_is_one_line():
    with pytest.raises(ConfigError) as info:
        loader.from_pulumi_config({f"{PROJECT}:serving": "[" * 100_000})
    assert str(info.value).startswith(f"{PROJECT}:serving = '[[[") and "nested too deeply" in str(info.value)


# ---- `llz plan`: exit 2, one line on stderr, per class of bad input ------------------------------

# (stack it starts from, stack-file edits, the key the one line must name): one per class of bad input.
CLI_CASES = {
    "non-finite": ("aws-dev", {"model": {"paramsBillions": math.inf}}, "model.paramsBillions"),
    "int32": ("gcp-dev", {"serving": {"replicas": {"min": 1, "max": INT32_MAX + 1}}}, "serving.replicas.max"),
    "hf-shape": ("aws-dev", {"model": {"hfConfigDir": "hf-list"}}, "model.hfConfigDir"),
    "hf-zero": ("azure-dev", {"model": {"hfConfigDir": "hf-zero"}}, "model.hfConfigDir"),
    "newline": ("aws-dev", {"region": "us-east-1\nus-west-2"}, "region"),
    "non-ascii-image": ("gcp-dev", {"serving": {"image": "vllm/vllm-openäi:v0.11.0"}}, "serving.image"),
    "long-key": ("azure-dev", {"model": {"weightsPrefix": "models/" + "m" * 800}}, "model.weightsPrefix"),
    "internet": ("aws-dev", {"cluster": {"apiAllowedCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}}, "cluster.apiAllowedCidrs"),
    "address-space": ("aws-dev", {"network": {"cidr": "10.0.0.0/30"}}, "network.cidr"),
    "top-of-ipv4": (
        "azure-dev",
        {"network": {"cidr": "255.255.255.0/24"}, "azure": {"nodeSubnetCidr": "255.255.255.224/27"}},
        "azure.nodeSubnetCidr",
    ),
}


@pytest.fixture(scope="module")
def bad_project(tmp_path_factory) -> Path:
    """A copy of the project whose stacks/ also holds one bad stack per class (`bad-<class>`)."""
    root = copy_project(tmp_path_factory.mktemp("project"))
    (root / "hf-list").mkdir()
    (root / "hf-list" / "config.json").write_text(json.dumps([LLAMA31_8B]))
    (root / "hf-zero").mkdir()
    (root / "hf-zero" / "config.json").write_text(json.dumps({**LLAMA31_8B, "num_hidden_layers": 0}))
    for name, (stack, edits, _) in CLI_CASES.items():
        doc = yaml.safe_load((root / "stacks" / f"Pulumi.{stack}.yaml").read_text())
        for key, value in edits.items():
            full = f"{PROJECT}:{key}"
            current = doc["config"].get(full)
            doc["config"][full] = {**current, **value} if isinstance(current, dict) else value
        model = doc["config"][f"{PROJECT}:model"]
        if "hfConfigDir" in model:  # the folders above, by absolute path
            model["hfConfigDir"] = str(root / model["hfConfigDir"])
        (root / "stacks" / f"Pulumi.bad-{name}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    return root


@pytest.mark.parametrize("name", CLI_CASES)
def test_llz_plan_bad_value_exits_2_with_one_line(bad_project, name):
    command = [sys.executable, "-m", "infra.cli", "plan", "--stack", f"bad-{name}"]
    result = subprocess.run(command, cwd=bad_project, capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"bad-{name}: config error: {PROJECT}:{CLI_CASES[name][2]} = "), result.stderr
    assert "Traceback" not in result.stderr


# ---- the largest accepted values still plan, and every number fits its Kubernetes field ---------

LARGEST = {
    "gpu": {"minNodes": 0, "maxNodes": INT32_MAX},
    "model": {"maxNumSeqs": INT32_MAX, "weightsPrefix": "/".join(["mmm"] * 192) + "m"},
    "serving": {
        "replicas": {"min": INT32_MAX, "max": INT32_MAX},
        "runAsUser": INT32_MAX,
        "maxRequestSeconds": 7200,
        "autoscaling": {"targetPerReplica": INT32_MAX},
        "resources": {"cpu": str(CPU_MAX), "memory": "64Ti"},
    },
}
# gpu.maxNodes must leave room for a rollout's surge replica (checks.gpu_nodes_leave_room_for_rollout):
# at replicas.max = INT32_MAX one replica per node cannot fit, eight per node (8-GPU nodes) can.
LARGEST_GPU = {
    "gcp-dev": {"instanceType": "g2-standard-96"},
    "aws-dev": {"instanceType": "g6.48xlarge"},
    "azure-dev": {"instanceType": "Standard_ND96amsr_A100_v4"},
}
INT32_FIELDS = {"replicas", "minReplicas", "maxReplicas", "minAvailable", "runAsUser", "runAsGroup", "fsGroup"}
INT32_FIELDS |= {"failureThreshold", "periodSeconds", "timeoutSeconds", "containerPort", "port", "targetPort"}


def _numbers(node: Any, key: str = "") -> list[tuple[str, int]]:
    if isinstance(node, dict):
        return [n for k, v in node.items() for n in _numbers(v, k)]
    if isinstance(node, list):
        return [n for v in node for n in _numbers(v, key)]
    return [(key, node)] if isinstance(node, (int, float)) and not isinstance(node, bool) else []


def test_the_largest_accepted_values_plan_and_fit_their_fields(dev_stack):
    largest = {**LARGEST, "gpu": {**LARGEST["gpu"], **LARGEST_GPU.get(dev_stack, {})}}
    assert len(parse(dev_stack, largest).model.weights_prefix) == WEIGHTS_PREFIX_MAX
    planned = plan(dev_stack, largest)
    assert planned.errors == []
    numbers = [n for obj in render.manifests(planned) for n in _numbers(obj)]
    assert ("replicas", INT32_MAX) in numbers and ("runAsUser", INT32_MAX) in numbers
    for key, number in numbers:
        assert number == int(number) and abs(number) <= (INT32_MAX if key in INT32_FIELDS else INT64_MAX), key
