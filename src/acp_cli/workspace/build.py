"""``build_plan``: a workspace folder in, plan format v1 in canonical form out."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from acp_cli.errors import UsageError
from acp_cli.signature import canonical_signature
from acp_cli.workspace import cache as hash_cache
from acp_cli.workspace import describe
from acp_cli.workspace.listing import (
    FolderMemory,
    Git,
    Listing,
    PendingListing,
    Scratch,
    acp_excluded,
    escape,
    unreadable_folder,
)
from acp_cli.workspace.own_files import leave_out_own_files

PLAN_VERSION = 1
_GITLINK = 0o160000


class PlanProgress(Protocol):
    """What ``build_plan`` reports while it describes files, for a progress bar.

    Every method is called in the thread that called ``build_plan``, ``advance``
    at least every 0.05 s while files are described (with zeros when nothing moved),
    so a bar can redraw on time when called (rich: ``Progress(auto_refresh=False)``
    and ``refresh()``) without a thread of its own. Such a thread could hold a lock
    of rich's, or of the standard streams, at the moment describing forks a worker
    process, and the worker would inherit the lock held forever.
    """

    def start(self, files: int) -> None:
        """Called once, when git has listed the paths: how many will be described."""

    def advance(self, files: int, hashed_bytes: int) -> None:
        """Called as files are done and as bytes are read to hash them: how many more
        of each (0 bytes for files whose hash the cache had)."""

    def pending(self, hashed_bytes: int) -> None:
        """Called when it changes: how many bytes are still to be read to hash the big
        files found so far (counted as files by ``advance`` only once hashed), so that
        a bar can weigh them: a few huge files are most of the work."""


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
    """How many files were read and hashed in this run."""
    cached_files: int
    """How many files' hashes came from the cache."""
    inside_work_tree: bool
    """Whether DIR is in a git work tree (else git's rules for a fresh repository)."""
    left_out: tuple[SkippedPath, ...] = ()
    """acp's own files that git lists and the plan leaves out, each as the name of a
    file, a folder (``.cache/plans/``) or a pattern (``.plan.json.*.tmp``), with why: worth
    a note."""
    why_empty: str = ""
    """When the plan lists no file, why: for a warning, or ``prepare``'s refusal."""


def build_plan(
    root: Path | str,
    *,
    excludes: Sequence[str] = (),
    cache: bool = True,
    env: Mapping[str, str] = os.environ,
    progress: PlanProgress | None = None,
    leave_out: Mapping[Path | str, str] | None = None,
) -> BuiltPlan:
    """Describe the files of the workspace folder ``root`` as a plan (SPEC section 8).

    The files are git's set under ``root`` (inside a work tree, or as if ``root``
    were a fresh repository), less what ``.acpignore`` files and ``excludes``
    (gitignore patterns relative to ``root``) leave out. Hashes of unchanged files
    come from the cache in ``ACP_CACHE_DIR`` or the user's cache folder unless
    ``cache`` is False.

    A plan never lists acp's own files: the cache folder and acp's temporary git
    repositories (in TMPDIR) when they are inside ``root``, and each file of
    ``leave_out`` (a path, absolute or relative to the current folder, mapped to
    why: the files the plan or the command's output are written to, which may not
    exist yet). Such a file is left out as named, as its symlinks resolve, and with
    the temporary files written beside it (``files.write_atomic``); ``left_out``
    says what was. So planning an unchanged folder twice gives the same bytes,
    even when the plan is written inside it.

    Raises ``UsageError`` (exit 2), naming the path, for a
    ``root`` that is not a folder, names or link texts that are not UTF-8,
    unreadable files or folders and files that keep changing while read, and when
    git is not installed.
    """
    folder = _workspace_folder(Path(root))
    git = Git(folder, env)
    cached = hash_cache.HashCache(hash_cache.cache_file(folder, env), folder) if cache else None
    context = describe.Context(os.fsencode(folder), cached)
    with Scratch(git) as scratch, describe.Describer(context) as describer:
        # The cache loads while git walks the tree.
        pending = PendingListing(git, scratch)
        header = cached.load_header() if cached is not None else hash_cache.CacheHeader({}, 0, 0)
        describer.load()
        memory = FolderMemory(header.folders, header.trusted_before_ns)
        listing = pending.finish(memory)
        names = listing.paths + listing.special_files
        nested = listing.nested_repositories
        unreadable = listing.unreadable_folders
        if excludes or listing.has_acpignore:
            gitlinks = dict.fromkeys(listing.nested_repositories, _GITLINK)
            if listing.inside_work_tree:
                gitlinks.update(dict.fromkeys(git.submodules, _GITLINK))
            modes = [(name, gitlinks.get(name, 0o100644)) for name in names]
            # Folders as gitlinks: a rule for folders only (`name/`) matches them.
            modes += [(name, _GITLINK) for name in listing.nested_repositories + unreadable]
            excluded = acp_excluded(scratch, modes, excludes, listing.has_acpignore)
            names = [name for name in names if name not in excluded]
            nested = [name for name in nested if name not in excluded]
            unreadable = [name for name in unreadable if name not in excluded]
        if unreadable:  # git left out what it holds: the plan would be wrong
            raise unreadable_folder(unreadable[0])
        names.sort()  # git lists a few sorted runs: the sort merges them in linear time
        left_out = leave_out_own_files(names, folder, env, leave_out or {})

        if progress is not None:
            progress.start(len(names))
        chunks = describer.describe_all(names, progress or _Unseen())
    for chunk in chunks:
        if chunk.error is not None:
            message, hint = chunk.error
            raise UsageError(message, hint=hint)

    data = b"".join(
        (
            b'{"files":[',
            b",".join(chunk.entries for chunk in chunks if chunk.entries),
            b'],"version":%d}' % PLAN_VERSION,
        )
    )
    hashed = sum(chunk.hashed_files for chunk in chunks)
    if cached is not None:
        _save_cache(cached, header.files, chunks, memory)
    skipped = _submodules_only(git, listing, [skip for chunk in chunks for skip in chunk.skipped])
    # Named only now: a name that is not UTF-8 is no error once a rule left it out.
    skipped += [(_decode(name), "a nested git repository") for name in nested]
    files = sum(chunk.files for chunk in chunks)
    return BuiltPlan(
        data=data,
        signature=canonical_signature(data),
        files=files,
        total_bytes=sum(chunk.total_bytes for chunk in chunks),
        skipped=tuple(SkippedPath(path, reason) for path, reason in sorted(skipped)),
        hashed_files=hashed,
        cached_files=sum(chunk.regular_files for chunk in chunks) - hashed,
        inside_work_tree=listing.inside_work_tree,
        left_out=tuple(SkippedPath(shown, reason) for shown, reason in left_out),
        why_empty="" if files else _why_empty(git, listing, names),
    )


def _submodules_only(
    git: Git, listing: Listing, skipped: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """``skipped`` with each listed path found to be a folder named for what the
    index says it is: a submodule is skipped with a warning; a tracked file that
    became a folder is, for git, deleted (its untracked files are listed on their own)."""
    folders = [path for path, reason in skipped if reason == describe.FOLDER]
    if not folders:
        return skipped
    gitlinks = git.submodules if listing.inside_work_tree else frozenset()
    return [
        (path, "a submodule" if reason == describe.FOLDER else reason)
        for path, reason in skipped
        if reason != describe.FOLDER or path.encode() in gitlinks
    ]


def _why_empty(git: Git, listing: Listing, names: list[bytes]) -> str:
    """Why a plan lists no file: which rule ignores DIR, or what its files are."""
    if listing.inside_work_tree:
        check = ("check-ignore", "--verbose", "--stdin", "-z")
        out = git.run(*check, stdin=b"./\0", allowed=(0, 1)).split(b"\0")
        if len(out) >= 3 and not out[2].startswith(b"!"):  # `!p` matched: not ignored
            rule = escape(b":".join(out[:3]))
            return f"git ignores the folder itself ({rule}; `git check-ignore -v .` says so)"
    if names:
        return "every path git lists in it is deleted, or skipped as the warnings say"
    if listing.paths or listing.special_files or listing.nested_repositories:
        return ".acpignore files or --exclude patterns leave out every file git lists in it"
    if any(entry.name != ".git" for entry in os.scandir(git.root)):
        return "git's ignore rules leave out every file in it (empty folders are never planned)"
    return "the folder is empty"


def _save_cache(
    cached: hash_cache.HashCache,
    cached_files: int,
    chunks: list[describe.Chunk],
    memory: FolderMemory,
) -> None:
    """Rewrite the cache when this run learned something: it hashed a file, read a
    folder again, or found another number of files than the cache holds; else mark
    it used."""
    files = sum(chunk.regular_files for chunk in chunks)
    if any(chunk.hashed_files for chunk in chunks) or memory.changed or files != cached_files:
        cached.save([chunk.cache_entries for chunk in chunks], files, memory.scanned)
    else:
        cached.mark_used()


class _Unseen:
    """Progress that nobody shows."""

    def advance(self, files: int, hashed_bytes: int) -> None:
        pass

    def pending(self, hashed_bytes: int) -> None:
        pass


def _workspace_folder(root: Path) -> Path:
    name = escape(os.fsencode(root))
    try:
        info = root.stat()
    except FileNotFoundError:
        raise UsageError(
            f"The workspace folder {name} does not exist.",
            hint="Give the folder to plan, or run the command inside it.",
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(
                f"The workspace folder {name} is a symlink that leads back to itself.",
                hint="Give the folder itself, or point the link at a folder.",
            ) from None
        raise UsageError(
            f"Cannot open the workspace folder {name}: {exc.strerror or exc}.",
            hint="Fix its permissions (and those of the folders above it), or give another.",
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{name} is not a folder.", hint="Give the workspace folder to plan.")
    return root.resolve()


def _decode(name: bytes) -> str:
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"Cannot plan {escape(name)}: its name is not valid UTF-8, which JSON cannot hold.",
            hint="Rename it, or leave it out with .acpignore or --exclude.",
        ) from None
