"""git started while Python still imports (issue 20).

``acp push plan [DIR]`` and ``acp push prepare B --dir DIR`` spend their first
tenth of a second importing the command tree; git's listing of DIR takes about as
long. The console script calls ``start`` first thing, with its arguments: when they
plainly name a workspace folder, the git commands that ``listing`` runs first
(where DIR is, what it holds, and unless ``--no-cache`` which tracked files changed:
``DIFF``, when a ``.git`` folder is found above DIR) start at once. ``take`` hands
them to the listing when it asks for exactly those commands, in the same folder with
the same environment; else they are ended, unused (``discard``, at exit). So the
guess can only save time: the listing runs its own git whenever the early one does
not match.

Only a plain command line counts (the options below, in any order): anything else,
including ``--help``, is left to the command.

The big files of a small workspace are hashed while acp loads, too: a thread reads
LIST's answer (handed to the listing by ``answer``), and when it names at most
``HASH_NAMES`` paths, hashes those of ``hashing.BIG`` bytes or more, largest first,
opened as the describers open them (never through a symlinked folder). The
describer asks for the hashes of the big files the plan holds (``hashed``): the
hash under way is finished if it is one of them, any other is left after its first
block read, and the thread is over. The describer takes a hash only for a file whose
stat key is still the one hashed. Workers are never forked while the thread runs
(``hashed`` is called first), and it runs only where there is a second core for it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess
    import threading

# Variables that would point git at another repository than the one around DIR.
REPOSITORY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
LOCATE = (
    "rev-parse",
    "--is-inside-work-tree",
    "--is-inside-git-dir",
    "--show-toplevel",
    "--show-prefix",
)
LIST = ("ls-files", "--cached", "--others", "--exclude-standard", "-v", "-z")
"""Each path tagged: ``H `` for a tracked file git checks (``h`` assume-unchanged, ``S``
skip-worktree, ``M`` unmerged, ``? `` untracked, ...)."""
# `git diff-files` as a witness that tracked files match their index entries: git's
# strictest stat comparison whatever the configuration (ctime, inode, owner, the
# executable bit), no file system monitor to trust instead, the index never written.
DIFF = (
    "--no-optional-locks",
    "-c",
    "core.trustCtime=true",
    "-c",
    "core.checkStat=default",
    "-c",
    "core.fileMode=true",
    "-c",
    "core.fsmonitor=false",
    "diff-files",
    "--name-only",
    "--relative",
    "--ignore-submodules=all",
    "-z",
)

HASH_NAMES = 1024
"""The thread hashes early only in a listing of at most this many paths: it stats each
one, holding the lock the imports need too, and a bigger tree's run is long enough
for the imports not to matter."""

_FLAGS = {"plan": {"-q", "--quiet", "--no-cache"}, "prepare": {"--no-cache"}}
_VALUES = {"plan": {"-o", "--output", "--exclude"}, "prepare": {"--exclude"}}
_started: dict[tuple[str, ...], tuple[str, dict[str, str], subprocess.Popen[bytes]]] = {}
_started_ns: dict[int, int] = {}  # when each was started, by process ID
_index_before: dict[int, tuple[str, list[int] | None]] = {}  # DIFF's index, by process ID
_hasher: _Hasher | None = None


def git_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment git runs in: nothing that redirects it, no tracing (``GIT_TRACE``
    and its kin write to stderr, which the listing reads as git's warnings), messages in
    English (so that the one looked for in stderr is found)."""
    clean = {
        k: v
        for k, v in env.items()
        if k not in REPOSITORY_VARIABLES and not k.startswith(("GIT_TRACE", "GIT_CURL_VERBOSE"))
    }
    clean["LC_ALL"] = "C"
    clean.pop("LANGUAGE", None)
    return clean


def start(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Start LOCATE and LIST in the folder ``argv`` (acp's arguments) plans, if any."""
    folder = _workspace(argv)
    if folder is None or not os.path.isdir(folder):
        return
    for fd in (0, 1, 2):  # a closed one would be taken by a pipe: acp reserves them later
        try:
            os.fstat(fd)
        except OSError:
            return
    import subprocess  # here, not at import: every `acp push` run imports this module

    root = os.path.realpath(folder)
    environment = git_env(env)
    commands = [LOCATE, LIST]
    index = None if "--no-cache" in argv else _index_of(root)
    if index is not None:
        commands.append(DIFF)
        identity = index_identity(index)  # before DIFF reads it
    started_ns = time.time_ns()
    try:
        for args in commands:
            _started[args] = (
                root,
                environment,
                subprocess.Popen(
                    ["git", *args],
                    cwd=root,
                    env=environment,
                    stdin=subprocess.DEVNULL,  # pragma: no mutate: git reads none here
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                ),
            )
            _started_ns[_started[args][2].pid] = started_ns
            if args == DIFF and index is not None:
                _index_before[_started[args][2].pid] = (index, identity)
    except OSError:  # no git: the listing says so
        discard()
        return
    if cores() > 1:
        global _hasher
        _hasher = _Hasher(root, _started[LIST][2])


def cores() -> int:
    """How many cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1  # pragma: no mutate: not on Linux, where tests run


def take(args: Sequence[str], root: str, env: Mapping[str, str]) -> subprocess.Popen[bytes] | None:
    """The git started early as ``git ARGS`` in ``root`` with ``env``, if there is one."""
    found = _started.pop(tuple(args), None)
    if found is None:
        return None
    if found[:2] == (root, env):
        return found[2]
    end(found[2])
    return None


def index_identity(path: str) -> list[int] | None:
    """Which file git's index at ``path`` is: (inode, ctime_ns, mtime_ns, size); None
    when it cannot be read. Git replaces its index (rename of ``index.lock``) or
    changes it, never both keeps the inode and the ctime: equal identities at two
    moments mean the same content all along."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_ino, info.st_ctime_ns, info.st_mtime_ns, info.st_size]


def index_before(process: subprocess.Popen[bytes]) -> tuple[str, list[int] | None] | None:
    """The index that ``process``, if ``take`` gave it as DIFF, was started to read, and
    its identity before; asked once."""
    return _index_before.pop(process.pid, None)


def _index_of(root: str) -> str | None:
    """The index of the work tree around ``root`` when its ``.git`` is a folder (a
    guess, checked against git's answer where DIR is)."""
    folder = root
    while True:
        dot_git = os.path.join(folder, ".git")
        if os.path.isdir(dot_git):
            return os.path.join(dot_git, "index")
        if os.path.lexists(dot_git) or os.path.dirname(folder) == folder:
            return None
        folder = os.path.dirname(folder)


def started_ns(process: subprocess.Popen[bytes]) -> int | None:
    """When ``process``, if ``take`` gave it, was started (before it read anything);
    asked once."""
    return _started_ns.pop(process.pid, None)


def discard() -> None:
    """End the git processes nobody took, and the early hash."""
    while _started:
        end(_started.popitem()[1][2])
    hashed(())


def end(process: subprocess.Popen[bytes]) -> None:
    """End a git whose answer is not wanted, and reap it."""
    _started_ns.pop(process.pid, None)
    _index_before.pop(process.pid, None)
    if process.poll() is None:
        process.kill()
    if _hasher is not None and _hasher.process is process:
        hashed(())  # its thread reaps it
    else:
        process.communicate()


def answer(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes] | None:
    """The (stdout, stderr) of LIST, once it is done, when ``process`` is the one the
    early hash reads; else None, and the caller reads ``process`` itself."""
    if _hasher is None or _hasher.process is not process:
        return None
    _hasher.listed.wait()
    return _hasher.answer


def hashed(wanted: Collection[str]) -> dict[str, tuple[str, int, bytes]]:
    """The early hashes (SHA-256, size, stat key) of the ``wanted`` paths, relative to
    DIR: the one under way and those still to come are finished if wanted, any other is
    left after its first block. The thread is over when this returns."""
    global _hasher
    hasher, _hasher = _hasher, None
    if hasher is None:
        return {}
    hasher.wanted = frozenset(wanted)
    hasher.thread.join()
    return {path: hasher.hashes[path] for path in wanted if path in hasher.hashes}


class _Abandoned(Exception):
    """The file being hashed early is no longer wanted."""


class _Hasher:
    """A thread that reads LIST's answer, then hashes the big files it names."""

    def __init__(self, root: str, process: subprocess.Popen[bytes]) -> None:
        import threading

        self.root = root
        self.process = process
        self.listed = threading.Event()
        self.answer: tuple[bytes, bytes] = (
            b"",  # pragma: no mutate: not read when git's exit status is unknown
            b"",
        )
        """LIST's (stdout, stderr); if they could not be read, nothing, and git's exit
        status stays unknown (None): the listing refuses."""
        self.hashes: dict[str, tuple[str, int, bytes]] = {}
        self.wanted: frozenset[str] | None = None
        """None until the describer says which paths it wants."""
        self.thread: threading.Thread = threading.Thread(
            target=self._run,
            name="acp-early-hash",  # pragma: no mutate: for people, in tracebacks
            daemon=True,  # pragma: no mutate: discard() ends it before any exit anyway
        )
        self.thread.start()

    def _run(self) -> None:
        try:
            # Imported while git lists, not after: the hash starts as soon as it has.
            from acp_cli.workspace import hashing
            from acp_cli.workspace.folders import FolderChain

            self.answer = self.process.communicate()
        finally:
            self.listed.set()  # whatever happened: the listing never waits forever
        if self.process.returncode != 0 or self.answer[1]:
            return
        records = self.answer[0].split(b"\0")[:-1]
        if len(records) > HASH_NAMES:
            return
        try:
            folders = FolderChain(os.fsencode(self.root))
        except OSError:  # DIR went away or shut acp out: the describer will say so
            return
        with folders:
            big = []
            for record in records:
                try:
                    path = record[2:].decode()  # after the tag
                except UnicodeDecodeError:
                    continue  # the describer refuses it
                key = hashing.key_in(folders, path)  # None: no regular file
                if key is not None and (size := hashing.KEY.unpack(key)[0]) >= hashing.BIG:
                    big.append((size, path))
            big.sort(reverse=True)
            buffer = bytearray(hashing.BLOCK)
            for _, path in big:

                def on_block(_: int, path: str = path) -> None:
                    if self.wanted is not None and path not in self.wanted:
                        raise _Abandoned

                try:
                    found = hashing.hash_in(folders, path, buffer, on_block)
                except _Abandoned:
                    continue
                if not isinstance(found, hashing.Unhashable):
                    self.hashes[path] = found


def _workspace(argv: Sequence[str]) -> str | None:
    """The folder of ``push plan [DIR]`` or ``push prepare B --dir DIR``, when the
    command line holds nothing but such options."""
    if len(argv) < 2 or argv[0] != "push" or argv[1] not in _FLAGS:
        return None
    command, words = argv[1], list(argv[2:])
    positional: list[str] = []
    folder = output = None
    while words:
        word = words.pop(0)
        name, equals, value = word.partition("=")
        if word in _FLAGS[command]:
            continue
        if name in _VALUES[command] or (command == "prepare" and name == "--dir"):
            if not equals:
                if not words:
                    return None
                value = words.pop(0)
            if name == "--dir":
                folder = value
            elif name in ("-o", "--output"):
                output = value
            continue
        if word.startswith("-"):
            return None
        positional.append(word)
    if command == "plan":
        if output is None and os.isatty(1):
            return None  # refused: a plan is not for a terminal
        return positional[0] if len(positional) == 1 else "." if not positional else None
    return folder if len(positional) == 1 else None
