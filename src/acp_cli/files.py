"""The one writer for every file acp writes (SPEC section 8, "Output").

A plan written with ``-o FILE``, ``config.toml``, the credentials file and the
hash cache all go through ``write_atomic``, because a naive "write a temporary
file, rename it over the target" is wrong for two kinds of target:

- a symlink (``config.toml`` linked into a dotfiles repository): renaming over
  it replaces the link with a regular file and the dotfile never changes;
- anything that is not a regular file (``/dev/null``, ``/dev/stdout``, a FIFO):
  renaming over ``/dev/null`` replaces the machine's null device with a regular
  file and breaks every later program on it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path


def only_ours(info: os.stat_result) -> bool:
    """Whether the file or folder of stat ``info`` is this user's and only this user's to
    change: what acp trusts of the files it reads back (the hash cache, remembered
    plans)."""
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def write_atomic(
    path: Path,
    data: bytes | Sequence[bytes | memoryview],
    *,
    mode: int = 0o600,
    durable: bool = True,
) -> None:
    """Write ``data`` to ``path`` so that no reader ever sees half of it. ``data`` may be
    a sequence of parts, written one after the other: no join, which would hold a copy
    of all of them (the hash cache of a million files is hundreds of MiB).

    - A regular file, or a path where nothing exists yet: the data goes to a
      temporary file in the same folder, is flushed to disk (fsync) and given
      ``mode``, then renamed over the target. On any failure the target is as it
      was and the temporary file is removed.
    - A symlink: written through, at its resolved target (in the target's
      folder), and the link is kept. A dangling symlink creates its target, as
      ``cp`` and a shell's ``>`` do.
    - Anything else that exists (a FIFO, ``/dev/null``, a character device), and any
      path that reaches an open descriptor (``/dev/stdout``, ``/dev/fd/3``: links into
      ``/proc``, whatever the shell redirected them to): opened and written in
      place, appending, never truncated or renamed over; ``mode`` is not applied,
      the file is not ours.

    ``durable=False`` skips the flush to disk (fsync) before the rename, for a
    file that is checked when read and may be lost, such as the hash cache: a
    crash may then leave it empty or cut short, never half old and half new.

    Raises ``OSError`` (for example ``IsADirectoryError``) when the data cannot
    be written; the caller turns it into the error its user needs.
    """
    try:
        existing = os.stat(path)  # through every link, /proc's included
    except FileNotFoundError:
        existing = None
    if (existing is not None and not stat.S_ISREG(existing.st_mode)) or _reaches_descriptor(path):
        _write_in_place(Path(path), data)
        return
    _replace(Path(os.path.realpath(path)), data, mode, durable)


def _reaches_descriptor(path: Path) -> bool:
    """Whether ``path`` leads, link by link, into ``/proc`` (an open file descriptor).

    ``/dev/stdout`` links to ``/proc/self/fd/1``, which links to whatever the
    shell opened: a pipe, or a file it already truncated. Replacing that file by
    a rename would leave the shell's descriptor on the old one.
    """
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        folder, name = os.path.split(current)
        current = os.path.join(os.path.realpath(folder), name)  # /dev/fd -> /proc/self/fd
        if current == "/proc" or current.startswith("/proc/"):
            return True
        try:
            link = os.readlink(current)
        except OSError:  # not a link (or gone): the end of the chain
            return False
        current = os.path.normpath(os.path.join(folder, link))
    return False


def _write_in_place(target: Path, data: bytes | Sequence[bytes | memoryview]) -> None:
    """Write to a special file through an ordinary descriptor, as a shell's ``>`` would."""
    # No O_TRUNC: it means nothing to a device or a FIFO and fails on some of them,
    # and a file reached through /dev/stdout was opened (and truncated, or not:
    # >> appends) by the shell. O_APPEND writes after what the shell left.
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        for part in _parts(data):
            view = memoryview(part)
            while view:
                view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def temporary_affixes(name: str) -> tuple[str, str]:
    """The prefix and suffix of the temporary files ``write_atomic`` makes beside a
    file called ``name`` (a random part goes between them), for those who must
    recognise them: a plan leaves out acp's own files."""
    return f".{name}.", ".tmp"


def _parts(data: bytes | Sequence[bytes | memoryview]) -> Sequence[bytes | memoryview]:
    return (data,) if isinstance(data, bytes) else data


def _replace(
    target: Path, data: bytes | Sequence[bytes | memoryview], mode: int, durable: bool
) -> None:
    """Write a temporary file beside ``target`` and rename it over the target."""
    import tempfile  # 6 ms of start-up (shutil, random, bz2, lzma) that only writes pay

    prefix, suffix = temporary_affixes(target.name)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for part in _parts(data):
                handle.write(part)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def forget_oldest(
    folder: Path, *, keep_files: int, keep_bytes: float = float("inf"), spare: Path | None = None
) -> None:
    """Remove the ``*.json`` files of ``folder`` least recently written (or marked
    used, by mtime) beyond the ``keep_files`` newest or ``keep_bytes`` bytes of them;
    never ``spare`` (the one just written). The one bound of acp's cache folders (the
    hash caches, the remembered plans): a file removed meanwhile by another acp run is
    no error."""
    found: list[tuple[int, int, str]] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):  # gone since: another run removed it
                if entry.name.endswith(".json") and entry.is_file(
                    follow_symlinks=False  # pragma: no mutate: None is as false as False
                ):
                    info = entry.stat(
                        follow_symlinks=False  # pragma: no mutate: a file, not a symlink, here
                    )
                    found.append((info.st_mtime_ns, info.st_size, entry.path))
    found.sort(reverse=True)  # most recently used first
    total = 0
    for count, (_, size, path) in enumerate(found, 1):
        total += size
        if (count > keep_files or total > keep_bytes) and path != str(spare):
            with contextlib.suppress(OSError):
                os.unlink(path)
