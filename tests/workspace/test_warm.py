"""The warm re-plan (issue 20): a file whose content changed is hashed again however
little of its stat moved, whether git tracks it (the index holds stat data of its
own, which must not stand in for acp's checks) or not, in this process or in the
workers. The plan must equal the one made without a cache, byte for byte. And git
started while Python imports is used only for the folder and environment it was
started for."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acp_cli.workspace import BuiltPlan, build_plan, early
from tests.support.git_oracle import git, write_tree
from tests.workspace.test_build import by_path, sha

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


def set_mtimes(work: Path, mtime_ns: int) -> None:
    for folder, folders, names in os.walk(work):
        folders[:] = [name for name in folders if name != ".git"]
        for name in names:
            os.utime(os.path.join(folder, name), ns=(mtime_ns, mtime_ns))


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
    set_mtimes(work, OLD_NS)
    git(work, "update-index", "--refresh")  # the index records the old mtimes: clean
    build_plan(work)
    assert build_plan(work).hashed_files == 0  # every hash from the cache now

    for name in TARGETS:
        rewrite_keeping_mtime(work / name)

    check_rehashed(work)


@pytest.mark.parametrize("files", [3, 900])
def test_a_file_changed_within_the_racy_window_is_hashed_again(work: Path, files: int) -> None:
    """Changed within the file system's timestamp granularity of the cache's write: its
    size, mtime and even ctime may be those recorded (coarse timestamps), so every file
    whose mtime is not 2 s before the cache's write is hashed again. Here the mtimes are
    an hour ahead, so that a slow run cannot leave the window."""
    workspace(work, files)
    ahead = time.time_ns() + 3600 * 10**9
    set_mtimes(work, ahead)
    build_plan(work)

    for name in TARGETS:
        rewrite_keeping_mtime(work / name)

    built = check_rehashed(work)
    assert built.hashed_files == files + len(TARGETS)  # the unchanged ones too


# --- git started while Python imports (early) --------------------------------


@pytest.mark.parametrize(
    ("argv", "folder"),
    [
        (["push", "plan", "{work}", "-q", "-o", "plan.json"], "{work}"),
        (["push", "plan", "--no-cache", "--output=plan.json", "--exclude", "x/"], "."),
        (["push", "prepare", "wb_1", "--dir", "{work}", "--exclude=*.log"], "{work}"),
        (["push", "prepare", "wb_1", "--dir={work}", "--no-cache"], "{work}"),
    ],
)
def test_a_plain_command_line_has_git_list_its_folder_early(
    work: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], folder: str
) -> None:
    write_tree(work, {"a.txt": "a\n"})
    git(work, "init", "--quiet")
    monkeypatch.chdir(work)
    root = os.path.realpath(folder.format(work=work))
    env = early.git_env(os.environ)
    early.start([word.format(work=work) for word in argv], os.environ)
    try:
        listing = early.take(early.LIST, root, env)
        assert listing is not None
        assert listing.communicate()[0] == b"? a.txt\0"  # what git lists there, tagged
        assert early.take(early.LIST, root, env) is None  # taken once
    finally:
        early.discard()


@pytest.mark.parametrize(
    "argv",
    [
        ["push", "plan", "{work}", "--help"],
        ["push", "plan", "{work}", "other", "-o", "plan.json"],
        ["push", "plan", "{work}", "--profile", "x", "-o", "plan.json"],
        ["push", "prepare", "wb_1", "--plan", "plan.json"],
        ["push", "prepare", "wb_1", "--dir"],
        ["push", "signature", "plan.json"],
        ["push", "plan", "{work}/a.txt", "-o", "plan.json"],  # not a folder
    ],
)
def test_any_other_command_line_starts_no_git(work: Path, argv: list[str]) -> None:
    write_tree(work, {"a.txt": "a\n"})
    early.start([word.format(work=work) for word in argv], os.environ)
    try:
        for args in (early.LOCATE, early.LIST):
            assert early.take(args, os.path.realpath(work), early.git_env(os.environ)) is None
    finally:
        early.discard()


def test_an_early_git_in_another_folder_or_environment_is_not_used(work: Path) -> None:
    """The listing takes only git started for exactly its folder and environment."""
    write_tree(work, {"a.txt": "a\n"})
    git(work, "init", "--quiet")
    argv = ["push", "plan", str(work), "-o", "plan.json"]
    root, env = os.path.realpath(work), early.git_env(os.environ)
    early.start(argv, os.environ)
    assert early.take(early.LIST, root + "/other", env) is None
    assert early.take(early.LOCATE, root, {**env, "GIT_CONFIG_COUNT": "1"}) is None
    assert early.take(early.LIST, root, env) is None  # each was ended, not kept


def test_the_console_script_plans_what_build_plan_plans(work: Path, tmp_path: Path) -> None:
    """Through the process, git started early: the same plan, byte for byte, in a
    work tree and in a folder outside git (where the early listing is not used)."""
    outside = tmp_path / "outside"
    write_tree(outside, {"b.txt": "b\n", ".gitignore": "*.log\n", "x.log": "x"})
    write_tree(work, {"a.txt": "a\n", "sub/c.txt": "c\n"})
    git(work, "init", "--quiet")
    acp = Path(sys.executable).parent / "acp"
    for folder in (work, work / "sub", outside):
        out = tmp_path / "plan.json"
        subprocess.run([acp, "push", "plan", str(folder), "-q", "-o", str(out)], check=True)
        assert out.read_bytes() == build_plan(folder).data + b"\n"
