"""Run part of a test as an ordinary user, also where the suite runs as root (CI).

Root reads every file and may write in every folder, so a test of an unreadable
config file, an unwritable folder or another user's file means nothing as root,
and would be skipped in CI, which runs as root. Instead:

- `as_ordinary_user(function)` calls ``function()`` as an ordinary user and
  returns what it returned, or raises what it raised. As root, with the
  effective user and group of ``nobody`` (65534) and no supplementary groups,
  the identity ``setpriv --reuid=65534 --regid=65534 --clear-groups`` gives a
  child: the kernel then checks every access as for that user (an effective
  uid other than 0 has no capabilities). The switch is made in this process
  and undone afterwards (the real uid stays 0), so that the code under test
  runs where pytest, and mutmut's record of which test runs which function,
  can see it; a forked child would hide it from mutmut. As an ordinary user
  already, ``function`` simply runs.
- the `ordinary_folder` fixture is an empty folder that user owns (mode 0700),
  where ``function`` can make its files: root's tmp_path is closed to others.
- `ROOT_OWNED` is a file another user (root) owns that everyone may read, for
  tests of a file or folder "owned by another user".

Files made before the call by the test itself are root's when the suite runs as
root: a test that needs the user's own files makes them inside ``function``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

NOBODY = 65534
IS_ROOT = os.geteuid() == 0
_lock = threading.Lock()
ROOT_OWNED = Path("/etc/passwd")
"""A file root owns and everyone may read (mode 644) on every Unix."""


def as_ordinary_user(function: Callable[[], T]) -> T:
    """``function()`` run by an ordinary user; see the module's docstring."""
    if not IS_ROOT:
        return function()
    with _lock:  # one identity per process at a time
        groups = os.getgroups()
        os.setgroups([])
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
        try:
            return function()
        finally:
            os.seteuid(0)
            os.setegid(0)
            os.setgroups(groups)


@pytest.fixture
def ordinary_folder(tmp_path: Path) -> Iterator[Path]:
    """An empty folder (mode 0700) that the user of `as_ordinary_user` owns."""
    if not IS_ROOT:
        folder = tmp_path / "ordinary"
        folder.mkdir(mode=0o700)
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="acp-ordinary-"))  # 0700, under the shared /tmp
    os.chown(folder, NOBODY, NOBODY)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
