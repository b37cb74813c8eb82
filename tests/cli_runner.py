"""Running the real `acp` entry point as a subprocess, and the test constants."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
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
    """Run the installed `acp` entry point with the test's environment (plus ``env``)."""
    full_env = {**os.environ, **(env or {})}
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
