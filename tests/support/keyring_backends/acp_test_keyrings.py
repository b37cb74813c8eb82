"""Keyring backends that fail the way real ones do on headless machines.

Select one for an `acp` subprocess with this folder on PYTHONPATH and
PYTHON_KEYRING_BACKEND=acp_test_keyrings.<class name>, the way a user's
keyringrc.cfg or environment selects a real backend.
"""

from __future__ import annotations

import threading
from typing import NoReturn

import keyring.errors
from keyring.backend import KeyringBackend


def _forever() -> NoReturn:
    """Block like a D-Bus call whose answer never comes."""
    threading.Event().wait()
    raise AssertionError("unreachable")


class Hanging(KeyringBackend):
    """Every call blocks forever: a stuck Secret Service daemon."""

    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        _forever()

    def set_password(self, service: str, username: str, password: str) -> None:
        _forever()

    def delete_password(self, service: str, username: str) -> None:
        _forever()


class HangingAtStart(Hanging):
    """Choosing the backend already blocks: detection talking to a dead bus."""

    def __init__(self) -> None:
        _forever()


class Locked(KeyringBackend):
    """The collection is locked and no prompt can unlock it (no desktop session)."""

    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


class DBusError(Exception):
    """Stands in for jeepney's DBusErrorResponse, which keyring lets through."""


class Broken(KeyringBackend):
    """Every call fails with an error keyring does not translate."""

    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        raise DBusError(
            "org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets "
            "was not provided by any .service files"
        )

    def set_password(self, service: str, username: str, password: str) -> None:
        self.get_password(service, username)

    def delete_password(self, service: str, username: str) -> None:
        self.get_password(service, username)


class Slow(KeyringBackend):
    """Every call waits until the test releases it, then answers like an empty keyring:
    a backend slower than acp's bound that, unlike Hanging, lets its worker thread end,
    so an in-process test leaves no thread behind."""

    priority = 1
    released = threading.Event()

    def _wait(self) -> None:
        Slow.released.wait()

    def get_password(self, service: str, username: str) -> str | None:
        self._wait()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._wait()

    def delete_password(self, service: str, username: str) -> None:
        self._wait()
        raise keyring.errors.PasswordDeleteError("not found")
