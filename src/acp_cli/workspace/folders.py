"""Folders under DIR, opened one path component at a time, never through a symlink.

A path such as ``conf/passwd`` is read as ``openat(openat(DIR, "conf"), "passwd")``
with ``O_NOFOLLOW`` at each step: when ``conf`` is a symlink (to ``/etc``, say),
or a file, the path is not in the workspace as listed, and git reports its
tracked files as deleted. Opening ``DIR/conf/passwd`` by name would follow the
link and plan a file from outside DIR. Holding the folder open also means a
folder swapped for a symlink after it was opened is not followed either.

The open folders form a chain from DIR down to the last folder asked for; paths
come sorted, so consecutive paths share most of it and a folder is opened once
per run of paths in it. At most one descriptor per level is open.
"""

from __future__ import annotations

import errno
import os

# O_NOFOLLOW: a symlink fails (ELOOP) instead of being followed; O_DIRECTORY: so does a
# file (ENOTDIR).
_FOLDER_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
# DIR itself may be named through a symlink (every caller gives it resolved, though).
_ROOT_FLAGS = _FOLDER_FLAGS & ~getattr(os, "O_NOFOLLOW", 0)
# A component that is missing, a symlink or a file: nothing below it is in the workspace.
NOT_A_FOLDER = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})


class FolderChain:
    """Open folders of DIR, the chain of the last one asked for kept open."""

    def __init__(self, root: bytes) -> None:
        self._names: list[bytes] = []
        self._fds = [os.open(root, _ROOT_FLAGS)]

    def __enter__(self) -> FolderChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every folder held open."""
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        self._names.clear()

    def open(self, folder: bytes) -> int | None:
        """A descriptor of ``folder`` (relative to DIR, ``/``-separated, ``b""`` for
        DIR), valid until the next call; None when a component of it is not a
        folder (missing, a symlink, a file). Other errors (permission) raise OSError."""
        names = folder.split(b"/") if folder else []
        kept, held = 0, self._names
        while kept < len(names) and kept < len(held) and names[kept] == held[kept]:
            kept += 1
        while len(held) > kept:
            held.pop()
            os.close(self._fds.pop())
        for name in names[kept:]:
            try:
                fd = os.open(name, _FOLDER_FLAGS, dir_fd=self._fds[-1])
            except OSError as exc:
                if exc.errno in NOT_A_FOLDER:
                    return None
                raise
            held.append(name)
            self._fds.append(fd)
        return self._fds[-1]
