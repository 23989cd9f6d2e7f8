import os

import pytest
from hypothesis import HealthCheck, settings

from tests.harness import DEV_STACKS

# Every test (and every `llz plan` subprocess it starts) sees the same "today", so the
# Kubernetes support table cannot turn CI red on unchanged code; tests of the dates set their own.
os.environ["LLZ_TODAY"] = "2026-12-02"

# Property tests try the same inputs on every run (derandomized, no example database), bounded so
# the whole set stays well under 30 s; HYPOTHESIS_PROFILE=deep searches harder (random, many more).
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("deep", settings.get_profile("ci"), derandomize=False, max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(params=DEV_STACKS)
def dev_stack(request) -> str:
    return request.param
