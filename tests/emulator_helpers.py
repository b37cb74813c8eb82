"""Shared code for the emulator tests: signed bodies, raw HTTP, emulator subprocesses.

The plan signature here comes from ``rfc8785``, like the emulator's, never from
``acp_cli.signature``: these tests check the emulator, not the client.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import rfc8785

START_TIMEOUT = 15.0


def plan_signature(plan: Any) -> str:
    """``sha256:<hex>`` over the RFC 8785 form of ``plan``."""
    return "sha256:" + hashlib.sha256(rfc8785.dumps(plan)).hexdigest()


def signed_body(plan: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A valid request body for ``plan``, plus any extra fields (e.g. ``metadata``)."""
    return {"planSignature": plan_signature(plan), "plan": plan, **extra}


def endpoint(binding: str) -> str:
    """The endpoint path for a binding, percent-encoded as one segment."""
    return f"/v1/workspace-bindings/{quote(binding, safe='')}/push-sessions"


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


def spawn_emulator(args: list[str], stderr_path: Path) -> subprocess.Popen[bytes]:
    """Start ``acp-emulator ARGS`` with stdout piped and stderr written to a file.

    stderr goes to a file, not a pipe: a pipe nobody reads fills up and would
    block the emulator's request log.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with stderr_path.open("wb") as stderr:
        return subprocess.Popen(
            [*emulator_command(), *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )


@contextlib.contextmanager
def emulator_process(
    args: list[str], tmp_path: Path, name: str = "emu"
) -> Iterator[EmulatorProcess]:
    """Run ``acp-emulator --port 0 ARGS`` for the block; kill it if it is still running."""
    stderr_path = tmp_path / f"{name}.stderr"
    proc = spawn_emulator(["--port", "0", *args], stderr_path)
    try:
        url = read_first_line(proc).strip()
        yield EmulatorProcess(proc=proc, url=url, stderr_path=stderr_path)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def connect(url: str, timeout: float = 5.0) -> socket.socket:
    """A raw TCP connection to the emulator at ``url``."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP response from a raw socket: status, lower-cased headers, body."""
    response = HTTPResponse(sock)
    response.begin()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw request bytes on a fresh connection and read one response."""
    with connect(url) as sock:
        sock.sendall(request)
        return read_response(sock)


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the peer sends until it closes the connection."""
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
