"""Git as the oracle for the workspace tests: trees on disk and git's own listings."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest

from acp_cli.workspace import BuiltPlan

ACPIGNORE = ".acpignore"
GITIGNORE = ".gitignore"


def isolate_git(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Git reads a config of the test's own: no system or user settings leak in."""
    config = home / "gitconfig"
    config.write_text(
        "[user]\n\tname = Test\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n"
        '[protocol "file"]\n\tallow = always\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("ACP_CACHE_DIR", str(home / "cache"))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """Run git in ``cwd``; a failure fails the test."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Create ``files`` (relative path -> content) under ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)


def plan_entries(built: BuiltPlan) -> list[dict[str, object]]:
    """The plan's file entries, parsed."""
    entries: list[dict[str, object]] = orjson.loads(built.data)["files"]
    return entries


def plan_paths(built: BuiltPlan) -> set[str]:
    """The paths a built plan lists."""
    return {str(entry["path"]) for entry in plan_entries(built)}


def git_listing(worktree: Path) -> set[str]:
    """What git lists in ``worktree`` (a work tree or a folder in one): tracked files
    present in the work tree and untracked files not ignored, nested repositories
    and submodules left out."""
    listed = git(worktree, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    # What `git status` calls deleted: `ls-files --deleted` misses a tracked file under
    # a folder that became a symlink, and one that became a folder itself.
    deleted = git(worktree, "diff-files", "-z", "--name-only", "--diff-filter=D", "--relative")
    submodules = {
        line.split(b"\t", 1)[1]
        for line in git(worktree, "ls-files", "-z", "--stage").split(b"\0")
        if line.startswith(b"160000 ")
    }
    gone = set(deleted.split(b"\0")) | submodules
    return {
        os.fsdecode(name)
        for name in listed.split(b"\0")
        if name and not name.endswith(b"/") and name not in gone
    }


def fresh_repository_listing(folder: Path, scratch: Path) -> set[str]:
    """What git lists in a copy of ``folder`` made into a fresh repository."""
    copy = scratch / "fresh"
    shutil.copytree(folder, copy, symlinks=True)
    git(copy, "init", "--quiet")
    return git_listing(copy)


def acpignore_listing(folder: Path, scratch: Path) -> set[str]:
    """What git lists in a copy of ``folder`` whose ignore rules are the ``.acpignore``
    rules alone (`acpignore_repository`)."""
    return git_listing(acpignore_repository(folder, scratch))


def acpignore_repository(folder: Path, scratch: Path) -> Path:
    """A copy of ``folder``, made a repository, whose ignore rules are the ``.acpignore``
    rules alone: each ``.gitignore`` emptied, each ``.acpignore``'s content moved into
    the ``.gitignore`` beside it (the ``.acpignore`` file stays, as a plain file)."""
    copy = scratch / "acp-rules"
    shutil.copytree(folder, copy, symlinks=True)
    for path in copy.rglob(GITIGNORE):
        path.write_bytes(b"")
    for path in copy.rglob(ACPIGNORE):
        (path.parent / GITIGNORE).write_bytes(path.read_bytes())
    git(copy, "init", "--quiet")
    return copy
