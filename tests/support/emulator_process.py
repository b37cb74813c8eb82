"""``acp-emulator`` as a real process: start it (`emulator_process`, `spawn_emulator`),
read the URL it prints, stop it with a signal."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 15.0
"""Seconds an ``acp-emulator`` process may take to print its URL."""


def emulator_command() -> list[str]:
    """The installed ``acp-emulator`` console script (next to this Python, or on PATH)."""
    beside = Path(sys.executable).parent / "acp-emulator"
    found = str(beside) if beside.exists() else shutil.which("acp-emulator")
    assert found, "acp-emulator is not installed; run `make test` or `pip install -e .`"
    return [found]


@dataclass
class EmulatorProcess:
    """An ``acp-emulator`` subprocess and the URL it printed."""

    proc: subprocess.Popen[bytes]
    url: str
    stderr_path: Path

    def stderr(self) -> str:
        """Everything written to stderr so far."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def read_first_line(proc: subprocess.Popen[bytes], timeout: float = START_TIMEOUT) -> str:
    """The first stdout line of ``proc``, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no stdout line within {timeout}s")
    return proc.stdout.readline().decode()


def spawn_emulator(
    args: list[str], stderr_path: Path, command: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``acp-emulator ARGS`` (``command``, else this environment's) with stdout
    piped and stderr written to a file.

    stderr goes to a file, not a pipe: a pipe nobody reads fills up and would
    block the emulator's request log.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with stderr_path.open("wb") as stderr:
        return subprocess.Popen(
            [*(command or emulator_command()), *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )


@contextlib.contextmanager
def emulator_process(
    args: list[str], tmp_path: Path, name: str = "emu", command: list[str] | None = None
) -> Iterator[EmulatorProcess]:
    """Run ``acp-emulator --port 0 ARGS`` (``command``, else this environment's) for the
    block; kill it if it is still running."""
    stderr_path = tmp_path / f"{name}.stderr"
    proc = spawn_emulator(["--port", "0", *args], stderr_path, command)
    try:
        url = read_first_line(proc).strip()
        yield EmulatorProcess(proc=proc, url=url, stderr_path=stderr_path)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
