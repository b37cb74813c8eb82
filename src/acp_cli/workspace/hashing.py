"""SHA-256 of many files at once: forked worker processes, largest files first.

Threads gain nothing here: the per-file Python work (open, fstat, read, close)
holds the GIL, so two processes are what use two cores. Files are sent in
batches (one task per big file, hundreds of small files per task) so that a
task's cost dwarfs the cost of sending it. A few files are hashed in the calling
process: starting a pool costs more than hashing a small tree.

Each file is read in blocks into one reused buffer (memory stays bounded, no
mmap), with its ``fstat`` taken before and after: a file whose size, mtime or
ctime moved while it was read is read again, up to ``REREADS`` times.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Sequence

from acp_cli.workspace.cache import stat_key

BLOCK = 1 << 20
REREADS = 3
# A task holds up to this many files or bytes; a bigger file is a task of its own.
BATCH_FILES = 256
BATCH_BYTES = 8 << 20
# Below these the pool's start-up (about 20 ms per worker) costs more than it saves.
POOL_MIN_FILES = 64
POOL_MIN_BYTES = 16 << 20

_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK


# What hashing one file gives: (sha256, size, cache key) or, as a plain string, why
# it could not be hashed. Plain tuples: results cross from the workers pickled, and
# a tuple pickles eight times faster than a dataclass.
Hashed = tuple[str, int, str]
HashResult = Hashed | str


def hash_file(path: bytes, buffer: bytearray) -> HashResult:
    """The SHA-256, size and cache key of the regular file at ``path``, read until it
    holds still; or why it could not be."""
    view = memoryview(buffer)
    for _ in range(1 + REREADS):
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            return _os_reason(exc)
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                return "it stopped being a regular file while acp read it"
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
        if remaining == 0 and (
            before.st_size,
            before.st_mtime_ns,
            before.st_ctime_ns,
        ) == (after.st_size, after.st_mtime_ns, after.st_ctime_ns):
            key = stat_key(
                before.st_size,
                before.st_mtime_ns,
                before.st_ctime_ns,
                before.st_ino,
                before.st_dev,
            )
            return digest.hexdigest(), before.st_size, key
    return f"it kept changing while acp read it ({1 + REREADS} reads)"


def _os_reason(exc: OSError) -> str:
    return f"cannot read it: {exc.strerror or exc}"


def _hash_batch(batch: tuple[int, list[bytes]]) -> tuple[int, list[HashResult]]:
    """A worker's task: the results of one batch, tagged with the batch's number."""
    number, paths = batch
    buffer = bytearray(BLOCK)
    return number, [hash_file(path, buffer) for path in paths]


def hash_files(
    paths: Sequence[bytes],
    sizes: Sequence[int],
    on_done: Callable[[int, int], None],
) -> list[HashResult]:
    """Hash the files at ``paths`` (absolute), whose sizes are about ``sizes``.

    Returns one result per path, in order. ``on_done(files, bytes)`` is called in
    this thread as each batch finishes.
    """
    results: list[HashResult | None] = [None] * len(paths)
    batches = list(_batches(sizes))
    workers = _worker_count()
    if (
        workers < 2
        or len(batches) < 2
        or (len(paths) < POOL_MIN_FILES and sum(sizes) < POOL_MIN_BYTES)
    ):
        buffer = bytearray(BLOCK)
        for batch in batches:
            for index in batch:
                results[index] = hash_file(paths[index], buffer)
            on_done(len(batch), sum(sizes[index] for index in batch))
    else:
        for number, batch_results in _in_pool(workers, paths, batches):
            batch = batches[number]
            for index, result in zip(batch, batch_results, strict=True):
                results[index] = result
            on_done(len(batch), sum(sizes[index] for index in batch))
    return [result for result in results if result is not None]


def _in_pool(
    workers: int, paths: Sequence[bytes], batches: list[list[int]]
) -> Iterator[tuple[int, list[HashResult]]]:
    import multiprocessing

    # fork: a worker starts in a millisecond with everything imported; spawn would
    # start a new interpreter per worker. Where fork does not exist, the default.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    tasks = ((number, [paths[index] for index in batch]) for number, batch in enumerate(batches))
    with context.Pool(workers) as pool:
        yield from pool.imap_unordered(_hash_batch, tasks)


def _batches(sizes: Sequence[int]) -> Iterator[list[int]]:
    """Indexes of ``sizes`` grouped into tasks, largest files first."""
    order = sorted(range(len(sizes)), key=sizes.__getitem__, reverse=True)
    batch: list[int] = []
    batch_bytes = 0
    for index in order:
        size = sizes[index]
        if batch and (len(batch) >= BATCH_FILES or batch_bytes + size > BATCH_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(index)
        batch_bytes += size
    if batch:
        yield batch


def _worker_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
