"""Where the API token comes from, first found wins:

1. the ``ACP_TOKEN`` environment variable (CI jobs); the keyring is then never touched;
2. the system keyring: service ``acp-cli``, user name = the API origin;
3. the plain-text credentials file written only by ``acp auth login --insecure-storage``.

A token is looked up by the API origin it was stored for, so it is only ever
sent there. `TokenStore` is the two stores of one origin; the keyring is
reached only through `acp_cli.keyring_guard`, with a bounded wait.

The credentials file looks like::

    [origins."https://api.example.com"]
    token = "..."
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from acp_cli import settings
from acp_cli.errors import AcpError, AuthError, UsageError
from acp_cli.keyring_guard import GuardedKeyring, KeyringUnavailable
from acp_cli.settings import TOKEN
from acp_cli.settings import file as config_file

CREDENTIALS_NAME = "credentials.toml"
ORIGINS_TABLE = "origins"
"""The table of the credentials file whose sub-tables hold each origin's token."""
TOKEN_KEY = "token"  # noqa: S105 - the name of a key, not a secret


class Source(StrEnum):
    """Where a token was found."""

    ENVIRONMENT = "environment"
    KEYRING = "keyring"
    FILE = "plain-text file"


@dataclass(frozen=True)
class Token:
    """A token and where it came from. ``repr`` never shows the value."""

    value: str
    source: Source

    def __repr__(self) -> str:
        return f"Token(source={self.source.value!r}, value={mask(self.value)!r})"

    def masked(self) -> str:
        """The token as it may be shown to a user."""
        return mask(self.value)


@dataclass(frozen=True)
class Lookup:
    """Everything known about the token of one origin, for ``acp auth status``."""

    token: Token | None
    """The token in force, or None."""
    in_file: bool
    """Whether the plain-text file holds a token for the origin (in force or not)."""
    keyring_error: KeyringUnavailable | None
    """Why the keyring could not be read, when it was consulted and failed."""

    def require(self, origin: str) -> Token:
        """The token in force; else the keyring's error, or one naming every way to give one."""
        if self.token is not None:
            return self.token
        if self.keyring_error is not None:
            raise self.keyring_error
        raise AuthError(
            f"No token for {origin}.",
            hint=(
                "Run `acp auth login` to store one in the system keyring, "
                f"or set {TOKEN.variable} (the usual way in CI)."
            ),
        )


def mask(token: str) -> str:
    """A short prefix of a long token and asterisks; nothing of a short one."""
    if len(token) >= 16:
        return token[:4] + "****"
    return "****"


def credentials_path(folder: Path) -> Path:
    """The plain-text credentials file inside the config folder."""
    return folder / CREDENTIALS_NAME


def environment_token(env: Mapping[str, str]) -> str | None:
    """The token in ``ACP_TOKEN``, or None when it is unset or blank."""
    return env.get(str(TOKEN.variable), "").strip() or None


def keyring_timeout(env: Mapping[str, str]) -> float:
    """The keyring wait in seconds: ``ACP_KEYRING_TIMEOUT``, else 5 (a healthy backend
    answers in milliseconds; more time leaves room for a desktop's unlock prompt)."""
    return float(settings.env_value(settings.KEYRING_TIMEOUT, env))


def look_up(origin: str | None, env: Mapping[str, str], folder: Path) -> Lookup:
    """Find the token for ``origin`` without raising when there is none (see `TokenStore`).

    With no origin (no API URL configured) only ``ACP_TOKEN`` can be found.
    """
    if origin is None:
        env_token = environment_token(env)
        token = usable(Token(env_token, Source.ENVIRONMENT), None) if env_token else None
        return Lookup(token, in_file=False, keyring_error=None)
    return TokenStore.for_env(origin, folder, env).look_up(env)


def usable(token: Token, origin: str | None) -> Token:
    """``token`` when it can be sent as a bearer token, else an AuthError that never shows it.

    A token with a line break or a non-ASCII character would otherwise fail
    inside the HTTP library, whose message quotes the header, token and all.
    """
    try:
        check_token(token.value)
    except UsageError:
        where = {
            Source.ENVIRONMENT: (TOKEN.variable, f"Set {TOKEN.variable} to the token alone."),
            Source.KEYRING: (
                f"The token in the system keyring for {origin}",
                "Store it again with `acp auth login`.",
            ),
            Source.FILE: (
                f"The token in the plain-text file for {origin}",
                "Store it again with `acp auth login --insecure-storage`.",
            ),
        }
        name, hint = where[token.source]
        raise AuthError(
            f"{name} contains spaces, line breaks, control or non-ASCII characters.", hint=hint
        ) from None
    return Token(token.value.strip(), token.source)


def resolve_token(origin: str, env: Mapping[str, str], folder: Path) -> Token:
    """Find the token for ``origin``; raise AuthError naming every way to provide one."""
    return look_up(origin, env, folder).require(origin)


def check_token(token: str) -> str:
    """``token`` without surrounding whitespace; refuse one that cannot be a bearer token."""
    token = token.strip()
    if not token:
        raise UsageError(
            "The token is empty.",
            hint="Give the token on standard input: `acp auth login --with-token < token.txt`.",
        )
    if any(not (char.isascii() and char.isprintable()) or char.isspace() for char in token):
        # Never echo the value back: it may be a real token pasted with a stray character.
        raise UsageError(
            "The token contains spaces, line breaks, control or non-ASCII characters.",
            hint="Give the token alone, on one line.",
        )
    return token


@dataclass(frozen=True)
class Stored:
    """Where `TokenStore.store` put a token, and what it cleaned up."""

    source: Source
    """KEYRING or FILE."""
    path: Path | None
    """The plain-text file, when the token went there."""
    removed_other_copy: bool
    """An older token for the origin was removed from the other store, where it
    would have shadowed (keyring) or outlived (file) this one."""


@dataclass(frozen=True)
class Removed:
    """What `TokenStore.remove` removed."""

    from_keyring: bool
    from_file: bool
    keyring_error: KeyringUnavailable | None
    """Why the keyring could not be checked; None also when this machine has none."""


@dataclass(frozen=True)
class TokenStore:
    """The stored tokens of one API origin: the system keyring first, then the plain-text file.

    One object instead of functions that all take the origin, the config folder
    and the keyring wait (twine's ``auth.Resolver`` shape). A store keeps one
    token per origin: the keyring comes first when acp looks for a token, so an
    older keyring token would shadow a new plain-text one, and a plain-text copy
    should not outlive a move to the keyring.
    """

    origin: str
    folder: Path
    """The config folder, which holds the plain-text file."""
    keyring_timeout: float
    """Seconds to wait for each keyring call (``ACP_KEYRING_TIMEOUT``)."""

    @classmethod
    def for_env(cls, origin: str, folder: Path, env: Mapping[str, str]) -> TokenStore:
        """The store of ``origin``, waiting for the keyring as ``ACP_KEYRING_TIMEOUT`` says."""
        return cls(origin, folder, keyring_timeout(env))

    @property
    def path(self) -> Path:
        """The plain-text credentials file."""
        return credentials_path(self.folder)

    @property
    def keyring(self) -> GuardedKeyring:
        """The system keyring, each call bounded by `keyring_timeout`."""
        return GuardedKeyring(self.keyring_timeout)

    def look_up(self, env: Mapping[str, str]) -> Lookup:
        """Find the token for the origin without raising when there is none.

        ``ACP_TOKEN`` in ``env`` wins, and the keyring is then not consulted.
        When the keyring fails, a token in the plain-text file is used: a user
        who stored one there did so because the keyring does not work on this
        machine.
        """
        origin, folder = self.origin, self.folder
        env_token = environment_token(env)
        if env_token:
            env_found = usable(Token(env_token, Source.ENVIRONMENT), None)  # names the variable
            # The file only matters for `auth status` here; a broken one must not
            # stop a CI job whose token is in the environment.
            try:
                in_file = read_file_token(origin, folder) is not None
            except AcpError:  # broken, or readable by others: not used either way
                in_file = False
            return Lookup(env_found, in_file, None)
        file_token = read_file_token(origin, folder)
        in_file = file_token is not None
        try:
            stored = self.keyring.get(origin)
        except KeyringUnavailable as exc:
            token = usable(Token(file_token, Source.FILE), origin) if file_token else None
            return Lookup(token, in_file, exc)
        if stored:
            return Lookup(usable(Token(stored, Source.KEYRING), origin), in_file, None)
        if file_token:
            return Lookup(usable(Token(file_token, Source.FILE), origin), True, None)
        return Lookup(None, False, None)

    def check_storage(self, *, plain_text: bool) -> None:
        """Fail now when `store` could not store a token: before anyone types a token
        that would then be thrown away.

        For the keyring, a read answers whether there is a backend and whether it is
        unlocked (a KeyringUnavailable naming the ways around it); for the plain-text
        file, the config folder must be one that no one else can change.
        """
        if not plain_text:
            self.keyring.check_writable(self.origin)  # pragma: no mutate: any key will do
        elif self.folder.is_dir():
            config_file.require_safe_folder(self.folder)

    def store(self, token: str, *, plain_text: bool) -> Stored:
        """Store ``token``: in the keyring, or in the plain-text file; remove the other copy."""
        if not plain_text:
            self.keyring.set(self.origin, token)
            return Stored(Source.KEYRING, None, delete_file_token(self.origin, self.folder))
        path = store_file_token(self.origin, token, self.folder)
        try:
            removed = self.keyring.delete(self.origin)
        except KeyringUnavailable:
            removed = False  # no usable keyring: nothing there can shadow the file
        return Stored(Source.FILE, path, removed)

    def remove(self) -> Removed:
        """Remove the stored tokens from the plain-text file and the keyring."""
        from_file = delete_file_token(self.origin, self.folder)
        try:
            return Removed(self.keyring.delete(self.origin), from_file, None)
        except KeyringUnavailable as exc:
            # A machine without any keyring cannot hold a token there: nothing to report.
            return Removed(False, from_file, None if exc.no_backend else exc)


# --- the plain-text file --------------------------------------------------------------


def read_file_token(origin: str, folder: Path) -> str | None:
    """The token stored in plain text for ``origin``, if any.

    As ssh does with a private key, a file that others could read or change is
    refused (AuthError), whoever made it so: the token may have leaked, and a
    file another user owns may not hold the user's token at all.
    """
    path = credentials_path(folder)
    data = config_file.load(path, check=lambda status: require_private_file(path, status))
    return _token_in(data, origin)


def _token_in(data: Mapping[str, Any], origin: str) -> str | None:
    origins = data.get(ORIGINS_TABLE)
    entry = origins.get(origin) if isinstance(origins, Mapping) else None
    if isinstance(entry, Mapping):
        token = entry.get(TOKEN_KEY)
        if isinstance(token, str) and token:
            return token
    return None


def require_private_file(path: Path, status: os.stat_result) -> None:
    """Refuse a secret file (``status`` is that of the file opened, a symlink's target)
    that is not the user's own or that group or others may read or write."""
    if os.name != "posix":  # pragma: no cover - Windows has ACLs, not mode bits
        return
    mode = stat.S_IMODE(status.st_mode)
    if status.st_uid != os.geteuid():
        raise AuthError(
            f"The credentials file {path} is owned by another user; acp does not use "
            "a token from it.",
            hint=f"Delete it and store the token again with "
            f"`acp auth login --insecure-storage`, or set {TOKEN.variable}.",
        )
    if mode & 0o077:
        raise AuthError(
            f"The credentials file {path} can be read or changed by other users "
            f"(mode {mode:o}); acp does not use a token from it.",
            hint=f"Run `chmod 600 {path}`, and replace the token if others may have read it.",
        )


def store_file_token(origin: str, token: str, folder: Path) -> Path:
    """Write ``token`` for ``origin`` to the plain-text file (0600, atomic); return its path.

    Tokens of other origins in the file are kept.
    """
    path = credentials_path(folder)

    def add(document: Any) -> None:
        import tomlkit

        origins = document.get(ORIGINS_TABLE)
        if not isinstance(origins, Mapping):
            # None lets tomlkit see that [origins] holds only tables: the same file.
            origins = tomlkit.table(is_super_table=True)  # pragma: no mutate
            document[ORIGINS_TABLE] = origins
        entry = tomlkit.table()
        entry[TOKEN_KEY] = token
        origins[origin] = entry

    config_file.update(path, add, secret=True)
    return path


def delete_file_token(origin: str, folder: Path) -> bool:
    """Remove the plain-text token of ``origin``; False when there was none."""
    path = credentials_path(folder)
    # Read without the mode check: removing a token that others could read is
    # what the user should do, not something to refuse.
    if _token_in(config_file.load(path), origin) is None:
        return False

    def remove(document: Any) -> bool:
        origins = document.get(ORIGINS_TABLE)
        if isinstance(origins, MutableMapping) and origin in origins:
            del origins[origin]
            return True
        return False

    return config_file.update(path, remove, secret=True)
