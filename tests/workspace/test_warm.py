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
from collections.abc import Callable
from pathlib import Path

import pytest

from acp_cli.workspace import BuiltPlan, build_plan, early, hashing
from acp_cli.workspace import cache as hash_cache
from tests.support.built_plans import by_path, sha
from tests.support.git_oracle import git, write_tree

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


def rewrite_keeping_mtime(path: Path, content: bytes = b"after!\n") -> None:
    """New content of the same size, the mtime put back as it was: only the ctime moves."""
    info = path.stat()
    path.write_bytes(content)
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
        # what git lists there, tagged, read by the early hash
        assert early.answer(listing) == (b"? a.txt\0", b"")
        assert early.take(early.LIST, root, env) is None  # taken once
        # With the cache, git diff-files too, and the index it reads, seen before
        diff = early.take(early.DIFF, root, env)
        assert (diff is not None) == ("--no-cache" not in argv)
        if diff is not None:
            index = os.path.join(work, ".git", "index")
            assert early.index_before(diff) == (index, early.index_identity(index))
            assert diff.communicate()[0] == b""
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
        for args in (early.LOCATE, early.LIST, early.DIFF):
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
    """Through the process, git started early and the big file hashed meanwhile: the
    same plan, byte for byte, in a work tree and in a folder outside git (where the
    early listing is not used)."""
    outside = tmp_path / "outside"
    write_tree(outside, {"b.txt": "b\n", ".gitignore": "*.log\n", "x.log": "x"})
    write_tree(work, {"a.txt": "a\n", "sub/c.txt": "c\n"})
    (work / "sub" / "big.bin").write_bytes(b"b" * hashing.BIG)  # hashed while acp loads
    git(work, "init", "--quiet")
    acp = Path(sys.executable).parent / "acp"
    for folder in (work, work / "sub", outside):
        out = tmp_path / "plan.json"
        subprocess.run([acp, "push", "plan", str(folder), "-q", "-o", str(out)], check=True)
        assert out.read_bytes() == build_plan(folder).data + b"\n"


# --- git's index vouches for unchanged tracked files (no lstat of acp's) ---------

# A shorter window than RACY_NS's 2 s, so that the tests wait less; still more than
# the whole second to which git may compare timestamps (without USE_NSEC).
WINDOW_NS = 1_100_000_000
TRACKED = 1  # of TARGETS, the tracked one: TARGETS[0]


@pytest.fixture
def window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hash_cache, "RACY_NS", WINDOW_NS)


def settle() -> None:
    """Wait until every file and the index were changed more than the window ago."""
    time.sleep(WINDOW_NS / 1e9 + 0.1)


def as_it_is(work: Path) -> None:
    """No preparation."""


def vouched_workspace(work: Path, files: int, prepare: Callable[[Path], object] = as_it_is) -> None:
    """``workspace``, prepared, planned once the window passed: the run that records
    which entries git's index vouches for; the next one uses them."""
    workspace(work, files)
    set_mtimes(work, OLD_NS)
    git(work, "update-index", "-q", "--refresh")
    prepare(work)
    settle()
    build_plan(work)


def stage(work: Path) -> None:
    (work / TARGETS[0]).write_bytes(b"staged\n")  # the size of "before\n" and "after!\n"
    os.utime(work / TARGETS[0], ns=(OLD_NS, OLD_NS))
    git(work, "add", TARGETS[0])


def clean_filter(work: Path) -> None:
    """A clean filter that makes any content the same blob: git, comparing content,
    finds every rewrite of the file unchanged."""
    git(work, "config", "filter.same.clean", "sed s/.*/x/")
    write_tree(work, {".gitattributes": "tracked.txt filter=same\n"})
    git(work, "add", "--renormalize", TARGETS[0])


def lax_stat(work: Path) -> None:
    """The repository's own settings: ctime and most of the stat ignored."""
    git(work, "config", "core.trustCtime", "false")
    git(work, "config", "core.checkStat", "minimal")


@pytest.mark.usefixtures("window")
@pytest.mark.parametrize(
    ("prepare", "checked_by_git"),
    [
        (as_it_is, True),  # the index older than the change
        (lambda work: git(work, "update-index", "--assume-unchanged", TARGETS[0]), False),
        (lambda work: git(work, "update-index", "--skip-worktree", TARGETS[0]), False),
        (clean_filter, True),
        (stage, True),  # staged, then changed again
        (lax_stat, True),
    ],
    ids=["tracked", "assume-unchanged", "skip-worktree", "clean-filter", "staged", "lax-stat"],
)
@pytest.mark.parametrize("files", [3, 900])
def test_a_file_changed_with_its_mtime_put_back_is_hashed_again_on_the_index_path(
    work: Path, files: int, prepare: Callable[[Path], object], checked_by_git: bool
) -> None:
    vouched_workspace(work, files, prepare)
    before = build_plan(work)
    # The control: the index vouches for every tracked file that git checks.
    assert (before.vouched_files, before.hashed_files) == (files + checked_by_git, 0)
    # Their sizes, counted from the cache's keys, are in the total.
    assert before.total_bytes == sum(entry["size"] for entry in by_path(before).values())

    for name in TARGETS:
        rewrite_keeping_mtime(work / name)

    built = check_rehashed(work)
    assert (built.vouched_files, built.hashed_files) == (files, len(TARGETS))


@pytest.mark.usefixtures("window")
def test_what_git_says_unchanged_is_not_what_acp_trusts(work: Path) -> None:
    """The hazards the index path steers around, shown by git itself: a clean filter
    makes `git diff` call a rewritten file unchanged, and so do the repository's lax
    stat settings for `git diff-files`."""
    vouched_workspace(work, 3, clean_filter)
    rewrite_keeping_mtime(work / TARGETS[0])
    assert git(work, "diff", "--name-only") == b""  # content compared, through the filter
    lax_stat(work)
    git(work, "update-index", "-q", "--refresh")
    rewrite_keeping_mtime(work / TARGETS[0], b"again!\n")  # now that the index matches
    assert git(work, "diff-files", "--name-only") == b""

    assert by_path(build_plan(work))[TARGETS[0]]["sha256"] == sha(b"again!\n")


def make_fifo(path: Path) -> bool:
    os.mkfifo(path)
    return True


def symlink_its_folder(path: Path) -> bool:
    """Its folder moved away and a symlink to it put in its place: git says deleted."""
    path.parent.rename(path.parent.with_name("moved"))
    path.parent.symlink_to("moved")
    return True


@pytest.mark.usefixtures("window")
@pytest.mark.parametrize(
    "change",
    [
        lambda target: target.unlink(),
        lambda target: target.chmod(0o755),
        lambda target: (target.unlink(), target.symlink_to("f0000")),
        lambda target: (target.unlink(), make_fifo(target)),
        lambda target: (target.unlink(), target.mkdir(), (target / "inner").write_bytes(b"x")),
        symlink_its_folder,
    ],
    ids=["deleted", "made-executable", "symlink", "fifo", "folder", "folder-symlinked"],
)
def test_any_other_change_of_a_vouched_file_is_seen(
    work: Path, change: Callable[[Path], object]
) -> None:
    vouched_workspace(work, 3)
    assert build_plan(work).vouched_files == 3 + TRACKED

    change(work / TARGETS[0])

    built = build_plan(work)
    assert built.data == build_plan(work, cache=False).data
    # The others in its folder too, for a folder replaced: git says they are deleted.
    assert built.vouched_files == (2 if change is symlink_its_folder else 3)


@pytest.mark.usefixtures("window")
def test_an_index_rewritten_since_vouches_for_nothing_until_it_settles(work: Path) -> None:
    """A file changed and staged again (`git add`): its index entry matches it, and
    git names nothing; the cache's record is of the old content. The index is another
    file now: nothing is vouched for until a run records what the new one says, once
    it is older than the window (its tags may be newer than the listing's)."""
    vouched_workspace(work, 3)
    rewrite_keeping_mtime(work / TARGETS[0])
    git(work, "add", TARGETS[0])
    assert git(work, "diff-files", "--name-only") == b""

    built = build_plan(work)
    assert by_path(built)[TARGETS[0]]["sha256"] == sha(b"after!\n")
    assert built.data == build_plan(work, cache=False).data
    assert built.vouched_files == 0
    assert build_plan(work).vouched_files == 0  # the index is too new to record
    settle()
    build_plan(work)  # records
    assert build_plan(work).vouched_files == 3 + TRACKED


def test_files_changed_within_the_window_are_never_vouched_for(work: Path) -> None:
    """A file whose ctime is within RACY_NS of git's look could change again within the
    same second, unseen by git: it is checked with an lstat of acp's every run."""
    workspace(work, 3)
    for _ in range(3):
        built = build_plan(work)
        assert built.vouched_files == 0
        assert built.data == build_plan(work, cache=False).data


@pytest.mark.usefixtures("window")
def test_a_subfolder_and_a_worktree(work: Path, tmp_path: Path) -> None:
    """DIR below the top of the work tree: the index vouches for its files, named from
    DIR. A linked worktree (its .git a file): no index path, the plans the same."""
    vouched_workspace(work, 10)
    build_plan(work / "d0")
    sub = build_plan(work / "d0")
    assert sub.vouched_files == 2 + TRACKED  # d0/f0000, d0/f0005, d0/tracked.txt
    assert sub.data == build_plan(work / "d0", cache=False).data

    linked = tmp_path / "linked"
    git(work, "worktree", "add", "--quiet", str(linked))
    settle()
    build_plan(linked)
    again = build_plan(linked)
    assert (again.vouched_files, again.hashed_files) == (0, 0)
    assert again.data == build_plan(linked, cache=False).data


# --- what a re-plan does, observed (issue 21, item 4) -----------------------------


@pytest.mark.usefixtures("window")
@pytest.mark.parametrize("in_git", [True, False])
def test_an_unchanged_re_plan_writes_reads_and_hashes_nothing(work: Path, in_git: bool) -> None:
    if in_git:
        vouched_workspace(work, 900)
    else:
        write_tree(work, {f"d{index % 5}/f{index:04}": f"{index}\n" for index in range(900)})
        set_mtimes(work, OLD_NS)
        for folder in (work, *(work / f"d{index}" for index in range(5))):
            os.utime(folder, ns=(OLD_NS, OLD_NS))
        build_plan(work)
    cache_file = hash_cache.cache_file(work.resolve(), os.environ)
    written = cache_file.stat()

    again = build_plan(work)

    assert (again.hashed_files, again.folders_read, again.cache_written) == (0, 0, False)
    assert again.vouched_files == (901 if in_git else 0)
    assert (cache_file.stat().st_ino, cache_file.stat().st_size) == (
        written.st_ino,
        written.st_size,
    )
    # The counters move when there is something to do: a new file in a folder.
    write_tree(work, {"d1/new.txt": "new\n"})
    changed = build_plan(work)
    assert (changed.hashed_files, changed.folders_read, changed.cache_written) == (1, 1, True)
