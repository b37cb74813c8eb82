"""The hash cache (SPEC section 8, "The cache"): one file per workspace.

    <sha256 of the header> {"body": "<sha256 of the rest>",
     "folders": {"<folder>": [mtime_ns, ctime_ns, has_acpignore, ["<special file>"]]},
     "format": 3, "index": [<identity of git's index>] or null, "names": <count>,
     "root": "<hex of DIR's resolved path>", "sections": [<length of each>],
     "written_ns": <time>}
    <names><plan entries><entry lengths><keys><verified>

The rest is five sections, each one item per name the run described, in order: the
names, NUL-separated; the plan entries as the plan holds them, each followed by a
comma (none for a name that is not planned: deleted, skipped); the length of each
(with its comma, else 0), 8 bytes; each regular file's key (``KEY``: size, mtime_ns,
ctime_ns, inode, device, then the 32 bytes of its SHA-256; zeros for any other
name); and one byte per name, 1 when git's index vouches for the file (below), else
0. Numbers are little-endian. So loading is a few slices, with no parse per file,
and the entries of a run of unchanged names are one slice of the plan entries. The
folders part lets an unchanged folder go unread (``listing.FolderMemory``).

A hash is reused only for a file whose (size, mtime_ns, ctime_ns, inode, device)
are those recorded, and whose mtime is more than ``RACY_NS`` before the cache was
written: a file changed within the file system's timestamp granularity of the
moment it was hashed could keep its stat with new content ("racy git"). Or, without
a ``lstat`` of its own, for a file git's index vouches for (``build._Run``):
one git compared with its index entry and found unchanged (``git diff-files``,
strict stat options), in an index that is the very file (``early.index_identity``) of a
run that saw the entry match the recorded stat. Anything unexpected in the file
(missing, corrupt, another format, another folder, a malformed entry, a checksum
that does not match) is ignored and the cache rewritten: the cache may only ever
make a run faster, never change its output. So is a file that another user could
have written: one owned by another user or writable by group or others, or in a
folder that is (StrictModes).

The cache folder is bounded: writing a cache removes the least recently used ones
beyond ``MAX_FILES`` files or ``MAX_BYTES`` bytes (a run that uses a cache without
rewriting it marks it used).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import sys
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from acp_cli.files import forget_oldest, only_ours, write_atomic
from acp_cli.settings import cache_dir
from acp_cli.workspace.hashing import KEY

FORMAT = 3
RACY_NS = 2_000_000_000
"""How recent a change may have been missed: by the file system's timestamp
granularity, and, for git's index, by git comparing timestamps to the second (git
built without USE_NSEC): more than a second."""
MAX_FILES = 64
"""At most this many workspaces' caches are kept: the least recently used go first."""
MAX_BYTES = 256 << 20
"""And at most this many bytes of them (each is about 250 bytes per file planned)."""


KEY_SIZE = KEY.size + 32
"""The bytes of a key: the stat, then the SHA-256."""
NO_KEY = bytes(KEY_SIZE)


def cache_file(root: Path, env: Mapping[str, str]) -> Path:
    """Where the cache of the workspace at ``root`` (resolved) lives."""
    key = hashlib.sha256(os.fsencode(root)).hexdigest()[:32]  # pragma: no mutate: any length
    return cache_dir(env).expanduser() / "plans" / f"{key}.json"


@dataclass(frozen=True)
class Described:
    """What a run found, name by name, as the sections of the cache file (see the
    module's documentation): what the cache holds, and what ``save`` writes."""

    names: bytes
    entries: bytes | memoryview
    lengths: array[int]
    keys: bytes | memoryview
    verified: bytes
    folders: dict[str, Any]
    index: list[int] | None
    """The identity of the index that ``verified`` holds for."""
    trusted_before_ns: int = 0
    """Entries for files and folders changed since then are not trusted."""

    @property
    def count(self) -> int:
        """How many names."""
        return len(self.verified)

    def sizes(self) -> Sequence[int]:
        """The size in each key."""
        if sys.byteorder == "big":  # pragma: no cover, no mutate block - little-endian here
            return [KEY.unpack_from(self.keys, at)[0] for at in range(0, len(self.keys), KEY_SIZE)]
        return memoryview(self.keys).cast(
            "q"  # pragma: no mutate: "Q" reads the same sizes, never negative
        )[:: KEY_SIZE // 8]


EMPTY = Described(b"", b"", array("q"), b"", b"", {}, None)


class HashCache:
    """The hashes recorded by an earlier run over the same folder."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root_key = os.fsencode(root).hex()

    def load(self) -> Described:
        """What the cache holds; ``EMPTY`` when the file is missing or unusable. Read
        and checked once a run, while git lists the files."""
        try:
            # Unbuffered: read at once into one buffer of the file's size (a buffered
            # read of the rest joins what it buffered to it: twice the cache's size).
            with self.path.open("rb", buffering=0) as handle:
                if not self._trusted(os.fstat(handle.fileno())):
                    return EMPTY
                whole = handle.readall()
            end = whole.find(b"\n")
            line = whole[:end] if end >= 0 else whole  # pragma: no mutate: `> 0` too
            body = memoryview(whole)[len(line) + 1 :]  # the sections: views of it
            checksum, _, text = line.partition(b" ")
            if hashlib.sha256(text).hexdigest().encode() != checksum:
                return EMPTY
            header = orjson.loads(text)
        except (OSError, orjson.JSONDecodeError):
            return EMPTY
        if not (
            isinstance(header, dict)
            and header.get("format") == FORMAT
            and header.get("root") == self.root_key
            and type(header.get("written_ns")) is int
            and type(header.get("names")) is int
            and isinstance(header.get("folders"), dict)
            and isinstance(header.get("body"), str)
            and _ints(header.get("sections"), 5)
            and (header.get("index") is None or _ints(header.get("index"), 4))
            and sum(header["sections"]) == len(body)
            and hashlib.sha256(body).hexdigest() == header["body"]
        ):
            return EMPTY
        count = header["names"]
        ends = list(itertools.accumulate(header["sections"]))
        # Views, not copies, of what is only sliced.
        names, entries, lengths, keys, verified = (
            memoryview(body)[start:end] for start, end in itertools.pairwise([0, *ends])
        )
        found = Described(
            names=bytes(names),
            entries=entries,
            lengths=_numbers(lengths),
            keys=keys,
            verified=bytes(verified),
            folders=header["folders"],
            index=header["index"],
            trusted_before_ns=header["written_ns"] - RACY_NS,
        )
        if (
            len(verified) == count
            and len(found.lengths) == count
            and len(keys) == count * KEY_SIZE
            and (found.names.count(b"\0") + 1 if count else 0) == count
            and sum(found.lengths) == len(entries)
            and min(found.lengths, default=0) >= 0  # pragma: no mutate: default=1 too
        ):
            return found
        return EMPTY

    def mark_used(self) -> None:
        """Record that this run used the cache without rewriting it, so that the
        bound on the cache folder removes the caches least recently used."""
        with contextlib.suppress(OSError):
            os.utime(self.path)

    def _trusted(self, info: os.stat_result) -> bool:
        """Whether only this user can have written the cache file of stat ``info``:
        the file and its folder are the user's and writable by no one else."""
        if os.name != "posix":  # pragma: no cover - Windows has ACLs, not mode bits
            return True  # pragma: no mutate: not run on POSIX
        return only_ours(info) and only_ours(self.path.parent.stat())

    def save(self, described: Described) -> None:
        """Write the new cache. A failure is ignored: the cache only saves time, and a
        plan must not fail because a cache folder is read-only."""
        sections = (
            described.names,
            described.entries,
            _little_endian(described.lengths),
            described.keys,
            described.verified,
        )
        try:
            body = hashlib.sha256()
            for section in sections:  # not joined: the one join is the file's
                body.update(section)
            header = orjson.dumps(
                {
                    "body": body.hexdigest(),
                    "folders": described.folders,
                    "format": FORMAT,
                    "index": described.index,
                    "names": described.count,
                    "root": self.root_key,
                    "sections": [len(section) for section in sections],
                    "written_ns": time.time_ns(),
                }
            )
            checksum = hashlib.sha256(header).hexdigest().encode()
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Not flushed to disk: a cache cut short by a crash fails its checksum and
            # is ignored, and the flush costs a third of a re-plan's extra time.
            # Written part by part: a join would hold a copy of the whole cache.
            write_atomic(
                self.path,
                (checksum, b" ", header, b"\n", *sections),
                durable=False,  # pragma: no mutate: None is False
            )
            forget_oldest(
                self.path.parent, keep_files=MAX_FILES, keep_bytes=MAX_BYTES, spare=self.path
            )
        except (OSError, orjson.JSONEncodeError):  # a folder name that is not UTF-8
            pass


def _numbers(data: memoryview) -> array[int]:
    """The 8-byte little-endian numbers of ``data`` (none when its length is not a
    multiple of 8)."""
    numbers = array("q")
    if len(data) % 8 == 0:
        numbers.frombytes(data)
        if sys.byteorder == "big":  # pragma: no cover, no mutate block - written little-endian
            numbers.byteswap()
    return numbers


def _little_endian(sizes: array[int]) -> bytes:
    if sys.byteorder == "big":  # pragma: no cover, no mutate block - little-endian here
        sizes = array("q", sizes)
        sizes.byteswap()
    return sizes.tobytes()


def _ints(value: object, length: int) -> bool:
    return (
        type(value) is list
        and len(value) == length
        and all(type(item) is int and item >= 0 for item in value)
    )
