"""The shells and programs tests run: `require` one (skipped without it, failed in CI,
which installs it), and `shell`, bash with ``acp`` as the installed console script."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cli_runner import ACP

BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")


def require(program: str) -> str:
    """The path of ``program``; skip without it, but fail in CI, which installs it."""
    path = shutil.which(program)
    if path is None:
        missing(program)
    return str(path)


def missing(what: str) -> None:
    """Skip the test for want of ``what``; in CI, where .ci/run installs it, fail."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is not installed; .ci/run installs it for CI.")
    pytest.skip(f"{what} is not installed")


def shell(
    command: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in bash, where ``acp`` is the installed console script."""
    return subprocess.run(
        ["bash", "-c", f'acp() {{ {shlex.quote(str(ACP))} "$@"; }}; {command}'],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
