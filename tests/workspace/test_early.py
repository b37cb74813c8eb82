"""`early`: the big files of a small workspace hashed while acp loads, by a process
forked before the imports. The describer takes such a hash only for a file whose stat
key has not moved since, only for the files the plan holds; nothing is read through a
symlinked folder; the hashing process is ended and reaped before the workers are
forked, at the first file the plan does not hold, and when acp exits; it stops by
itself when acp is gone; and the listing always gets git's whole answer."""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
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
from tests.support.paths import REPO
from tests.support.polling import wait_until

pytestmark = pytest.mark.usefixtures("isolated_git")

BIG = hashing.BIG
ARGV = ["push", "plan", "{work}", "-q", "-o", "plan.json"]


def reaped(pid: int) -> bool:
    """Whether the child ``pid`` of this process has been waited for (it is gone)."""
    try:
        os.waitpid(pid, os.WNOHANG)  # an unreaped child answers, and is reaped if it ended
    except ChildProcessError:
        return True
    return False


@pytest.fixture
def hashers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The process IDs of the hashing processes started."""
    pids: list[int] = []
    fork = early._Hasher.__init__

    def spy(self: Any, *args: Any) -> None:
        fork(self, *args)
        pids.append(self.pid)

    monkeypatch.setattr(early._Hasher, "__init__", spy)
    return pids


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch, hashers: list[int]) -> list[int]:
    """How the hashing processes reaped ended (wait statuses)."""
    statuses: list[int] = []
    waitpid = os.waitpid

    def spy(pid: int, options: int) -> tuple[int, int]:
        found = waitpid(pid, options)
        if pid in hashers:
            statuses.append(found[1])
        return found

    monkeypatch.setattr(os, "waitpid", spy)
    return statuses


@pytest.fixture
def listings_read(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What ``start`` read of git's listings (``early._read_listing``), in order."""
    read: list[Any] = []
    read_listing = early._read_listing

    def spy(process: Any) -> Any:
        read.append(read_listing(process))
        return read[-1]

    monkeypatch.setattr(early, "_read_listing", spy)
    return read


@pytest.fixture
def started(work: Path, hashers: list[int]) -> Iterator[None]:
    """What the console script does first, for ``work``; and its clean-up at exit, after
    which no hashing process is left."""
    yield
    early.discard()
    assert early._hasher is None
    assert all(reaped(pid) for pid in hashers)


def start(work: Path) -> None:
    early.start([word.format(work=work) for word in ARGV], os.environ)


def big_file(path: Path, size: int, fill: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    content = fill * size
    path.write_bytes(content)
    return content


def sparse_file(path: Path, size: int) -> None:
    """A file of ``size`` zero bytes that takes no room: read at memory speed, yet it
    takes a second per GiB to hash."""
    with open(path, "wb") as handle:
        handle.truncate(size)


def hashed_early(path: str) -> None:
    """Wait until the hashing process has said it hashed ``path``."""
    hasher = early._hasher
    assert hasher is not None
    while path not in hasher.hashes:
        assert hasher.receive(), f"{path} was not hashed early"


def under_way(path: str) -> None:
    """Wait until the hashing process has said it started on ``path``."""
    hasher = early._hasher
    assert hasher is not None
    while hasher.current != path:
        assert hasher.receive(), f"{path} was not started early"


class Output:
    """A process's stdout or stderr, as ``start`` reads it: by its descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


class FakeGit:
    """A git whose answer ``start`` reads from the descriptors given, its exit status
    unknown."""

    returncode = None
    pid = -1

    def __init__(self, stdout: int, stderr: int) -> None:
        self.stdout, self.stderr = Output(stdout), Output(stderr)


def reader(said: bytes) -> early._Hasher:
    """The parent's end of a hashing process that said ``said``."""
    hasher = early._Hasher.__new__(early._Hasher)
    hasher.events = io.BufferedReader(io.BytesIO(said))
    hasher.hashes, hasher.current = {}, None
    return hasher


def reported(work: Path, parent: int | None = None) -> tuple[list[str | None], early._Hasher]:
    """Run ``report_hashes`` here on git's listing of ``work``: the path the parent sees
    under way after each thing it said (None once a file is done), and the parent."""
    records = git(work, *early.LIST).split(b"\0")[:-1]
    with tempfile.TemporaryFile() as said:
        try:
            early.report_hashes(
                str(work), records, said.fileno(), os.getppid() if parent is None else parent
            )
        finally:
            said.seek(0)
            hasher = reader(said.read())
    steps: list[str | None] = []
    while hasher.receive():
        steps.append(hasher.current)
    return steps, hasher


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
    big_file(outside / "big.bin", BIG, b"x")
    shutil.rmtree(work / depth)
    (work / depth).symlink_to(outside)
    assert reported(work) == ([], ANY)
    start(work)

    hasher = early._hasher
    assert hasher is not None
    assert not hasher.receive()  # the hashing process said nothing: it started no file
    assert early.hashed([f"{depth}/big.bin"]) == {}


@pytest.mark.usefixtures("started")
def test_the_big_files_the_plan_holds_are_hashed_early_largest_first(
    work: Path, exits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hashing process is ended once it has hashed every wanted file, even if it
    is still at work: here, on a.bin, whose hash never ends."""
    biggest = big_file(work / "z.bin", 2 * BIG, b"z")
    bigger = big_file(work / "m.bin", BIG + 1, b"m")
    big_file(work / "a.bin", BIG, b"a")
    git(work, "init", "--quiet")
    hash_in = hashing.hash_in
    test = os.getpid()

    def stalled_on_a(folders: Any, path: str, *args: Any) -> Any:
        while path == "a.bin" and os.getppid() == test:  # in the hashing process
            time.sleep(0.1)
        return hash_in(folders, path, *args)

    monkeypatch.setattr(hashing, "hash_in", stalled_on_a)
    start(work)
    hasher = early._hasher
    assert hasher is not None
    assert hasher.receive()
    assert hasher.current == "z.bin"  # the biggest first; git lists it last

    found = early.hashed(["m.bin", "z.bin", "small.txt"])

    assert found == {
        "z.bin": (sha(biggest), 2 * BIG, describe._key_of(os.fsencode(work), "z.bin")),
        "m.bin": (sha(bigger), BIG + 1, describe._key_of(os.fsencode(work), "m.bin")),
    }
    assert exits == [signal.SIGKILL]
    assert early.hashed(["a.bin"]) == {}  # asked once: the hashing process is over


@pytest.mark.usefixtures("started")
def test_a_big_file_the_plan_does_not_hold_ends_the_early_hash(
    work: Path, exits: list[int], hashed_here: list[str]
) -> None:
    """left-out.bin, the biggest, is hashed first; the describer does not want it: the
    hashing process is ended at once, not after hashing it, and the describer hashes
    kept.bin itself."""
    sparse_file(work / "left-out.bin", 1 << 40)  # twenty minutes to hash whole
    content = big_file(work / "kept.bin", BIG, b"k")
    git(work, "init", "--quiet")
    start(work)
    under_way("left-out.bin")

    assert early.hashed(["kept.bin"]) == {}
    assert exits == [signal.SIGKILL]

    built = build_plan(work, cache=False, excludes=["left-out.bin"])
    assert hashed_here == ["kept.bin"]
    assert by_path(built)["kept.bin"]["sha256"] == sha(content)


@pytest.mark.usefixtures("started")
def test_a_big_file_left_out_before_its_hash_starts_ends_the_early_hash(
    work: Path, exits: list[int]
) -> None:
    sparse_file(work / "left-out.bin", 1 << 40)
    big_file(work / "kept.bin", BIG, b"k")
    git(work, "init", "--quiet")
    start(work)
    # Said at once: the hashing process has most likely not started on left-out.bin yet.
    assert early.hashed(["kept.bin"]) == {}
    assert exits == [signal.SIGKILL]


@pytest.mark.parametrize(
    ("said", "hashes", "current"),
    [
        (b"", {}, None),
        (b"S", {}, None),
        (b"S\x05\x00", {}, None),
        (b"S\x05\x00\x00\x00a.bi", {}, None),
        (b"S\x05\x00\x00\x00a.bin", {}, "a.bin"),
        (b"S\x05\x00\x00\x00a.binD" + b"d" * 32, {}, "a.bin"),
        (b"S\x05\x00\x00\x00a.binD" + b"d" * 32 + b"k" * (hashing.KEY.size - 1), {}, "a.bin"),
        (b"S\x05\x00\x00\x00a.binU", {}, None),
        (b"S\x05\x00\x00\x00a.binX", {}, "a.bin"),
        (b"XS\x01\x00\x00\x00b", {}, None),  # nothing after what it never says
        (b"D" + b"d" * 32 + b"k" * hashing.KEY.size, {}, None),
    ],
)
def test_what_a_hashing_process_ended_while_it_spoke_said_is_not_taken(
    said: bytes, hashes: dict[str, Any], current: str | None
) -> None:
    """Ended mid-record (or saying what it never says): no hash is made up of a part."""
    hasher = reader(said)
    while hasher.receive():
        pass
    assert (hasher.hashes, hasher.current) == (hashes, current)


def test_a_whole_record_is_taken() -> None:
    key = hashing.stat_key(BIG, 1, 2, 3, 4)
    hasher = reader(b"S\x05\x00\x00\x00a.binD" + bytes(range(32)) + key + b"S\x01\x00\x00\x00b")
    assert [hasher.receive() for _ in range(4)] == [True, True, True, False]
    assert hasher.hashes == {"a.bin": (bytes(range(32)).hex(), BIG, key)}
    assert hasher.current == "b"


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
    assert early._hasher is None


@pytest.mark.usefixtures("started")
@pytest.mark.parametrize(("names", "hashed"), [(1024, True), (1025, False)])
def test_a_listing_of_up_to_1024_paths_is_hashed_early(
    work: Path, names: int, hashed: bool
) -> None:
    content = big_file(work / "big.bin", BIG, b"b")
    write_tree(work, {f"f{n:04}": "" for n in range(names - 1)})
    git(work, "init", "--quiet")
    start(work)
    assert early.hashed(["big.bin"]) == ({"big.bin": (sha(content), BIG, ANY)} if hashed else {})


def start_with_git(work: Path, tmp_path: Path, script: str) -> dict[str, str]:
    """``start`` for a git work tree holding a big file, with ``git`` on PATH the shell
    ``script`` given; the environment it ran with."""
    big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\n{script}\n")
    wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"}
    early.start([word.format(work=work) for word in ARGV], env)
    return env


@pytest.mark.usefixtures("started")
def test_a_git_slower_than_50_ms_is_not_waited_for(work: Path, tmp_path: Path) -> None:
    """The imports go on; the listing reads git's whole answer, later."""
    env = start_with_git(work, tmp_path, f'sleep 0.5\nexec {shutil.which("git")} "$@"')
    assert early._hasher is None

    listing = early.take(early.LIST, os.path.realpath(work), early.git_env(env))
    assert listing is not None
    assert early.answer(listing) == (b"? big.bin\0", b"")


def test_start_reads_git_s_listing_as_it_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    """In pieces, as git writes them: the names are counted over the pieces (start
    stops past HASH_NAMES), and the pieces joined as they were. Here a git that warns at
    length (more than a pipe holds), then names six paths of 40,000 bytes."""
    monkeypatch.setattr(early, "HASH_NAMES", 3)
    monkeypatch.setattr(early, "LISTING_WAIT", 60)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    warnings = b"warning: " + b"w" * 100_000 + b"\n"
    names = b"".join(b"? " + bytes([97 + n]) * 40_000 + b"\0" for n in range(6))

    def git() -> None:
        with open(err_w, "wb") as stderr:
            stderr.write(warnings)
        with open(out_w, "wb") as stdout:
            stdout.write(names)

    writer = threading.Thread(target=git)
    writer.start()
    try:
        found = early._read_listing(FakeGit(out_r, err_r))  # type: ignore[arg-type]
    finally:
        with open(out_r, "rb") as rest:
            rest.read()  # what start left, as the listing reads it
        writer.join()
        os.close(err_r)
    assert found is not None
    out, err, ended = found
    assert err == warnings
    assert 3 < out.count(b"\0") < 6
    assert names.startswith(out)
    assert not ended


@pytest.mark.usefixtures("started")
def test_a_git_that_hangs_is_not_waited_for(work: Path, tmp_path: Path) -> None:
    start_with_git(work, tmp_path, "exec sleep 3600")
    assert early._hasher is None
    assert early.LIST in early._started  # ended by discard


@pytest.mark.usefixtures("started")
@pytest.mark.parametrize(
    ("names", "wait"),
    [(3, early.LISTING_WAIT), (early.HASH_NAMES, 0.0)],
    ids=["more-names-than-hashed-early", "git-slower-than-the-wait"],
)
def test_the_listing_gets_git_s_whole_answer_when_start_read_a_part(
    work: Path, monkeypatch: pytest.MonkeyPatch, listings_read: list[Any], names: int, wait: float
) -> None:
    """start stops reading git's listing after HASH_NAMES names, or LISTING_WAIT seconds;
    the listing reads the rest. 600 names of 200 bytes: more than a pipe holds."""
    files = {f"{n:03}-" + "x" * 196: f"{n}\n" for n in range(600)}
    write_tree(work, files)
    git(work, "init", "--quiet")
    monkeypatch.setattr(early, "HASH_NAMES", names)
    monkeypatch.setattr(early, "LISTING_WAIT", wait)
    start(work)
    assert early._hasher is None
    [(out, err, ended)] = listings_read
    assert not ended
    assert err == b""
    assert (names < out.count(b"\0") < 600) if wait else out == b""

    built = build_plan(work, cache=False)

    assert list(by_path(built)) == sorted(files)
    assert by_path(built)["599-" + "x" * 196]["sha256"] == sha(b"599\n")


@pytest.mark.usefixtures("started")
@pytest.mark.parametrize(("tracked", "waited"), [(2, True), (3, False)])
def test_a_work_tree_that_tracks_many_files_is_not_waited_for(
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
    listings_read: list[Any],
    tracked: int,
    waited: bool,
) -> None:
    """git lists the untracked files first, after a walk of the whole tree: in a big
    work tree, start would wait for it in vain. The index's header says how big."""
    content = big_file(work / "big.bin", BIG, b"b")
    write_tree(work, {f"t{n}.txt": f"{n}\n" for n in range(tracked - 1)})
    git(work, "init", "--quiet")
    git(work, "add", "--all")
    monkeypatch.setattr(early, "HASH_NAMES", 2)
    start(work)

    assert len(listings_read) == waited
    assert early.hashed(["big.bin"]) == ({"big.bin": (sha(content), BIG, ANY)} if waited else {})


@pytest.mark.parametrize(
    ("header", "entries"),
    [
        (b"DIRC\x00\x00\x00\x02\x01\x00\x00\x07", 16777223),
        (b"DIRC\x00\x00\x00\x02\x01\x02", 0),  # cut short
        (b"XXXX\x00\x00\x00\x02\x01\x00\x00\x07", 0),  # not an index
        (b"", 0),
    ],
)
def test_the_entries_of_an_index_are_read_from_its_header(
    tmp_path: Path, header: bytes, entries: int
) -> None:
    (tmp_path / "index").write_bytes(header)
    assert early._index_entries(str(tmp_path / "index")) == entries
    assert early._index_entries(str(tmp_path / "none")) == 0
    assert early._index_entries(None) == 0


@pytest.mark.usefixtures("started")
def test_the_early_hash_is_over_before_the_workers_are_forked(
    work: Path, monkeypatch: pytest.MonkeyPatch, hashers: list[int]
) -> None:
    """Two big files are hashed side by side by the workers: the hashing process is
    ended and reaped before the first one is forked (they would hold its pipe)."""
    for name in ("a.bin", "b.bin"):
        big_file(work / name, BIG, name[0].encode())
    git(work, "init", "--quiet")
    hashing_at_fork: list[bool] = []
    fork = os.fork
    monkeypatch.setattr(describe, "START_METHOD", "fork")
    start(work)
    assert len(hashers) == 1

    def spy_fork() -> int:
        hashing_at_fork.append(early._hasher is not None or not reaped(hashers[0]))
        return fork()

    monkeypatch.setattr(os, "fork", spy_fork)
    built = build_plan(work, cache=False)

    assert hashing_at_fork  # the workers were forked
    assert not any(hashing_at_fork)
    assert by_path(built)["b.bin"]["sha256"] == sha(b"b" * BIG)


@pytest.mark.usefixtures("started")
def test_a_listing_that_is_not_used_is_ended_and_forgotten(work: Path) -> None:
    big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    start(work)
    listing = early.take(early.LIST, os.path.realpath(work), early.git_env(os.environ))
    assert listing is not None

    early.end(listing)  # as the listing does outside a work tree

    assert listing.returncode == 0  # start had read it all: git was done
    assert early.answer(listing) is None


@pytest.mark.usefixtures("started")
def test_nothing_is_hashed_early_when_git_warns(work: Path) -> None:
    """git lists, but says it could not read an ignore file: the listing refuses, so
    nothing is read for a plan that will not be made."""
    big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    (work / ".gitignore").symlink_to(".gitignore")  # a loop: git cannot read it, and warns
    start(work)
    assert early._hasher is None

    listing = early.take(early.LIST, os.path.realpath(work), early.git_env(os.environ))
    assert listing is not None
    out, err = early.answer(listing) or (b"", b"")
    assert listing.returncode == 0
    assert b"? big.bin\0" in out
    assert b"unable to access '.gitignore'" in err


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


def test_a_listing_start_could_not_read_is_refused_not_waited_for(work: Path) -> None:
    """Reading LIST's answer failed (here: its output is a folder): git's exit status
    stays unknown, and the listing refuses."""

    folder = os.open(work, os.O_RDONLY)
    try:
        process: Any = FakeGit(folder, folder)
        early._hash_early(str(work), process)
        assert early._hasher is None
        with pytest.raises(UsageError) as refused:
            Git(work, os.environ).finish(process)
    finally:
        os.close(folder)
    assert refused.value.message == f"git refused to work in {work}: no reason given."


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
    steps, hasher = reported(work)

    assert steps == ["big.bin", None]
    assert hasher.hashes == {"big.bin": (sha(content), BIG, ANY)}


def test_the_hashing_process_says_the_big_files_largest_first(work: Path) -> None:
    biggest = big_file(work / "z.bin", 2 * BIG, b"z")
    bigger = big_file(work / "m.bin", BIG + 1, b"m")
    big_file(work / "a.bin", BIG - 1, b"a")
    git(work, "init", "--quiet")

    steps, hasher = reported(work)

    assert steps == ["z.bin", None, "m.bin", None]
    root = os.fsencode(work)
    assert hasher.hashes == {
        "z.bin": (sha(biggest), 2 * BIG, describe._key_of(root, "z.bin")),
        "m.bin": (sha(bigger), BIG + 1, describe._key_of(root, "m.bin")),
    }
    assert hasher.current is None


def test_a_file_the_hashing_process_cannot_hash_is_said_and_passed_over(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = big_file(work / "a.bin", BIG, b"a")
    big_file(work / "b.bin", BIG + 1, b"b")
    git(work, "init", "--quiet")
    hash_in = hashing.hash_in

    def b_changes(folders: Any, path: str, *args: Any) -> Any:
        if path == "b.bin":
            return hashing.Unhashable("it kept changing", hashing.CHANGING_HINT)
        return hash_in(folders, path, *args)

    monkeypatch.setattr(hashing, "hash_in", b_changes)
    steps, hasher = reported(work)

    assert steps == ["b.bin", None, "a.bin", None]
    assert hasher.hashes == {"a.bin": (sha(content), BIG, ANY)}


def test_the_hashing_process_stops_within_a_block_once_acp_is_gone(work: Path) -> None:
    """Its parent is gone (another process has become its parent): nobody would read
    the hash of a file that takes twenty minutes to hash."""
    sparse_file(work / "huge.bin", 1 << 40)
    git(work, "init", "--quiet")
    records = git(work, *early.LIST).split(b"\0")[:-1]
    with tempfile.TemporaryFile() as said:
        with pytest.raises(SystemExit):
            early.report_hashes(str(work), records, said.fileno(), parent=-1)
        said.seek(0)
        assert said.read() == b"S\x08\x00\x00\x00huge.bin"


def test_a_dir_gone_before_the_hashing_process_opens_it_is_an_error_there(work: Path) -> None:
    """The hashing process exits on it, silently (its end is tested through ``start``)."""
    big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    records = git(work, *early.LIST).split(b"\0")[:-1]
    shutil.rmtree(work)
    with tempfile.TemporaryFile() as said, pytest.raises(FileNotFoundError):
        early.report_hashes(str(work), records, said.fileno(), os.getppid())


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
    work: Path, monkeypatch: pytest.MonkeyPatch, exits: list[int], capfd: pytest.CaptureFixture[str]
) -> None:
    """The hashing process ends quietly: the plan's own run names what went wrong."""
    big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    read_listing = early._read_listing

    def remove_dir_once_listed(process: Any) -> Any:
        found = read_listing(process)
        shutil.rmtree(work)
        return found

    monkeypatch.setattr(early, "_read_listing", remove_dir_once_listed)
    start(work)

    assert early.hashed(["big.bin"]) == {}
    assert capfd.readouterr() == ("", "")
    assert exits in ([0], [signal.SIGKILL])  # it gave up, or was ended first


def test_a_hashing_process_whose_acp_is_gone_stops(work: Path) -> None:
    """acp killed (kill -9, nothing cleaned up) while its hashing process works on a
    file that takes twenty minutes to hash: the hashing process stops within a block."""
    sparse_file(work / "huge.bin", 1 << 40)
    git(work, "init", "--quiet")
    script = (
        "import os, sys\n"
        "from acp_cli.workspace import early\n"
        "early.start(['push', 'plan', sys.argv[1], '-o', 'plan.json'], os.environ)\n"
        "hasher = early._hasher\n"
        "assert hasher is not None\n"
        "while hasher.current is None:\n"
        "    assert hasher.receive()\n"
        "print(hasher.pid, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    acp = subprocess.run(
        [sys.executable, "-c", script, str(work)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert acp.returncode == -signal.SIGKILL, acp.stderr
    child = int(acp.stdout)

    def running() -> bool:
        try:
            with open(f"/proc/{child}/stat") as stat:
                return stat.read().rpartition(")")[2].split()[0] not in ("Z", "X")
        except FileNotFoundError:
            return False

    wait_until(lambda: not running(), timeout=30)


@pytest.mark.usefixtures("started")
def test_an_acp_started_with_sigchld_ignored_plans_all_the_same(work: Path) -> None:
    """A supervisor that ignores SIGCHLD passes that on through exec: children are then
    reaped by the kernel, and waiting for the hashing process finds none."""
    content = big_file(work / "big.bin", BIG, b"b")
    git(work, "init", "--quiet")
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        start(work)
        assert early._hasher is not None
        built = build_plan(work, cache=False)
    finally:
        signal.signal(signal.SIGCHLD, previous)
    assert by_path(built)["big.bin"]["sha256"] == sha(content)
