"""``build_plan``: a workspace folder in, plan format v1 in canonical form out."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from acp_cli.errors import UsageError
from acp_cli.workspace import cache as hash_cache
from acp_cli.workspace import hashing
from acp_cli.workspace.cache import stat_key
from acp_cli.workspace.listing import (
    FolderMemory,
    Git,
    PendingListing,
    Scratch,
    acp_excluded,
    escape,
)

PLAN_VERSION = 1
MODE_FILE = "100644"
MODE_EXECUTABLE = "100755"
MODE_SYMLINK = "120000"
_GIT_MODES = {MODE_FILE: 0o100644, MODE_EXECUTABLE: 0o100755, MODE_SYMLINK: 0o120000}
_GITLINK = 0o160000

_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class PlanProgress(Protocol):
    """What ``build_plan`` reports while it hashes, for a progress bar.

    Both methods are called in the thread that called ``build_plan``. Hashing forks
    worker processes, and forking while another thread holds a lock is unsafe: a
    progress bar should redraw when called (rich: ``Progress(auto_refresh=False)``
    and ``refresh()``), not from a thread of its own.
    """

    def hashing(self, files: int, total_bytes: int) -> None:
        """Called once, when the files to hash (those the cache lacks) are known."""

    def hashed(self, files: int, nbytes: int) -> None:
        """Called as files are hashed: how many more files and bytes are done."""


@dataclass(frozen=True)
class SkippedPath:
    """A path git lists that a plan cannot hold, for a warning naming it."""

    path: str
    reason: str  # "a FIFO", "a socket", "a submodule", "a nested git repository", ...

    def __str__(self) -> str:
        return f"{self.path}: skipped, {self.reason}"


@dataclass(frozen=True)
class BuiltPlan:
    """A plan built from a workspace folder, and what building it found."""

    data: bytes
    """The plan in RFC 8785 canonical form, without a trailing newline."""
    signature: str
    """``"sha256:"`` + the hex SHA-256 of ``data``: the plan signature."""
    files: int
    """How many entries the plan lists."""
    total_bytes: int
    """The sum of their sizes."""
    skipped: tuple[SkippedPath, ...]
    """Special files, submodules and nested repositories, left out: warn about each."""
    hashed_files: int
    """How many files were read and hashed in this run (the others came from the cache)."""
    inside_work_tree: bool
    """Whether DIR is in a git work tree (else git's rules for a fresh repository)."""

    @property
    def cached_files(self) -> int:
        """How many regular files' hashes came from the cache."""
        return self.files - self.hashed_files


def build_plan(
    root: Path | str,
    *,
    excludes: Sequence[str] = (),
    cache: bool = True,
    env: Mapping[str, str] = os.environ,
    progress: PlanProgress | None = None,
) -> BuiltPlan:
    """Describe the files of the workspace folder ``root`` as a plan (SPEC section 8).

    The files are git's set under ``root`` (inside a work tree, or as if ``root``
    were a fresh repository), less what ``.acpignore`` files and ``excludes``
    (gitignore patterns relative to ``root``) leave out. Hashes of unchanged files
    come from the cache in ``ACP_CACHE_DIR`` or the user's cache folder unless
    ``cache`` is False. Raises ``UsageError`` (exit 2), naming the path, for a
    ``root`` that is not a folder, names or link texts that are not UTF-8,
    unreadable files or folders and files that keep changing while read, and when
    git is not installed.
    """
    folder = _workspace_folder(Path(root))
    git = Git(folder, env)
    cached = hash_cache.HashCache(hash_cache.cache_file(folder, env), folder) if cache else None
    with Scratch(git) as scratch:
        pending = PendingListing(git, scratch)
        if cached is not None:
            cached.load()  # while git walks the tree
        memory = FolderMemory(
            cached.folders if cached is not None else {},
            cached.trusted_before_ns if cached is not None else 0,
        )
        listing = pending.finish(memory)
        found = _Found(os.fsencode(folder), cached)
        found.add_all(listing.paths)
        found.add_all(listing.special_files)
        for name in listing.nested_repositories:
            found.skip(name, _GITLINK, "a nested git repository")
        if excludes or listing.has_acpignore:
            found.drop(acp_excluded(scratch, found.git_entries(), excludes, listing.has_acpignore))
    found.distrust_malformed_digests()

    hashed = _hash(found, progress)
    data = _canonical_plan(found)
    if cached is not None and (hashed or memory.changed or len(found.files) != len(cached.entries)):
        entries = {
            entry["path"]: key + entry["sha256"]
            for entry, key in zip(found.files, found.keys, strict=True)
        }
        cached.save(entries, memory.scanned)
    return BuiltPlan(
        data=data,
        signature="sha256:" + hashlib.sha256(data).hexdigest(),
        files=len(found.files) + len(found.links),
        total_bytes=sum(entry["size"] for entry in found.files)
        + sum(entry["size"] for entry in found.links),
        skipped=tuple(skip for _, skip in sorted(found.skipped)),
        hashed_files=hashed,
        inside_work_tree=listing.inside_work_tree,
    )


class _Found:
    """The listed paths sorted into regular files, symlinks and skipped paths.

    ``files`` and ``links`` hold the plan's entries as they will be written (a
    file's ``sha256`` is None until hashed); ``keys`` holds each file's cache key.
    """

    def __init__(self, root: bytes, cached: hash_cache.HashCache | None) -> None:
        self.root = root + b"/"
        self.cached = cached
        self.files: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.links: list[dict[str, Any]] = []
        self.skipped: list[tuple[bytes, SkippedPath]] = []
        self._skipped_modes: dict[bytes, int] = {}

    def add_all(self, names: list[bytes]) -> None:
        """Sort ``names`` into files, links and skipped paths; take what the cache knows.

        Every listed path goes through this loop, so it is kept lean: on a warm
        re-plan it is most of the time acp spends.
        """
        root, files, keys, lstat = self.root, self.files, self.keys, os.lstat
        cached = self.cached.entries if self.cached is not None else {}
        trusted_before_ns = self.cached.trusted_before_ns if self.cached is not None else 0
        for name in names:
            try:
                path = name.decode("utf-8")
            except UnicodeDecodeError:
                raise _not_utf8(name, "name") from None
            absolute = root + name
            try:
                info = lstat(absolute)
            except FileNotFoundError:
                continue  # tracked but deleted from the work tree: git's set leaves it out
            except OSError as exc:
                raise _unreadable(name, exc) from None
            mode = info.st_mode
            if not stat.S_ISREG(mode):
                self._add_other(name, path, absolute, mode)
                continue
            size, mtime_ns = info.st_size, info.st_mtime_ns
            key = stat_key(size, mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)
            sha = None
            if mtime_ns < trusted_before_ns:  # else changed too recently to trust: racy
                # A cache entry is the key followed by the SHA-256.
                entry = cached.get(path)
                if type(entry) is str and entry.startswith(key) and len(entry) == len(key) + 64:
                    sha = entry[-64:]
            files.append(
                {
                    "mode": MODE_EXECUTABLE if mode & stat.S_IXUSR else MODE_FILE,
                    "path": path,
                    "sha256": sha,
                    "size": size,
                }
            )
            keys.append(key)

    def _add_other(self, name: bytes, path: str, absolute: bytes, mode: int) -> None:
        if stat.S_ISLNK(mode):
            try:
                target = os.readlink(absolute)
            except OSError as exc:
                raise _unreadable(name, exc) from None
            try:
                text = target.decode("utf-8")
            except UnicodeDecodeError:
                raise _not_utf8(name, "link text") from None
            self.links.append(
                {
                    "mode": MODE_SYMLINK,
                    "path": path,
                    "sha256": hashlib.sha256(target).hexdigest(),
                    "size": len(target),
                    "target": text,
                }
            )
        elif stat.S_ISDIR(mode):
            # Listed by `git ls-files --cached`: a submodule (or a tracked file
            # that became a folder, whose untracked files git lists on their own).
            self.skip(name, _GITLINK, "a submodule")
        else:
            kind = next((label for test, label in _SPECIAL_KINDS if test(mode)), "a special file")
            self.skip(name, 0o100644, kind)

    def skip(self, name: bytes, git_mode: int, reason: str) -> None:
        """Leave ``name`` out of the plan, with a warning saying why."""
        try:
            path = name.decode("utf-8")
        except UnicodeDecodeError:
            raise _not_utf8(name, "name") from None
        self.skipped.append((name, SkippedPath(path, reason)))
        self._skipped_modes[name] = git_mode

    def git_entries(self) -> list[tuple[bytes, int]]:
        """Every path with its git mode, for ``acp_excluded``."""
        return [
            *((entry["path"].encode(), 0o100644) for entry in self.files),
            *((entry["path"].encode(), 0o120000) for entry in self.links),
            *self._skipped_modes.items(),
        ]

    def drop(self, excluded: set[bytes]) -> None:
        """Leave out what ``.acpignore`` or ``--exclude`` excludes."""
        if not excluded:
            return
        paths = {name.decode("utf-8") for name in excluded}
        kept = [
            (entry, key)
            for entry, key in zip(self.files, self.keys, strict=True)
            if entry["path"] not in paths
        ]
        self.files = [entry for entry, _ in kept]
        self.keys = [key for _, key in kept]
        self.links = [entry for entry in self.links if entry["path"] not in paths]
        self.skipped = [skip for skip in self.skipped if skip[0] not in excluded]

    def distrust_malformed_digests(self) -> None:
        """Hash again every file whose cached SHA-256 is not 64 lowercase hex digits.

        Checked once over all of them (C speed), and file by file only when that
        finds one: a corrupt cache may make a run slower, never change its output.
        """
        digests = [entry["sha256"] for entry in self.files if entry["sha256"] is not None]
        if hash_cache.all_hex("".join(digests)):
            return
        for entry in self.files:
            if entry["sha256"] is not None and not hash_cache.all_hex(entry["sha256"]):
                entry["sha256"] = None


def _hash(found: _Found, progress: PlanProgress | None) -> int:
    """Hash the files the cache did not know; how many there were."""
    todo = [index for index, entry in enumerate(found.files) if entry["sha256"] is None]
    sizes = [found.files[index]["size"] for index in todo]
    if progress is not None:
        progress.hashing(len(todo), sum(sizes))
    report = progress.hashed if progress is not None else _ignore_progress
    absolute = [found.root + found.files[index]["path"].encode() for index in todo]
    results = hashing.hash_files(absolute, sizes, report)
    for index, result in zip(todo, results, strict=True):
        entry = found.files[index]
        if isinstance(result, str):
            raise UsageError(
                f"Cannot plan {entry['path']}: {result}.",
                hint="Stop whatever writes to it, or leave it out with .acpignore or --exclude.",
            )
        entry["sha256"], entry["size"], found.keys[index] = result
    return len(todo)


def _ignore_progress(files: int, nbytes: int) -> None:
    """No progress to report to."""


def _canonical_plan(found: _Found) -> bytes:
    """Plan format v1 in RFC 8785 form.

    orjson with sorted keys is RFC 8785 for this document: its keys are ASCII (code
    point order is UTF-16 order), its numbers integers below 2^53, and orjson
    escapes strings exactly as RFC 8785 does (tests/test_workspace_plan.py checks
    this against the rfc8785 package). Entries are sorted by path: for valid
    Unicode, code point order is the order of the UTF-8 bytes. Git lists paths in
    a few sorted runs, which the sort merges in linear time.
    """
    entries = found.files + found.links
    entries.sort(key=_path)
    return orjson.dumps({"files": entries, "version": PLAN_VERSION}, option=orjson.OPT_SORT_KEYS)


def _path(entry: dict[str, Any]) -> str:
    path: str = entry["path"]
    return path


def _workspace_folder(root: Path) -> Path:
    try:
        info = root.stat()
    except FileNotFoundError:
        raise UsageError(
            f"The workspace folder {escape(os.fsencode(root))} does not exist.",
            hint="Give the folder to plan, or run the command inside it.",
        ) from None
    except OSError as exc:
        raise _unreadable(os.fsencode(root), exc) from None
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(
            f"{escape(os.fsencode(root))} is not a folder.",
            hint="Give the workspace folder to plan.",
        )
    return root.resolve()


def _not_utf8(name: bytes, what: str) -> UsageError:
    return UsageError(
        f"Cannot plan {escape(name)}: its {what} is not valid UTF-8, which JSON cannot hold.",
        hint="Rename it, or leave it out with .acpignore or --exclude.",
    )


def _unreadable(name: bytes, exc: OSError) -> UsageError:
    return UsageError(
        f"Cannot read {escape(name)}: {exc.strerror or exc}.",
        hint="Fix its permissions, or leave it out with .acpignore or --exclude.",
    )
