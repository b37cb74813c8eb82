"""The hash cache (SPEC section 8, "The cache"): one file per workspace, two lines.

    <sha256 of the header> {"body": "<sha256 of the second line>", "files": <count>,
     "folders": {"<folder>": [mtime_ns, ctime_ns, has_acpignore, ["<special file>"]]},
     "format": 2, "root": "<hex of DIR's resolved path>", "written_ns": <time>}
    {"files": {"<path>": "<size> <mtime_ns> <ctime_ns> <inode> <device> <sha256>"}}

The folders part lets an unchanged folder go unread (``listing.FolderMemory``).

A hash is reused only for a file whose (size, mtime_ns, ctime_ns, inode, device)
are those recorded, and whose mtime is more than ``RACY_NS`` before the cache was
written: a file changed within the file system's timestamp granularity of the
moment it was hashed could keep its stat with new content ("racy git"). Anything
unexpected in the file (missing, corrupt, another format, another folder, a
malformed entry, a checksum that does not match its line) is ignored and the
cache rewritten: the cache may only ever make a run faster, never change its
output. So is a file that another user could have written: one owned by another
user or writable by group or others, or in a folder that is (StrictModes). The
lookup itself is inlined in the loop every listed file goes through
(``describe.describe_chunk``).

Each line is checked where it is parsed: the header, then the file entries (most
of the file, loaded once while git lists the files; forked workers inherit them),
against the checksum the header holds. The cache folder is bounded: writing a
cache removes the least recently used ones beyond ``MAX_FILES`` files or
``MAX_BYTES`` bytes (a run that uses a cache without rewriting it marks it used).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from acp_cli.files import only_ours, write_atomic
from acp_cli.settings import cache_dir

FORMAT = 2
RACY_NS = 2_000_000_000
MAX_FILES = 64
"""At most this many workspaces' caches are kept: the least recently used go first."""
MAX_BYTES = 256 << 20
"""And at most this many bytes of them (each is about 100 bytes per file planned)."""


def stat_key(size: int, mtime_ns: int, ctime_ns: int, inode: int, device: int) -> str:
    """A file's cache key; its entry is the key followed by its SHA-256.

    One string per file, rather than a list of numbers, loads 2.5 times faster.
    """
    return f"{size} {mtime_ns} {ctime_ns} {inode} {device} "


def cache_file(root: Path, env: Mapping[str, str]) -> Path:
    """Where the cache of the workspace at ``root`` (resolved) lives."""
    key = hashlib.sha256(os.fsencode(root)).hexdigest()[:32]
    return cache_dir(env).expanduser() / "plans" / f"{key}.json"


@dataclass(frozen=True)
class CacheHeader:
    """The first line of the cache file."""

    folders: dict[str, Any]
    trusted_before_ns: int
    """Entries for files and folders changed since then are not trusted."""
    files: int
    """How many file entries the second line holds."""


class HashCache:
    """The hashes recorded by an earlier run over the same folder.

    The file has two lines: the header, with the folders, which the listing
    needs, and the files, which is most of it and only describing needs. Each line
    is checked against its checksum where it is parsed (see the module's
    documentation).
    """

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root_key = os.fsencode(root).hex()

    def load_header(self) -> CacheHeader:
        """The first line; an empty header when the file is missing or unusable."""
        try:
            with self.path.open("rb") as handle:
                if not self._trusted(os.fstat(handle.fileno())):
                    return CacheHeader({}, 0, 0)
                return self._header(handle.readline().removesuffix(b"\n"))[0]
        except OSError:
            return CacheHeader({}, 0, 0)

    def load_files(self) -> tuple[dict[str, Any], int]:
        """The file entries and the time before which they are trusted; ``({}, 0)``
        when the file is missing or unusable."""
        try:
            with self.path.open("rb") as handle:
                if not self._trusted(os.fstat(handle.fileno())):
                    return {}, 0
                line, _, files = handle.read().partition(b"\n")
            header, checksum = self._header(line)
            if not header.trusted_before_ns or hashlib.sha256(files).hexdigest() != checksum:
                return {}, 0
            document = orjson.loads(files)
        except (OSError, orjson.JSONDecodeError):
            return {}, 0
        entries = document.get("files") if isinstance(document, dict) else None
        return (entries, header.trusted_before_ns) if isinstance(entries, dict) else ({}, 0)

    def mark_used(self) -> None:
        """Record that this run used the cache without rewriting it, so that the
        bound on the cache folder removes the caches least recently used."""
        with contextlib.suppress(OSError):
            os.utime(self.path)

    def _trusted(self, info: os.stat_result) -> bool:
        """Whether only this user can have written the cache file of stat ``info``:
        the file and its folder are the user's and writable by no one else."""
        if os.name != "posix":  # pragma: no cover - Windows has ACLs, not mode bits
            return True
        return only_ours(info) and only_ours(self.path.parent.stat())

    def _header(self, line: bytes) -> tuple[CacheHeader, str]:
        """The header of the first line and the checksum of the second, or an empty
        header when the line is not one this version wrote, intact, for this folder."""
        checksum, _, text = line.partition(b" ")
        unusable = CacheHeader({}, 0, 0), ""
        if hashlib.sha256(text).hexdigest().encode() != checksum:
            return unusable
        try:
            header = orjson.loads(text)
        except orjson.JSONDecodeError:
            return unusable
        if not (
            isinstance(header, dict)
            and header.get("format") == FORMAT
            and header.get("root") == self.root_key
            and type(header.get("written_ns")) is int
            and type(header.get("files")) is int
            and isinstance(header.get("folders"), dict)
            and isinstance(header.get("body"), str)
        ):
            return unusable
        found = CacheHeader(header["folders"], header["written_ns"] - RACY_NS, header["files"])
        return found, header["body"]

    def save(self, parts: Sequence[bytes], files: int, folders: dict[str, Any]) -> None:
        """Write the new cache: its file entries come serialized, in ``parts`` of
        ``"path":"entry"`` pairs (as ``describe.Chunk.cache_entries``), and are
        joined as they are. A failure is ignored: the cache only saves time, and a
        plan must not fail because a cache folder is read-only."""
        try:
            body = b"".join((b'{"files":{', b",".join(part for part in parts if part), b"}}\n"))
            header = orjson.dumps(
                {
                    "body": hashlib.sha256(body).hexdigest(),
                    "files": files,
                    "folders": folders,
                    "format": FORMAT,
                    "root": self.root_key,
                    "written_ns": time.time_ns(),
                }
            )
            checksum = hashlib.sha256(header).hexdigest().encode()
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Not flushed to disk: a cache cut short by a crash fails its checksum and
            # is ignored, and the flush costs a third of a re-plan's extra time.
            write_atomic(self.path, b"".join((checksum, b" ", header, b"\n", body)), durable=False)
            _evict(self.path)
        except (OSError, orjson.JSONEncodeError):  # a folder name that is not UTF-8
            pass


def _evict(kept: Path) -> None:
    """Remove the least recently used files of ``kept``'s folder beyond ``MAX_FILES``
    files or ``MAX_BYTES`` bytes, never ``kept`` itself (just written)."""
    found: list[tuple[int, int, str]] = []
    with os.scandir(kept.parent) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):  # gone since: another run evicted it
                if entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    found.append((info.st_mtime_ns, info.st_size, entry.path))
    found.sort(reverse=True)  # most recently used first
    total = 0
    for count, (_, size, path) in enumerate(found, 1):
        total += size
        if (count > MAX_FILES or total > MAX_BYTES) and path != str(kept):
            with contextlib.suppress(OSError):
                os.unlink(path)
