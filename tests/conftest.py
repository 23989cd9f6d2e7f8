import pytest

from tests.harness import DEV_STACKS


@pytest.fixture(params=DEV_STACKS)
def dev_stack(request) -> str:
    return request.param
