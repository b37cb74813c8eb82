"""Counting the times a file is opened, through the interpreter's audit hooks (PEP 578).

Every ``open()``, ``Path.open``, ``Path.read_bytes`` and ``os.open`` raises an
``open`` audit event, whichever module calls it: a count taken here cannot miss a
read that goes around the function a test expected it to use.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

_watched: dict[str, list[str]] = {}
"""The paths being watched, each with how it was opened each time (its mode)."""


def _on_audit_event(event: str, args: tuple[object, ...]) -> None:
    if event != "open" or not _watched:
        return
    file, mode = args[0], args[1]
    if not isinstance(file, str | bytes | os.PathLike):
        return  # a file descriptor
    opened = _watched.get(os.fsdecode(os.fspath(file)))
    if opened is not None:
        opened.append(mode if isinstance(mode, str) else "os.open")


sys.addaudithook(_on_audit_event)  # once per process: audit hooks cannot be removed


@contextlib.contextmanager
def opens_of(path: Path) -> Iterator[list[str]]:
    """The times ``path`` (as acp names it: the same absolute path) is opened while
    the block runs, in order: each one's mode as the event gives it (``r`` for
    ``rb`` too; ``os.open`` for `os.open`)."""
    name = str(path)
    opened = _watched.setdefault(name, [])
    try:
        yield opened
    finally:
        del _watched[name]
