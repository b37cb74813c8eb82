"""The warm re-plan (issue 20): a file whose content changed is hashed again however
little of its stat moved, whether git tracks it (the index holds stat data of its
own, which must not stand in for acp's checks) or not, in this process or in the
workers. The plan must equal the one made without a cache, byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from acp_cli.workspace import BuiltPlan, build_plan
from tests.git_oracle import git, write_tree
from tests.test_workspace_plan import by_path, sha

pytestmark = pytest.mark.usefixtures("isolated_git")

OLD_NS = 1_600_000_000_000_000_000
TARGETS = ("d0/tracked.txt", "d1/untracked.txt")


def workspace(work: Path, files: int) -> None:
    """``files`` small files plus the TARGETS in a git work tree; the first target
    tracked and committed (its stat in the index), the second untracked."""
    contents = {f"d{index % 5}/f{index:04}": f"content {index}\n" for index in range(files)}
    contents[TARGETS[0]] = "before\n"
    write_tree(work, contents)
    git(work, "init", "--quiet")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", "files")
    write_tree(work, {TARGETS[1]: "before\n"})


def rewrite_keeping_mtime(path: Path) -> None:
    """New content of the same size, the mtime put back as it was: only the ctime moves."""
    info = path.stat()
    path.write_bytes(b"after!\n")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_size == info.st_size


def check_rehashed(work: Path) -> BuiltPlan:
    built = build_plan(work)
    entries = by_path(built)
    assert {name: entries[name]["sha256"] for name in TARGETS} == dict.fromkeys(
        TARGETS, sha(b"after!\n")
    )
    assert built.data == build_plan(work, cache=False).data
    assert built.hashed_files >= len(TARGETS)
    return built


@pytest.mark.parametrize("files", [3, 900])  # described in this process, and in workers
def test_a_file_changed_with_its_mtime_put_back_is_hashed_again(work: Path, files: int) -> None:
    workspace(work, files)
    for folder, _, names in os.walk(work):
        for name in names:
            os.utime(os.path.join(folder, name), ns=(OLD_NS, OLD_NS))
    git(work, "update-index", "--refresh")  # the index records the old mtimes: clean
    build_plan(work)
    assert build_plan(work).hashed_files == 0  # every hash from the cache now

    for name in TARGETS:
        rewrite_keeping_mtime(work / name)

    check_rehashed(work)


@pytest.mark.parametrize("files", [3, 900])
def test_a_file_changed_within_the_racy_window_is_hashed_again(work: Path, files: int) -> None:
    """Changed right after the cache was written, within the file system's timestamp
    granularity: its size, mtime and even ctime may be those recorded (coarse
    timestamps), so every file within 2 s of the cache's write is hashed again."""
    workspace(work, files)
    build_plan(work)

    for name in TARGETS:
        rewrite_keeping_mtime(work / name)

    built = check_rehashed(work)
    assert built.hashed_files == files + len(TARGETS)  # the unchanged ones too: all racy
