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
import sys
import tomllib
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

from acp_cli.errors import ConfigError
from acp_cli.files import write_atomic

T = TypeVar("T")

CONFIG_NAME = "config.toml"
LOCK_NAME = ".lock"


def config_dir(env: Mapping[str, str]) -> Path:
    """The folder that holds ``config.toml``: ``ACP_CONFIG_DIR`` or the platform's."""
    override = env.get("ACP_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    # Imported here: platformdirs costs start-up time that ACP_CONFIG_DIR users skip.
    import platformdirs

    return platformdirs.user_config_path("acp")


def config_path(folder: Path) -> Path:
    """The path of ``config.toml`` inside ``folder``."""
    return folder / CONFIG_NAME


def config_path_for(env: Mapping[str, str]) -> Path:
    """The path of the ``config.toml`` that ``env`` selects."""
    return config_path(config_dir(env))


def load(path: Path) -> dict[str, Any]:
    """Read a TOML file; a missing file is empty, a broken one is a ConfigError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the config file {path}: {exc.strerror or exc}.",
            hint="Check its permissions, or point ACP_CONFIG_DIR at another folder.",
        ) from exc
    try:
        return tomllib.loads(data.decode("utf-8"))
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


def require_private_dir(folder: Path) -> None:
    """Refuse to keep a secret in ``folder`` when other users may enter it."""
    mode = folder.stat().st_mode & 0o777
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(
            f"The config folder {folder} is open to other users (mode {mode:o}); "
            "acp stores a token only in a private folder.",
            hint=f"Run `chmod 700 {folder}`, or set ACP_CONFIG_DIR to a private folder.",
        )


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, readable by the user only (0600).

    ``files.write_atomic`` does the writing: a reader sees the old file or the new
    one, never half of either, and a symlinked ``config.toml`` (a dotfile) stays a
    link whose target gets the new content.
    """
    ensure_dir(path.parent)
    write_atomic(path, text.encode("utf-8"), mode=0o600)


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
    A ``secret`` file is only written in a private folder.
    """
    import tomlkit
    import tomlkit.exceptions

    try:
        with locked(path.parent):
            if secret:
                require_private_dir(path.parent)
            try:
                text = path.read_text(encoding="utf-8") if path.exists() else ""
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
            hint="Check its permissions, or set ACP_CONFIG_DIR to a folder you can write.",
        ) from None


def device_id(folder: Path, env: Mapping[str, str]) -> str:
    """The ID of this machine: ``ACP_DEVICE_ID``, else ``device_id`` in the config.

    Created on first need. Two processes starting at once on a new machine both
    take the lock and re-read the file before writing, so they end up with the
    same stored ID.
    """
    override = env.get("ACP_DEVICE_ID")
    if override:
        if not _is_header_token(override):
            raise ConfigError(
                "ACP_DEVICE_ID must be printable ASCII without spaces.",
                hint="Unset it to use the device ID stored in the config file.",
            )
        return override
    path = config_path(folder)
    stored = _stored_device_id(load(path), path)
    if stored:
        return stored

    def add_device_id(document: Any) -> str:
        existing = _stored_device_id(document, path)
        if existing:  # another process stored one since we looked
            return existing
        document["device_id"] = str(uuid.uuid4())
        return str(document["device_id"])

    return update(path, add_device_id)


def _stored_device_id(document: Mapping[str, Any], path: Path) -> str | None:
    value = document.get("device_id")
    if value is None:
        return None
    if not isinstance(value, str) or not _is_header_token(value):
        raise ConfigError(
            f"device_id in {path} must be a string of printable ASCII without spaces.",
            hint="Delete the device_id line and acp will create a new ID.",
        )
    return value


def _is_header_token(value: str) -> bool:
    """Whether ``value`` can be sent as a header value as it is (the ACP-Device-Id)."""
    return bool(value) and value.isascii() and value.isprintable() and " " not in value


def set_profile_value(path: Path, profile: str, key: str, value: Any) -> None:
    """Set ``key`` in the ``[profiles.PROFILE]`` table of ``path``, keeping the rest."""

    def change(document: Any) -> None:
        import tomlkit

        profiles = _child_table(document, "profiles", path, create=lambda: tomlkit.table(True))
        table = _child_table(
            profiles, profile, path, create=tomlkit.table, label=f"profiles.{profile}"
        )
        table[key] = value

    update(path, change)


def unset_profile_value(path: Path, profile: str, key: str) -> bool:
    """Remove ``key`` from ``[profiles.PROFILE]`` in ``path``; False when it was not there."""
    profiles = load(path).get("profiles")
    stored = profiles.get(profile) if isinstance(profiles, Mapping) else None
    if not (isinstance(stored, Mapping) and key in stored):
        return False

    def change(document: Any) -> bool:
        profiles = document.get("profiles")
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
