"""Which paths a plan lists (SPEC section 8, "Which files"), with git as the oracle.

Git itself decides, so its semantics hold exactly (negation, anchoring, ``**``,
folder-only patterns, a leading BOM, ``core.excludesFile``, nested repositories):

- inside a work tree, ``git ls-files --cached --others --exclude-standard`` run in
  DIR; the caller drops the tracked files that are gone from the work tree;
- outside one, the same command against a fresh, empty repository kept in a
  temporary folder whose work tree is DIR (no ``info/exclude``: no template).

Git lists an untracked nested repository as ``sub/`` and never descends into it,
and it never lists FIFOs, sockets or devices: those are found by scanning the
folders that hold listed files, so that each is named in a warning.

Git's answer is trusted only when git has nothing to add: only "not a git
repository" means a fresh repository; any other refusal (dubious ownership, a
``.git`` file that leads nowhere, a corrupt index), a DIR inside a git folder, and
any warning (an ignore file git cannot read) are errors with git's own message. A
folder git cannot open is an error unless ``.acpignore`` or ``--exclude`` leaves
the whole folder out. Folders are opened from DIR one component at a time
(``folders.FolderChain``): the scan never walks into a symlinked folder.

``.acpignore`` files and ``--exclude`` patterns are each evaluated on their own
by git too: the listed paths are put in the index of a scratch repository (with a
placeholder object ID; nothing is read) and ``git ls-files --cached --ignored``
reports those that ``--exclude-per-directory=.acpignore`` or ``-X FILE`` ignores.
"""

from __future__ import annotations

import functools
import os
import shlex
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acp_cli.errors import UsageError
from acp_cli.workspace import cache, early
from acp_cli.workspace.folders import FolderChain

ACPIGNORE = ".acpignore"
SCRATCH_PREFIX = "acp-plan-"
"""How the names of the scratch repositories' folders (in the temporary folder) start."""

_EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
_UNREADABLE_FOLDER = b"could not open directory"


@dataclass(frozen=True)
class Listing:
    """The paths git lists under DIR (bytes, relative, ``/``-separated, unsorted)."""

    paths: list[bytes]
    nested_repositories: list[bytes]
    special_files: list[bytes]
    inside_work_tree: bool
    has_acpignore: bool
    unreadable_folders: list[bytes]
    """Folders git could not open: an error unless ``.acpignore`` or ``--exclude`` leaves
    each out."""
    unchecked: frozenset[bytes] = frozenset()
    """The listed paths that git does not check against a stat in its index: untracked,
    assume-unchanged, skip-worktree, unmerged (all but those ``ls-files -v`` tags ``H``)."""


@dataclass(frozen=True)
class IndexWitness:
    """What ``git diff-files`` said about the tracked files under DIR, and of which index.

    A tracked file it does not name matched its index entry's stat when git looked
    (size, inode, owner, mode, and mtime and ctime at least to the second); entries
    git does not check are in ``Listing.unchecked``. ``index`` is the identity of the
    index file, the same before git started and after it ended; ``started_ns`` a time
    before git looked at any file; ``listed_after`` whether the index is older than
    the listing (so the listing's tags are of that index too).
    """

    changed: frozenset[bytes]
    index: list[int]
    started_ns: int
    listed_after: bool


class Git:
    """Runs git in DIR with an environment that cannot redirect it elsewhere."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.root = root
        self.env = early.git_env(env)
        self.top = root
        """The top of the work tree: git names files in its messages from there."""

    @functools.cached_property
    def submodules(self) -> frozenset[bytes]:
        """The gitlinks (submodules) in the index of the work tree around DIR: read
        once, for the exclusion rules and for naming listed folders alike."""
        out = self.run("ls-files", "--stage", "-z")
        return frozenset(
            record.partition(b"\t")[2]
            for record in out.split(b"\0")
            if record.startswith(b"160000 ")
        )

    def run(self, *args: str, stdin: bytes | None = None, allowed: tuple[int, ...] = (0,)) -> bytes:
        """Run ``git ARGS`` in DIR and return its stdout; a failure (an exit status
        not ``allowed``, or a warning) is a UsageError."""
        return self.finish(self.start(*args, stdin=stdin is not None), stdin, allowed=allowed)

    def start(self, *args: str, stdin: bool = False) -> subprocess.Popen[bytes]:
        """Start ``git ARGS`` in DIR, or take the one the console script started while
        Python imported (``early``); ``finish`` collects it."""
        started = (
            None  # pragma: no mutate: a command given input is never one started early
            if stdin
            else early.take(args, str(self.root), self.env)
        )
        if started is not None:
            return started
        try:
            return subprocess.Popen(
                ["git", *args],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,  # pragma: no mutate: idle
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError:
            raise UsageError(
                "acp push plan needs git, which decides which files a workspace holds, "
                "and git is not installed.",
                hint="Install git (https://git-scm.com/downloads), then try again.",
            ) from None

    def finish(
        self,
        process: subprocess.Popen[bytes],
        stdin: bytes | None = None,
        *,
        allowed: tuple[int, ...] = (0,),
        unreadable: list[bytes] | None = None,
    ) -> bytes:
        """Wait for a started git and return its stdout.

        A failure is a UsageError with git's message, and so is any warning: git
        warns and goes on when it cannot read an ignore file, and the rules it
        holds may be the ones that keep a secret out. A folder git could not open
        is added to ``unreadable`` when given (the caller decides), else an error.
        """
        out, err = early.answer(process) or process.communicate(stdin)
        if process.returncode not in allowed:
            raise self.refusal(err)
        for line in err.splitlines():
            if _UNREADABLE_FOLDER in line and unreadable is not None:
                unreadable.append(_quoted(line).rstrip(b"/"))
            elif line.strip() and not line.startswith(b"hint: "):  # advice, not a problem
                raise self.warning(line)
        return out

    def refusal(self, err: bytes) -> UsageError:
        """The error for git's refusal to work in DIR, its stderr being ``err``."""
        lines = [line.strip() for line in err.splitlines() if line.strip()]
        said = [
            escape(line.partition(b": ")[2])
            for line in lines
            if line.startswith((b"fatal: ", b"error: "))
        ] or [escape(line) for line in lines[:1]]
        message = f"git refused to work in {self.root}: {'; '.join(said) or 'no reason given'}."
        text = "\n".join(said)  # pragma: no mutate: searched for phrases within a line
        generic = f"Run `git -C {self.root} status` to see what git objects to, and fix that."
        command = next((escape(line) for line in lines if b"safe.directory" in line), None)
        if "dubious ownership" in text and command:
            hint = f"If you trust that repository, tell git so, then run acp again: {command}"
        elif "not a git repository: " in text or "invalid gitfile format" in text:
            hint = (
                f"The .git file {_gitfile(self.root)} does not lead to a repository: fix its "
                "gitdir line (`git worktree repair` in the main repository fixes a moved "
                "worktree), or remove it to plan the folder as one outside git."
            )
        elif " as an exclude file" in text:
            name = text.partition("cannot use ")[2].rpartition(" as an exclude file")[0]
            hint = (
                f"Make {name} a file or remove it (for core.excludesFile: "
                "`git config --global --unset core.excludesFile`)."
            )
        elif "index file corrupt" in text:
            index = self.run("rev-parse", "--path-format=absolute", "--git-path", "index")
            index_path = escape(index.strip())
            hint = (
                "Rebuild the index from the last commit (changes staged since are lost): "
                f"mv {index_path} {index_path}.corrupt && git -C {self.root} reset"
            )
        else:
            hint = generic
        return UsageError(message, hint=hint)

    def warning(self, line: bytes) -> UsageError:
        """The error for a warning of git's: an ignore file it could not read, or another."""
        if b"unable to access" in line:
            name = escape(os.fsencode(self.top / os.fsdecode(_quoted(line))))
            reason = escape(line.rpartition(b"': ")[2])
            if "symbolic links" in reason:
                hint = f"git reads no ignore file through a symlink: replace {name} with a copy."
            else:
                hint = f"Make {name} readable, or remove it if its rules are not needed."
            return UsageError(
                f"git cannot read the ignore file {name}: {reason}; the files its rules leave "
                "out would be planned.",
                hint=hint,
            )
        if _UNREADABLE_FOLDER in line:
            return unreadable_folder(_quoted(line).rstrip(b"/"))
        return UsageError(
            f"git warned: {escape(line.partition(b': ')[2] or line)}",
            hint="Fix what git warns about, then run acp again.",
        )


def unreadable_folder(name: bytes) -> UsageError:
    """The error for a folder git could not open (relative to DIR)."""
    return UsageError(
        f"Cannot read the folder {escape(name)}: permission denied.",
        hint=f"Fix its permissions, or leave it out: add /{escape(name)}/ to the .acpignore "
        f"in the workspace folder, or give --exclude /{escape(name)}/.",
    )


def _quoted(line: bytes) -> bytes:
    """The name between the first and last ``'`` of a line of git's."""
    return line.partition(b"'")[2].rpartition(b"'")[0]


def _gitfile(root: Path) -> Path:
    """The ``.git`` file that makes git look for a repository elsewhere."""
    for folder in (root, *root.parents):
        if (folder / ".git").is_file():
            return folder / ".git"
    return root / ".git"


class Scratch:
    """A throwaway git repository whose work tree is DIR, made on first use."""

    def __init__(self, git: Git) -> None:
        self.git = git
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._folder is not None:
            self._folder.cleanup()

    def args(self) -> tuple[str, ...]:
        """The options that point git at the scratch repository."""
        if self._folder is None:
            try:
                self._folder = tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX)
            except OSError as exc:
                raise _no_scratch(exc) from None
            self.git.run(
                *self._base(),
                "init",
                "--quiet",  # pragma: no mutate: what `git init` prints is not read
                "--template=",
            )
        return self._base()

    def write(self, name: str, text: str) -> str:
        """Write ``text`` to a file of the scratch folder; its path."""
        self.args()
        assert self._folder is not None
        path = os.path.join(self._folder.name, name)
        try:
            # surrogateescape: a pattern from argv keeps the bytes of a name that is
            # not UTF-8, so that --exclude can name it.
            with open(
                path,
                "w",
                encoding="utf-8",  # pragma: no mutate: the locale's is UTF-8 too
                errors="surrogateescape",
            ) as handle:
                handle.write(text)
        except OSError as exc:
            raise _no_scratch(exc) from None
        return path

    def _base(self) -> tuple[str, ...]:
        assert self._folder is not None
        return (
            "--git-dir",
            os.path.join(
                self._folder.name,
                "git",  # pragma: no mutate: any name in the scratch folder serves
            ),
            "--work-tree",
            ".",
        )


def _no_scratch(exc: OSError) -> UsageError:
    """The error for a temporary folder that cannot be made or written (a full disk, a
    TMPDIR that is not writable)."""
    return UsageError(
        f"acp could not write its temporary files: {exc.strerror or exc}.",
        hint="Free some room in the temporary folder, or point TMPDIR at another one.",
    )


class PendingListing:
    """``git ls-files`` started in DIR; ``finish`` waits for it and sorts its answer.

    Starting it first lets the caller load the hash cache while git walks the tree.
    With ``witness``, in a work tree whose ``.git`` is a folder, ``git diff-files``
    runs too (``witness()``).
    """

    def __init__(self, git: Git, scratch: Scratch, *, witness: bool) -> None:
        self.git = git
        listed_ns = time.time_ns()
        locate = git.start(*early.LOCATE)
        # Started with the question of where DIR is, not after its answer: in a work
        # tree, the usual case, it is the listing, and git answers both at once.
        self.process = git.start(*early.LIST)
        listed_ns = min(listed_ns, early.started_ns(self.process) or listed_ns)
        try:
            self.inside, self.prefix = _locate(git, locate)
        except BaseException:
            early.end(self.process)
            raise
        self.base: tuple[str, ...] = () if self.inside else scratch.args()
        if not self.inside:  # git said "not a git repository": a fresh one's listing
            early.end(self.process)
            self.process = git.start(*self.base, *early.LIST)
        self._diff: tuple[subprocess.Popen[bytes], str, list[int], int, int] | None = None
        if witness and self.inside and (git.top / ".git").is_dir():
            self._diff = _witness(git, str(git.top / ".git" / "index"), listed_ns)

    def witness(self) -> IndexWitness | None:
        """What ``git diff-files`` said, once it is done; None when it did not run, failed,
        warned, or the index changed meanwhile."""
        if self._diff is None:
            return None
        process, index, identity, started_ns, listed_ns = self._diff
        self._diff = None
        out, err = process.communicate()
        if process.returncode != 0 or err.strip() or early.index_identity(index) != identity:
            return None
        return IndexWitness(
            changed=frozenset(name for name in out.split(b"\0") if name),
            index=identity,
            started_ns=started_ns,
            listed_after=identity[1] < listed_ns - cache.RACY_NS,
        )

    def close(self) -> None:
        """End ``git diff-files`` if nobody asked for its answer."""
        if self._diff is not None:
            early.end(self._diff[0])
            self._diff = None

    def finish(self, memory: FolderMemory) -> Listing:
        """The paths git listed, with the special files and ``.acpignore`` files
        of their folders found through ``memory``."""
        folders: list[bytes] = []  # named from the work tree's top
        out = self.git.finish(self.process, unreadable=folders)
        unreadable = [name.removeprefix(self.prefix) for name in folders]
        records = out.split(b"\0")[:-1]  # each ends with NUL
        paths = [record[2:] for record in records]  # after the tag (early.LIST)
        # Outside a work tree nothing is tracked: every path is untracked.
        others = [record for record in records if not record.startswith(b"H ")]
        unchecked = {record[2:] for record in others} if self.inside else set()
        nested = [record[2:-1] for record in others if record.endswith(b"/")]
        if nested or (  # conflicted: per stage
            self.inside and len(unchecked) < len(others)  # pragma: no mutate: only a shortcut
        ):
            paths = [name for name in dict.fromkeys(paths) if not name.endswith(b"/")]
        specials, acpignore_seen = _scan_folders(self.git.root, paths, memory)
        if specials:  # a tracked file that became a FIFO is listed by git already
            listed = set(paths)
            specials = [name for name in specials if name not in listed]
        if specials:
            check = ("check-ignore", "--stdin", "-z")
            ignored = set(
                self.git.run(*self.base, *check, stdin=_z(specials), allowed=(0, 1)).split(b"\0")
            )
            specials = [name for name in specials if name not in ignored]
        return Listing(
            paths, nested, specials, self.inside, acpignore_seen, unreadable, frozenset(unchecked)
        )


def _witness(
    git: Git, index: str, listed_ns: int
) -> tuple[subprocess.Popen[bytes], str, list[int], int, int] | None:
    """``git diff-files`` (``early.DIFF``) started, the one started early if it reads
    ``index``: with the identity of the index before it started, and when."""
    process = early.take(early.DIFF, str(git.root), git.env)
    if process is not None:
        started_ns = early.started_ns(process)
        before = early.index_before(process)
        if started_ns is not None and before is not None and before[0] == index and before[1]:
            return process, index, before[1], started_ns, listed_ns
        early.end(process)
    identity = early.index_identity(index)
    started_ns = time.time_ns()
    if identity is None:
        return None
    return git.start(*early.DIFF), index, identity, started_ns, listed_ns


def _locate(git: Git, process: subprocess.Popen[bytes]) -> tuple[bool, bytes]:
    """Whether DIR is in a git work tree, and its path from the work tree's top
    (``b""`` or ``b"sub/"``); sets ``git.top``. Not in one only when git says DIR is
    in no repository at all: then it is planned as a fresh one. Any other refusal,
    and a DIR inside a git folder, is an error. ``process`` is ``early.LOCATE``, started."""
    out, err = process.communicate()
    answers = out.split(b"\n")
    top = b"\n".join(answers[2:-2])
    if process.returncode == 0 and answers[:2] == [b"false", b"false"]:
        # Neither in a work tree nor in a git folder: core.worktree puts the work tree
        # elsewhere, and git answers for that one.
        raise UsageError(
            f"{git.root} is in a git repository whose work tree is elsewhere, "
            f"{escape(top)} (its core.worktree setting).",
            hint="If this folder is that repository's work tree, remove the setting: "
            f"git -C {shlex.quote(str(git.root))} config --unset core.worktree",
        )
    if answers[:2] == [b"false", b"true"]:
        raise UsageError(
            f"{git.root} is inside a git folder, which holds git's own data, not workspace files.",
            hint="Plan the work tree instead: the folder that holds the .git folder.",
        )
    if process.returncode != 0:
        if b"fatal: not a git repository (or any" in err:
            return (
                False,
                b"",  # pragma: no mutate: another prefix, which no name git gives starts with
            )
        raise git.refusal(err)
    if answers[:2] != [b"true", b"false"]:
        raise git.refusal(err)  # an answer git does not give
    git.top = Path(os.fsdecode(top))
    return True, answers[-2]


class FolderMemory:
    """What earlier runs found in each folder, valid while the folder's mtime and
    ctime are unchanged (creating, removing or renaming an entry changes them).

    ``remembered`` maps a folder (relative, ``""`` for DIR) to ``[mtime_ns,
    ctime_ns, has_acpignore, [special file names]]``; a folder whose mtime is not
    before ``trusted_before_ns`` is scanned again (it may have changed within the
    file system's timestamp granularity). ``scanned`` is what this run found.
    """

    def __init__(self, remembered: Mapping[str, Any], trusted_before_ns: int) -> None:
        self.remembered = remembered
        self.trusted_before_ns = trusted_before_ns
        self.scanned: dict[str, list[Any]] = {}
        self.read = 0
        """How many folders were read this run (``changed`` when any)."""

    @property
    def changed(self) -> bool:
        """Whether a folder was read this run: then ``scanned`` is worth saving."""
        return self.read > 0

    def recall(self, folder: str, info: os.stat_result) -> tuple[bool, list[str]] | None:
        """What ``folder`` held when it had the stat ``info``, if known and trusted."""
        known = self.remembered.get(folder)
        if (
            type(known) is list
            and len(known) == 4
            and known[0] == info.st_mtime_ns
            and known[1] == info.st_ctime_ns
            and info.st_mtime_ns < self.trusted_before_ns
            and type(known[2]) is bool
            and type(known[3]) is list
            and all(type(name) is str for name in known[3])
        ):
            return known[2], known[3]
        self.read += 1
        return None

    def record(
        self, folder: str, info: os.stat_result, acpignore: bool, specials: list[str]
    ) -> None:
        """Remember what ``folder`` holds, for the next run."""
        self.scanned[folder] = [info.st_mtime_ns, info.st_ctime_ns, acpignore, specials]


def acp_excluded(
    scratch: Scratch,
    entries: Sequence[tuple[bytes, int]],
    excludes: Sequence[str],
    has_acpignore: bool,
) -> set[bytes]:
    """The paths of ``entries`` (path, git mode) that ``.acpignore`` files or
    ``excludes`` (gitignore patterns relative to DIR) leave out.

    Each rule set is evaluated on its own, so that a negation in one cannot bring
    back what another leaves out.
    """
    for pattern in excludes:
        if "\n" in pattern or "\r" in pattern or "\0" in pattern:
            raise UsageError(
                f"The exclude pattern {pattern!r} holds a line break, which a gitignore "
                "pattern cannot.",
                hint="Give one pattern per --exclude option.",
            )
    if not entries or not (excludes or has_acpignore):
        return set()
    base = scratch.args()
    records = b"".join(
        b"%o %s\t%s\0" % (mode, _EMPTY_BLOB.encode(), path) for path, mode in entries
    )
    scratch.git.run(
        *base,
        "update-index",
        "-z",
        "--add",  # pragma: no mutate: --index-info adds the entries without it too
        "--index-info",
        stdin=records,
    )
    excluded: set[bytes] = set()
    if has_acpignore:
        excluded.update(
            _ignored(scratch, base, f"--exclude-per-directory={ACPIGNORE}"),
        )
    if excludes:
        patterns = scratch.write(
            "exclude",  # pragma: no mutate: any name in the scratch folder serves
            "".join(f"{pattern}\n" for pattern in excludes),
        )
        excluded.update(_ignored(scratch, base, "-X", patterns))
    return excluded


def _ignored(scratch: Scratch, base: tuple[str, ...], *rules: str) -> list[bytes]:
    out = scratch.git.run(*base, "ls-files", "--cached", "--ignored", *rules, "-z")
    return [name for name in out.split(b"\0") if name]


def _folders(paths: Iterable[bytes]) -> set[bytes]:
    """Every folder that holds one of ``paths`` or a folder of them, DIR as ``b""``."""
    folders: set[bytes] = {b""}
    for folder in {path.rpartition(b"/")[0] for path in paths}:
        while folder not in folders:
            folders.add(folder)
            folder = folder.rpartition(b"/")[0]
    return folders


def _scan_folders(
    root: Path, paths: Iterable[bytes], memory: FolderMemory
) -> tuple[list[bytes], bool]:
    """The FIFOs, sockets and devices in the folders that hold listed paths (or
    folders of them), and whether one of those folders has an ``.acpignore``.

    Git skips special files silently; SPEC section 8 wants each named in a warning.
    The entry's type is read from the folder itself (never opened). An
    ``.acpignore`` applies even when git ignores the file itself; one in a folder
    that holds nothing listed cannot leave anything out. An unchanged folder is
    not read again: ``memory`` knows what it holds, by its ``lstat`` (its name
    resolved from DIR: what a symlinked folder on the way leads to cannot have the
    nanosecond mtime and ctime recorded; a folder is read only once opened one
    component at a time).
    """
    found: list[bytes] = []
    acpignore_seen = False  # pragma: no mutate: None too: `None or False` is False
    with FolderChain(os.fsencode(root)) as chain:
        top = chain.open(b"")  # pragma: no mutate: None names DIR as b"" does
        for folder in sorted(_folders(paths)):
            key = os.fsdecode(folder)
            try:
                info = os.lstat(folder or b".", dir_fd=top)
            except OSError:
                continue  # git listed files in it a moment ago; the file pass reports errors
            known = memory.recall(key, info)
            if known is None:
                try:
                    fd = chain.open(folder)
                    if fd is None:
                        continue  # a symlink or a file: git says its files are deleted
                    info = os.fstat(fd)
                except OSError:
                    continue
                known = _scan_folder(fd)
            memory.record(key, info, *known)
            acpignore, specials = known
            acpignore_seen = acpignore_seen or acpignore
            for name in specials:
                found.append(folder + b"/" + os.fsencode(name) if folder else os.fsencode(name))
    return found, acpignore_seen


def _scan_folder(fd: int) -> tuple[bool, list[str]]:
    """Whether the folder open as ``fd`` has an ``.acpignore``, and its special files."""
    acpignore = False
    specials: list[str] = []
    try:
        entries = os.scandir(fd)
    except OSError:
        return acpignore, specials  # the file pass reports what it cannot read
    with entries:
        for entry in entries:
            if entry.name == ACPIGNORE:
                acpignore = True
            if entry.is_file(
                follow_symlinks=False  # pragma: no mutate: a symlink is skipped next anyway
            ) or entry.is_dir(
                follow_symlinks=False  # pragma: no mutate: a symlink is skipped next anyway
            ):
                continue
            if entry.is_symlink():
                continue
            try:
                mode = entry.stat(
                    follow_symlinks=False  # pragma: no mutate: None is False; no symlink here
                ).st_mode
            except OSError:
                continue
            if not stat.S_ISREG(mode):
                specials.append(entry.name)
    return acpignore, specials


def _z(paths: Iterable[bytes]) -> bytes:
    return b"".join(path + b"\0" for path in paths)


def escape(path: bytes) -> str:
    """A path for a message: UTF-8 as it is, other bytes as ``\\xNN``."""
    return path.decode("utf-8", "backslashreplace")  # pragma: no mutate: "UTF-8" is the same
