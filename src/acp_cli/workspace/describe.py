"""Describing the listed files: lstat, the cache, SHA-256; in forked workers.

The sorted list of paths git gave is cut into chunks of consecutive paths, and
each chunk is described by a worker process on its own: lstat each path (never
opening anything that is not a regular file), take the hash from the cache when
the stat matches, else read and hash the file. So the per-file walk overlaps the
hashing and uses every core: threads would gain nothing, since the per-file
Python work holds the GIL. A chunk comes back as bytes, its plan entries and
its cache entries already serialized by orjson, so nothing is pickled per file,
and the chunks, taken in order, make up the sorted plan. Chunks are handed out
as workers free up, so a big file in one chunk does not hold the others back.

A small tree is described in the calling process: starting workers would cost
more than it saves.

Each file is read in blocks into one reused buffer (bounded memory, no mmap),
with an ``fstat`` before and after: a file whose size, mtime or ctime moved
while it was read is read again, up to ``REREADS`` times.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from acp_cli.workspace.cache import HashCache, stat_key
from acp_cli.workspace.folders import FolderChain
from acp_cli.workspace.listing import escape

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

BLOCK = 1 << 20
REREADS = 3
SHA256_HEX_LENGTH = 64
MODE_FILE = "100644"
MODE_EXECUTABLE = "100755"
MODE_SYMLINK = "120000"
# Chunks: about this many per worker, each of CHUNK_MIN to CHUNK_MAX paths; a
# tree of at most CHUNK_MIN paths is described in the calling process.
CHUNKS_PER_WORKER = 24
CHUNK_MIN = 256
CHUNK_MAX = 4096

# O_NONBLOCK: a file swapped for a FIFO since its lstat opens without hanging (and
# fails the S_ISREG check); O_NOFOLLOW: one swapped for a symlink is not followed.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
)
FOLDER = "a folder"
"""The skip reason of a listed path that is a folder: a submodule, or a file that
became one."""
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_UNREADABLE_HINT = "Fix its permissions, or leave it out with .acpignore or --exclude."
_CHANGING_HINT = "Stop whatever writes to it, or leave it out with .acpignore or --exclude."
_NOT_UTF8_HINT = "Rename it, or leave it out with .acpignore or --exclude."


@dataclass(frozen=True)
class Context:
    """What describing needs: DIR, and the cache each worker loads for itself."""

    root: bytes
    cache: HashCache | None


@dataclass(frozen=True)
class Chunk:
    """The description of a run of consecutive paths."""

    entries: bytes
    """Its plan entries, serialized with sorted keys, without the enclosing ``[]``."""
    cache_entries: bytes
    """Its regular files' cache entries, serialized, without the enclosing ``{}``."""
    files: int
    regular_files: int
    total_bytes: int
    hashed_files: int
    hashed_bytes: int
    skipped: list[tuple[str, str]]
    """(path, reason) of the paths a plan cannot hold: special files, submodules."""
    error: tuple[str, str] | None
    """(message, hint) of the first path that cannot be planned; then nothing else."""


class Describer:
    """Describes sorted paths in chunks, in worker processes when there are many.

    With ``expect_many`` the workers start at once, and each loads the cache
    while the caller is still waiting for git's listing; else they start when
    ``describe_all`` finds enough paths to need them.
    """

    def __init__(self, context: Context, *, expect_many: bool) -> None:
        self.context = context
        self.workers = _worker_count()
        self._pool: ProcessPoolExecutor | None = None
        if expect_many and self.workers > 1:
            self._start_pool()

    def __enter__(self) -> Describer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            # Chunks not started yet are dropped; running ones finish first.
            self._pool.shutdown(wait=True, cancel_futures=True)

    def describe_all(
        self, names: Sequence[bytes], on_chunk: Callable[[Chunk], None]
    ) -> list[Chunk]:
        """Describe ``names`` (sorted by bytes), in order, calling ``on_chunk`` as
        each chunk is done. Stops at the first chunk with an error."""
        size = max(CHUNK_MIN, min(CHUNK_MAX, len(names) // (self.workers * CHUNKS_PER_WORKER)))
        chunks = [names[at : at + size] for at in range(0, len(names), size)]
        if self._pool is None and self.workers > 1 and len(chunks) > 1:
            self._start_pool()
        if self._pool is not None:
            described: Iterator[Chunk] = self._pool.map(_describe_in_worker, chunks)
        else:
            state = _State.load(self.context)
            described = (describe_chunk(chunk, state) for chunk in chunks)
        results: list[Chunk] = []
        for chunk in described:
            results.append(chunk)
            on_chunk(chunk)
            if chunk.error is not None:
                break
        return results

    def _start_pool(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork: a worker starts in a millisecond with everything imported; spawn
        # (where fork does not exist) starts a new interpreter per worker. The
        # executor, unlike multiprocessing.Pool, reports a worker that died
        # (BrokenProcessPool) instead of waiting for it forever.
        methods = multiprocessing.get_all_start_methods()
        mp_context = multiprocessing.get_context("fork" if "fork" in methods else None)
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=mp_context,
            initializer=_start_worker,
            initargs=(self.context,),
        )
        # With fork, the first task starts every worker: each loads the cache now.
        self._pool.submit(int)


@dataclass(frozen=True)
class _State:
    """A process's view of the context: with the cache's file entries loaded."""

    root: bytes
    cached: Mapping[str, Any]
    trusted_before_ns: int

    @classmethod
    def load(cls, context: Context) -> _State:
        cached, trusted_before_ns = (
            context.cache.load_files() if context.cache is not None else ({}, 0)
        )
        return cls(context.root, cached, trusted_before_ns)


_worker_state: _State | None = None


def _start_worker(context: Context) -> None:
    global _worker_state  # a worker process's one piece of state
    _worker_state = _State.load(context)


def _describe_in_worker(names: Sequence[bytes]) -> Chunk:
    assert _worker_state is not None
    return describe_chunk(names, _worker_state)


def describe_chunk(names: Sequence[bytes], context: _State) -> Chunk:
    """Describe consecutive paths: plan entries, cache entries, what was skipped.

    The loop every listed path goes through, kept lean: on a warm re-plan it is
    most of the time acp spends.
    """
    cached, trusted_before_ns = context.cached, context.trusted_before_ns
    entries: list[dict[str, Any]] = []
    hashed_keys: dict[str, str] = {}  # the cache keys of the files hashed here
    cached_digests: list[str] = []
    buffer = bytearray(BLOCK)
    skipped: list[tuple[str, str]] = []
    total_bytes = hashed_bytes = regular_files = 0
    error: tuple[str, str] | None = None
    # Locals: this loop runs once per listed path, and a global lookup costs.
    lstat, add_entry, add_digest = os.lstat, entries.append, cached_digests.append
    file_type, regular, owner_exec = stat.S_IFMT, stat.S_IFREG, stat.S_IXUSR
    executable, not_executable, digest_length = MODE_EXECUTABLE, MODE_FILE, SHA256_HEX_LENGTH
    folders = FolderChain(context.root)
    folder, folder_fd = None, None  # the folder of the last path, and its descriptor
    for name in names:
        try:
            path = name.decode("utf-8")
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
                total_bytes += other["size"]
            elif other[0] == "skip":
                skipped.append((path, other[1]))
            else:
                error = (other[0], other[1])
                break
            continue
        regular_files += 1
        size, mtime_ns = info.st_size, info.st_mtime_ns
        # cache.stat_key, written out: a call per file costs 10% of a warm run
        key = f"{size} {mtime_ns} {info.st_ctime_ns} {info.st_ino} {info.st_dev} "
        sha = None
        if mtime_ns < trusted_before_ns:  # else changed too recently to trust: racy git
            entry = cached.get(path)  # the key followed by the SHA-256
            if (
                type(entry) is str
                and entry.startswith(key)
                and len(entry) - len(key) == digest_length
            ):
                sha = entry[-digest_length:]
                add_digest(sha)
        if sha is None:
            hashed = hash_file(base, buffer, folder_fd)
            if isinstance(hashed, Unhashable):
                error = hashed.error(path)
                break
            sha, size, hashed_keys[path] = hashed
            hashed_bytes += size
        add_entry(
            {
                "mode": executable if mode & owner_exec else not_executable,
                "path": path,
                "sha256": sha,
                "size": size,
            }
        )
        total_bytes += size
    if error is None and not _all_hex("".join(cached_digests)):
        # A corrupt cache may make a run slower, never change its output.
        error = _hash_malformed(entries, hashed_keys, folders, buffer)
    folders.close()
    # Serialized here, in parallel, though most runs do not rewrite the cache: it
    # costs less than the main process loading the old entries when one must.
    cache_entries = orjson.dumps(
        {
            path: hashed_keys[path] + entry["sha256"] if path in hashed_keys else cached[path]
            for entry in entries
            if entry["mode"] != MODE_SYMLINK
            for path in (entry["path"],)
        }
    )[1:-1]
    return Chunk(
        entries=orjson.dumps(entries, option=orjson.OPT_SORT_KEYS)[1:-1],
        cache_entries=cache_entries,
        files=len(entries),
        regular_files=regular_files,
        total_bytes=total_bytes,
        hashed_files=len(hashed_keys),
        hashed_bytes=hashed_bytes,
        skipped=skipped,
        error=error,
    )


def _hash_malformed(
    entries: list[dict[str, Any]],
    hashed_keys: dict[str, str],
    folders: FolderChain,
    buffer: bytearray,
) -> tuple[str, str] | None:
    """Hash again the files whose cached SHA-256 is not 64 lowercase hex digits."""
    for entry in entries:
        path = entry["path"]
        if entry["mode"] == MODE_SYMLINK or path in hashed_keys or _all_hex(entry["sha256"]):
            continue
        parent, _, base = path.encode().rpartition(b"/")
        try:
            folder_fd = folders.open(parent)
        except OSError as exc:
            return _unreadable(path.encode(), exc)
        hashed = (
            hash_file(base, buffer, folder_fd)
            if folder_fd is not None
            else Unhashable("it was moved while acp read it", _CHANGING_HINT)
        )
        if isinstance(hashed, Unhashable):
            return hashed.error(path)
        entry["sha256"], entry["size"], hashed_keys[path] = hashed
    return None


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
            text = target.decode("utf-8")
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


class Unhashable(NamedTuple):
    """Why a file could not be hashed, and what to do about it."""

    reason: str
    hint: str

    def error(self, path: str) -> tuple[str, str]:
        """The (message, hint) of the error naming ``path``."""
        return f"Cannot plan {path}: {self.reason}.", self.hint


def hash_file(
    path: bytes, buffer: bytearray, dir_fd: int | None = None
) -> tuple[str, int, str] | Unhashable:
    """The SHA-256, size and cache key of the regular file at ``path`` (relative to
    the folder open as ``dir_fd``, if given), read until it holds still; or why it
    could not be."""
    view = memoryview(buffer)
    for _ in range(1 + REREADS):
        try:
            fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            return _os_reason(exc)
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                return Unhashable(
                    "it stopped being a regular file while acp read it", _CHANGING_HINT
                )
            digest = hashlib.sha256()
            remaining = before.st_size
            while remaining > 0:
                count = os.readv(fd, [view])
                if count == 0:
                    break  # shorter than it was: the fstat after the read says so
                digest.update(view[:count])
                remaining -= count
            after = os.fstat(fd)
        except OSError as exc:
            return _os_reason(exc)
        finally:
            os.close(fd)
        if remaining == 0 and (before.st_size, before.st_mtime_ns, before.st_ctime_ns) == (
            after.st_size,
            after.st_mtime_ns,
            after.st_ctime_ns,
        ):
            key = stat_key(
                before.st_size, before.st_mtime_ns, before.st_ctime_ns, before.st_ino, before.st_dev
            )
            return digest.hexdigest(), before.st_size, key
    return Unhashable(f"it kept changing while acp read it ({1 + REREADS} reads)", _CHANGING_HINT)


def _all_hex(text: str) -> bool:
    """Whether ``text`` is lowercase hex digits only."""
    return text.isascii() and not text.encode("ascii").translate(None, b"0123456789abcdef")


def _os_reason(exc: OSError) -> Unhashable:
    return Unhashable(f"cannot read it: {exc.strerror or exc}", _UNREADABLE_HINT)


def _not_utf8(name: bytes, what: str) -> tuple[str, str]:
    return (
        f"Cannot plan {escape(name)}: its {what} is not valid UTF-8, which JSON cannot hold.",
        _NOT_UTF8_HINT,
    )


def _unreadable(name: bytes, exc: OSError) -> tuple[str, str]:
    return f"Cannot read {escape(name)}: {exc.strerror or exc}.", _UNREADABLE_HINT


def _worker_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
