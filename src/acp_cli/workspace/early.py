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
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

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

_FLAGS = {"plan": {"-q", "--quiet", "--no-cache"}, "prepare": {"--no-cache"}}
_VALUES = {"plan": {"-o", "--output", "--exclude"}, "prepare": {"--exclude"}}
_started: dict[tuple[str, ...], tuple[str, dict[str, str], subprocess.Popen[bytes]]] = {}
_started_ns: dict[int, int] = {}  # when each was started, by process ID
_index_before: dict[int, tuple[str, list[int] | None]] = {}  # DIFF's index, by process ID


def git_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment git runs in: nothing that redirects it, messages in English
    (so that the one looked for in stderr is found)."""
    clean = {k: v for k, v in env.items() if k not in REPOSITORY_VARIABLES}
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
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                ),
            )
            _started_ns[_started[args][2].pid] = started_ns
            if args == DIFF and index is not None:
                _index_before[_started[args][2].pid] = (index, identity)
    except OSError:  # no git: the listing says so
        discard()


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
    """End the git processes nobody took."""
    while _started:
        end(_started.popitem()[1][2])


def end(process: subprocess.Popen[bytes]) -> None:
    """End a git whose answer is not wanted, and reap it."""
    _started_ns.pop(process.pid, None)
    _index_before.pop(process.pid, None)
    if process.poll() is None:
        process.kill()
    process.communicate()


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
