"""``acp_cli.testing``: a pytest plugin that gives your tests a fresh ACP emulator.

Installing acp registers this plugin with pytest (the ``pytest11`` entry
point), so any test can ask for the fixtures below, as ``moto`` and
``stripe-mock`` let people test code that talks to AWS or Stripe::

    import os
    import subprocess

    def test_my_release_script_prepares_a_push(acp_emulator):
        subprocess.run(["./release.sh"], env={**os.environ, **acp_emulator.env}, check=True)
        [session] = acp_emulator.sessions()
        assert session["status"] == "prepared"

    def test_it_survives_an_outage(acp_emulator):
        acp_emulator.queue_fault(status=503, retry_after=1)
        ...

Fixtures:

``acp_emulator``
    An `AcpEmulator`: a new emulator for each test, on a free loopback port,
    stopped when the test ends. It accepts the bearer token ``.token`` and
    every binding ID, unless the test is marked
    ``@pytest.mark.acp_emulator(tokens=[...], bindings=[...], max_body=...)``,
    in which case it accepts exactly those (unknown bindings are then 404).
``acp_env``
    The same emulator's `AcpEmulator.env` set in ``os.environ`` for the test
    (with ``monkeypatch``), for code that runs ``acp`` or reads the variables.

Under the fixtures acp reads and writes nothing of the user's own: `AcpEmulator.env`
gives acp a config folder and a cache folder of the test's own (from pytest's
``tmp_path_factory``), a fixed device ID, keyring's ``fail`` backend, and sets
every other ``ACP_*`` variable of `acp_cli.settings.SETTINGS` to empty (acp
reads an empty variable as unset), so that neither the user's ``config.toml``
(its ``ca_bundle``, profiles, device ID) nor their shell's ``ACP_PROFILE``
reaches a test.

Importing this module is cheap (pytest imports it in every run of a user who
installed acp): the emulator is imported by the fixture that starts one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from acp_cli.emulator import Emulator, RecordedRequest

DEFAULT_TOKEN = "acp-test-token"  # noqa: S105 - a fixed test value, documented as such
"""The token the emulator accepts when the test does not choose its own."""

DEFAULT_BINDING = "wb_test"
"""The binding ID `AcpEmulator.binding` gives when the test does not choose bindings."""

DEFAULT_DEVICE_ID = "acp-test-device"
"""The device ID acp sends under the fixtures (``ACP_DEVICE_ID``): none is created or stored."""

KEYRING_VARIABLE = "PYTHON_KEYRING_BACKEND"
KEYRING_BACKEND = "keyring.backends.fail.Keyring"
"""The keyring acp run under the fixtures sees: none, so a test never reads or stores a
token in the user's own keyring (``acp auth login --insecure-storage`` stores it in
`AcpEmulator.config_dir`)."""

_MARKER = "acp_emulator"
_MARKER_OPTIONS = frozenset({"tokens", "bindings", "max_body"})


class AcpEmulator:
    """A running emulator, as the ``acp_emulator`` fixture gives it.

    Attributes: ``url`` (e.g. ``http://127.0.0.1:54321``), ``token`` (a token
    it accepts), ``binding`` (a binding ID it knows), ``env`` (the variables
    that point acp at it and away from the user's own settings),
    ``config_dir`` and ``cache_dir`` (the test's own folders that ``env``
    gives acp; created by acp when it needs them), ``device_id`` (the one
    ``env`` gives acp) and ``emulator`` (the underlying
    `acp_cli.emulator.Emulator`, for anything not wrapped here).
    """

    def __init__(self, emulator: Emulator, *, token: str, binding: str, folder: Path) -> None:
        """Wrap a started ``emulator`` that accepts ``token`` and knows ``binding``;
        acp's config and cache folders go in ``folder``, a folder of the test's own."""
        self.emulator = emulator
        self.url = emulator.url
        self.token = token
        self.binding = binding
        self.config_dir = folder / "config"
        self.cache_dir = folder / "cache"
        self.device_id = DEFAULT_DEVICE_ID

    def __repr__(self) -> str:
        # The token is a test value, but a repr is no place for tokens of any kind.
        return f"<AcpEmulator {self.url}>"

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point ``acp`` (and `acp_cli.Client.from_config`) here,
        and away from everything of the user's own.

        ``ACP_API_URL`` and ``ACP_TOKEN``; ``ACP_RETRY_SCALE=0`` so that retries
        after an injected fault do not make the test wait (acp still takes every
        retry decision on the real wait); ``ACP_CONFIG_DIR``, ``ACP_CACHE_DIR``
        and ``ACP_DEVICE_ID`` (`config_dir`, `cache_dir`, `device_id`);
        ``PYTHON_KEYRING_BACKEND`` (`KEYRING_BACKEND`); and every other ``ACP_*``
        variable of the registry empty, which acp reads as unset, so that
        ``{**os.environ, **env}`` leaves out what the user's shell exports.
        """
        from acp_cli.settings import (
            API_URL,
            CACHE_DIR,
            CONFIG_DIR,
            DEVICE_ID,
            RETRY_SCALE,
            SETTINGS,
            TOKEN,
        )

        chosen = {
            API_URL.name: self.url,
            TOKEN.name: self.token,
            RETRY_SCALE.name: "0",
            CONFIG_DIR.name: str(self.config_dir),
            CACHE_DIR.name: str(self.cache_dir),
            DEVICE_ID.name: self.device_id,
        }
        env = {
            setting.variable: chosen.get(name, "")
            for name, setting in SETTINGS.items()
            if setting.variable
        }
        env[KEYRING_VARIABLE] = KEYRING_BACKEND
        return env

    def sessions(
        self, binding: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """The push sessions, oldest first, as the API's ``pushSession`` objects.

        ``binding`` and ``status`` (``prepared``, ``superseded`` or
        ``cancelled``) filter them.
        """
        return self.emulator.sessions(binding=binding, status=status)

    def session(self, session_id: str) -> dict[str, Any] | None:
        """One push session by ID, or None when there is none."""
        return self.emulator.session(session_id)

    def cancel(self, session_id: str) -> dict[str, Any]:
        """Mark a session ``cancelled`` (as a user would elsewhere) and return it.

        Raises LookupError when there is no such session.
        """
        return self.emulator.cancel(session_id)

    def requests(self) -> list[RecordedRequest]:
        """The API requests received, oldest first, exactly as they arrived.

        Each has ``method``, ``target``, ``headers``, ``header(name)``,
        ``body`` (bytes), ``json()``, ``status`` (the answer's, None if none
        was sent) and ``fault`` (the injected fault, if any).
        """
        return self.emulator.requests()

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        self.emulator.clear_requests()

    def queue_fault(
        self,
        *,
        status: int | None = None,
        retry_after: int | str | None = None,
        body: str | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        delay: float = 0.0,
        drop: bool = False,
        process: bool = False,
        truncate: bool = False,
        reset: bool = False,
        times: int = 1,
    ) -> None:
        """Make the next API request (or ``times`` requests) fail in a chosen way.

        At most one action: ``status`` answers with that status (200-599)
        instead of processing the request, with an optional ``retry_after``
        (seconds or an HTTP date), ``body`` (default: the API's JSON error),
        ``content_type`` and extra ``headers``; ``drop`` closes the
        connection without answering (with ``process=True``, after the session
        was made); ``truncate`` cuts the answer short; ``reset`` resets the
        connection. ``delay`` (seconds, up to 300) waits first, and alone
        makes a slow but normal answer. Raises `acp_cli.emulator.FaultSpecError`
        (a ValueError) for an invalid combination or value.
        """
        self.emulator.queue_fault(
            status=status,
            retry_after=retry_after,
            body=body,
            content_type=content_type,
            headers=headers,
            delay=delay,
            drop=drop,
            process=process,
            truncate=truncate,
            reset=reset,
            times=times,
        )

    def faults(self) -> list[dict[str, Any]]:
        """The faults still queued, oldest first, in their JSON form."""
        return self.emulator.faults()

    def clear_faults(self) -> None:
        """Forget the queued faults."""
        self.emulator.clear_faults()

    def reset(self) -> None:
        """Forget every session, queued fault and recorded request."""
        self.emulator.reset()


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``acp_emulator`` marker, so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(tokens=None, bindings=None, max_body=None): configure the emulator"
        " of the acp_emulator fixture (the tokens and binding IDs it accepts, its body limit)",
    )


@pytest.fixture
def acp_emulator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcpEmulator]:
    """A fresh ACP emulator on a free loopback port for this test; see `AcpEmulator`."""
    from acp_cli.emulator import Emulator

    options = _marker_options(request.node.get_closest_marker(_MARKER))
    tokens = list(options.pop("tokens", None) or [DEFAULT_TOKEN])
    bindings = list(options.pop("bindings", None) or [])
    folder = tmp_path_factory.mktemp("acp")
    with Emulator(tokens=tokens, bindings=bindings, **options) as emulator:
        yield AcpEmulator(
            emulator, token=tokens[0], binding=(bindings or [DEFAULT_BINDING])[0], folder=folder
        )


@pytest.fixture
def acp_env(acp_emulator: AcpEmulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point ``acp`` at ``acp_emulator`` through ``os.environ`` for this test; return
    `AcpEmulator.env`. Its empty variables are removed from ``os.environ``."""
    env = acp_emulator.env
    for name, value in env.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    return env


def _marker_options(marker: pytest.Mark | None) -> dict[str, Any]:
    """The keyword options of an ``acp_emulator`` marker, checked."""
    if marker is None:
        return {}
    if marker.args:
        raise pytest.UsageError(
            f"@pytest.mark.{_MARKER} takes keywords only: tokens=, bindings=, max_body="
        )
    unknown = sorted(set(marker.kwargs) - _MARKER_OPTIONS)
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.{_MARKER}: unknown option {unknown[0]!r};"
            f" known: {', '.join(sorted(_MARKER_OPTIONS))}"
        )
    for name in ("tokens", "bindings"):
        value = marker.kwargs.get(name)
        if isinstance(value, str) or not (
            value is None or all(isinstance(item, str) and item for item in value)
        ):
            raise pytest.UsageError(
                f"@pytest.mark.{_MARKER}: {name} must be a list of non-empty strings"
            )
    return dict(marker.kwargs)
