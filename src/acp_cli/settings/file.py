"""``config.toml``: where it lives, reading it, private atomic writes, the device ID.

The file looks like::

    device_id = "0b6c..."

    [profiles.default]
    api_url = "https://api.example.com"
    timeout = 30

Reading uses the standard library's ``tomllib``; writing goes through
``tomlkit`` so that a user's comments and layout survive our edits.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

from acp_cli.errors import ConfigError
from acp_cli.files import write_atomic
from acp_cli.settings.registry import (
    CONFIG_DIR,
    DEVICE_ID,
    DEVICE_ID_KEY,
    PROFILES_TABLE,
    env_value,
)
from acp_cli.settings.values import InvalidValue

T = TypeVar("T")

CONFIG_NAME = "config.toml"
LOCK_NAME = ".lock"


def config_dir(env: Mapping[str, str]) -> Path:
    """The folder that holds ``config.toml``: ``ACP_CONFIG_DIR`` or the platform's."""
    override = env_value(CONFIG_DIR, env)
    if override is not None:
        return Path(override)
    # Imported here: platformdirs costs start-up time that ACP_CONFIG_DIR users skip.
    import platformdirs

    return platformdirs.user_config_path("acp")


def config_path(folder: Path) -> Path:
    """The path of ``config.toml`` inside ``folder``."""
    return folder / CONFIG_NAME


def config_path_for(env: Mapping[str, str]) -> Path:
    """The path of the ``config.toml`` that ``env`` selects."""
    return config_path(config_dir(env))


def load(path: Path, *, check: Callable[[os.stat_result], None] | None = None) -> dict[str, Any]:
    """Read a TOML file; a missing file is empty, a broken one is a ConfigError.

    ``check``, when given, sees the status of the file that was opened (a
    symlink's target) before a byte is read, and may refuse it by raising.
    """
    try:
        with path.open("rb") as handle:
            if check is not None:
                check(os.fstat(handle.fileno()))
            data = handle.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the config file {path}: {exc.strerror or exc}.",
            hint=f"Check its permissions, or point {CONFIG_DIR.variable} at another folder.",
        ) from exc
    import tomllib  # 12 ms of start-up, spent only when there is a file to read

    try:
        return tomllib.loads(data.decode())  # UTF-8
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"The config file {path} is not valid TOML: {exc}.",
            hint="Fix or delete the file; `acp config list` shows what acp reads.",
        ) from exc


def ensure_dir(folder: Path) -> None:
    """Create ``folder`` private (mode 0700) when it does not exist.

    An existing folder is left as it is: ACP_CONFIG_DIR may name a shared one
    (a CI workspace, /tmp), whose mode is not ours to change.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def require_safe_folder(folder: Path) -> None:
    """Refuse to write a secret in ``folder`` unless only the user can change what is in it.

    OpenSSH's StrictModes: the folder must be owned by the user and writable by
    no one else, or another user could replace the file acp writes there. Others
    may read and enter it (mode 755): the secret file itself is 0600.
    """
    if os.name != "posix":  # pragma: no cover - Windows has ACLs, not mode bits
        return
    status = folder.stat()
    mode = stat.S_IMODE(status.st_mode)
    if status.st_uid != os.geteuid():
        problem, fix = "is owned by another user", f"`chown {os.geteuid()} {folder}`"
    elif mode & 0o022:
        problem, fix = f"is writable by other users (mode {mode:o})", f"`chmod go-w {folder}`"
    else:
        return
    raise ConfigError(
        f"The config folder {folder} {problem}; acp stores a token only in a folder "
        "that no one else can change.",
        hint=f"Run {fix}, or set {CONFIG_DIR.variable} to a folder of your own.",
    )


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, readable by the user only (0600).

    ``files.write_atomic`` does the writing: a reader sees the old file or the new
    one, never half of either, and a symlinked ``config.toml`` (a dotfile) stays a
    link whose target gets the new content.
    """
    ensure_dir(path.parent)
    write_atomic(path, text.encode())  # UTF-8; write_atomic makes a file 0600


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` across a read-modify-write of its files.

    Without it two processes editing the config at once could each write back a
    file that lacks the other's change (for the device ID: two different IDs).
    """
    ensure_dir(folder)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def update(path: Path, change: Callable[[Any], T], *, secret: bool = False) -> T:
    """Apply ``change`` to the parsed document of ``path`` under the lock, save it, and
    return what ``change`` returned.

    ``change`` receives a ``tomlkit`` document, so untouched comments and layout
    are written back as they were; a document it left as it was is not written.
    A ``secret`` file is only written in a folder that `require_safe_folder` accepts.
    """
    import tomlkit
    import tomlkit.exceptions

    try:
        with locked(path.parent):
            if secret:
                # The folder of the link and, for a symlinked file, the folder of
                # its target, where the new file is written: either could be swapped.
                for folder in dict.fromkeys((path.parent, path.resolve().parent)):
                    require_safe_folder(folder)
            try:
                text = path.read_bytes().decode() if path.exists() else ""  # UTF-8
                document = tomlkit.parse(text)
            except (UnicodeDecodeError, tomlkit.exceptions.ParseError) as exc:
                raise ConfigError(
                    f"Cannot update the config file {path}: {exc}.",
                    hint="Fix or delete the file, then try again.",
                ) from exc
            result = change(document)
            new_text = tomlkit.dumps(document)
            if new_text != text:
                write_private(path, new_text)
            return result
    except OSError as exc:
        raise ConfigError(
            f"Cannot write in the config folder {path.parent}: {exc.strerror or exc}.",
            hint=f"Check its permissions, or set {CONFIG_DIR.variable} to a folder you can write.",
        ) from None


def device_id(folder: Path, env: Mapping[str, str], config: Mapping[str, Any] | None = None) -> str:
    """The ID of this machine: ``ACP_DEVICE_ID``, else ``device_id`` in the config
    (``config``: the file as the caller already read it; None: read it here).

    Created on first need. Two processes starting at once on a new machine both
    take the lock and re-read the file before writing, so they end up with the
    same stored ID.
    """
    override = env_value(DEVICE_ID, env)
    if override is not None:
        return str(override)
    path = config_path(folder)
    stored = _stored_device_id(load(path) if config is None else config, path)
    if stored:
        return stored

    def add_device_id(document: Any) -> str:
        existing = _stored_device_id(document, path)
        if existing:  # another process stored one since we looked
            return existing
        import uuid  # once per machine

        document[DEVICE_ID_KEY] = str(uuid.uuid4())
        return str(document[DEVICE_ID_KEY])

    return update(path, add_device_id)


def _stored_device_id(document: Mapping[str, Any], path: Path) -> str | None:
    value = document.get(DEVICE_ID_KEY)
    if value is None:
        return None
    try:
        return str(DEVICE_ID.type.check(value))
    except InvalidValue as problem:
        raise ConfigError(
            f"{DEVICE_ID_KEY} in {path} {problem.reason}.",
            hint=f"Delete the {DEVICE_ID_KEY} line and acp will create a new ID.",
        ) from None


def set_profile_value(path: Path, profile: str, key: str, value: Any) -> None:
    """Set ``key`` in the ``[profiles.PROFILE]`` table of ``path``, keeping the rest."""

    def change(document: Any) -> None:
        import tomlkit

        # tomlkit.table(None) finds that [profiles] holds only tables and makes it a
        # super-table too: the mutant None writes the same file.
        profiles = _child_table(
            document,
            PROFILES_TABLE,
            path,
            create=lambda: tomlkit.table(True),  # pragma: no mutate
        )
        table = _child_table(
            profiles, profile, path, create=tomlkit.table, label=f"{PROFILES_TABLE}.{profile}"
        )
        table[key] = value

    update(path, change)


def unset_profile_value(
    path: Path, profile: str, key: str, config: Mapping[str, Any] | None = None
) -> bool:
    """Remove ``key`` from ``[profiles.PROFILE]`` in ``path``; False when it was not there
    (``config``: the file as the caller already read it; None: read it here). Only a
    removal reads the file again, under the lock, to write it back."""
    profiles = (load(path) if config is None else config).get(PROFILES_TABLE)
    stored = profiles.get(profile) if isinstance(profiles, Mapping) else None
    if not (isinstance(stored, Mapping) and key in stored):
        return False

    def change(document: Any) -> bool:
        profiles = document.get(PROFILES_TABLE)
        table = profiles.get(profile) if isinstance(profiles, MutableMapping) else None
        if isinstance(table, MutableMapping) and key in table:
            del table[key]
            return True
        return False

    return update(path, change)


def _child_table(
    parent: Any,
    name: str,
    path: Path,
    create: Callable[[], Any],
    label: str | None = None,
) -> Any:
    child = parent.get(name)
    if child is None:
        child = create()
        parent[name] = child
    elif not isinstance(child, MutableMapping):
        raise ConfigError(
            f"'{label or name}' in {path} must be a table.",
            hint="Fix or delete that line, then try again.",
        )
    return child
