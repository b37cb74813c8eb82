"""The witness that `listing.PendingListing` hands on besides the paths: ``git
diff-files`` naming the tracked files that no longer match their index entries, and
which index that was (issue 20), with git as the oracle. A witness is given only
for the index git read, unchanged while it looked; the one started early
(``early``) only when it read that index."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from acp_cli.workspace import early
from acp_cli.workspace.listing import FolderMemory, Git, IndexWitness, PendingListing, Scratch
from tests.support.git_oracle import git, write_tree

pytestmark = pytest.mark.usefixtures("isolated_git")


def committed(work: Path) -> None:
    write_tree(work, {"a.txt": "a\n", "sub/b.txt": "b\n", "sub/c.txt": "c\n"})
    git(work, "init", "--quiet")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", "files")


@contextmanager
def pending_listing(folder: Path) -> Iterator[PendingListing]:
    """The listing of ``folder`` started with its witness; git's listing read and
    ended when the block ends."""
    git_in_dir = Git(Path(os.path.realpath(folder)), os.environ)
    with Scratch(git_in_dir) as scratch:
        pending = PendingListing(git_in_dir, scratch, witness=True)
        try:
            yield pending
        finally:
            pending.finish(FolderMemory({}, 0))
            pending.close()


def changed_by_git(folder: Path) -> frozenset[bytes]:
    """What ``git diff-files`` names in ``folder``: the oracle."""
    out = git(folder, "diff-files", "--name-only", "--relative", "-z")
    return frozenset(name for name in out.split(b"\0") if name)


def index_of(work: Path) -> list[int] | None:
    return early.index_identity(str(work / ".git" / "index"))


def test_the_witness_names_what_git_finds_changed_in_the_index_git_read(work: Path) -> None:
    committed(work)
    (work / "a.txt").write_bytes(b"a, longer now\n")
    (work / "sub" / "c.txt").unlink()

    with pending_listing(work / "sub") as pending:
        witness = pending.witness()

    assert witness is not None
    assert witness.changed == changed_by_git(work / "sub") == {b"c.txt"}
    assert witness.index == index_of(work)
    assert pending.witness() is None  # asked once


def test_an_index_replaced_while_git_looks_gives_no_witness(work: Path) -> None:
    """`git add` writes a new index while diff-files runs: what it said may be of
    either, so none is trusted, although git exits 0 and says nothing on stderr."""
    committed(work)
    (work / "a.txt").write_bytes(b"a, longer now\n")

    with pending_listing(work) as pending:
        git(work, "add", "a.txt")
        assert pending.witness() is None

    with pending_listing(work) as pending:  # the control: the next run has one
        witness = pending.witness()
    assert witness is not None
    assert (witness.changed, witness.index) == (changed_by_git(work), index_of(work))


@contextmanager
def started_early(folder: Path, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """git started as the console script starts it for ``acp push plan FOLDER``; the
    time just before and just after. Whatever the listing does not take is ended."""
    before_ns = time.time_ns()
    early.start(["push", "plan", str(folder), "-o", str(tmp_path / "plan.json")], os.environ)
    after_ns = time.time_ns()
    try:
        yield before_ns, after_ns
    finally:
        early.discard()


def witness_of(folder: Path) -> IndexWitness:
    with pending_listing(folder) as pending:
        witness = pending.witness()
    assert witness is not None
    return witness


def test_the_diff_files_started_early_is_the_witness(work: Path, tmp_path: Path) -> None:
    committed(work)
    (work / "a.txt").write_bytes(b"a, longer now\n")

    with started_early(work, tmp_path) as (before_ns, after_ns):
        witness = witness_of(work)
        # Taken, not left for discard: the one that started while Python imported.
        assert early.take(early.DIFF, os.path.realpath(work), early.git_env(os.environ)) is None

    assert before_ns <= witness.started_ns <= after_ns
    assert (witness.changed, witness.index) == (changed_by_git(work), index_of(work))


def test_a_diff_files_started_early_for_another_index_is_not_the_witness(
    work: Path, tmp_path: Path
) -> None:
    """A `.git` folder in DIR that is no repository (git looks further up) holding a
    file named index: the early start takes it for the index git reads, and
    records its identity. Its diff-files read the work tree's index; which one, it
    cannot say: the listing starts its own."""
    committed(work)
    (work / "sub" / "c.txt").write_bytes(b"c, longer now\n")
    write_tree(work, {"sub/.git/index": "not an index\n"})

    with started_early(work / "sub", tmp_path) as (_, after_ns):
        witness = witness_of(work / "sub")

    assert witness.started_ns > after_ns
    assert (witness.changed, witness.index) == (changed_by_git(work / "sub"), index_of(work))
    assert witness.changed == {b"c.txt"}
