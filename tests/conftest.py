"""Shared fixtures. No test touches the real machine: every test gets its own
config folder, home, hash cache and keyring. Commands run in this process through
the one entry point (`tests.support.cli_runner.run_acp`); the console script runs
as a subprocess only where a process shows the behaviour (`run_acp_process`)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from acp_cli.settings import SETTINGS
from tests.support.cli_runner import BINDING, TOKEN, reset_keyring_backend
from tests.support.git_oracle import isolate_git
from tests.support.ordinary_user import ordinary_folder  # noqa: F401 - a fixture for every test file

if TYPE_CHECKING:
    from acp_cli.emulator import Emulator

# A suite started in the background (`make test &`) inherits SIGINT ignored, and so
# would every acp it starts, which keeps an ignored SIGINT as a background job must:
# the Ctrl-C tests would wait in vain. This process handles it as Python does, so
# the processes it starts get the default action, as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Variables the user's own shell (or CI) may carry that would change what acp does:
# every ACP_* setting of the registry, and the others acp reads.
_SCRUBBED = (
    *(setting.variable for setting in SETTINGS.values() if setting.variable),
    "CI",
    "NO_COLOR",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every test at a temporary config folder, home and failing keyring."""
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "config"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("ACP_CONFIG_DIR", str(config))
    # The `fail` backend: a test that wants a keyring chooses a real one itself.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("NO_PROXY", "*")
    # Retry waits cost no time (acp_cli.retry: every decision is still taken on
    # the real wait); a test that proves the waits sets ACP_RETRY_SCALE itself.
    monkeypatch.setenv("ACP_RETRY_SCALE", "0")
    reset_keyring_backend()
    return config


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """Start emulators on free loopback ports; every one stops when the test ends.

    ``make_emulator(**kwargs)`` passes its keywords to `Emulator` and returns it running.
    """
    from acp_cli.emulator import Emulator

    with ExitStack() as running:
        yield lambda **kwargs: running.enter_context(Emulator(**kwargs))


@pytest.fixture
def emulator(make_emulator: Callable[..., Emulator]) -> Emulator:
    """A fresh emulator on a free loopback port that knows TOKEN and BINDING."""
    return make_emulator(tokens=[TOKEN], bindings=[BINDING, "a/b", "..", "with space?#"])


@pytest.fixture
def api_env(emulator: Emulator) -> dict[str, str]:
    """The environment of a CI job pointed at the emulator."""
    return {"ACP_API_URL": emulator.url, "ACP_TOKEN": TOKEN}


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    """A small valid plan on disk."""
    path = tmp_path / "plan.json"
    path.write_text(
        '{"files": [{"path": "a.txt", "size": 3, "mtime": 1.5}], "root": "/w"}\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git reads a config of the test's own, and the plan cache lives in the test's home."""
    isolate_git(tmp_path / "home", monkeypatch)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """An empty workspace folder."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder
