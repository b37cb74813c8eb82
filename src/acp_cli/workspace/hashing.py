"""Reading and hashing one file of DIR, and its stat key: what the describers
(``describe``) and the hash started while acp loads (``early``) share.

A file is opened relative to its folder, never through a symlink (``FolderChain``),
and read in blocks into one reused buffer (bounded memory, no mmap), with an
``fstat`` before and after: a file whose size, mtime or ctime moved while it was
read is read again, up to ``REREADS`` times.

Only the standard library and ``folders``: ``early`` imports this in a thread while
the rest of acp loads.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from collections.abc import Callable
from typing import NamedTuple

from acp_cli.workspace.folders import FolderChain

BLOCK = 1 << 20
REREADS = 3
# A file of BIG bytes or more that needs hashing is hashed as a task of its own
# (``describe``: largest first, after the chunks, so that a few huge files spread
# over the workers), and may be hashed while acp loads (``early``).
BIG = 16 << 20
KEY = struct.Struct("<qqqQQ")
"""A file's stat in its cache key: size, mtime_ns, ctime_ns, inode, device."""
# O_NONBLOCK: a file swapped for a FIFO since its lstat opens without hanging (and
# fails the S_ISREG check); O_NOFOLLOW: one swapped for a symlink is not followed.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
)
UNREADABLE_HINT = "Fix its permissions, or leave it out with .acpignore or --exclude."
CHANGING_HINT = "Stop whatever writes to it, or leave it out with .acpignore or --exclude."


def stat_key(size: int, mtime_ns: int, ctime_ns: int, inode: int, device: int) -> bytes:
    """A file's stat as its cache key starts (``KEY``)."""
    return KEY.pack(size, mtime_ns, ctime_ns, inode, device)


class Unhashable(NamedTuple):
    """Why a file could not be hashed, and what to do about it."""

    reason: str
    hint: str

    def error(self, path: str) -> tuple[str, str]:
        """The (message, hint) of the error naming ``path``."""
        return f"Cannot plan {path}: {self.reason}.", self.hint


def key_in(folders: FolderChain, path: str) -> bytes | None:
    """The stat key of the regular file at ``path`` (relative to DIR), found through
    ``folders``; None when it is not one, or cannot be reached without following a
    symlink."""
    parent, _, base = path.encode().rpartition(b"/")
    try:
        folder_fd = folders.open(parent)
        if folder_fd is None:
            return None
        info = os.stat(
            base,
            dir_fd=folder_fd,
            follow_symlinks=False,  # pragma: no mutate: None is as false
        )
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return stat_key(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


def hash_in(
    folders: FolderChain, path: str, buffer: bytearray, on_block: Callable[[int], None]
) -> tuple[str, int, bytes] | Unhashable:
    """``hash_file`` of ``path`` (relative to DIR), opened through ``folders``: never
    through a symlinked folder on its way."""
    parent, _, base = path.encode().rpartition(b"/")
    try:
        folder_fd = folders.open(parent)
    except OSError as exc:
        return _os_reason(exc)
    if folder_fd is None:
        return Unhashable("it was moved while acp read it", CHANGING_HINT)
    return hash_file(base, buffer, on_block, folder_fd)


def hash_file(
    path: bytes, buffer: bytearray, on_block: Callable[[int], None], dir_fd: int | None = None
) -> tuple[str, int, bytes] | Unhashable:
    """The SHA-256, size and stat key (``stat_key``) of the regular file at
    ``path`` (relative to the folder open as ``dir_fd``, if given), read until it holds
    still; or why it could not be. ``on_block`` is told the size of each block read."""
    view = memoryview(buffer)
    for _ in range(1 + REREADS):
        try:
            fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            return _os_reason(exc)
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                return Unhashable(
                    "it stopped being a regular file while acp read it", CHANGING_HINT
                )
            digest = hashlib.sha256()
            remaining = before.st_size
            while remaining > 0:  # pragma: no mutate: ">= 0" reads once more, finds the end
                count = os.readv(fd, [view])
                if count == 0:
                    break  # shorter than it was: the fstat after the read says so
                digest.update(view[:count])
                remaining -= count
                on_block(count)
            after = os.fstat(fd)
        except OSError as exc:
            return _os_reason(exc)
        finally:
            os.close(fd)
        if remaining == 0 and (before.st_size, before.st_mtime_ns, before.st_ctime_ns) == (
            after.st_size,
            after.st_mtime_ns,
            after.st_ctime_ns,
        ):
            key = stat_key(
                before.st_size, before.st_mtime_ns, before.st_ctime_ns, before.st_ino, before.st_dev
            )
            return digest.hexdigest(), before.st_size, key
    return Unhashable(f"it kept changing while acp read it ({1 + REREADS} reads)", CHANGING_HINT)


def _os_reason(exc: OSError) -> Unhashable:
    return Unhashable(f"cannot read it: {exc.strerror or exc}", UNREADABLE_HINT)
