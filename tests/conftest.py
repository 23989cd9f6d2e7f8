import os

import pytest

from tests.harness import DEV_STACKS

# Every test (and every `llz plan` subprocess it starts) sees the same "today", so the
# Kubernetes support table cannot turn CI red on unchanged code; tests of the dates set their own.
os.environ["LLZ_TODAY"] = "2026-12-02"


@pytest.fixture(params=DEV_STACKS)
def dev_stack(request) -> str:
    return request.param
