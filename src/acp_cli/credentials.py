"""Where the API token comes from, first found wins:

1. the ``ACP_TOKEN`` environment variable (CI jobs); the keyring is then never touched;
2. the system keyring: service ``acp-cli``, user name = the API origin;
3. the plain-text credentials file written only by ``acp auth login --insecure-storage``.

A token is looked up by the API origin it was stored for, so it is only ever
sent there. Keyring calls run on a worker thread with a bounded wait: on
headless machines a backend can be missing, locked, or hang on D-Bus, and a
CLI must say so instead of hanging or printing a traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from acp_cli import config_file
from acp_cli.errors import AuthError

SERVICE = "acp-cli"
CREDENTIALS_NAME = "credentials.toml"
KEYRING_TIMEOUT = 5.0
"""Seconds to wait for the keyring; a healthy backend answers in milliseconds."""

T = TypeVar("T")

FALLBACK_HINT = (
    "Set ACP_TOKEN in the environment, or store the token in a plain-text file "
    "with `acp auth login --insecure-storage`."
)


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


def mask(token: str) -> str:
    """A short prefix of a long token and asterisks; nothing of a short one."""
    if len(token) >= 16:
        return token[:4] + "****"
    return "****"


def credentials_path(folder: Path) -> Path:
    """The plain-text credentials file inside the config folder."""
    return folder / CREDENTIALS_NAME


def resolve_token(origin: str, env: Mapping[str, str], folder: Path) -> Token:
    """Find the token for ``origin``; raise AuthError naming every way to provide one."""
    env_token = env.get("ACP_TOKEN", "").strip()
    if env_token:
        return Token(env_token, Source.ENVIRONMENT)
    file_token = read_file_token(origin, folder)
    try:
        stored = keyring_get(origin)
    except AuthError:
        # A user who stored the token in plain text did so because the keyring
        # does not work here: use the file rather than fail.
        if file_token:
            return Token(file_token, Source.FILE)
        raise
    if stored:
        return Token(stored, Source.KEYRING)
    if file_token:
        return Token(file_token, Source.FILE)
    raise AuthError(
        f"No token for {origin}.",
        hint=(
            "Run `acp auth login` to store one in the system keyring, "
            "or set ACP_TOKEN (the usual way in CI)."
        ),
    )


def read_file_token(origin: str, folder: Path) -> str | None:
    """The token stored in plain text for ``origin``, if any."""
    data = config_file.load(credentials_path(folder))
    entry = data.get("origins", {}).get(origin)
    if isinstance(entry, Mapping):
        token = entry.get("token")
        if isinstance(token, str) and token:
            return token
    return None


def keyring_get(origin: str) -> str | None:
    """The token in the system keyring for ``origin``, or None."""

    def get(keyring: Any) -> str | None:
        value = keyring.get_password(SERVICE, origin)
        return value if isinstance(value, str) and value else None

    return _with_keyring(get, "read the token from")


def keyring_set(origin: str, token: str) -> None:
    """Store ``token`` for ``origin`` in the system keyring."""
    _with_keyring(
        lambda keyring: keyring.set_password(SERVICE, origin, token), "store the token in"
    )


def keyring_delete(origin: str) -> bool:
    """Remove the token for ``origin`` from the keyring; False when there was none."""

    def delete(keyring: Any) -> bool:
        import keyring.errors

        try:
            keyring.delete_password(SERVICE, origin)
        except keyring.errors.PasswordDeleteError:
            return False
        return True

    return _with_keyring(delete, "remove the token from")


def _with_keyring(call: Callable[[Any], T], action: str) -> T:
    """Run ``call(keyring_module)`` with a bounded wait, turning every failure into AuthError.

    The import itself happens on the worker thread too: choosing a backend can
    already talk to D-Bus, and that is where hangs happen.
    """
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            import keyring

            outcome["value"] = call(keyring)
        except BaseException as exc:  # any backend, any failure: reported below
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="acp-keyring", daemon=True)
    worker.start()
    worker.join(KEYRING_TIMEOUT)
    if worker.is_alive():
        raise AuthError(
            f"The system keyring did not answer within {KEYRING_TIMEOUT:g} seconds "
            f"when acp tried to {action} it.",
            hint=FALLBACK_HINT,
        )
    if "error" in outcome:
        exc = outcome["error"]
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        raise AuthError(
            f"Could not {action} the system keyring: {_describe(exc)}.",
            hint=FALLBACK_HINT,
        ) from None
    result: T = outcome["value"]
    return result


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if name == "NoKeyringError" or "No recommended backend" in text:
        return "no keyring backend is available on this machine"
    return f"{name}: {text}" if text else name
