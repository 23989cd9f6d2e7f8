"""Session fixtures for the weights tests: each emulator starts once, on first use, and stops by PID.

Load with `pytest_plugins = ["tests.weights_fixtures"]`. An emulator that cannot be installed or
started FAILS the tests that need it (never a skip).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.emulators import STORES, Emulator, start


class Emulators:
    """Starts each emulator the first time a test asks for it; `close` stops them all."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.stack = ExitStack()
        self.running: dict[str, Emulator] = {}

    def __getitem__(self, store: str) -> Emulator:
        if store not in self.running:
            try:
                self.running[store] = self.stack.enter_context(start(store, self.logs))
            except Exception as e:
                pytest.fail(f"could not start the {store} emulator: {e}", pytrace=False)
        return self.running[store]

    def close(self) -> None:
        self.stack.close()


@pytest.fixture(scope="session")
def emulators(tmp_path_factory) -> Iterator[Emulators]:
    running = Emulators(tmp_path_factory.mktemp("emulator-logs"))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(params=STORES)
def emulator(request, emulators, monkeypatch) -> Emulator:
    """One emulator per parametrized store, its endpoint env applied to this process."""
    emu = emulators[request.param]
    for key in ("AWS_ENDPOINT_URL", "STORAGE_EMULATOR_HOST", "AZURE_STORAGE_CONNECTION_STRING"):
        monkeypatch.delenv(key, raising=False)
    for key, value in emu.env.items():
        monkeypatch.setenv(key, value)
    return emu
