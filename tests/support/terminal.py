"""Running acp in this process with stdout and stderr on pseudo-terminals of a chosen
width (`run_on_terminal`), to see what it draws on a terminal."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import termios
import threading
from unittest import mock

from acp_cli.cli.boundary import run


def run_on_terminal(
    args: list[str], env: dict[str, str], *, columns: int = 80
) -> tuple[int, str, str]:
    """Run acp with stdout and stderr on two pseudo-terminals ``columns`` wide; return the
    exit code and what was drawn on each."""
    terminals = [pty.openpty() for _ in range(2)]
    drawn: list[list[bytes]] = [[], []]

    def drain(leader: int, into: list[bytes]) -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # closed once everything is read
                return
            if not chunk:
                return
            into.append(chunk)

    readers = []
    for (leader, follower), into in zip(terminals, drawn, strict=True):
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        attributes = termios.tcgetattr(follower)
        attributes[1] &= ~termios.ONLCR  # keep "\n" as written
        termios.tcsetattr(follower, termios.TCSANOW, attributes)
        reader = threading.Thread(target=drain, args=(leader, into), daemon=True)
        reader.start()
        readers.append(reader)
    streams = [
        open(follower, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - closed below
        for _, follower in terminals
    ]
    full_env = {**os.environ, "TERM": "xterm-256color", **env}
    full_env.pop("COLUMNS", None)
    with mock.patch.dict(os.environ, full_env, clear=True):
        code = run(args, env=full_env, stdin=io.BytesIO(b""), stdout=streams[0], stderr=streams[1])
    for stream, (_, follower) in zip(streams, terminals, strict=True):
        stream.close()
        os.close(follower)
    for reader in readers:
        reader.join(10)
    for leader, _ in terminals:
        os.close(leader)
    out, err = (b"".join(chunks).decode("utf-8") for chunks in drawn)
    return code, out, err
