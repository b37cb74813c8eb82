"""`describe`: the worker's protocol (run here, in-process, so that what it does is
seen), and every error and skip reason whole, one table per class."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from acp_cli.errors import UsageError
from acp_cli.workspace import describe, early, hashing
from acp_cli.workspace.cache import NO_KEY
from acp_cli.workspace.describe import Chunk, Context, _State, describe_chunk
from acp_cli.workspace.hashing import stat_key
from tests.support.git_oracle import write_tree

UNREADABLE_HINT = "Fix its permissions, or leave it out with .acpignore or --exclude."
CHANGING_HINT = "Stop whatever writes to it, or leave it out with .acpignore or --exclude."
LONG = "n" * 300  # longer than a file name may be: ENAMETOOLONG


@pytest.mark.parametrize(
    ("exitcode", "how"),
    [
        (-9, "was killed by SIGKILL, most likely by the system's out-of-memory killer"),
        (-15, "was killed by SIGTERM"),
        (-200, "was killed by signal 200"),
        (1, "ended with status 1"),
        (0, "ended with status 0"),
        (None, "ended with status None"),
    ],
)
def test_a_worker_that_died_is_named_with_how(exitcode: int | None, how: str) -> None:
    died = describe._worker_died(exitcode)
    assert died.message == f"A worker process that hashed files {how}; no plan was written."
    assert died.hint == "Free some memory or stop what killed it, then run the command again."


# --- the worker, in this process ------------------------------------------------------


@pytest.fixture
def signals_restored() -> Iterator[None]:
    """The worker ignores the signals that end a run; give this process its own back.
    Each starts at its default action, so that the worker's change is seen even where
    the test runner ignores one already (mutmut's workers ignore SIGINT)."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    saved = {name: signal.getsignal(getattr(signal, name)) for name in names}
    for name in names:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    yield
    for name, handler in saved.items():
        signal.signal(getattr(signal, name), handler)


def serve(work: Path, tasks: list[Any], check: Any = None) -> list[list[tuple[int, Any]]]:
    """Run ``describe._work`` here, sending it ``tasks`` from a thread standing for the
    parent: the messages received for each task, up to and with its result."""
    ours, theirs = multiprocessing.Pipe()
    received: list[list[tuple[int, Any]]] = []

    def parent() -> None:
        try:
            for task in tasks:
                ours.send(task)
                messages = [ours.recv()]
                while messages[-1][1] is None:
                    messages.append(ours.recv())
                received.append(messages)
                if check is not None:
                    check()
        except EOFError:
            pass  # the worker stopped early: what it did not send is missing
        finally:
            ours.close()

    thread = threading.Thread(target=parent)
    thread.start()
    try:
        describe._work(theirs, Context(os.fsencode(work)), os.getppid())
    finally:
        theirs.close()  # so that a parent still waiting hears of it, and does not hang
    thread.join()
    return received


@pytest.mark.usefixtures("signals_restored")
def test_a_worker_describes_each_task_until_the_parent_closes_the_pipe(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(work, {"a": "1", "sub/b": "22", "big": "x" * 5000, "bigger": "y" * 5001})
    monkeypatch.setattr(describe, "REPORT_BYTES", 5000)
    ignored: list[bool] = []

    def check() -> None:  # while the worker runs: Ctrl-C and the like are the parent's
        ignored.append(
            all(
                signal.getsignal(getattr(signal, name)) == signal.SIG_IGN
                for name in ("SIGINT", "SIGTERM", "SIGHUP")
            )
        )

    two = ([b"a", b"sub/b"], [NO_KEY, NO_KEY])
    received = serve(work, [two, "big", "bigger", ([b"a"], [NO_KEY])], check)

    chunk, big, bigger, again = received
    state = _State.load(Context(os.fsencode(work)), on_block=lambda count: None)
    # The chunk's few bytes are reported with its result, not on their own.
    assert chunk == [(3, describe_chunk(*two, state))]
    # A big file: its bytes as a progress message once REPORT_BYTES are read, then the hash.
    for messages, name, content in ((big, "big", b"x" * 5000), (bigger, "bigger", b"y" * 5001)):
        [(read, progress), (unsent, (sha, size, key))] = messages
        assert (read, progress, unsent) == (len(content), None, 0)
        assert (sha, size) == (hashlib.sha256(content).hexdigest(), len(content))
        info = os.lstat(work / name)
        assert key == stat_key(
            info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev
        )
    assert again == [(1, describe_chunk([b"a"], [NO_KEY], state))]
    assert ignored == [True] * 4


@pytest.mark.usefixtures("signals_restored")
def test_a_worker_below_the_report_size_sends_its_bytes_with_the_result(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(work, {"big": "x" * 4999})
    monkeypatch.setattr(describe, "REPORT_BYTES", 5000)
    [[(read, (sha, size, _))]] = serve(work, ["big"])
    assert (read, sha, size) == (4999, hashlib.sha256(b"x" * 4999).hexdigest(), 4999)


@pytest.mark.usefixtures("signals_restored")
def test_a_worker_leaves_the_big_files_of_its_chunk_to_tasks_of_their_own(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(work, {"a": "1", "big": "x" * 100, "small": "y" * 99})
    monkeypatch.setattr(describe, "BIG", 100)
    [[(_, chunk)]] = serve(work, [([b"a", b"big", b"small"], [NO_KEY] * 3)])
    assert chunk.deferred == (("big", 100, 1),)
    assert chunk.hashed_files == 2


@pytest.mark.usefixtures("signals_restored")
def test_a_worker_failure_is_sent_with_its_traceback(work: Path) -> None:
    [[(read, failure)]] = serve(work, [([42], [NO_KEY])])  # not a path: a bug in the parent
    assert read == 0
    assert isinstance(failure, describe._Failure)
    assert failure.text.startswith("Traceback (most recent call last):")
    assert "AttributeError" in failure.text


@pytest.mark.usefixtures("signals_restored")
def test_an_idle_worker_whose_parent_is_gone_stops(work: Path) -> None:
    ours, theirs = multiprocessing.Pipe()
    # The parent given is not this process's: the worker sees it gone within a second.
    describe._work(theirs, Context(os.fsencode(work)), os.getppid() + 1)
    assert not ours.poll()  # it sent nothing
    ours.close()


# --- errors and skips ------------------------------------------------------------------


def chunk_of(work: Path, *names: bytes) -> Chunk:
    state = _State.load(Context(os.fsencode(work)), on_block=lambda count: None)
    return describe_chunk(list(names), [NO_KEY] * len(names), state)


def test_a_path_that_cannot_be_read_is_an_error_naming_it(work: Path) -> None:
    write_tree(work, {"a": "1"})
    chunk = chunk_of(work, b"a", LONG.encode(), b"z")
    assert chunk.error == (f"Cannot read {LONG}: File name too long.", UNREADABLE_HINT)
    assert chunk.files == 1  # what came before it; nothing after


def test_a_symlink_whose_text_is_not_utf8_is_an_error_naming_it(work: Path) -> None:
    (work / "link").symlink_to(os.fsdecode(b"target-\xff"))
    chunk = chunk_of(work, b"link")
    assert chunk.error == (
        "Cannot plan link: its link text is not valid UTF-8, which JSON cannot hold.",
        "Rename it, or leave it out with .acpignore or --exclude.",
    )


def test_a_symlink_replaced_by_a_file_before_it_is_read_is_an_error(work: Path) -> None:
    # lstat said symlink; then readlink finds a file (swapped in between).
    write_tree(work, {"was-a-link": "x"})
    fd = os.open(work, os.O_RDONLY)
    try:
        found = describe._describe_other(b"was-a-link", "was-a-link", b"was-a-link", fd, 0o120777)
    finally:
        os.close(fd)
    assert found == ("Cannot read was-a-link: Invalid argument.", UNREADABLE_HINT)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (stat.S_IFDIR, "a folder"),
        (stat.S_IFIFO, "a FIFO"),
        (stat.S_IFSOCK, "a socket"),
        (stat.S_IFCHR, "a character device"),
        (stat.S_IFBLK, "a block device"),
        (0, "a special file"),  # a type this system does not name
    ],
)
def test_each_kind_of_path_a_plan_cannot_hold_is_skipped_with_its_name(
    mode: int, reason: str
) -> None:
    assert describe._describe_other(b"x", "x", b"x", -1, mode) == ("skip", reason)


def test_an_os_error_without_strerror_is_named_by_its_text() -> None:
    unreadable = describe._unreadable(b"a\xff", OSError("odd"))
    assert unreadable == ("Cannot read a\\xff: odd.", UNREADABLE_HINT)


def test_a_name_that_is_not_utf8_is_an_error_naming_it(work: Path) -> None:
    write_tree(work, {"a": "1"})
    chunk = chunk_of(work, b"a", b"bad-\xff", b"z")
    assert chunk.error == (
        "Cannot plan bad-\\xff: its name is not valid UTF-8, which JSON cannot hold.",
        "Rename it, or leave it out with .acpignore or --exclude.",
    )
    assert chunk.files == 1


def test_paths_gone_since_git_listed_them_are_left_out_and_the_rest_described(
    work: Path,
) -> None:
    write_tree(work, {"b": "22", "d/e": "333"})
    (work / "link").symlink_to("target-of-9")
    chunk = chunk_of(work, b"a-gone", b"b", b"c-gone/x", b"d/e", b"link", b"z-gone")
    assert chunk.error is None
    assert chunk.files == 3
    assert chunk.regular_files == 2
    assert chunk.total_bytes == 2 + 3 + len("target-of-9")
    # An entry per name, empty for each gone one.
    assert [entry != b"" for entry in chunk.entries] == [False, True, False, True, True, False]
    assert b'"path":"link"' in chunk.entries[4]


class RecordedProgress:
    """A ``describe.Progress`` that keeps what it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.pendings: list[int] = []

    def advance(self, files: int, hashed_bytes: int) -> None:
        self.calls.append((files, hashed_bytes))

    def pending(self, hashed_bytes: int) -> None:
        self.pendings.append(hashed_bytes)


@pytest.mark.parametrize("where", ["here", "in a worker"])
def test_a_big_file_gone_before_its_turn_is_an_error_naming_it(work: Path, where: str) -> None:
    write_tree(work, {"a": "1", "big": "x" * 100, "bigger": "y" * 200})
    state = _State.load(Context(os.fsencode(work)), on_block=lambda count: None, defer_from=100)
    chunk = describe_chunk([b"a", b"big", b"bigger"], [NO_KEY] * 3, state)
    assert chunk.deferred == (("big", 100, 1), ("bigger", 200, 2))
    (work / "bigger").unlink()

    if where == "here":
        [failed] = describe._hash_deferred_here({0: chunk}, state, RecordedProgress())
    else:
        pool = describe._Pool.start(Context(os.fsencode(work)), 1)
        assert pool is not None
        try:
            [failed] = pool.describe([], RecordedProgress(), {0: chunk})
        finally:
            pool.close()

    assert failed.error == (
        "Cannot plan bigger: cannot read it: No such file or directory.",
        UNREADABLE_HINT,
    )
    assert failed.entries == chunk.entries


@pytest.mark.parametrize(("after_mtime", "trusted"), [(0, False), (1, True)])
def test_a_cached_hash_is_trusted_only_for_a_file_older_than_the_racy_window(
    work: Path, after_mtime: int, trusted: bool
) -> None:
    write_tree(work, {"a": "1"})
    info = os.lstat(work / "a")
    key = stat_key(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)
    recorded = "f" * 64  # what the cache says; the file's true hash differs
    context = Context(
        os.fsencode(work),
        trusted_before_ns=info.st_mtime_ns + after_mtime,  # files changed before: trusted
    )
    state = _State.load(context, on_block=lambda count: None, defer_from=hashing.BIG)
    chunk = describe_chunk([b"a"], [key + bytes.fromhex(recorded)], state)
    sha = recorded if trusted else hashlib.sha256(b"1").hexdigest()
    [entry] = chunk.entries
    assert f'"sha256":"{sha}"'.encode() in entry
    assert chunk.hashed_files == (0 if trusted else 1)


# --- the pool's processes ---------------------------------------------------------------


def test_close_kills_every_worker_at_once(work: Path) -> None:
    pool = describe._Pool.start(Context(os.fsencode(work)), 2)
    assert pool is not None
    processes = [process for process, _ in pool.workers]
    assert len(processes) == 2
    pool.close()
    assert [process.exitcode for process in processes] == [-signal.SIGKILL] * 2
    assert pool.workers == []


def test_the_big_files_a_chunk_leaves_are_hashed_largest_first(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker, so one at a time: the bytes still pending fall by the largest first."""
    sizes = {"b1": 100, "b2": 300, "b3": 200}
    write_tree(work, {"small": "s", **{name: "x" * size for name, size in sizes.items()}})
    monkeypatch.setattr(describe, "BIG", 100)
    names = sorted(name.encode() for name in [*sizes, "small"])
    pool = describe._Pool.start(Context(os.fsencode(work)), 1)
    assert pool is not None
    progress = RecordedProgress()
    try:
        [chunk] = pool.describe([(names, [NO_KEY] * len(names))], progress)
    finally:
        pool.close()

    assert progress.pendings == [600, 300, 100, 0]
    assert chunk.deferred == ()
    assert chunk.hashed_files == 4


@pytest.mark.parametrize("how", ["cached", "hashed", "hashed on its own"])
@pytest.mark.parametrize("mtime_after_ctime", [False, True])
def test_a_file_is_settled_only_when_both_times_are_before_the_bound(
    work: Path, mtime_after_ctime: bool, how: str
) -> None:
    """git's index may vouch later only for a file whose mtime and ctime were both
    older than the bound when it was seen: at the bound is not before it. The same
    whether its hash came from the cache, was made in line, or was made on its own
    (a big file, after the chunk)."""
    write_tree(work, {"a": "1"})
    ctime = (work / "a").stat().st_ctime_ns
    mtime = ctime + 10**10 if mtime_after_ctime else ctime - 1000  # utime moves ctime on
    os.utime(work / "a", ns=(mtime, mtime))
    info = (work / "a").stat()
    key = stat_key(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)
    recorded = key + hashlib.sha256(b"1").digest() if how == "cached" else NO_KEY

    def settled(bound: int) -> bytes:
        context = Context(os.fsencode(work), trusted_before_ns=mtime + 1, settled_before_ns=bound)
        defer_from = 1 if how == "hashed on its own" else sys.maxsize
        state = _State.load(context, on_block=lambda n: None, defer_from=defer_from)
        chunk = describe_chunk([b"a"], [recorded], state)
        if how == "hashed on its own":
            assert chunk.deferred == (("a", 1, 0),)
            [chunk] = describe._hash_deferred_here({0: chunk}, state, RecordedProgress())
        assert chunk.hashed_files == (0 if how == "cached" else 1)
        assert chunk.keys == [key + hashlib.sha256(b"1").digest()]
        return chunk.settled

    latest = max(mtime, info.st_ctime_ns)
    assert settled(latest) == b"0"  # the later of the two times at the bound
    assert settled(latest + 1) == b"1"


def test_a_chunk_counts_the_bytes_it_hashed(work: Path) -> None:
    write_tree(work, {"a": "1", "b": "22", "c": "333"})
    chunk = chunk_of(work, b"a", b"b", b"c")
    assert (chunk.hashed_files, chunk.hashed_bytes, chunk.total_bytes) == (3, 6, 6)


def test_a_small_file_that_cannot_be_hashed_is_an_error_naming_it(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a file that keeps changing while it is read (hashing's own tests make one)."""
    write_tree(work, {"a": "1", "b": "2"})
    why = hashing.Unhashable("it kept changing while acp read it (4 reads)", CHANGING_HINT)
    monkeypatch.setattr(describe, "hash_file", lambda *args: why)
    chunk = chunk_of(work, b"a", b"b")
    assert chunk.error == (
        "Cannot plan a: it kept changing while acp read it (4 reads).",
        CHANGING_HINT,
    )
    assert chunk.files == 0  # nothing after it


def test_the_workers_progress_adds_up_to_every_file_and_byte(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks and two big files hashed by the workers, reported in small steps and on
    a fast clock: each file counted once, each byte once, nothing left pending."""
    contents = {f"d/f{index:04}": "x" * index for index in range(700)}
    write_tree(work, contents)
    big = {"a.bin": hashing.BIG + 5, "b.bin": hashing.BIG + 7}
    for name, size in big.items():
        (work / name).write_bytes(b"b" * size)
    names = sorted(name.encode() for name in [*contents, *big])
    monkeypatch.setattr(describe, "REPORT_BYTES", 1 << 20)
    monkeypatch.setattr(describe, "TICK", 0.0005)
    monkeypatch.setattr(describe, "START_METHOD", "fork")
    progress = RecordedProgress()
    with describe.Describer() as describer:
        describer.workers = 2
        chunks = describer.describe_all(
            Context(os.fsencode(work)), names, [NO_KEY] * len(names), progress
        )

    assert len(chunks) > 1  # described by the workers, in chunks
    assert sum(files for files, _ in progress.calls) == len(names)
    total = sum(len(text) for text in contents.values()) + sum(big.values())
    assert sum(hashed for _, hashed in progress.calls) == total
    assert progress.pendings[0] == sum(big.values())  # the big files, when found
    assert progress.pendings[-1] == 0
    assert (0, 0) in progress.calls  # the clock moved while a worker hashed


def test_big_files_hashed_on_their_own_give_the_chunk_described_in_line(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two big files among small ones and a big cached one: whether the big files are
    hashed after the chunk here or by a worker, the chunk is the one described in one
    go (entries, keys, settled flags, counts), and no file is left pending."""
    sizes = {"a": 1, "big": 100, "bigger": 200, "cached": 150, "mid": 2}
    write_tree(work, {name: name[0] * size for name, size in sizes.items()})
    info = os.lstat(work / "cached")
    key = stat_key(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)
    names = sorted(name.encode() for name in sizes)
    keys = [
        key + hashlib.sha256(b"c" * 150).digest() if name == b"cached" else NO_KEY for name in names
    ]
    context = Context(os.fsencode(work), trusted_before_ns=2**62, settled_before_ns=2**62)

    def state(defer_from: int) -> _State:
        return _State.load(context, on_block=lambda count: None, defer_from=defer_from)

    in_line = describe_chunk(names, keys, state(sys.maxsize))
    assert in_line.settled == b"11111"
    assert (in_line.hashed_files, in_line.hashed_bytes, in_line.total_bytes) == (4, 303, 453)

    left = describe_chunk(names, keys, state(100))
    assert left.deferred == (("big", 100, 1), ("bigger", 200, 2))
    assert left.entries[1].endswith(describe._PENDING)
    [here] = describe._hash_deferred_here({0: left}, state(100), RecordedProgress())
    assert here == in_line

    monkeypatch.setattr(describe, "BIG", 100)
    pool = describe._Pool.start(context, 2)
    assert pool is not None
    progress = RecordedProgress()
    try:
        [pooled] = pool.describe([(names, keys)], progress)
    finally:
        pool.close()
    assert pooled == in_line
    assert progress.pendings[-1] == 0


COUNTS = ("files", "regular_files", "total_bytes", "hashed_files", "hashed_bytes")


def joined(chunks: list[Chunk]) -> tuple[Any, ...]:
    """What chunks say about their paths, whatever the cut: to compare descriptions."""
    return (
        [entry for chunk in chunks for entry in chunk.entries],
        [key for chunk in chunks for key in chunk.keys],
        b"".join(chunk.settled for chunk in chunks),
        {count: sum(getattr(chunk, count) for chunk in chunks) for count in COUNTS},
        [skip for chunk in chunks for skip in chunk.skipped],
        [chunk.error for chunk in chunks if chunk.error is not None],
        [deferred for chunk in chunks for deferred in chunk.deferred],
    )


@pytest.mark.parametrize(
    ("workers", "small", "big", "few", "started"),
    [  # a FIFO too: CHUNK_MIN small files and it make two chunks
        (2, describe.CHUNK_MIN, 0, False, 2),  # two chunks: a worker for each
        (2, describe.CHUNK_MIN, 0, None, 2),  # not few unless said
        (2, describe.CHUNK_MIN - 1, 0, False, 0),  # one chunk: not worth a process
        (1, describe.CHUNK_MIN, 0, False, 0),  # one core: this process
        (2, describe.CHUNK_MIN, 0, True, 0),  # few, most likely cached: this process
        (2, 3, 2, False, 2),  # two big files: side by side in the workers
        (2, 3, 2, True, 2),  # the same among few
        (2, 3, 1, False, 0),  # one big file: nothing to spread, hashed here
        (1, 3, 2, False, 0),  # one core: the big files too
    ],
)
def test_workers_start_for_two_chunks_or_two_big_files_given_two_cores(
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    small: int,
    big: int,
    few: bool | None,
    started: int,
) -> None:
    """Processes are started only where they gain: the description is the same."""
    contents = {f"f{index:04}": "x" * (index % 7) for index in range(small)}
    contents.update({f"g{index}": "y" * (100 + index) for index in range(big)})
    write_tree(work, contents)
    os.mkfifo(work / "fifo")  # skipped, and counted as done
    contents["fifo"] = ""
    monkeypatch.setattr(describe, "BIG", 100)
    names = sorted(name.encode() for name in contents)
    keys = [NO_KEY] * len(names)
    context = Context(os.fsencode(work))
    before = set(multiprocessing.active_children())
    progress = RecordedProgress()
    with describe.Describer() as describer:
        describer.workers = workers
        options = {} if few is None else {"few": few}
        chunks = describer.describe_all(context, names, keys, progress, **options)
        children = set(multiprocessing.active_children()) - before

    assert len(children) == started
    whole = describe_chunk(names, keys, _State.load(context, on_block=lambda count: None))
    assert joined(chunks) == joined([whole])
    assert whole.skipped == [("fifo", "a FIFO")]
    assert sum(files for files, _ in progress.calls) == len(names)
    assert sum(read for _, read in progress.calls) == whole.hashed_bytes
    # The bar weighs the big files still to hash where workers hash them.
    if started and big:
        assert progress.pendings[0] == sum(100 + index for index in range(big))
        assert progress.pendings[-1] == 0
    else:
        assert progress.pendings == []


KILLED = (
    "A worker process that hashed files was killed by SIGKILL, most likely by the "
    "system's out-of-memory killer; no plan was written.",
    "Free some memory or stop what killed it, then run the command again.",
)


@pytest.mark.parametrize("victim", [0, 1])
def test_a_worker_killed_while_idle_is_named_when_work_is_sent_to_it(
    work: Path, victim: int
) -> None:
    """The out-of-memory killer may pick a worker that waits for work: sending it
    some is the same clear error as its death at work, naming the signal of that
    worker (the other one is alive)."""
    contents = {f"f{index:04}": "x" for index in range(2 * describe.CHUNK_MIN)}
    write_tree(work, contents)
    names = sorted(name.encode() for name in contents)
    half = describe.CHUNK_MIN
    pool = describe._Pool.start(Context(os.fsencode(work)), 2)
    assert pool is not None
    try:
        dead, _ = pool.workers[victim]
        assert dead.pid is not None
        os.kill(dead.pid, signal.SIGKILL)
        dead.join()
        chunks: list[describe.Task] = [
            (names[:half], [NO_KEY] * half),
            (names[half:], [NO_KEY] * half),
        ]
        with pytest.raises(UsageError) as raised:
            pool.describe(chunks, RecordedProgress())
    finally:
        pool.close()
    assert (raised.value.message, raised.value.hint) == KILLED


@pytest.mark.parametrize(
    ("paths", "chunk_max", "cut"),
    [
        (10, 4096, [10]),
        (24 * 100, 4096, [256] * 9 + [96]),  # at least CHUNK_MIN each
        (24 * 300 + 5, 4096, [300] * 24 + [5]),  # about CHUNKS_PER_WORKER per worker
        (24 * 300 + 5, 280, [280] * 25 + [205]),  # at most CHUNK_MAX each
    ],
)
def test_the_paths_are_cut_in_about_24_chunks_per_worker(
    work: Path, monkeypatch: pytest.MonkeyPatch, paths: int, chunk_max: int, cut: list[int]
) -> None:
    """Enough chunks for the workers to share the work as they free up, none so small
    that handing it out costs more than describing it."""
    monkeypatch.setattr(describe, "CHUNK_MAX", chunk_max)
    names = [b"gone-%05d" % index for index in range(paths)]  # cheap: nothing to read
    with describe.Describer() as describer:
        describer.workers = 1  # in this process; the cut is per worker all the same
        chunks = describer.describe_all(
            Context(os.fsencode(work)), names, [NO_KEY] * paths, RecordedProgress()
        )
    assert [len(chunk.entries) for chunk in chunks] == cut


def test_a_bug_in_a_worker_is_raised_with_its_traceback(work: Path) -> None:
    bad: Any = ([42], [NO_KEY])  # not a path: a bug in the parent
    pool = describe._Pool.start(Context(os.fsencode(work)), 1)
    assert pool is not None
    try:
        with pytest.raises(RuntimeError) as raised:
            pool.describe([bad], RecordedProgress())
    finally:
        pool.close()
    text = str(raised.value)
    assert text.startswith("a hashing worker failed: Traceback (most recent call last):\n")
    assert "AttributeError: 'int' object has no attribute 'decode'" in text


@pytest.mark.parametrize("now", [150, 500])
def test_a_big_file_that_changed_size_before_its_turn_leaves_nothing_pending(
    work: Path, now: int
) -> None:
    """The bar weighs a big file by the size its chunk found; hashed, the file no
    longer weighs, whatever was read of it."""
    write_tree(work, {"big": "x" * 300, "bigger": "y" * 400})
    context = Context(os.fsencode(work))
    state = _State.load(context, on_block=lambda count: None, defer_from=100)
    chunk = describe_chunk([b"big", b"bigger"], [NO_KEY] * 2, state)
    assert chunk.deferred == (("big", 300, 0), ("bigger", 400, 1))
    (work / "bigger").write_bytes(b"z" * now)
    pool = describe._Pool.start(context, 1)
    assert pool is not None
    progress = RecordedProgress()
    try:
        [done] = pool.describe([], progress, {0: chunk})
    finally:
        pool.close()

    assert progress.pendings == [700, 300, 0]  # the largest first, as found
    assert sum(read for _, read in progress.calls) == 300 + now
    assert done.entries[1] == orjson.dumps(
        {
            "mode": "100644",
            "path": "bigger",
            "sha256": hashlib.sha256(b"z" * now).hexdigest(),
            "size": now,
        }
    )
    assert (done.total_bytes, done.hashed_bytes) == (300 + now, 300 + now)


@pytest.mark.usefixtures("signals_restored")
def test_the_bar_redraws_every_tick_while_a_worker_is_busy(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker runs here (as ``serve`` does), slowed down; the pool, in a thread."""
    write_tree(work, {"a": "1"})
    monkeypatch.setattr(describe, "TICK", 0.01)
    described = describe.describe_chunk

    def slow(*args: Any) -> Chunk:
        time.sleep(0.5)
        return described(*args)

    monkeypatch.setattr(describe, "describe_chunk", slow)
    ours, theirs = multiprocessing.Pipe()
    context = Context(os.fsencode(work))
    pool = describe._Pool([(cast("Any", None), ours)], context)  # no process to end
    progress = RecordedProgress()

    def parent() -> None:
        try:
            pool.describe([([b"a"], [NO_KEY])], progress)
        finally:
            ours.close()

    thread = threading.Thread(target=parent)
    thread.start()
    try:
        describe._work(theirs, context, os.getppid())
    finally:
        theirs.close()  # as in serve
    thread.join()

    *ticks, read, files = progress.calls
    assert (read, files) == ((0, 1), (1, 0))  # its byte, then the file
    assert len(ticks) >= 3  # 0.5 s of a 0.01 s clock, on a busy machine
    assert set(ticks) == {(0, 0)}


@pytest.mark.parametrize("changed", [False, True])
def test_a_big_file_hashed_while_acp_loaded_is_taken_unless_it_changed_since(
    work: Path, monkeypatch: pytest.MonkeyPatch, changed: bool
) -> None:
    """One big file, hashed here after its chunk: the early hash is taken when the
    file's stat is the one it was hashed with, its bytes counted as read."""
    write_tree(work, {"a": "1", "big": "x" * 100})
    info = os.lstat(work / "big")
    key = stat_key(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)
    said = "e" * 64  # not the file's: so that its use shows

    def hashed(wanted: Any) -> dict[str, tuple[str, int, bytes]]:
        return {"big": (said, 100, key)} if "big" in wanted else {}

    monkeypatch.setattr(early, "hashed", hashed)
    monkeypatch.setattr(describe, "BIG", 100)
    if changed:
        os.utime(work / "big", ns=(10**18, 10**18))
    progress = RecordedProgress()
    with describe.Describer() as describer:
        describer.workers = 2
        [chunk] = describer.describe_all(
            Context(os.fsencode(work)), [b"a", b"big"], [NO_KEY] * 2, progress
        )

    sha = hashlib.sha256(b"x" * 100).hexdigest() if changed else said
    assert chunk.entries[1] == b'{"mode":"100644","path":"big","sha256":"%s","size":100}' % (
        sha.encode()
    )
    assert sum(read for _, read in progress.calls) == 101
    assert sum(files for files, _ in progress.calls) == 2
