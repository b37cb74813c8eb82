"""The system keyring behind a guard: a bounded wait, and one error for every failure.

On headless machines a keyring backend can be missing, locked, or hang on
D-Bus; a CLI must say so instead of hanging or printing a traceback. So every
call runs on a worker thread with a bounded wait, and every failure, the
import of ``keyring`` included, becomes a `KeyringUnavailable` that names the
ways around the keyring. Tokens live under the service ``acp-cli`` with the
API origin as the user name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from acp_cli.errors import AuthError
from acp_cli.settings import TOKEN

SERVICE = "acp-cli"

T = TypeVar("T")

FALLBACK_HINT = (
    f"Set {TOKEN.variable} in the environment, or store the token in a plain-text file "
    "with `acp auth login --insecure-storage`."
)


class KeyringUnavailable(AuthError):
    """The system keyring could not be used: missing, locked, failing or too slow."""

    def __init__(self, message: str, *, no_backend: bool = False) -> None:
        super().__init__(message, hint=FALLBACK_HINT)
        self.no_backend = no_backend
        """True when this machine has no keyring at all (nothing can be stored there)."""


_stalled = threading.Event()
"""Set once a keyring call timed out: its worker may still hold the backend, so later
calls in this process would only wait again."""


class GuardedKeyring:
    """The tokens in the system keyring, each call bounded by ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        """``timeout``: seconds to wait for each call; a healthy backend answers in milliseconds."""
        self.timeout = timeout

    def get(self, origin: str) -> str | None:
        """The token in the system keyring for ``origin``, or None."""

        def get(keyring: Any) -> str | None:
            value = keyring.get_password(SERVICE, origin)
            return value if isinstance(value, str) and value else None

        return self._call(get, "read the token from")

    def check_writable(self, origin: str) -> None:
        """Fail now (`KeyringUnavailable`) when a token for ``origin`` could not be stored.

        A read answers whether there is a backend and whether it is unlocked.
        """
        self._call(lambda keyring: keyring.get_password(SERVICE, origin), "store the token in")

    def set(self, origin: str, token: str) -> None:
        """Store ``token`` for ``origin`` in the system keyring."""
        self._call(
            lambda keyring: keyring.set_password(SERVICE, origin, token), "store the token in"
        )

    def delete(self, origin: str) -> bool:
        """Remove the token for ``origin`` from the keyring; False when there was none."""

        def delete(keyring: Any) -> bool:
            import keyring.errors

            try:
                keyring.delete_password(SERVICE, origin)
            except keyring.errors.PasswordDeleteError:
                return False
            return True

        return self._call(delete, "remove the token from")

    def _call(self, call: Callable[[Any], T], action: str) -> T:
        """Run ``call(keyring_module)`` with a bounded wait, turning every failure into AuthError.

        The import itself happens on the worker thread too: choosing a backend can
        already talk to D-Bus, and that is where hangs happen. The worker is a daemon
        thread, so a backend that never answers cannot keep the process alive.
        """
        limit = self.timeout
        if _stalled.is_set():
            raise KeyringUnavailable(
                f"The system keyring did not answer earlier in this run; acp did not try "
                f"again to {action} it."
            )
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                import keyring

                outcome["value"] = call(keyring)
            except BaseException as exc:  # any backend, any failure: reported below
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="acp-keyring", daemon=True)
        worker.start()
        worker.join(limit)
        if worker.is_alive():
            _stalled.set()
            raise KeyringUnavailable(
                f"The system keyring did not answer within {limit:g} second"
                f"{'' if limit == 1 else 's'} when acp tried to {action} it."
            )
        if "error" in outcome:
            exc = outcome["error"]
            if isinstance(exc, KeyboardInterrupt):
                raise exc
            no_backend = _is_no_backend(exc)
            reason = (
                "no keyring backend is available on this machine" if no_backend else _describe(exc)
            )
            raise KeyringUnavailable(
                f"Could not {action} the system keyring: {reason}.", no_backend=no_backend
            ) from None
        result: T = outcome["value"]
        return result


def _is_no_backend(exc: BaseException) -> bool:
    import keyring.errors  # imported already: the failure came from it

    return isinstance(exc, keyring.errors.NoKeyringError)


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{name}: {text.rstrip('.!')}" if text else name
