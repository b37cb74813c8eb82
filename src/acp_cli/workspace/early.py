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

The big files of a small workspace are hashed while acp loads, too. Unless git's
index tracks more than ``HASH_NAMES`` files, ``start`` reads the start of LIST's
answer (for at most ``LISTING_WAIT`` seconds: git lists a small folder in a few
milliseconds), and when LIST is done, content and silent, naming at
most ``HASH_NAMES`` paths, forks a process (``_Hasher``) that hashes those of
``hashing.BIG`` bytes or more, largest first, opened as the describers open them
(never through a symlinked folder), while this one imports the rest. The listing
gets LIST's whole answer all the same (``answer``). The describer asks for the hashes
of the big files the plan holds (``hashed``): it waits for them while the hashing
process works on wanted files, and ends that process at the first file it does not
want. It takes a hash only for a file whose stat key is still the one hashed. All
this only where there is a second core for it, and ``fork``.
"""

from __future__ import annotations

import os
import struct
import time

# Not typing.TYPE_CHECKING: git starts before anything else of acp's loads, so what
# this module imports delays it (typing: a few milliseconds).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Collection, Mapping, Sequence
    from typing import NoReturn

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
"""Big files are hashed early only in a listing of at most this many paths: a bigger
tree's run is long enough for the imports not to matter."""
LISTING_WAIT = 0.05
"""How long, in seconds, ``start`` waits for LIST to name more than ``HASH_NAMES`` paths
or be done: the imports wait as long."""

_FLAGS = {"plan": {"-q", "--quiet", "--no-cache"}, "prepare": {"--no-cache"}}
_VALUES = {"plan": {"-o", "--output", "--exclude"}, "prepare": {"--exclude"}}
_started: dict[tuple[str, ...], tuple[str, dict[str, str], subprocess.Popen[bytes]]] = {}
_started_ns: dict[int, int] = {}  # when each was started, by process ID
_index_before: dict[int, tuple[str, list[int] | None]] = {}  # DIFF's index, by process ID
_read: dict[int, tuple[bytes, bytes, bool] | None] = {}  # what start read of LIST, by ID
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
    if cores() > 1 and hasattr(os, "fork") and _index_entries(_index_of(root)) <= HASH_NAMES:
        _hash_early(root, _started[LIST][2])


def _hash_early(root: str, process: subprocess.Popen[bytes]) -> None:
    """Read the start of LIST's answer (``process``); start the hashing process when it
    is all there and names few paths."""
    # Imported while git lists, and before the fork: the child imports nothing.
    from acp_cli.workspace import folders, hashing  # noqa: F401

    found = _read_listing(process)
    _read[process.pid] = found
    if found is None or not found[2] or found[1] or process.wait() != 0:
        return
    records = found[0].split(b"\0")[:-1]
    if len(records) <= HASH_NAMES:
        global _hasher
        _hasher = _Hasher(root, records)


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


def _index_entries(index: str | None) -> int:
    """How many entries git's ``index`` holds, by its header (0 when there is none, or
    it cannot be read): a work tree that tracks more files than ``HASH_NAMES`` is not
    waited for (git lists the untracked files first, after walking the whole tree)."""
    if index is None:
        return 0
    try:
        with open(index, "rb") as file:
            header = file.read(12)
    except OSError:
        return 0
    # Big-endian, as int.from_bytes reads by default.
    return int.from_bytes(header[8:]) if len(header) == 12 and header[:4] == b"DIRC" else 0


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
    _read.pop(process.pid, None)
    if process.poll() is None:
        process.kill()
    process.communicate()


def answer(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes] | None:
    """The (stdout, stderr) of LIST, once it is done, when ``start`` read the start of
    it; else None, and the caller reads ``process`` itself. When what was read could
    not be, nothing: git's exit status stays unknown (None) and the listing refuses."""
    if process.pid not in _read:
        return None
    found = _read.pop(process.pid)
    if found is None:
        return b"", b""  # pragma: no mutate: not read when git's exit status is unknown
    out, err = process.communicate()  # the rest, if any, and git's exit status
    return found[0] + out, found[1] + err


def hashed(wanted: Collection[str]) -> dict[str, tuple[str, int, bytes]]:
    """The early hashes (SHA-256, size, stat key) of the ``wanted`` paths, relative to
    DIR: the hash under way and those still to come are waited for while they are
    wanted; at the first one that is not, or when every wanted one is in, the hashing
    process is ended. It is over (ended and reaped) when this returns; the describer
    hashes any wanted file this leaves out."""
    global _hasher
    hasher, _hasher = _hasher, None
    if hasher is None:
        return {}
    try:
        missing = set(wanted)
        while missing - hasher.hashes.keys():
            if hasher.current is not None and hasher.current not in missing:
                break  # hashing a file the plan does not hold
            if not hasher.receive():
                break  # all done
    finally:
        hasher.end()
    return {path: hasher.hashes[path] for path in wanted if path in hasher.hashes}


def _read_listing(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes, bool] | None:
    """What LIST says within ``LISTING_WAIT`` seconds, stopping as soon as it names
    more than ``HASH_NAMES`` paths: (stdout, stderr, whether git closed both); None if
    they could not be read."""
    import select

    assert process.stdout is not None
    assert process.stderr is not None
    out, err = process.stdout.fileno(), process.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out: [], err: []}
    poller = select.poll()
    for fd in chunks:
        poller.register(fd)  # readable, ended or failed
    deadline = time.monotonic() + LISTING_WAIT
    reading, names = set(chunks), 0
    try:
        while (
            reading
            and names <= HASH_NAMES
            and (left := deadline - time.monotonic()) > 0  # pragma: no mutate: when to stop
        ):
            for fd, _ in poller.poll(left * 1000):  # pragma: no mutate: how long to wait
                chunk = os.read(fd, 1 << 16)  # pragma: no mutate: a pipe's size, or any
                if not chunk:
                    poller.unregister(fd)
                    reading.discard(fd)
                elif fd == out:
                    names += chunk.count(b"\0")
                chunks[fd].append(chunk)
    except OSError:
        return None
    return b"".join(chunks[out]), b"".join(chunks[err]), not reading


class _Hasher:
    """A process forked from acp's, before it loads the rest, that hashes the big files
    of a small listing, largest first: a process and not a thread, so that it hashes at
    full speed on another core while the imports hold the interpreter's lock.

    It tells its parent, through a pipe, each file it starts (``S``, the path's length
    and the path) and how that ended: its hash (``D``, the SHA-256 and the stat key) or
    not (``U``). It reads no input: the parent ends it when it no longer needs it, and
    it stops by itself when its parent is gone (it would be another process's child)."""

    def __init__(self, root: str, records: list[bytes]) -> None:
        read_end, write_end = os.pipe()
        parent = os.getpid()
        self.pid = os.fork()  # pragma: no mutate: see CONTRIBUTING.md
        if self.pid == 0:  # pragma: no mutate: the child (whose results are tested)
            os.close(read_end)
            _hash_in_child(root, records, write_end, parent)
        os.close(write_end)
        self.events = open(read_end, "rb")  # noqa: SIM115 - closed by end()
        self.hashes: dict[str, tuple[str, int, bytes]] = {}
        self.current: str | None = None
        """The path the child is hashing, as far as the parent has read."""

    def receive(self) -> bool:
        """Read what the child said next; False when it has no more to say, or was
        ended while it said it."""
        from acp_cli.workspace.hashing import KEY

        try:
            kind = self._take(1)
            if kind == b"S":
                self.current = self._take(_LENGTH.unpack(self._take(_LENGTH.size))[0]).decode()
                return True
            if kind == b"D" and self.current is not None:
                digest, key = self._take(32), self._take(KEY.size)
                self.hashes[self.current] = (digest.hex(), KEY.unpack(key)[0], key)
            elif kind != b"U":
                return False
        except EOFError:
            return False
        self.current = None
        return True

    def _take(self, size: int) -> bytes:
        """The next ``size`` bytes the child said; EOFError if it said fewer."""
        data = self.events.read(size)
        if len(data) != size:
            raise EOFError
        return data

    def end(self) -> None:
        """End the child, if it still runs, and reap it."""
        import signal

        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except OSError:  # reaped already: acp was started with SIGCHLD ignored
            pass
        self.events.close()


_LENGTH = struct.Struct("<I")


def _hash_in_child(root: str, records: list[bytes], out: int, parent: int) -> NoReturn:
    """The hashing process's whole life (``_Hasher``): ``report_hashes``, then exit,
    silently whatever happened. Its exit status says nothing (the pipe says what it
    did); what it could not hash, the describer hashes, and names the error if any."""
    try:
        report_hashes(root, records, out, parent)  # pragma: no mutate: only in the child
    finally:
        os._exit(0)  # pragma: no mutate: only in the child


def report_hashes(root: str, records: list[bytes], out: int, parent: int) -> None:
    """Hash the big files among ``records`` (LIST's, tags included), largest first,
    opened as the describers open them, and say how each went to ``out`` (``_Hasher``).
    SystemExit when ``parent`` (acp) is gone: nobody would read the hashes."""
    from acp_cli.workspace import hashing
    from acp_cli.workspace.folders import FolderChain

    def on_block(_: int) -> None:
        if os.getppid() != parent:
            raise SystemExit

    with FolderChain(os.fsencode(root)) as folders:
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
            name = path.encode()
            _write(out, b"S" + _LENGTH.pack(len(name)) + name)
            found = hashing.hash_in(folders, path, buffer, on_block)
            if isinstance(found, hashing.Unhashable):
                _write(out, b"U")
            else:
                _write(out, b"D" + bytes.fromhex(found[0]) + found[2])


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


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
