"""``build_plan``: a workspace folder in, plan format v1 in canonical form out."""

from __future__ import annotations

import bisect
import dataclasses
import errno
import itertools
import os
import stat
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from acp_cli.errors import UsageError
from acp_cli.signature import canonical_signature
from acp_cli.workspace import cache as hash_cache
from acp_cli.workspace import describe
from acp_cli.workspace.listing import (
    FolderMemory,
    Git,
    IndexWitness,
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
    vouched_files: int = 0
    """How many of those git's index vouched for: no ``lstat`` of acp's."""
    folders_read: int = 0
    """How many folders were read for special files (the others were unchanged)."""
    cache_written: bool = False
    """Whether the cache file was written (a run that learned nothing leaves it)."""


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
    with Scratch(git) as scratch, describe.Describer() as describer:
        # The cache loads while git walks the tree.
        pending = PendingListing(git, scratch, witness=cached is not None)
        try:
            old = cached.load() if cached is not None else hash_cache.EMPTY
            memory = FolderMemory(old.folders, old.trusted_before_ns)
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
            witness = pending.witness()
        finally:
            pending.close()

        if progress is not None:
            progress.start(len(names))
        run = _Run(names, old, witness, listing.unchecked, keep=cached is not None)
        if run.vouched:
            (progress or _Unseen()).advance(run.vouched, 0)
        context = describe.Context(
            os.fsencode(folder),
            keys=cached is not None,
            trusted_before_ns=old.trusted_before_ns,
            settled_before_ns=witness.started_ns - hash_cache.RACY_NS if witness else 0,
        )
        chunks = describer.describe_all(
            context,
            run.names,
            run.keys,
            progress or _Unseen(),
            few=len(run.names) <= min(run.vouched, describe.CHUNK_MAX),
        )
    for chunk in chunks:
        if chunk.error is not None:
            message, hint = chunk.error
            raise UsageError(message, hint=hint)

    data, learned = run.fill(chunks)
    hashed = sum(chunk.hashed_files for chunk in chunks)
    written = False
    if cached is not None:
        written = learned is not None or memory.changed
        if written:
            kept = dataclasses.replace(old, folders=memory.scanned)
            cached.save(learned(memory.scanned) if learned is not None else kept)
        else:
            cached.mark_used()
    skipped = _submodules_only(git, listing, [skip for chunk in chunks for skip in chunk.skipped])
    # Named only now: a name that is not UTF-8 is no error once a rule left it out.
    skipped += [(_decode(name), "a nested git repository") for name in nested]
    files = sum(chunk.files for chunk in chunks) + run.vouched
    return BuiltPlan(
        data=data,
        signature=canonical_signature(data),
        files=files,
        total_bytes=sum(chunk.total_bytes for chunk in chunks) + run.vouched_bytes,
        skipped=tuple(SkippedPath(path, reason) for path, reason in sorted(skipped)),
        hashed_files=hashed,
        cached_files=sum(chunk.regular_files for chunk in chunks) - hashed + run.vouched,
        vouched_files=run.vouched,
        folders_read=memory.read,
        cache_written=written,
        inside_work_tree=listing.inside_work_tree,
        left_out=tuple(SkippedPath(shown, reason) for shown, reason in left_out),
        why_empty="" if files else _why_empty(git, listing, names),
    )


class _Run:
    """The names of a plan, those whose entries git's index vouches for taken from the
    cache as they are, the others left to describe (``names``, ``keys``).

    git's index vouches for a file, so that its entry is used without an ``lstat`` of
    acp's, when all of this holds (else the file is described, its stat checked):
    - the cache's entry was recorded by a run that found the file's stat (full
      nanoseconds) settled, its mtime and ctime 2 s (``RACY_NS``) before that run's
      ``git diff-files`` started, and then found it equal to the stat git's index
      records for it: ``git diff-files``, run before that ``lstat``, did not name it;
    - the index is the very same file now (``early.index_identity``: its inode and
      ctime unchanged), so it records the same stat; and it is older than the listing,
      so that the listing's tags are of it too;
    - the listing tags the file ``H``: git checks it (not assume-unchanged,
      skip-worktree or unmerged, which git would report unchanged unseen);
    - ``git diff-files`` did not name it this run: its stat matches the index entry's
      (size, inode, owner, mode, mtime and ctime at least to the second).
    A change since that run would have moved its ctime to a later second than the one
    recorded (git compares ctime whatever ``core.trustCtime`` says: ``early.DIFF``), so
    git would have named it. Clean and smudge filters do not matter: git compares
    stat data, never content, for a file it does not name.
    """

    def __init__(
        self,
        names: list[bytes],
        old: hash_cache.Described,
        witness: IndexWitness | None,
        unchecked: frozenset[bytes],
        *,
        keep: bool,
    ) -> None:
        self.keep = keep
        """Whether the cache is kept: ``fill`` returns what makes the new one."""
        self.old = old
        self.witness = witness
        self.unchecked = unchecked
        self.all_names = names
        self.names: list[bytes] = names  # to describe
        self.keys: list[bytes] = [hash_cache.NO_KEY] * len(names)  # theirs in the cache
        # The runs of names git's index vouches for, in order: (position, first in the
        # cache, end in the cache); the names between runs are described.
        self.runs: list[tuple[int, int, int]] = []
        self.same_names = False
        """Whether the names are those of the cache, in order."""
        changed = witness.changed if witness is not None else frozenset()
        usable = witness is not None and witness.listed_after and witness.index == old.index
        # The names as a cache holds them, joined now: the join holds 80 bytes a name
        # meanwhile, which at the end of a full plan of a million files was its peak.
        self.joined_names = b"\0".join(names) if keep else b""
        if not old.count:
            pass  # no cache: every name is described
        elif self.joined_names == old.names and len(names) == old.count:
            self.joined_names = old.names  # the same: one copy of them
            self.same_names = True
            self._same_names(names, bytearray(old.verified) if usable else None, changed)
        else:
            self._other_names(names, usable, changed)
        self.vouched = len(names) - len(self.names)
        sizes = old.sizes()
        self.vouched_bytes = sum(sum(sizes[start:end]) for _, start, end in self.runs)

    def _same_names(
        self, names: list[bytes], vouched: bytearray | None, changed: frozenset[bytes]
    ) -> None:
        """The runs, when the names are those of the cache (the usual case)."""
        key_size, old_keys = hash_cache.KEY_SIZE, self.old.keys
        if vouched is None:
            self.keys = [
                bytes(old_keys[at : at + key_size]) for at in range(0, len(old_keys), key_size)
            ]
            return
        for name in changed | self.unchecked:
            at = bisect.bisect_left(names, name)
            if at < len(names) and names[at] == name:
                vouched[at] = 0
        described = [at for at, flag in enumerate(vouched) if not flag]
        start = 0
        for at in [*described, len(names)]:
            if start < at:
                self.runs.append((start, start, at))
            start = at + 1
        self.names = [names[at] for at in described]
        self.keys = [bytes(old_keys[at * key_size : (at + 1) * key_size]) for at in described]

    def _other_names(self, names: list[bytes], usable: bool, changed: frozenset[bytes]) -> None:
        """The runs, when names were added or removed since the cache was written."""
        old, key_size = self.old, hash_cache.KEY_SIZE
        old_names = old.names.split(b"\0")
        previous = dict(zip(old_names, range(len(old_names)), strict=True))
        self.names, self.keys = [], []
        not_vouched = changed | self.unchecked
        for at, was in enumerate(map(previous.get, names)):
            name = names[at]
            if was is None:
                self.names.append(name)
                self.keys.append(hash_cache.NO_KEY)
            elif usable and old.verified[was] and name not in not_vouched:
                position, start, end = self.runs[-1] if self.runs else (-1, 0, -1)
                if end == was and position + end - start == at:  # the run goes on
                    self.runs[-1] = (position, start, was + 1)
                else:
                    self.runs.append((at, was, was + 1))
            else:
                self.names.append(name)
                self.keys.append(bytes(old.keys[was * key_size : (was + 1) * key_size]))

    def fill(
        self, chunks: list[describe.Chunk]
    ) -> tuple[bytes, Callable[[dict[str, Any]], hash_cache.Described] | None]:
        """The plan, the described names put in their places; and with ``self.keep``, unless
        the cache holds all this run found already, what makes the new cache from the
        folders found (``FolderMemory.scanned``).

        Empties the chunks' lists of entries and keys: a million files' small objects,
        freed once joined, before the plan's bytes are made (the peak memory of a full
        plan; Python keeps most of that memory, for small objects, but not all)."""
        witness, old, keep = self.witness, self.old, self.keep
        # Entries described now become vouched for when git's index is old enough
        # and git did not name them: their stat was checked after git's.
        recording = keep and witness is not None and witness.listed_after
        index = witness.index if recording and witness is not None else None
        learned = not (self.same_names and index == old.index)
        changed = witness.changed if witness is not None else frozenset()
        offsets = list(itertools.accumulate(old.lengths, initial=0)) if old.count else []
        # What the chunks found, in the order of the names described (C-level joins:
        # without a cache, or with an empty one, every name is described).
        entries = list(itertools.chain.from_iterable(chunk.entries for chunk in chunks))
        keys = list(itertools.chain.from_iterable(chunk.keys for chunk in chunks))
        for chunk in chunks:  # those two lists hold them now
            chunk.entries.clear()
            chunk.keys.clear()
        settled = b"".join(chunk.settled for chunk in chunks)
        key_size = hash_cache.KEY_SIZE
        pieces: list[bytes | memoryview] = []  # the entries, each followed by a comma
        lengths = array("q")
        new_keys: list[bytes | memoryview] = []
        verified = bytearray(len(self.all_names)) if keep else bytearray()
        at = done = 0  # positions among all names, and among those described
        for position, start, end in [*self.runs, (len(self.all_names), 0, 0)]:
            count = position - at  # described names before this run
            described = entries[done : done + count]
            if any(described):  # the empty one last: a comma after each entry
                pieces.append(b",".join(itertools.chain(filter(None, described), (b"",))))
            if keep:
                lengths.extend([len(entry) + 1 if entry else 0 for entry in described])
                new_keys.append(b"".join(keys[done : done + count]))
                for offset, name in enumerate(self.names[done : done + count]):
                    vouched = (
                        recording
                        and settled[done + offset] == 49  # "1"
                        and name not in changed
                        and name not in self.unchecked
                    )
                    verified[at + offset] = vouched
                    learned = learned or (
                        old.keys[(at + offset) * key_size : (at + offset + 1) * key_size]
                        != keys[done + offset]
                        or old.verified[at + offset] != vouched
                        or old.entries[offsets[at + offset] : offsets[at + offset + 1]]
                        != (described[offset] + b"," if described[offset] else b"")
                    )
            at, done = position, done + count
            if start < end:  # names git's index vouches for: as the cache holds them
                pieces.append(old.entries[offsets[start] : offsets[end]])
                lengths.extend(old.lengths[start:end])
                new_keys.append(old.keys[start * key_size : end * key_size])
                verified[at : at + end - start] = b"\1" * (end - start)
                at += end - start
        del entries, keys, described  # in pieces and new_keys now
        last = memoryview(pieces[-1])[:-1] if pieces else b""  # the last entry has no comma
        data = b"".join((b'{"files":[', *pieces[:-1], last, b'],"version":%d}' % PLAN_VERSION))
        if not keep or not learned:
            return data, None

        def described_now(folders: dict[str, Any]) -> hash_cache.Described:
            return hash_cache.Described(
                names=self.joined_names,
                entries=b"".join(pieces),  # no copy when it is one piece: a full plan
                lengths=lengths,
                keys=b"".join(new_keys),
                verified=bytes(verified),
                folders=folders,
                index=index,
                trusted_before_ns=old.trusted_before_ns,
            )

        return data, described_now


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
