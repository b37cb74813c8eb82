"""`hashing`: one file of DIR read and hashed, never through a symlinked folder, and
each reason it cannot be, whole."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acp_cli.workspace import hashing
from acp_cli.workspace.folders import FolderChain
from tests.support.git_oracle import write_tree

UNREADABLE_HINT = "Fix its permissions, or leave it out with .acpignore or --exclude."
CHANGING_HINT = "Stop whatever writes to it, or leave it out with .acpignore or --exclude."
LONG = "n" * 300  # longer than a file name may be: ENAMETOOLONG


def test_hash_in_refuses_a_folder_that_became_a_symlink_or_cannot_be_opened(
    work: Path, tmp_path: Path
) -> None:
    write_tree(work, {"real/f": "1"})
    (work / "link").symlink_to("real")
    buffer = bytearray(hashing.BLOCK)
    with FolderChain(os.fsencode(work)) as folders:
        moved = hashing.hash_in(folders, "link/f", buffer, lambda count: None)
        too_long = hashing.hash_in(folders, f"{LONG}/f", buffer, lambda count: None)
        gone = hashing.hash_in(folders, "real/gone", buffer, lambda count: None)
        found = hashing.hash_in(folders, "real/f", buffer, lambda count: None)
    assert moved == ("it was moved while acp read it", CHANGING_HINT)
    assert too_long == ("cannot read it: File name too long", UNREADABLE_HINT)
    assert gone == ("cannot read it: No such file or directory", UNREADABLE_HINT)
    assert found[:2] == (hashlib.sha256(b"1").hexdigest(), 1)


def test_an_os_error_without_strerror_is_named_by_its_text() -> None:
    assert hashing._os_reason(OSError("odd")) == ("cannot read it: odd", UNREADABLE_HINT)


def hashed(work: Path, name: str, on_block: Callable[[int], None] = lambda count: None) -> Any:
    """``hash_file`` of ``work/name``, opened relative to ``work`` as the describers do."""
    folder = os.open(work, os.O_RDONLY)
    try:
        return hashing.hash_file(name.encode(), bytearray(hashing.BLOCK), on_block, folder)
    finally:
        os.close(folder)


def test_a_file_is_hashed_in_blocks_with_its_size_and_stat_key(work: Path) -> None:
    content = os.urandom(hashing.BLOCK * 2 + 5)
    (work / "f").write_bytes(content)
    told: list[int] = []
    result = hashed(work, "f", told.append)
    info = (work / "f").stat()
    key = hashing.stat_key(
        info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev
    )
    assert result == (hashlib.sha256(content).hexdigest(), len(content), key)
    assert told == [hashing.BLOCK, hashing.BLOCK, 5]


def test_a_file_that_keeps_changing_is_read_four_times_then_refused(work: Path) -> None:
    (work / "f").write_bytes(b"x" * 10)
    reads: list[int] = []

    def grow(count: int) -> None:  # each read sees the file grow under it
        reads.append(count)
        with open(work / "f", "ab") as handle:
            handle.write(b"y")

    result = hashed(work, "f", grow)
    assert result == ("it kept changing while acp read it (4 reads)", CHANGING_HINT)
    assert reads == [10, 11, 12, 13]  # each read whole, at the size its fstat gave


def test_a_file_cut_short_while_it_is_read_is_read_again(work: Path) -> None:
    (work / "f").write_bytes(b"a" * (hashing.BLOCK + 100))
    cut: list[int] = []

    def cut_once(count: int) -> None:
        if not cut:
            cut.append(count)
            os.truncate(work / "f", 10)  # the next read finds the end early

    result = hashed(work, "f", cut_once)
    assert result[:2] == (hashlib.sha256(b"a" * 10).hexdigest(), 10)


def test_a_read_that_fails_is_named_by_its_error(work: Path) -> None:
    (work / "f").write_bytes(b"1")

    def fail(count: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    result = hashed(work, "f", fail)
    assert result == ("cannot read it: Input/output error", UNREADABLE_HINT)


def test_a_path_that_is_no_regular_file_once_opened_is_refused(work: Path) -> None:
    """Opened without blocking (a FIFO, where a file was when listed)."""
    os.mkfifo(work / "pipe")
    result = hashed(work, "pipe")
    assert result == ("it stopped being a regular file while acp read it", CHANGING_HINT)


def test_key_in_is_the_stat_key_of_a_regular_file_reached_without_a_symlink(
    work: Path,
) -> None:
    write_tree(work, {"real/f": "123"})
    (work / "link").symlink_to("real")
    (work / "real" / "to-f").symlink_to("f")
    os.mkfifo(work / "real" / "pipe")
    info = (work / "real" / "f").stat()
    with FolderChain(os.fsencode(work)) as folders:
        assert hashing.key_in(folders, "real/f") == hashing.stat_key(
            3, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev
        )
        for other in ("link/f", "real/to-f", "real/pipe", "real", "real/gone", f"{LONG}/f"):
            assert hashing.key_in(folders, other) is None, other
