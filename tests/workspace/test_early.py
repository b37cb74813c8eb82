"""`early`: the big files of a small workspace hashed while acp loads. The describer
takes such a hash only for a file whose stat key has not moved since, only for the
files the plan holds; nothing is read through a symlinked folder; and no thread runs
while the workers are forked."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from acp_cli.errors import UsageError
from acp_cli.workspace import build_plan, describe, early, hashing
from acp_cli.workspace.listing import Git
from tests.support.built_plans import by_path, sha
from tests.support.git_oracle import git, write_tree
from tests.support.polling import wait_until

pytestmark = pytest.mark.usefixtures("isolated_git")

BIG = hashing.BIG
ARGV = ["push", "plan", "{work}", "-q", "-o", "plan.json"]


@pytest.fixture
def started(work: Path) -> Iterator[None]:
    """What the console script does first, for ``work``; and its clean-up at exit."""
    threads = set(threading.enumerate())
    yield
    early.discard()
    assert set(threading.enumerate()) <= threads  # the early hash is over


def start(work: Path) -> None:
    early.start([word.format(work=work) for word in ARGV], os.environ)


def big_file(path: Path, size: int, fill: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    content = fill * size
    path.write_bytes(content)
    return content


def hashed_early(path: str) -> None:
    """Wait until the early hash of ``path`` is done."""
    hasher = early._hasher
    assert hasher is not None
    wait_until(lambda: path in hasher.hashes, timeout=30)


@pytest.fixture
def hashed_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The big files the describer hashes itself, by path."""
    paths: list[str] = []
    hash_big = describe._hash_big

    def spy(root: bytes, path: str, *args: Any) -> Any:
        paths.append(path)
        return hash_big(root, path, *args)

    monkeypatch.setattr(describe, "_hash_big", spy)
    return paths


@pytest.mark.usefixtures("started")
def test_a_big_file_hashed_while_acp_loads_is_not_hashed_again(
    work: Path, hashed_here: list[str]
) -> None:
    content = big_file(work / "data" / "big.bin", BIG, b"b")
    write_tree(work, {"a.txt": "a\n"})
    git(work, "init", "--quiet")
    start(work)
    hashed_early("data/big.bin")

    built = build_plan(work, cache=False)

    assert hashed_here == []
    assert by_path(built)["data/big.bin"]["sha256"] == sha(content)
    assert by_path(built)["data/big.bin"]["size"] == BIG
    assert (built.hashed_files, built.total_bytes) == (2, BIG + 2)


def _append(path: Path) -> None:
    with open(path, "ab") as handle:
        handle.write(b"!")


def _rewrite_keeping_size_and_mtime(path: Path) -> None:
    before = path.stat()
    deadline = time.monotonic() + 5
    while path.stat().st_ctime_ns == before.st_ctime_ns:  # the clock must move
        assert time.monotonic() < deadline
        time.sleep(0.01)
        with open(path, "r+b") as handle:
            handle.write(b"c")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _replace_with_a_copy(path: Path) -> None:
    """Another file (another inode) of the same size and times, other content."""
    before = path.stat()
    other = path.with_name("other")
    other.write_bytes(b"c" * before.st_size)
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    other.replace(path)


@pytest.mark.usefixtures("started")
@pytest.mark.parametrize("change", [_append, _rewrite_keeping_size_and_mtime, _replace_with_a_copy])
def test_a_big_file_changed_since_its_early_hash_is_hashed_again(
    work: Path, hashed_here: list[str], change: Any
) -> None:
    big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    start(work)
    hashed_early("big.bin")

    change(work / "big.bin")
    built = build_plan(work, cache=False)

    assert hashed_here == ["big.bin"]
    content = (work / "big.bin").read_bytes()
    assert by_path(built)["big.bin"]["sha256"] == sha(content)
    assert by_path(built)["big.bin"]["size"] == len(content)


@pytest.mark.usefixtures("started")
@pytest.mark.parametrize("depth", ["conf", "a/b/conf"])
def test_nothing_is_hashed_early_through_a_symlinked_folder(
    work: Path, tmp_path: Path, depth: str
) -> None:
    """git lists conf/big.bin (tracked); conf has become a symlink to a folder outside
    DIR holding a big file of that name, which must never be read."""
    big_file(work / depth / "big.bin", BIG, b"m")
    git(work, "init", "--quiet")
    git(work, "add", "--all")
    outside = tmp_path / "outside"
    canary = big_file(outside / "big.bin", BIG, b"x")
    shutil.rmtree(work / depth)
    (work / depth).symlink_to(outside)
    start(work)

    hasher = early._hasher
    assert hasher is not None
    assert early.hashed([f"{depth}/big.bin"]) == {}
    assert not hasher.thread.is_alive()
    assert hasher.hashes == {}
    assert sha(canary) not in repr(hasher.__dict__)


@pytest.mark.usefixtures("started")
def test_only_the_big_files_the_plan_holds_are_hashed_early(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The biggest first; one the describer does not ask for is left, even under way."""
    with open(work / "left-out.bin", "wb") as huge:
        huge.truncate(1 << 32)  # sparse: read at memory speed, yet seconds to hash whole
    content = big_file(work / "kept.bin", BIG, b"k")
    git(work, "init", "--quiet")
    under_way = threading.Event()
    hash_in = hashing.hash_in

    first: list[str] = []

    def spy(folders: Any, path: str, buffer: bytearray, on_block: Any) -> Any:
        def told(count: int) -> None:
            if not under_way.is_set():
                first.append(path)
                under_way.set()
            on_block(count)

        return hash_in(folders, path, buffer, told)

    monkeypatch.setattr(hashing, "hash_in", spy)
    start(work)
    hasher = early._hasher
    assert hasher is not None
    assert under_way.wait(30)  # the first block of left-out.bin, the biggest, is read
    assert first == ["left-out.bin"]

    assert early.hashed(["kept.bin"]) == {
        "kept.bin": (sha(content), BIG, hasher.hashes["kept.bin"][2])
    }
    assert "left-out.bin" not in hasher.hashes
    assert not hasher.thread.is_alive()
    assert early.hashed(["kept.bin"]) == {}  # asked once: the thread is over


@pytest.mark.usefixtures("started")
def test_files_below_big_and_big_listings_are_not_hashed_early(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big_file(work / "small.bin", BIG - 1, b"s")
    big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    start(work)
    assert set(early.hashed(["small.bin", "big.bin"])) == {"big.bin"}

    monkeypatch.setattr(early, "HASH_NAMES", 2)  # two paths listed: at the bound
    start(work)
    assert set(early.hashed(["small.bin", "big.bin"])) == {"big.bin"}

    monkeypatch.setattr(early, "HASH_NAMES", 1)  # beyond it
    start(work)
    assert early.hashed(["small.bin", "big.bin"]) == {}


@pytest.mark.usefixtures("started")
def test_no_thread_runs_while_the_workers_are_forked(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two big files are hashed side by side by the workers: the early hash is ended
    before the first one is forked (a thread holding a lock at the fork would leave
    the child waiting for it forever)."""
    for name in ("a.bin", "b.bin"):
        big_file(work / name, BIG, name[0].encode())
    git(work, "init", "--quiet")
    hashing_at_fork: list[bool] = []
    fork = os.fork
    monkeypatch.setattr(describe, "START_METHOD", "fork")
    start(work)
    hasher = early._hasher
    assert hasher is not None

    def spy_fork() -> int:
        hashing_at_fork.append(hasher.thread.is_alive())
        return fork()

    monkeypatch.setattr(os, "fork", spy_fork)
    built = build_plan(work, cache=False)

    assert hashing_at_fork  # the workers were forked
    assert not any(hashing_at_fork)
    assert by_path(built)["b.bin"]["sha256"] == sha(b"b" * BIG)


@pytest.mark.usefixtures("started")
def test_a_listing_that_is_not_used_ends_the_early_hash(work: Path) -> None:
    big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    start(work)
    hasher = early._hasher
    assert hasher is not None
    listing = early.take(early.LIST, os.path.realpath(work), early.git_env(os.environ))
    assert listing is not None

    early.end(listing)  # as the listing does outside a work tree

    assert not hasher.thread.is_alive()
    assert early._hasher is None
    assert listing.returncode is not None


@pytest.mark.usefixtures("started")
def test_nothing_is_hashed_early_when_git_warns(work: Path) -> None:
    """git lists, but says it could not read an ignore file: the listing refuses, so
    nothing is read for a plan that will not be made."""
    big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    (work / ".gitignore").symlink_to(".gitignore")  # a loop: git cannot read it, and warns
    start(work)
    hasher = early._hasher
    assert hasher is not None
    hasher.thread.join(30)

    assert hasher.process.returncode == 0
    assert b"unable to access '.gitignore'" in hasher.answer[1]
    assert hasher.hashes == {}


def test_an_early_hash_in_a_subfolder_of_a_work_tree_reads_the_index_above(
    work: Path,
) -> None:
    write_tree(work, {"sub/a.txt": "a\n"})
    git(work, "init", "--quiet")
    git(work, "add", "--all")
    sub = os.path.realpath(work / "sub")
    early.start(["push", "plan", sub, "-o", "plan.json"], os.environ)
    try:
        diff = early.take(early.DIFF, sub, early.git_env(os.environ))
        assert diff is not None
        index = os.path.join(os.path.realpath(work), ".git", "index")
        assert early.index_before(diff) == (index, early.index_identity(index))
        assert early.index_before(diff) is None  # asked once
    finally:
        early.discard()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_listing_the_thread_could_not_read_is_refused_not_waited_for(work: Path) -> None:
    class Unreadable:
        """A git whose answer cannot be read: its exit status stays unknown."""

        returncode = None
        pid = -1

        def communicate(self) -> tuple[bytes, bytes]:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    process: Any = Unreadable()
    early._hasher = early._Hasher(str(work), process)
    try:
        with pytest.raises(UsageError) as refused:
            Git(work, os.environ).finish(process)
    finally:
        early.hashed(())
    assert refused.value.message == f"git refused to work in {work}: no reason given."


@pytest.mark.usefixtures("started")
def test_names_that_cannot_be_hashed_are_passed_over(work: Path) -> None:
    """A name that is not UTF-8, a symlink, a FIFO and a tracked file since deleted are
    listed before the big file (git sorts by bytes): it is hashed all the same."""
    content = big_file(work / "big.bin", BIG, b"b")
    write_tree(work, {"a-gone": "x"})
    git(work, "init", "--quiet")
    git(work, "add", "a-gone")
    (work / "a-gone").unlink()
    (work / "a-link").symlink_to("big.bin")
    os.mkfifo(work / "a-pipe")
    with open(os.fsencode(work) + b"/a-\xff", "wb") as handle:
        handle.write(b"not UTF-8")
    start(work)

    assert early.hashed(["big.bin"]) == {"big.bin": (sha(content), BIG, ANY)}


@pytest.mark.usefixtures("started")
def test_a_big_file_left_out_before_its_hash_starts_is_skipped_for_the_next(
    work: Path,
) -> None:
    with open(work / "left-out.bin", "wb") as huge:
        huge.truncate(1 << 32)
    content = big_file(work / "kept.bin", BIG, b"k")
    git(work, "init", "--quiet")
    start(work)
    # Said at once: git has most likely not even listed yet.
    assert early.hashed(["kept.bin"]) == {"kept.bin": (sha(content), BIG, ANY)}


# --- which command lines start git early ----------------------------------------------------


def started_for(argv: list[str]) -> str | None:
    """The folder early.start(argv) started git in (its LIST taken and ended), or None."""
    early.start(argv, os.environ)
    try:
        found = early._started.get(early.LIST)
        return found[0] if found is not None else None
    finally:
        early.discard()


@pytest.mark.parametrize(
    "argv",
    [
        ["push", "plan", "-q", "{work}", "-o", "plan.json"],  # flags before DIR
        ["push", "plan", "--exclude", "x/", "{work}", "-o", "plan.json"],  # a value too
        ["push", "plan", "--output=plan.json", "--no-cache", "{work}"],
        ["push", "prepare", "wb_1", "--no-cache", "--dir", "{work}"],
    ],
)
def test_dir_is_found_wherever_it_stands_among_the_options(work: Path, argv: list[str]) -> None:
    git(work, "init", "--quiet")
    assert started_for([word.format(work=work) for word in argv]) == os.path.realpath(work)


def test_push_plan_alone_plans_the_current_folder(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(work, "init", "--quiet")
    (work / "--weird").mkdir()  # an option acp does not know, and a folder of that name
    (work / "sub").mkdir()
    monkeypatch.chdir(work)
    assert started_for(["push", "plan"]) == os.path.realpath(work)
    for argv in (
        ["push"],
        [],
        ["push", "plan", "--weird", "-o", "plan.json"],
        ["push", "plan", "sub", "sub", "-o", "plan.json"],  # two folders: the command says
        ["push", "prepare", "wb_1", "wb_2", "--dir", "sub"],
    ):
        assert started_for(argv) is None, argv


def test_on_a_terminal_only_a_plan_written_to_a_file_starts_git(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """acp push plan refuses to print a plan on a terminal: git would run for nothing."""
    git(work, "init", "--quiet")
    monkeypatch.setattr(os, "isatty", lambda fd: fd == 1)
    assert started_for(["push", "plan", str(work)]) is None
    for output in (["-o", "plan.json"], ["--output", "plan.json"], ["--output=plan.json"]):
        assert started_for(["push", "plan", str(work), *output]) == os.path.realpath(work)


@pytest.mark.parametrize("closed", [0, 1, 2])
def test_nothing_starts_early_when_a_standard_descriptor_is_closed(
    work: Path, monkeypatch: pytest.MonkeyPatch, closed: int
) -> None:
    """A pipe to git would take the closed descriptor's number, which acp reserves later."""
    git(work, "init", "--quiet")
    fstat = os.fstat

    def closed_one(fd: int) -> os.stat_result:
        if fd == closed:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return fstat(fd)

    monkeypatch.setattr(os, "fstat", closed_one)
    assert started_for(["push", "plan", str(work), "-o", "plan.json"]) is None


def test_one_core_starts_git_early_but_no_hash(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(work, "init", "--quiet")
    monkeypatch.setattr(early, "cores", lambda: 1)
    early.start(["push", "plan", str(work), "-o", "plan.json"], os.environ)
    try:
        assert early.LIST in early._started
        assert early._hasher is None
    finally:
        early.discard()


def test_git_started_early_lists_dir_whatever_git_s_variables_say(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIT_DIR and the like in acp's environment would list another repository."""
    write_tree(work, {"mine.txt": "m"})
    git(work, "init", "--quiet")
    other = tmp_path / "other"
    write_tree(other, {"theirs.txt": "t"})
    git(other, "init", "--quiet")
    git(other, "add", "--all")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    early.start(["push", "plan", str(work), "-o", "plan.json"], os.environ)
    try:
        root, env = os.path.realpath(work), early.git_env(os.environ)
        listing = early.take(early.LIST, root, env)
        assert listing is not None
        assert early.answer(listing) == (b"? mine.txt\0", b"")
        assert early.index_before(listing) is None  # only diff-files reads the index
    finally:
        early.discard()


def test_git_runs_in_english_whatever_the_user_s_language() -> None:
    """The listing looks for git's messages in English."""
    env = {"LANG": "de_DE.UTF-8", "LANGUAGE": "de:en", "LC_ALL": "de_DE.UTF-8", "X": "1"}
    assert early.git_env(env) == {"LANG": "de_DE.UTF-8", "LC_ALL": "C", "X": "1"}
    assert early.git_env({"GIT_DIR": "/x", "GIT_INDEX_FILE": "/y"}) == {"LC_ALL": "C"}


@pytest.mark.parametrize(
    "variable", ["GIT_TRACE", "GIT_TRACE_SETUP", "GIT_TRACE_PERFORMANCE", "GIT_TRACE2"]
)
def test_a_user_tracing_git_gets_the_plan_all_the_same(
    work: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """git writes its trace to stderr, where the listing takes any line for a warning."""
    write_tree(work, {"a.txt": "a\n"})
    git(work, "init", "--quiet")
    monkeypatch.setenv(variable, "1")
    assert variable not in early.git_env(os.environ)
    assert list(by_path(build_plan(work))) == ["a.txt"]


def test_a_git_that_is_not_wanted_is_ended_and_forgotten(work: Path) -> None:
    git(work, "init", "--quiet")
    early.start(["push", "plan", str(work), "-o", "plan.json"], os.environ)
    try:
        diff = early.take(early.DIFF, os.path.realpath(work), early.git_env(os.environ))
        assert diff is not None
        early.end(diff)
        assert (early.started_ns(diff), early.index_before(diff)) == (None, None)
    finally:
        early.discard()
    sleeper = subprocess.Popen(
        ["sleep", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    early.end(sleeper)  # killed, not waited for
    assert sleeper.returncode == -signal.SIGKILL


@pytest.mark.usefixtures("started")
def test_a_folder_gone_before_the_early_hash_is_left_to_the_describer(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No traceback from the thread: the plan's own run names what went wrong."""
    big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    errors: list[object] = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    listed = threading.Event()
    communicate = subprocess.Popen.communicate

    def remove_dir_once_listed(process: Any, *args: Any) -> Any:
        answer = communicate(process, *args)
        if threading.current_thread() is not threading.main_thread() and not listed.is_set():
            listed.set()
            shutil.rmtree(work)
        return answer

    monkeypatch.setattr(subprocess.Popen, "communicate", remove_dir_once_listed)
    start(work)
    assert listed.wait(30)

    assert early.hashed(["big.bin"]) == {}
    assert errors == []
