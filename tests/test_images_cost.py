"""The stack's registry in the cost estimate (issue 17 item 5): ECR and Artifact Registry bill the GB
the caches store, ACR Premium its registry-day; `llz plan` lists the line with the fixed parts."""

from __future__ import annotations

import pytest

from infra import catalog
from infra.cost import cost
from infra.plan.render import sizing_lines
from tests.harness import dev_plan, parse

# (stack, item prefix, count, $/h each, pricing page): the published list prices, worked by hand.
REGISTRY_LINES = [
    ("aws-dev", "ECR storage per GB", catalog.REGISTRY_GB, 0.10 / 730, "aws.amazon.com/ecr/pricing"),
    ("gcp-dev", "Artifact Registry storage per GB", catalog.REGISTRY_GB, 0.10 / 730, "artifact-registry/pricing"),
    ("azure-dev", "ACR Premium registry", 1, 1.667 / 24, "pricing/details/container-registry"),
]


def _line(stack: str, prefix: str, overrides: dict | None = None) -> tuple[dict, dict]:
    estimate = cost(parse(stack, overrides))
    for scenario in ("atMinReplicas", "atMaxReplicas"):
        lines = [f for f in estimate[scenario]["fixed"] if f["item"].startswith(prefix)]
        assert len(lines) == 1, (scenario, estimate[scenario]["fixed"])
    (line,) = [f for f in estimate["atMinReplicas"]["fixed"] if f["item"].startswith(prefix)]
    return line, estimate


@pytest.mark.parametrize(("stack", "prefix", "count", "each", "source"), REGISTRY_LINES)
def test_the_registry_is_a_fixed_line_of_every_cloud(stack, prefix, count, each, source):
    line, estimate = _line(stack, prefix)
    assert line["count"] == count
    assert line["usdPerHourEach"] == pytest.approx(each)
    assert line["usdPerHour"] == pytest.approx(count * each, abs=1e-4)
    assert source in line["source"]
    # in the totals: the fixed sum is the sum of its lines, the registry's included
    scenario = estimate["atMinReplicas"]
    assert scenario["fixedPerHour"] == pytest.approx(sum(f["usdPerHour"] for f in scenario["fixed"]), abs=1e-4)


def test_the_vllm_image_dominates_what_the_registry_stores():
    """~12.6 GB compressed for the server image (vllm-project/vllm#27154) plus the small ones."""
    assert 13 <= catalog.REGISTRY_GB <= 16


def test_azure_no_longer_leaves_the_registry_out_of_the_totals():
    _, estimate = _line("azure-dev", "ACR Premium registry")
    assert not [n for n in estimate["notes"] if "container registry" in n]
    month = 1.667 / 24 * 730  # ~ $50.70 of the monthly figure
    assert month == pytest.approx(50.7, abs=0.1)


@pytest.mark.parametrize(("stack", "prefix"), [(s, p) for s, p, *_ in REGISTRY_LINES])
def test_llz_plan_shows_the_registry_line(stack, prefix):
    text = "\n".join(sizing_lines(dev_plan(stack)))
    fixed = next(line for line in text.splitlines() if "fixed parts (in the totals)" in line)
    assert prefix in fixed
