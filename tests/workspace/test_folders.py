"""`folders.FolderChain`: DIR's folders opened one component at a time, never through a
symlink, each folder once per run of paths in it, one descriptor per level."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from acp_cli.workspace.folders import FolderChain


def test_a_component_that_is_not_a_folder_gives_none(tmp_path: Path) -> None:
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to("real")
    with FolderChain(os.fsencode(tmp_path)) as chain:
        for folder in (b"link", b"link/sub", b"file", b"file/sub", b"missing", b"real/missing"):
            assert chain.open(folder) is None, folder
            # The chain is still usable: the next folder opens.
            fd = chain.open(b"real/sub")
            assert fd is not None
            assert os.path.samestat(os.fstat(fd), os.stat(tmp_path / "real" / "sub"))


def test_each_folder_is_opened_once_per_run_of_paths_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in ("a/b/c", "a/d", "e"):
        (tmp_path / path).mkdir(parents=True)
    opened: list[bytes] = []
    live: set[int] = set()
    real_open, real_close = os.open, os.close

    def spy_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        fd = real_open(path, flags, *args, **kwargs)
        opened.append(os.fsencode(path))
        live.add(fd)
        return fd

    def spy_close(fd: int) -> None:
        live.discard(fd)
        real_close(fd)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "close", spy_close)
    steps = [
        (b"a/b/c", [b"a", b"b", b"c"]),
        (b"a/b/c", []),
        (b"a/b", []),
        (b"a/b/c", [b"c"]),
        (b"a/d", [b"d"]),
        (b"", []),
        (b"e", [b"e"]),
        (b"a/d", [b"a", b"d"]),
    ]
    with FolderChain(os.fsencode(tmp_path)) as chain:
        for folder, expected in steps:
            opened.clear()
            fd = chain.open(folder)
            assert fd is not None
            assert opened == expected, folder
            assert os.path.samestat(os.fstat(fd), os.stat(tmp_path / os.fsdecode(folder)))
            # One descriptor per level: DIR's and one per component.
            assert len(live) == 1 + len(folder.split(b"/") if folder else [])
    assert live == set()
