"""Running `acp`: in this process through `acp_cli.cli.boundary.run` (`run_acp`), or as
the real console script in a subprocess (`run_acp_process`) where only a process
shows the behaviour; and the test constants."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

BIN = Path(sys.executable).parent
ACP = BIN / "acp"
TOKEN = "tok_live_0123456789abcdefSECRET"
BINDING = "wb_123"
PREPARED_SESSION: dict[str, Any] = {
    "pushSession": {"id": "ps_1", "status": "prepared", "workspaceBindingId": BINDING},
    "created": True,
}
"""The answer to a push prepare, for the servers that stand in where the emulator cannot."""


@dataclass(frozen=True)
class Run:
    """What one `acp` process did."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together, for checks that apply to both."""
        return self.stdout + self.stderr


def run_acp(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | str | None = None,
    timeout: float = 60,
) -> Run:
    """Run `acp` in this process, through the one entry point ``run()``, with the
    test's environment (plus ``env``) and in-memory streams.

    ``os.environ`` holds the same environment while it runs, for the libraries
    under acp that read it themselves (httpx's proxies, keyring's backend choice).
    ``timeout`` is accepted for symmetry with `run_acp_process`; nothing here waits.
    """
    from acp_cli.cli.boundary import run

    full_env = {**os.environ, **(env or {})}
    data = stdin.encode() if isinstance(stdin, str) else stdin
    stdout, stderr = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, full_env, clear=True):
        reset_keyring_backend()
        code = run(
            list(args), env=full_env, stdin=io.BytesIO(data or b""), stdout=stdout, stderr=stderr
        )
    reset_keyring_backend()
    return Run(code, stdout.getvalue(), stderr.getvalue())


def reset_keyring_backend() -> None:
    """Make keyring choose its backend again, from the environment as it is now.

    keyring picks its backend once per process, where a user's acp runs once:
    each in-process run, and each test, picks its own.
    """
    if "keyring" in sys.modules:
        import keyring.core

        keyring.core.init_backend()


def process_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an `acp` subprocess: the test's, plus ``env``, with the folder
    of the acp_cli this process imported first on PYTHONPATH, so that the console
    script runs the code under test: the same, except under `make mutation`, whose
    mutants (the mutated copy, and MUTANT_UNDER_TEST) then reach the subprocess too."""
    import acp_cli

    full_env = {**os.environ, **(env or {})}
    source = str(Path(acp_cli.__file__).parent.parent)
    full_env["PYTHONPATH"] = os.pathsep.join(
        part for part in (source, full_env.get("PYTHONPATH", "")) if part
    )
    return full_env


def run_acp_process(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | str | None = None,
    timeout: float = 60,
) -> Run:
    """Run the installed `acp` console script with the test's environment (plus ``env``)."""
    full_env = process_env(env)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(
        [str(ACP), *args],
        input=data if data is not None else b"",
        capture_output=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
    return Run(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def modules_after_console_script(
    *args: str, env: Mapping[str, str] | None = None
) -> tuple[str, set[str], str]:
    """Run the console script's main() on ``args`` in a fresh interpreter, with the test's
    environment (plus ``env``); its stdout, the modules loaded by the time it exited
    (which modules a command imports is start-up time), and what it said on stderr."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('\\n<modules>' + ' '.join(sys.modules)))\n"
        f"sys.argv = ['acp', *{list(args)!r}]\n"
        "from acp_cli.__main__ import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [str(BIN / "python"), "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    said, _, modules = done.stderr.rpartition("<modules>")
    return done.stdout, set(modules.split()), said
