"""Run part of a test as an ordinary user, also where the suite runs as root (CI).

Root reads every file and may write in every folder, so a test of an unreadable
config file, an unwritable folder or another user's file means nothing as root,
and would be skipped in CI, which runs as root. Instead:

- `as_ordinary_user(function)` calls ``function()`` as an ordinary user and
  returns what it returned. As root, in a forked child that dropped to the
  ``nobody`` user (uid and gid 65534, no supplementary groups) for good, as
  ``setpriv --reuid=65534 --regid=65534 --clear-groups`` would; as an ordinary
  user already, in this process. An exception in the child fails the test with
  the child's traceback; the return value must pickle.
- the `ordinary_folder` fixture is an empty folder that user owns (mode 0700),
  where ``function`` can make its files: root's tmp_path is closed to others.
- `ROOT_OWNED` is a file another user (root) owns that everyone may read, for
  tests of a file or folder "owned by another user".

Files made before the call by the test itself are root's when the suite runs as
root: a test that needs the user's own files makes them inside ``function``.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

NOBODY = 65534
IS_ROOT = os.geteuid() == 0
ROOT_OWNED = Path("/etc/passwd")
"""A file root owns and everyone may read (mode 644) on every Unix."""


def as_ordinary_user(function: Callable[[], T]) -> T:
    """``function()`` run by an ordinary user; see the module's docstring."""
    if not IS_ROOT:
        return function()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root for good, run, report, and never return
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                report = (True, pickle.dumps(function()))
            except BaseException:
                report = (False, traceback.format_exc().encode())
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(pickle.dumps(report))
            status = 0
        finally:
            os._exit(status)  # no pytest teardown, no atexit handlers in the child
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise AssertionError(f"the ordinary user's process ended without a report ({status})")
    succeeded, payload = pickle.loads(data)  # noqa: S301 - written by our own child
    if not succeeded:
        raise AssertionError(f"as the ordinary user:\n{payload.decode()}")
    result: T = pickle.loads(payload)  # noqa: S301 - written by our own child
    return result


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
