"""The witness that `listing.PendingListing` hands on besides the paths: ``git
diff-files`` naming the tracked files that no longer match their index entries, and
which index that was (issue 20), with git as the oracle. A witness is given only
for the index git read, unchanged while it looked; the one started early
(``early``) only when it read that index."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from acp_cli.errors import UsageError
from acp_cli.workspace import build_plan, cache, early, listing
from acp_cli.workspace.early import DIFF, LIST, LOCATE
from acp_cli.workspace.folders import FolderChain
from acp_cli.workspace.listing import (
    FolderMemory,
    Git,
    IndexWitness,
    Listing,
    PendingListing,
    Scratch,
)
from tests.support.git_oracle import git, write_tree

pytestmark = pytest.mark.usefixtures("isolated_git")

OLD_NS = 1_600_000_000_000_000_000


def committed(work: Path) -> None:
    write_tree(work, {"a.txt": "a\n", "sub/b.txt": "b\n", "sub/c.txt": "c\n"})
    git(work, "init", "--quiet")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", "files")


@contextmanager
def pending_listing(
    folder: Path, env: Mapping[str, str] = os.environ, *, witness: bool = True
) -> Iterator[PendingListing]:
    """The listing of ``folder`` started (with its witness unless told); git's listing
    ended when the block ends."""
    git_in_dir = Git(Path(os.path.realpath(folder)), env)
    with Scratch(git_in_dir) as scratch:
        pending = PendingListing(git_in_dir, scratch, witness=witness)
        try:
            yield pending
        finally:
            early.end(pending.process)
            pending.close()


@contextmanager
def processes_started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """The command lines of the processes started in the block, in order."""
    started: list[list[str]] = []
    popen = subprocess.Popen

    def recording(args: list[str], *rest: Any, **options: Any) -> Any:
        started.append(list(args))
        return popen(args, *rest, **options)

    with monkeypatch.context() as patched:
        patched.setattr(subprocess, "Popen", recording)
        yield started


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


@pytest.mark.parametrize("name", ["plain", "two\nlines", "ends\n"])
def test_the_top_of_the_work_tree_is_found_whatever_its_name(
    work: Path, tmp_path: Path, name: str
) -> None:
    """git names the top on a line of its answer: a newline in it spans lines."""
    top = tmp_path / name
    write_tree(top, {"sub/a.txt": "a\n"})
    git(top, "init", "--quiet")
    git(top, "add", "--all")
    git_in_dir = Git(top / "sub", os.environ)
    with Scratch(git_in_dir) as scratch:
        pending = PendingListing(git_in_dir, scratch, witness=True)
        listing = pending.finish(FolderMemory({}, 0))
        witness = pending.witness()

    assert (git_in_dir.top, pending.prefix) == (top, b"sub/")
    assert listing.paths == [b"a.txt"]
    assert witness is not None  # the index of its .git folder, found
    assert witness.index == index_of(top)


def linked_worktree(work: Path) -> Path:
    committed(work)
    linked = work.parent / "linked"
    git(work, "worktree", "add", "--quiet", str(linked))
    return linked


def junk_git_folder(work: Path) -> Path:
    """A folder outside git holding a `.git` folder that is no repository."""
    write_tree(work, {"a.txt": "a\n", ".git/index": "not an index\n"})
    return work


def work_tree(work: Path) -> Path:
    committed(work)
    return work


@pytest.mark.parametrize(
    ("make", "witness", "diff_files"),
    [
        (work_tree, True, True),  # the control
        (work_tree, False, False),  # not asked: no cache to use it
        (linked_worktree, True, False),  # its .git a file: no index of its own to watch
        (junk_git_folder, True, False),  # outside git
    ],
)
def test_diff_files_runs_only_when_asked_in_a_work_tree_whose_git_is_a_folder(
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[Path], Path],
    witness: bool,
    diff_files: bool,
) -> None:
    folder = make(work)
    with (
        processes_started(monkeypatch) as started,
        pending_listing(folder, witness=witness) as pending,
    ):
        given = pending.witness()

    assert (["git", *DIFF] in started) == diff_files
    assert (given is not None) == diff_files


def test_a_witness_nobody_asked_for_is_ended_by_close(work: Path) -> None:
    """The build ends diff-files when it fails before it asks (``close`` in a finally):
    nothing is left to ask for after, and closing again is no error."""
    committed(work)
    with pending_listing(work) as pending:
        pending.close()
        assert pending.witness() is None
        pending.close()


def test_a_diff_files_that_says_anything_on_stderr_gives_no_witness(
    work: Path, tmp_path: Path
) -> None:
    """A git whose diff-files exits 0, the index unchanged, but says something on
    stderr (a git on PATH that adds a line, as a wrapper or a newer git might)."""
    committed(work)
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True)
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f'#!/bin/sh\n"{real.stdout.strip()}" "$@"; status=$?\n'
        'case " $* " in *" diff-files "*) echo "note: something" >&2;; esac\nexit $status\n'
    )
    wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"}
    with pending_listing(work, env) as pending:
        assert pending.witness() is None
    with pending_listing(work) as pending:  # the control: the same git, silent
        assert pending.witness() is not None


def test_an_index_is_older_than_the_listing_only_by_more_than_the_racy_window(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``listed_after`` says whether the listing's tags are of that index too: its
    ctime (an mtime can be put back) more than RACY_NS before the listing started."""
    committed(work)
    index = work / ".git" / "index"
    os.utime(index, ns=(OLD_NS, OLD_NS))
    changed_ns = index.stat().st_ctime_ns

    assert not witness_of(work).listed_after  # just written

    for offset, after in ((0, False), (1, True)):  # the listing at exactly, then just past
        with monkeypatch.context() as patched:
            patched.setattr(time, "time_ns", lambda at=changed_ns + cache.RACY_NS + offset: at)
            witness = witness_of(work)
        assert witness.listed_after is after
        assert (witness.changed, witness.index) == (frozenset(), index_of(work))


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


@pytest.mark.parametrize("early_start", [True, False])
def test_git_started_early_is_taken_not_run_again(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, early_start: bool
) -> None:
    """In a work tree the console script starts all three commands the listing runs
    first: the listing starts none of its own. (Without: it starts each, the control.)"""
    committed(work)
    with (
        started_early(work, tmp_path) if early_start else nullcontext((0, 0)),
        processes_started(monkeypatch) as started,
    ):
        witness = witness_of(work)

    assert started == ([] if early_start else [["git", *args] for args in (LOCATE, LIST, DIFF)])
    assert (witness.changed, witness.index) == (changed_by_git(work), index_of(work))


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


@pytest.mark.parametrize("inside_git", [True, False])
def test_the_paths_git_does_not_check_against_its_index_are_unchecked(
    work: Path, inside_git: bool
) -> None:
    """What git's index cannot vouch for: untracked, assume-unchanged and skip-worktree
    files (all but those `ls-files -v` tags H). Outside git there is no index, and no
    witness to need them."""
    write_tree(work, {"tracked": "1", "assumed": "2", "skipped": "3", "sub/new": "4"})
    if inside_git:
        git(work, "init", "--quiet")
        git(work, "add", "tracked", "assumed", "skipped")
        git(work, "commit", "--quiet", "-m", "files")
        git(work, "update-index", "--assume-unchanged", "assumed")
        git(work, "update-index", "--skip-worktree", "skipped")
        tagged = git(work, "ls-files", "-v", "-z", "--cached", "--others", "--exclude-standard")
        expected = {record[2:] for record in tagged.split(b"\0") if record[:2] not in (b"", b"H ")}
        assert expected == {b"assumed", b"skipped", b"sub/new"}
    else:
        expected = set()

    with pending_listing(work, witness=False) as pending:
        listing = pending.finish(FolderMemory({}, 0))

    assert listing.unchecked == expected
    assert sorted(listing.paths) == [b"assumed", b"skipped", b"sub/new", b"tracked"]
    assert listing.inside_work_tree == inside_git


# --- FolderMemory: what earlier runs found in each folder, from the cache ---------


def test_a_folder_remembered_as_it_is_now_is_not_read_again(tmp_path: Path) -> None:
    info = os.stat(tmp_path)
    recorded = FolderMemory({}, 0)
    recorded.record("sub", info, True, ["pipe"])
    assert recorded.scanned == {"sub": [info.st_mtime_ns, info.st_ctime_ns, True, ["pipe"]]}

    memory = FolderMemory(recorded.scanned, info.st_mtime_ns + 1)

    assert memory.recall("sub", info) == (True, ["pipe"])
    assert (memory.read, memory.changed) == (0, False)


# Entries recorded for a folder of mtime m and ctime c, each wrong in one way.
WRONG: dict[str, Callable[[int, int], object]] = {
    "a tuple": lambda m, c: (m, c, False, []),
    "a mapping": lambda m, c: {"0": m},
    "three items": lambda m, c: [m, c, False],
    "five items": lambda m, c: [m, c, False, [], []],
    "another mtime": lambda m, c: [m - 1, c, False, []],
    "another ctime": lambda m, c: [m, c - 1, False, []],
    "an acpignore flag that is a number": lambda m, c: [m, c, 1, []],
    "special files in a tuple": lambda m, c: [m, c, False, ("pipe",)],
    "a special file's name in bytes": lambda m, c: [m, c, False, ["pipe", b"sock"]],
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_folder_remembered_otherwise_is_read_again(tmp_path: Path, name: str) -> None:
    info = os.stat(tmp_path)
    known = WRONG[name](info.st_mtime_ns, info.st_ctime_ns)
    memory = FolderMemory({"": known}, info.st_mtime_ns + 1)

    assert memory.recall("", info) is None
    assert (memory.read, memory.changed) == (1, True)


@pytest.mark.parametrize(("after_ns", "trusted"), [(0, False), (1, True)])
def test_a_folder_changed_within_the_racy_window_is_read_again(
    tmp_path: Path, after_ns: int, trusted: bool
) -> None:
    """Only a folder whose mtime is before the time the cache trusts (its writing, less
    RACY_NS) is taken as remembered: one changed at that very moment is read."""
    info = os.stat(tmp_path)
    known = [info.st_mtime_ns, info.st_ctime_ns, False, []]
    memory = FolderMemory({"": known, "other": known}, info.st_mtime_ns + after_ns)

    assert memory.recall("", info) == ((False, []) if trusted else None)
    assert memory.recall("unknown", info) is None
    assert memory.read == 2 - trusted


# --- what the scan of the listed folders finds ----------------------------------------


def finished(folder: Path, memory: FolderMemory) -> Listing:
    with pending_listing(folder, witness=False) as pending:
        return pending.finish(memory)


@pytest.mark.parametrize(
    ("acpignore", "seen"), [(None, False), ("sub/.acpignore", True), (".acpignore", True)]
)
def test_an_acpignore_is_seen_in_any_folder_that_holds_a_listed_path(
    work: Path, acpignore: str | None, seen: bool
) -> None:
    write_tree(work, {"a.txt": "a\n", "sub/b.txt": "b\n", "sub/deeper/c.txt": "c\n"})
    if acpignore is not None:
        write_tree(work, {acpignore: "*.log\n"})
    memory = FolderMemory({}, 0)

    assert finished(work, memory).has_acpignore is seen
    # And what each folder held is remembered, the acpignore flag with it.
    assert {folder: known[2:] for folder, known in memory.scanned.items()} == {
        "": [acpignore == ".acpignore", []],
        "sub": [acpignore == "sub/.acpignore", []],
        "sub/deeper": [False, []],
    }


def test_a_folder_remembered_unchanged_is_taken_from_memory_not_read(work: Path) -> None:
    """What the memory says an unchanged folder holds is what the listing finds there
    (here a special file that is not: nothing reads the folder to see)."""
    write_tree(work, {"a.txt": "a\n"})
    info = os.lstat(work)
    remembered = {"": [info.st_mtime_ns, info.st_ctime_ns, True, ["ghost"]]}
    memory = FolderMemory(remembered, info.st_mtime_ns + 1)

    listing = finished(work, memory)

    assert (listing.special_files, listing.has_acpignore) == ([b"ghost"], True)
    assert (memory.read, memory.scanned) == (0, remembered)


@pytest.mark.parametrize(
    ("stderr", "warning"),
    [
        (b"", None),
        (b"hint: advice\nhint: more advice\n", None),
        (b"\n  \n", None),
        (b"hint: advice\n\nwarning: odd\n", "git warned: odd"),
        (b"Hint: not git's advice\n", "git warned: not git's advice"),
    ],
)
def test_what_git_says_on_stderr_is_an_error_but_its_hints_and_blank_lines(
    tmp_path: Path, stderr: bytes, warning: str | None
) -> None:
    said = subprocess.Popen(
        ["sh", "-c", 'printf "%s" "$1" >&2; printf out', "sh", os.fsdecode(stderr)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    git_in_dir = Git(tmp_path, os.environ)
    if warning is None:
        assert git_in_dir.finish(said) == b"out"
    else:
        with pytest.raises(UsageError) as warned:
            git_in_dir.finish(said)
        assert warned.value.message == warning


def test_a_folder_git_could_not_open_is_named_whole(tmp_path: Path) -> None:
    """The trailing slash git writes is taken off, and nothing else (a name ending in
    X here)."""

    class Answered:
        pid, returncode = -1, 0

        def communicate(self, stdin: bytes | None = None) -> tuple[bytes, bytes]:
            return b"? a\0", b"warning: could not open directory 'sub/dirX/': Permission denied\n"

    unreadable: list[bytes] = []
    process: Any = Answered()
    assert Git(tmp_path, os.environ).finish(process, unreadable=unreadable) == b"? a\0"
    assert unreadable == [b"sub/dirX"]


def test_a_git_that_answers_what_git_does_not_is_refused(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked where DIR is, a git (here a wrapper on PATH) answers neither in a work tree
    nor in a git folder, nor elsewhere: acp cannot know which files DIR holds."""
    write_tree(work, {"a": ""})
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text("#!/bin/sh\necho maybe; echo maybe; echo; echo\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(UsageError) as refused:
        build_plan(work)
    assert refused.value.message == f"git refused to work in {work.resolve()}: no reason given."


class _Vanished:
    """A folder entry gone between the folder's read and its own stat."""

    name = "gone"

    def is_file(self, **_: object) -> bool:
        return False

    is_dir = is_symlink = is_file

    def stat(self, **_: object) -> os.stat_result:
        raise FileNotFoundError(2, "No such file or directory")


def test_a_special_file_after_one_that_vanished_is_still_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.mkfifo(tmp_path / "pipe")
    scandir = os.scandir

    class WithAVanishedEntry:
        """What os.scandir gives, with a vanished entry first."""

        def __init__(self, fd: int) -> None:
            self.entries = scandir(fd)

        def __enter__(self) -> WithAVanishedEntry:
            return self

        def __exit__(self, *exc: object) -> None:
            self.entries.close()

        def __iter__(self) -> Iterator[Any]:
            yield _Vanished()
            yield from self.entries

    monkeypatch.setattr(os, "scandir", WithAVanishedEntry)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert listing._scan_folder(fd) == (False, ["pipe"])
    finally:
        os.close(fd)


def test_the_folders_after_one_that_cannot_be_opened_are_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder shut between its lstat and its opening is left to the file pass, which
    names it; the folders after it are read all the same."""
    write_tree(tmp_path, {"a/x": "", "b/y": ""})
    os.mkfifo(tmp_path / "b" / "pipe")
    chain_open = FolderChain.open

    def shut_a(self: Any, folder: bytes) -> int | None:
        if folder == b"a":
            raise PermissionError(13, "Permission denied")
        return chain_open(self, folder)

    monkeypatch.setattr(FolderChain, "open", shut_a)
    memory = FolderMemory({}, 0)
    assert listing._scan_folders(tmp_path, [b"a/x", b"b/y"], memory) == ([b"b/pipe"], False)
