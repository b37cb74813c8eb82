"""`hashing`: one file of DIR read and hashed, never through a symlinked folder, and
each reason it cannot be, whole."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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
