"""The emulator the emulator's tests talk to (`emu`), and a plain HTTP client for it
(`http`); a module that needs another emulator or client overrides the fixture."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from acp_cli.emulator import Emulator
from tests.support.emulator_http import TOKEN


@pytest.fixture
def emu(make_emulator: Callable[..., Emulator]) -> Emulator:
    """An emulator accepting TOKEN and any binding."""
    return make_emulator(tokens=[TOKEN])


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    """A plain client for ``emu`` that sends TOKEN (which the controls ignore)."""
    with httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ) as client:
        yield client
