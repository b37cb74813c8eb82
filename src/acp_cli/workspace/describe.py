"""Describing the listed files: lstat, the cache, SHA-256; in worker processes.

The sorted list of paths to describe (those git's index does not vouch for:
``build._Run``) is cut into chunks of consecutive paths, each with the cache's key
of each path, and each chunk is described by a worker process on its own: lstat
each path (never opening anything that is not a regular file), take the hash from
the cache when the stat matches, else read and hash the file. So the per-file walk
overlaps the hashing and uses every core: threads would gain nothing, since the
per-file Python work holds the GIL. A chunk comes back as each path's plan entry,
serialized by orjson, and cache key (bytes: pickled fast), in order. Chunks are
handed out as workers free up. A file of ``BIG`` bytes or more to hash is left out of its
chunk's work and hashed as a task of its own once the chunks are done, largest
first: a few huge files spread over the workers instead of one chunk holding
them all. Workers report the bytes they read as they read them.

A small tree is described in the calling process: starting workers would cost
more than it saves (unless it holds two big files or more). So is every tree
where workers cannot start. The workers end with the ``Describer``: at once,
killed, whether the work is done, failed, or was interrupted by a signal.

Each file is read in blocks into one reused buffer (bounded memory, no mmap),
with an ``fstat`` before and after: a file whose size, mtime or ctime moved
while it was read is read again, up to ``REREADS`` times.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import stat
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, cast

import orjson

from acp_cli.errors import UsageError
from acp_cli.workspace import early
from acp_cli.workspace.cache import NO_KEY
from acp_cli.workspace.folders import FolderChain
from acp_cli.workspace.hashing import (
    BIG,
    BLOCK,
    KEY,
    UNREADABLE_HINT,
    Unhashable,
    hash_file,
    hash_in,
    key_in,
)
from acp_cli.workspace.listing import escape

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

MODE_FILE = "100644"
MODE_EXECUTABLE = "100755"
MODE_SYMLINK = "120000"
# Chunks: about this many per worker, each of CHUNK_MIN to CHUNK_MAX paths; a
# tree of at most CHUNK_MIN paths is described in the calling process.
CHUNKS_PER_WORKER = 24
CHUNK_MIN = 256
CHUNK_MAX = 4096
# Workers report the bytes they read every REPORT_BYTES; the caller hears of
# progress at least every TICK seconds, for a bar that redraws on time.
REPORT_BYTES = 4 << 20
TICK = 0.05
# The start method of the workers: None for fork where it exists, else the
# platform's default; "spawn" to test what macOS and Windows do.
START_METHOD: str | None = None
# In an entry left for a big file: where its SHA-256 and size go.
_PENDING = b'"sha256":"","size":-1}'

FOLDER = "a folder"
"""The skip reason of a listed path that is a folder: a submodule, or a file that
became one."""
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_NOT_UTF8_HINT = "Rename it, or leave it out with .acpignore or --exclude."


@dataclass(frozen=True)
class Context:
    """What describing needs: DIR; the time before which the cache's entries are
    trusted (files changed since are hashed again); and when a file's stat is old
    enough for git's index to vouch for it later (``Chunk.settled``)."""

    root: bytes
    trusted_before_ns: int = 0
    settled_before_ns: int = 0
    keys: bool = True
    """Whether to return cache keys (``Chunk.keys``): not without a cache."""


Task = tuple[Sequence[bytes], Sequence[bytes]]
"""Paths to describe, sorted, and the cache's key of each (``cache.KEY_SIZE`` bytes,
zeros when there is none)."""


@dataclass(frozen=True)
class Chunk:
    """The description of a run of paths, path by path."""

    entries: list[bytes]
    """The plan entry of each path, serialized with sorted keys; empty for a path the
    plan does not list (deleted, skipped)."""
    keys: list[bytes]
    """The cache key of each path (``cache.KEY_SIZE`` bytes, zeros for all but regular
    files)."""
    settled: bytes
    """For each path, ``1`` when it is a regular file whose mtime and ctime (as hashed
    or checked) are before ``Context.settled_before_ns``, else ``0``."""
    files: int
    regular_files: int
    total_bytes: int
    hashed_files: int
    hashed_bytes: int
    skipped: list[tuple[str, str]]
    """(path, reason) of the paths a plan cannot hold: special files, submodules."""
    error: tuple[str, str] | None
    """(message, hint) of the first path that cannot be planned; then nothing else."""
    deferred: tuple[tuple[str, int, int], ...] = ()
    """(path, size, position) of the big files left to be hashed on their own: their
    entries hold ``_PENDING`` in place of their SHA-256 and size."""


class Describer:
    """Describes sorted paths in chunks, in worker processes when there are many.

    The workers start when ``describe_all`` finds enough paths to need them; each
    chunk carries the cache's entries of its paths. Where workers cannot start
    (inside a daemonic process, no processes left), the calling process does the
    work. Leaving the ``with`` block ends every worker at once.
    """

    def __init__(self) -> None:
        self.workers = early.cores()
        self._pool: _Pool | None = None

    def __enter__(self) -> Describer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.close()

    def describe_all(
        self,
        context: Context,
        names: Sequence[bytes],
        keys: Sequence[bytes],
        progress: Progress,
        *,
        few: bool = False,
    ) -> list[Chunk]:
        """Describe ``names`` (sorted by bytes) in ``context``, whose cache entries are
        ``keys``, in order, telling ``progress`` as files are done and bytes read, and
        at least every ``TICK`` seconds. Stops at the first error: the last chunk
        returned holds it. ``few``: the names are few, left over where git's index
        vouched for most, and most likely in the cache: described in this process
        (forking the workers would cost more), but for big files to hash."""
        size = max(CHUNK_MIN, min(CHUNK_MAX, len(names) // (self.workers * CHUNKS_PER_WORKER)))
        chunks: list[Task] = [
            (names[at : at + size], keys[at : at + size]) for at in range(0, len(names), size)
        ]
        if self._pool is None and self.workers > 1 and len(chunks) > 1 and not few:
            self._pool = _Pool.start(context, self.workers)
        if self._pool is not None:
            return self._pool.describe(chunks, progress)
        state = _State.load(
            context,
            on_block=lambda count: progress.advance(0, count),
            defer_from=BIG if self.workers > 1 else sys.maxsize,
        )
        described: dict[int, Chunk] = {}
        for at, (names_run, keys_run) in enumerate(chunks):
            chunk = described[at] = describe_chunk(names_run, keys_run, state)
            progress.advance(chunk.files + len(chunk.skipped) - len(chunk.deferred), 0)
            if chunk.error is not None:
                return [chunk]
        if sum(len(chunk.deferred) for chunk in described.values()) > 1:
            # A few files, some of them big: the workers hash those side by side.
            self._pool = _Pool.start(context, self.workers)
            if self._pool is not None:
                return self._pool.describe([], progress, described)
        return _hash_deferred_here(described, state, progress)


class Progress(Protocol):
    """What describing reports: ``build.PlanProgress`` less its ``start``."""

    def advance(self, files: int, hashed_bytes: int) -> None: ...

    def pending(self, hashed_bytes: int) -> None: ...


@dataclass(frozen=True)
class _State:
    """A process's view of the context."""

    root: bytes
    trusted_before_ns: int
    settled_before_ns: int
    keys: bool
    on_block: Callable[[int], None]
    """Called with the size of each block read to hash a file."""
    defer_from: int
    """Files of this size or more that need hashing are left to tasks of their own."""

    @classmethod
    def load(
        cls, context: Context, *, on_block: Callable[[int], None], defer_from: int = sys.maxsize
    ) -> _State:
        return cls(
            context.root,
            context.trusted_before_ns,
            context.settled_before_ns,
            context.keys,
            on_block,
            defer_from,
        )


class _Pool:
    """Worker processes, one pipe each: the parent sends a task to a worker that is
    free and reads back progress messages, then the result.

    Chunks of paths go first, in order; the big files they leave (``BIG`` bytes or
    more, to hash) follow, largest first, so that they spread over the workers.
    Only pipes: no semaphores or shared memory, which need a writable /dev/shm.
    """

    def __init__(self, workers: list[tuple[BaseProcess, Connection]], context: Context) -> None:
        self.workers = workers
        self.context = context

    @classmethod
    def start(cls, context: Context, count: int) -> _Pool | None:
        """Start ``count`` workers; None where processes cannot be started."""
        import multiprocessing

        if multiprocessing.current_process().daemon:
            return None  # a daemonic process may not have children
        early.hashed(())  # over before the workers are forked: they would hold its pipe
        # fork: a worker starts in a millisecond with everything imported; spawn
        # (where fork does not exist) starts a new interpreter per worker.
        methods = multiprocessing.get_all_start_methods()
        # Equivalent mutants (CONTRIBUTING.md): where fork is the default, None is fork.
        method = START_METHOD or ("fork" if "fork" in methods else None)  # pragma: no mutate
        mp_context: Any = multiprocessing.get_context(method)  # typeshed: no Process
        pool = cls([], context)
        try:
            for _ in range(count):
                ours, theirs = mp_context.Pipe()
                process = mp_context.Process(
                    target=_work,
                    args=(theirs, context, os.getpid()),
                    daemon=True,  # pragma: no mutate: close() ends them, whatever this says
                )
                try:
                    process.start()
                except OSError:
                    ours.close()
                    raise
                finally:
                    theirs.close()
                pool.workers.append((process, ours))
        except OSError:  # no processes or descriptors left: describe in this one
            pool.close()
            return None
        return pool

    def describe(
        self,
        chunks: list[Task],
        progress: Progress,
        described: Mapping[int, Chunk] | None = None,
    ) -> list[Chunk]:
        """Describe ``chunks`` in the workers, or only hash the big files that the
        ``described`` chunks left; the results in order (see ``describe_all``)."""
        from multiprocessing.connection import wait

        results = dict(described or {})
        todo = deque(enumerate(chunks))
        big: list[tuple[int, int, int, str]] = []  # (-size, chunk, index in deferred, path)
        left: dict[tuple[int, int], int] = {}  # bytes still to read, per big file
        pending = 0  # their sum
        hashes: dict[tuple[int, int], tuple[str, int, bytes]] = {}

        def defer(at: int, chunk: Chunk) -> None:
            nonlocal pending
            for number, (name, size, _) in enumerate(chunk.deferred):
                heapq.heappush(big, (-size, at, number, name))
                left[at, number] = size
                pending += size
            if chunk.deferred:
                progress.pending(pending)

        for at, chunk in results.items():
            defer(at, chunk)
        idle = [connection for _, connection in self.workers]
        busy: dict[Connection, tuple[int, int, str]] = {}  # (chunk, index or -1, path)
        while todo or big or busy:
            while idle and (todo or big):
                connection = idle.pop()
                if todo:
                    at, task = todo.popleft()
                    self._send(connection, task)
                    busy[connection] = (at, -1, "")  # pragma: no mutate: index < 0, no path
                else:
                    _, at, index, path = heapq.heappop(big)
                    self._send(connection, path)
                    busy[connection] = (at, index, path)
            ready = wait(list(busy), timeout=TICK)
            if not ready:
                progress.advance(0, 0)  # the clock moved: a bar redraws
            for connection in cast("list[Connection]", ready):  # pragma: no mutate: typing
                read, result = self._receive(connection)
                at, index, path = busy[connection]
                if index >= 0:  # a big file: its bytes were pending
                    counted = min(read, left[at, index])
                    left[at, index] -= counted
                    pending -= counted
                    if result is not None:
                        pending -= left.pop((at, index))
                    progress.pending(pending)
                progress.advance(0, read)
                if result is None:
                    continue  # pragma: no mutate: a progress message (CONTRIBUTING.md)
                del busy[connection]
                idle.append(connection)
                if isinstance(result, _Failure):
                    raise RuntimeError(f"a hashing worker failed: {result.text}")
                if isinstance(result, Chunk):
                    results[at] = result
                    if result.error is not None:
                        return [result]
                    defer(at, result)
                    progress.advance(result.files + len(result.skipped) - len(result.deferred), 0)
                elif isinstance(result, Unhashable):
                    return [_unhashable(results[at], path, result)]
                else:
                    hashes[at, index] = result
                    progress.advance(1, 0)
        before_ns = self.context.settled_before_ns
        return [_with_deferred(results[at], at, hashes, before_ns) for at in sorted(results)]

    def _send(self, connection: Connection, task: Task | str) -> None:
        try:
            connection.send(task)
        except OSError:  # a broken pipe: it died while it waited for work
            raise self._died(connection) from None

    def _receive(self, connection: Connection) -> tuple[int, Any]:
        try:
            received: tuple[int, Any] = connection.recv()
        except (EOFError, OSError):
            raise self._died(connection) from None
        return received

    def _died(self, connection: Connection) -> UsageError:
        """The error for the worker at the other end of ``connection``, gone."""
        process = next(process for process, ours in self.workers if ours is connection)
        process.join(1)  # pragma: no mutate: it has ended or is ending (CONTRIBUTING.md)
        return _worker_died(process.exitcode)

    def close(self) -> None:
        """End every worker now: a worker only reads files, so killing it loses nothing."""
        for process, connection in self.workers:
            connection.close()
            process.kill()
        for process, _ in self.workers:
            process.join()
        self.workers = []


def _hash_deferred_here(
    described: Mapping[int, Chunk], state: _State, progress: Progress
) -> list[Chunk]:
    """The ``described`` chunks, in order, with the big files they left hashed here, or
    while acp loaded (``early``) if they have not changed since."""
    buffer = bytearray(BLOCK)
    hashes: dict[tuple[int, int], tuple[str, int, bytes]] = {}
    early_hashes = early.hashed(
        [path for chunk in described.values() for path, _, _ in chunk.deferred]
    )
    for at, chunk in described.items():
        for number, (path, _, _) in enumerate(chunk.deferred):
            hashed: tuple[str, int, bytes] | Unhashable
            done = early_hashes.get(path)
            if done is not None and _key_of(state.root, path) == done[2]:
                hashed = done
                state.on_block(done[1])
            else:
                hashed = _hash_big(state.root, path, buffer, state.on_block)
            if isinstance(hashed, Unhashable):
                return [_unhashable(chunk, path, hashed)]
            hashes[at, number] = hashed
            progress.advance(1, 0)
    before_ns = state.settled_before_ns
    return [_with_deferred(described[at], at, hashes, before_ns) for at in sorted(described)]


def _hash_big(
    root: bytes, path: str, buffer: bytearray, on_block: Callable[[int], None]
) -> tuple[str, int, bytes] | Unhashable:
    """``hash_file`` of a big file a chunk left, by its path in DIR, opened without
    following a symlinked folder: the one place where a big file is opened."""
    with FolderChain(root) as folders:
        return hash_in(folders, path, buffer, on_block)


def _key_of(root: bytes, path: str) -> bytes | None:
    """``key_in`` of a big file a chunk left, by its path in DIR."""
    with FolderChain(root) as folders:
        return key_in(folders, path)


def _unhashable(chunk: Chunk, path: str, why: Unhashable) -> Chunk:
    """``chunk`` with the error of a big file it left that could not be hashed."""
    return replace(chunk, error=why.error(path))


def _with_deferred(
    chunk: Chunk,
    at: int,
    hashes: Mapping[tuple[int, int], tuple[str, int, bytes]],
    settled_before_ns: int,
) -> Chunk:
    """``chunk`` with the hashes of the big files it left to tasks of their own."""
    if not chunk.deferred:
        return chunk
    entries, keys, settled = list(chunk.entries), list(chunk.keys), bytearray(chunk.settled)
    total_bytes = chunk.total_bytes
    for number, (_, _, position) in enumerate(chunk.deferred):
        sha, size, key = hashes[at, number]
        entries[position] = entries[position].replace(
            _PENDING,
            b'"sha256":"%s","size":%d}' % (sha.encode(), size),
            1,  # pragma: no mutate: an entry holds _PENDING once (CONTRIBUTING.md)
        )
        keys[position] = key + bytes.fromhex(sha)
        settled[position] = _settled(key, settled_before_ns)
        total_bytes += size
    return replace(
        chunk,
        entries=entries,
        keys=keys,
        settled=bytes(settled),
        total_bytes=total_bytes,
        hashed_files=chunk.hashed_files + len(chunk.deferred),
        hashed_bytes=chunk.hashed_bytes + total_bytes - chunk.total_bytes,
        deferred=(),
    )


@dataclass(frozen=True)
class _Failure:
    """An exception in a worker: a bug, reported with its traceback."""

    text: str


def _work(connection: Connection, context: Context, parent: int) -> None:
    """A worker: describe each chunk (a list of names) or hash each big file (a path)
    the parent sends, until the parent closes the pipe."""
    import signal

    # Ctrl-C, a closed terminal or `kill` of the whole group reach the workers
    # too: the parent alone decides, stops the work and ends the workers, which
    # print nothing. A parent that is gone (killed) is seen between blocks.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    unsent = 0

    def on_block(count: int) -> None:
        nonlocal unsent
        unsent += count
        if unsent >= REPORT_BYTES:
            if os.getppid() != parent:  # the parent is gone: nobody waits for this
                os._exit(1)  # pragma: no mutate: nobody reads its status
            connection.send((unsent, None))
            unsent = 0

    try:
        state = _State.load(context, on_block=on_block, defer_from=BIG)
        buffer = bytearray(BLOCK)
        while True:
            # A worker forked later holds this pipe's other end too: the parent's
            # end closing is no EOF here, so an idle worker looks for its parent.
            while not connection.poll(1):  # pragma: no mutate: how soon it notices
                if os.getppid() != parent:
                    return
            try:
                task: Task | str = connection.recv()
            except EOFError:
                return
            result: Chunk | tuple[str, int, bytes] | Unhashable
            if isinstance(task, str):
                result = _hash_big(context.root, task, buffer, on_block)
            else:
                result = describe_chunk(*task, state)
            connection.send((unsent, result))
            unsent = 0
    except (BrokenPipeError, EOFError):
        return  # the parent stopped listening
    except Exception:
        import traceback

        connection.send((0, _Failure(traceback.format_exc())))


def _worker_died(exitcode: int | None) -> UsageError:
    """The error for a worker process that ended without its result."""
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        how = f"was killed by {name}"
        if -exitcode == getattr(
            signal,
            "SIGKILL",
            None,  # pragma: no mutate: SIGKILL exists wherever the tests run
        ):
            how += ", most likely by the system's out-of-memory killer"
    else:
        how = f"ended with status {exitcode}"
    return UsageError(
        f"A worker process that hashed files {how}; no plan was written.",
        hint="Free some memory or stop what killed it, then run the command again.",
    )


def describe_chunk(names: Sequence[bytes], keys: Sequence[bytes], context: _State) -> Chunk:
    """Describe paths, given the cache's key of each: plan entries, cache keys, what
    was skipped.

    The loop every path that git's index does not vouch for goes through, kept lean:
    on a re-plan after ``git commit`` it is most of the time acp spends.
    """
    trusted_before_ns, settled_before_ns = context.trusted_before_ns, context.settled_before_ns
    keep_keys = context.keys
    entries: list[dict[str, Any]] = []
    positions: list[int] = []  # of each entry among names
    cache_keys = [NO_KEY] * len(names)
    settled = bytearray(b"0" * len(names))
    buffer = bytearray(BLOCK)
    skipped: list[tuple[str, str]] = []
    deferred: list[tuple[str, int, int]] = []
    total_bytes = hashed_bytes = hashed_files = regular_files = 0
    error: tuple[str, str] | None = None
    # Locals: this loop runs once per listed path, and a global lookup costs.
    lstat, add_entry, add_position, pack = os.lstat, entries.append, positions.append, KEY.pack
    file_type, regular, owner_exec = stat.S_IFMT, stat.S_IFREG, stat.S_IXUSR
    executable, not_executable, stat_size = MODE_EXECUTABLE, MODE_FILE, KEY.size
    folders = FolderChain(context.root)
    folder, folder_fd = None, None  # the folder of the last path, and its descriptor
    for at, name in enumerate(names):
        try:
            path = name.decode("utf-8")  # pragma: no mutate: "UTF-8" is the same codec
        except UnicodeDecodeError:
            error = _not_utf8(name, "name")
            break
        parent, _, base = name.rpartition(b"/")
        try:
            if parent != folder:
                folder, folder_fd = parent, folders.open(parent)
            if folder_fd is None:
                continue  # a folder on its way is a symlink or a file: git says deleted
            info = lstat(base, dir_fd=folder_fd)
        except FileNotFoundError:
            continue  # tracked but deleted from the work tree: git's set leaves it out
        except OSError as exc:
            error = _unreadable(name, exc)
            break
        mode = info.st_mode
        if file_type(mode) != regular:
            other = _describe_other(name, path, base, folder_fd, mode)
            if isinstance(other, dict):
                add_entry(other)
                add_position(at)
                total_bytes += other["size"]
            elif other[0] == "skip":
                skipped.append((path, other[1]))
            else:
                error = (other[0], other[1])
                break
            continue
        regular_files += 1
        size, mtime_ns, ctime_ns = info.st_size, info.st_mtime_ns, info.st_ctime_ns
        key = pack(size, mtime_ns, ctime_ns, info.st_ino, info.st_dev)  # hashing.stat_key
        recorded = keys[at]
        # The cache's hash, unless the file changed too recently to trust: racy git
        if mtime_ns < trusted_before_ns and recorded[:stat_size] == key:
            sha = recorded[stat_size:].hex()
            cache_keys[at] = recorded
            if mtime_ns < settled_before_ns and ctime_ns < settled_before_ns:
                settled[at] = 49  # "1"
        elif size >= context.defer_from:
            deferred.append((path, size, len(entries)))  # hashed on its own, largest first
            sha, size = "", -1
        else:
            hashed = hash_file(base, buffer, context.on_block, folder_fd)
            if isinstance(hashed, Unhashable):
                error = hashed.error(path)
                break
            sha, size, key = hashed
            if keep_keys:
                cache_keys[at] = key + bytes.fromhex(sha)
                settled[at] = _settled(key, settled_before_ns)
            hashed_files += 1
            hashed_bytes += size
        add_entry(
            {
                "mode": executable if mode & owner_exec else not_executable,
                "path": path,
                "sha256": sha,
                "size": size,
            }
        )
        add_position(at)
        total_bytes += max(size, 0)
    folders.close()
    serialized = [b""] * len(names)
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS
    for entry, at in zip(entries, positions, strict=True):  # pragma: no mutate: as long
        serialized[at] = dumps(entry, option=sort_keys)  # pragma: no mutate: sorted already
    return Chunk(
        entries=serialized,
        keys=cache_keys,
        settled=bytes(settled),
        files=len(entries),
        regular_files=regular_files,
        total_bytes=total_bytes,
        hashed_files=hashed_files,
        hashed_bytes=hashed_bytes,
        skipped=skipped,
        error=error,
        deferred=tuple((path, size, positions[number]) for path, size, number in deferred),
    )


def _settled(key: bytes, before_ns: int) -> int:
    """``1`` (as a byte) when the mtime and ctime of the stat key ``key`` are before
    ``before_ns``, else ``0``."""
    _, mtime_ns, ctime_ns, _, _ = KEY.unpack_from(key)
    return 49 if mtime_ns < before_ns and ctime_ns < before_ns else 48


def _describe_other(
    name: bytes, path: str, base: bytes, folder_fd: int, mode: int
) -> dict[str, Any] | tuple[str, str]:
    """A symlink's plan entry, ``("skip", reason)``, or ``(message, hint)`` of an error;
    ``base`` is its name in the folder open as ``folder_fd``."""
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(base, dir_fd=folder_fd)
        except OSError as exc:
            return _unreadable(name, exc)
        try:
            text = target.decode("utf-8")  # pragma: no mutate: "UTF-8" is the same codec
        except UnicodeDecodeError:
            return _not_utf8(name, "link text")
        return {
            "mode": MODE_SYMLINK,
            "path": path,
            "sha256": hashlib.sha256(target).hexdigest(),
            "size": len(target),
            "target": text,
        }
    if stat.S_ISDIR(mode):
        # Listed by `git ls-files --cached`: a submodule, or a tracked file that
        # became a folder (git says deleted, and lists its untracked files on their
        # own). Which one, the index says: build_plan asks it.
        return ("skip", FOLDER)
    return ("skip", next((label for test, label in _SPECIAL_KINDS if test(mode)), "a special file"))


def _not_utf8(name: bytes, what: str) -> tuple[str, str]:
    return (
        f"Cannot plan {escape(name)}: its {what} is not valid UTF-8, which JSON cannot hold.",
        _NOT_UTF8_HINT,
    )


def _unreadable(name: bytes, exc: OSError) -> tuple[str, str]:
    return f"Cannot read {escape(name)}: {exc.strerror or exc}.", UNREADABLE_HINT
