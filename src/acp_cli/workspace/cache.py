"""The hash cache (SPEC section 8, "The cache"): one orjson file per workspace.

    {"format": 1, "root": "<hex of DIR's resolved path>", "written_ns": <time>,
     "files": {"<path>": "<size> <mtime_ns> <ctime_ns> <inode> <device> <sha256>"},
     "folders": {"<folder>": [mtime_ns, ctime_ns, has_acpignore, ["<special file>"]]}}

The folders part lets an unchanged folder go unread (``listing.FolderMemory``).

A hash is reused only for a file whose (size, mtime_ns, ctime_ns, inode, device)
are those recorded, and whose mtime is more than ``RACY_NS`` before the cache was
written: a file changed within the file system's timestamp granularity of the
moment it was hashed could keep its stat with new content ("racy git"). Anything
unexpected in the file (missing, corrupt, another format, another folder, a
malformed entry) is ignored and the cache rewritten: the cache may only ever make
a run faster, never change its output. The lookup itself is inlined in the loop
every listed file goes through (``describe.describe_chunk``).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from acp_cli.files import write_atomic

FORMAT = 1
RACY_NS = 2_000_000_000


def stat_key(size: int, mtime_ns: int, ctime_ns: int, inode: int, device: int) -> str:
    """A file's cache key; its entry is the key followed by its SHA-256.

    One string per file, rather than a list of numbers, loads 2.5 times faster.
    """
    return f"{size} {mtime_ns} {ctime_ns} {inode} {device} "


def cache_file(root: Path, env: Mapping[str, str]) -> Path:
    """Where the cache of the workspace at ``root`` (resolved) lives."""
    override = env.get("ACP_CACHE_DIR")
    if override:
        folder = Path(override).expanduser()
    else:
        import platformdirs

        folder = platformdirs.user_cache_path("acp")
    key = hashlib.sha256(os.fsencode(root)).hexdigest()[:32]
    return folder / "plans" / f"{key}.json"


class HashCache:
    """The hashes recorded by an earlier run over the same folder."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root_key = os.fsencode(root).hex()
        self.entries: dict[str, Any] = {}
        self.folders: dict[str, Any] = {}
        self.trusted_before_ns = 0
        """Entries for files and folders changed since then are not trusted."""

    def load(self) -> None:
        """Read the cache file; anything unusable leaves the cache empty."""
        try:
            document = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return
        if not (
            isinstance(document, dict)
            and document.get("format") == FORMAT
            and document.get("root") == self.root_key
            and isinstance(document.get("written_ns"), int)
            and isinstance(document.get("files"), dict)
            and isinstance(document.get("folders"), dict)
        ):
            return
        self.entries = document["files"]
        self.folders = document["folders"]
        self.trusted_before_ns = document["written_ns"] - RACY_NS

    def save(self, parts: Sequence[bytes], folders: dict[str, Any]) -> None:
        """Write the new cache: its file entries come serialized, in ``parts`` of
        ``"path":"entry"`` pairs (as ``describe.Chunk.cache_entries``), and are
        joined as they are. A failure is ignored: the cache only saves time, and a
        plan must not fail because a cache folder is read-only."""
        try:
            data = b"".join(
                (
                    b'{"files":{',
                    b",".join(part for part in parts if part),
                    b'},"folders":',
                    orjson.dumps(folders),
                    b',"format":%d,"root":"%s","written_ns":%d}'
                    % (FORMAT, self.root_key.encode(), time.time_ns()),
                )
            )
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(self.path, data)
        except (OSError, orjson.JSONEncodeError):  # a folder name that is not UTF-8
            pass
