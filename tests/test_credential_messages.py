"""acp_cli.credentials: every error's message and hint, whole, one table per error class.

The keyring failures run in this process against real backends (keyring's own
`fail` backend, and tests/support/keyring_backends' Locked, Broken and Slow), chosen the
way a user chooses one: PYTHON_KEYRING_BACKEND. Slow answers only when the test
releases it, so the bounded wait and the "did not answer earlier" path run here
without leaving a thread behind.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend

from acp_cli import credentials, keyring_guard
from acp_cli.errors import AuthError, ConfigError, UsageError
from acp_cli.keyring_guard import GuardedKeyring, KeyringUnavailable
from acp_cli.settings import file as config_file
from tests.support.cli_runner import reset_keyring_backend, run_acp
from tests.support.lock_race import change_while_waiting, needs_proc_locks
from tests.support.ordinary_user import ROOT_OWNED, as_ordinary_user
from tests.support.paths import TEST_BACKENDS

if str(TEST_BACKENDS) not in sys.path:
    sys.path.insert(0, str(TEST_BACKENDS))

from acp_test_keyrings import Slow

ORIGIN = "https://api.example.com"
TOKEN = "tok_unit_0123456789abcdef"
FALLBACK = (
    "Set ACP_TOKEN in the environment, or store the token in a plain-text file "
    "with `acp auth login --insecure-storage`."
)

ACTIONS: dict[str, tuple[str, Callable[..., Any]]] = {
    "get": ("read the token from", lambda **kw: GuardedKeyring(kw["timeout"]).get(ORIGIN)),
    "set": ("store the token in", lambda **kw: GuardedKeyring(kw["timeout"]).set(ORIGIN, TOKEN)),
    "delete": ("remove the token from", lambda **kw: GuardedKeyring(kw["timeout"]).delete(ORIGIN)),
}


class Raising(KeyringBackend):
    """A backend whose every call raises ``error``: set with keyring.set_keyring."""

    priority = 1

    def __init__(self, error: BaseException) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


def use_backend(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", name)
    reset_keyring_backend()


@pytest.fixture
def slow_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The Slow backend, and a keyring not yet marked stalled in this process.

    acp marks the keyring stalled for the rest of its (one-command) process; the
    test's own flag keeps that mark from reaching the tests that follow.
    """
    use_backend(monkeypatch, "acp_test_keyrings.Slow")
    monkeypatch.setattr(keyring_guard, "_stalled", threading.Event())
    Slow.released.clear()
    yield
    Slow.released.set()  # the waiting workers answer and end


@pytest.mark.usefixtures("slow_keyring")
@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize(("limit", "said"), [(0.2, "0.2 seconds"), (1, "1 second")])
def test_a_slow_keyring_is_given_up_on_once_then_not_asked_again(
    action: str, limit: float, said: str
) -> None:
    words, call = ACTIONS[action]
    with pytest.raises(KeyringUnavailable) as first:
        call(timeout=limit)
    assert (first.value.message, first.value.hint) == (
        f"The system keyring did not answer within {said} when acp tried to {words} it.",
        FALLBACK,
    )
    assert first.value.no_backend is False
    for other_words, other in ACTIONS.values():
        with pytest.raises(KeyringUnavailable) as again:
            other(timeout=30)  # not waited for: the keyring already stalled
        assert (again.value.message, again.value.hint) == (
            "The system keyring did not answer earlier in this run; acp did not try "
            f"again to {other_words} it.",
            FALLBACK,
        )


@pytest.mark.usefixtures("slow_keyring")
def test_a_slow_keyring_answering_within_the_bound_is_used(folder: Path) -> None:
    Slow.released.set()
    assert GuardedKeyring(30).get(ORIGIN) is None
    assert GuardedKeyring(30).delete(ORIGIN) is False
    assert credentials.look_up(ORIGIN, {}, folder) == credentials.Lookup(None, False, None)


@pytest.mark.usefixtures("slow_keyring")
def test_a_slow_keyring_leaves_the_plain_text_token_in_force(folder: Path) -> None:
    credentials.store_file_token(ORIGIN, TOKEN, folder)
    found = credentials.look_up(ORIGIN, {"ACP_KEYRING_TIMEOUT": "0.2"}, folder)
    assert found.token == credentials.Token(TOKEN, credentials.Source.FILE)
    assert found.in_file is True
    assert found.keyring_error is not None
    assert found.keyring_error.message == (
        "The system keyring did not answer within 0.2 seconds when acp tried to read "
        "the token from it."
    )


@pytest.mark.usefixtures("slow_keyring")
def test_a_slow_keyring_through_the_command_is_exit_3_naming_the_ways_around_it() -> None:
    env = {"ACP_API_URL": ORIGIN, "ACP_KEYRING_TIMEOUT": "0.2"}
    run = run_acp("auth", "token", env=env)
    assert (run.code, run.stdout) == (3, "")
    assert [line.strip() for line in run.stderr.splitlines()] == [
        "Error: The system keyring did not answer within 0.2 seconds when acp tried to "
        "read the token from it.",
        FALLBACK,
    ]


@pytest.mark.parametrize(
    ("backend", "reason", "no_backend"),
    [
        ("keyring.backends.fail.Keyring", "no keyring backend is available on this machine", True),
        ("acp_test_keyrings.Locked", "KeyringLocked: Failed to unlock the collection", False),
        (
            "acp_test_keyrings.Broken",
            "DBusError: org.freedesktop.DBus.Error.ServiceUnknown: The name "
            "org.freedesktop.secrets was not provided by any .service files",
            False,
        ),
    ],
)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_failing_keyring_says_why(
    monkeypatch: pytest.MonkeyPatch, backend: str, reason: str, no_backend: bool, action: str
) -> None:
    use_backend(monkeypatch, backend)
    words, call = ACTIONS[action]
    with pytest.raises(KeyringUnavailable) as caught:
        call(timeout=30)
    assert (caught.value.message, caught.value.hint, caught.value.no_backend) == (
        f"Could not {words} the system keyring: {reason}.",
        FALLBACK,
        no_backend,
    )


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (ValueError("first line.\nsecond line"), "ValueError: first line"),
        (ValueError("  padded!  "), "ValueError: padded"),
        (ValueError("   "), "ValueError"),
        (RuntimeError(), "RuntimeError"),
        (ValueError("code X."), "ValueError: code X"),
    ],
)
def test_a_backend_error_is_described_by_its_class_and_first_line(
    error: Exception, described: str
) -> None:
    keyring.set_keyring(Raising(error))
    try:
        with pytest.raises(KeyringUnavailable) as caught:
            GuardedKeyring(30).get(ORIGIN)
    finally:
        reset_keyring_backend()
    assert caught.value.message == f"Could not read the token from the system keyring: {described}."


# --- the token and the plain-text file ------------------------------------------------


@pytest.fixture
def folder(isolated_env: Path) -> Path:
    isolated_env.mkdir(mode=0o700, parents=True, exist_ok=True)
    return isolated_env


@pytest.mark.parametrize(
    ("token", "message", "hint"),
    [
        (
            "",
            "The token is empty.",
            "Give the token on standard input: `acp auth login --with-token < token.txt`.",
        ),
        (
            " \n ",
            "The token is empty.",
            "Give the token on standard input: `acp auth login --with-token < token.txt`.",
        ),
        *(
            (
                bad,
                "The token contains spaces, line breaks, control or non-ASCII characters.",
                "Give the token alone, on one line.",
            )
            for bad in ("a b", "a\tb", "a\nb", "tok\x00", "tok\x7f", "tökén")
        ),
    ],
)
def test_a_token_that_cannot_be_sent_is_refused(token: str, message: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        credentials.check_token(token)
    assert (caught.value.message, caught.value.hint) == (message, hint)


def test_a_token_is_trimmed_and_kept_whole() -> None:
    assert credentials.check_token(f" \t{TOKEN}\n") == TOKEN
    assert credentials.check_token("~!#$%") == "~!#$%"


@pytest.mark.parametrize(
    ("source", "name", "hint"),
    [
        (credentials.Source.ENVIRONMENT, "ACP_TOKEN", "Set ACP_TOKEN to the token alone."),
        (
            credentials.Source.KEYRING,
            f"The token in the system keyring for {ORIGIN}",
            "Store it again with `acp auth login`.",
        ),
        (
            credentials.Source.FILE,
            f"The token in the plain-text file for {ORIGIN}",
            "Store it again with `acp auth login --insecure-storage`.",
        ),
    ],
)
def test_an_unusable_stored_token_names_where_it_is_and_never_shows_it(
    source: credentials.Source, name: str, hint: str
) -> None:
    with pytest.raises(AuthError) as caught:
        credentials.usable(credentials.Token("secret value", source), ORIGIN)
    assert (caught.value.message, caught.value.hint) == (
        f"{name} contains spaces, line breaks, control or non-ASCII characters.",
        hint,
    )
    assert credentials.usable(credentials.Token(f" {TOKEN} ", source), ORIGIN) == (
        credentials.Token(TOKEN, source)
    )


def test_no_token_names_every_way_to_give_one() -> None:
    lookup = credentials.Lookup(None, in_file=False, keyring_error=None)
    with pytest.raises(AuthError) as caught:
        lookup.require(ORIGIN)
    assert (caught.value.message, caught.value.hint) == (
        f"No token for {ORIGIN}.",
        "Run `acp auth login` to store one in the system keyring, "
        "or set ACP_TOKEN (the usual way in CI).",
    )


@pytest.mark.parametrize(
    ("token", "masked"),
    [("", "****"), ("x" * 15, "****"), ("abcd" + "x" * 12, "abcd****"), (TOKEN, "tok_****")],
)
def test_a_token_is_masked_to_four_characters_from_sixteen_on(token: str, masked: str) -> None:
    assert credentials.mask(token) == masked
    assert credentials.Token(token, credentials.Source.FILE).masked() == masked
    assert repr(credentials.Token(token, credentials.Source.FILE)) == (
        f"Token(source='plain-text file', value='{masked}')"
    )


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o620, 0o602, 0o610, 0o601, 0o666])
def test_a_token_file_others_can_use_names_the_mode_and_the_fix(folder: Path, mode: int) -> None:
    path = credentials.store_file_token(ORIGIN, TOKEN, folder)
    path.chmod(mode)
    with pytest.raises(AuthError) as caught:
        credentials.look_up(ORIGIN, {}, folder)
    assert (caught.value.message, caught.value.hint) == (
        f"The credentials file {path} can be read or changed by other users (mode {mode:o}); "
        "acp does not use a token from it.",
        f"Run `chmod 600 {path}`, and replace the token if others may have read it.",
    )
    path.chmod(0o600)  # following the hint
    assert credentials.resolve_token(ORIGIN, {}, folder).value == TOKEN


def test_a_token_file_another_user_owns_is_refused_as_an_ordinary_user(
    ordinary_folder: Path,
) -> None:
    def attempt() -> tuple[str, str | None]:
        (ordinary_folder / credentials.CREDENTIALS_NAME).symlink_to(ROOT_OWNED)
        with pytest.raises(AuthError) as caught:
            credentials.read_file_token(ORIGIN, ordinary_folder)
        return caught.value.message, caught.value.hint

    path = ordinary_folder / credentials.CREDENTIALS_NAME
    assert as_ordinary_user(attempt) == (
        f"The credentials file {path} is owned by another user; acp does not use a token from it.",
        "Delete it and store the token again with `acp auth login --insecure-storage`, "
        "or set ACP_TOKEN.",
    )


def test_a_token_file_acp_cannot_read_is_a_config_error_as_an_ordinary_user(
    ordinary_folder: Path,
) -> None:
    def attempt() -> tuple[str, str | None]:
        credentials.store_file_token(ORIGIN, TOKEN, ordinary_folder).chmod(0o000)
        with pytest.raises(ConfigError) as caught:
            credentials.look_up(ORIGIN, {}, ordinary_folder)
        return caught.value.message, caught.value.hint

    path = ordinary_folder / credentials.CREDENTIALS_NAME
    assert as_ordinary_user(attempt) == (
        f"Cannot read the config file {path}: Permission denied.",
        "Check its permissions, or point ACP_CONFIG_DIR at another folder.",
    )


# --- races: another process's edit lands while acp waits for the lock -------------------------


@needs_proc_locks
def test_a_token_removed_meanwhile_is_not_reported_removed(folder: Path) -> None:
    path = credentials.store_file_token(ORIGIN, TOKEN, folder)
    other = '[origins."https://b.example.com"]\ntoken = "other"\n'
    removed = change_while_waiting(
        folder,
        lambda: credentials.delete_file_token(ORIGIN, folder),
        lambda: config_file.write_private(path, other),
    )
    assert removed is False
    assert path.read_text() == other


@needs_proc_locks
def test_a_token_stored_meanwhile_for_another_origin_is_kept(folder: Path) -> None:
    path = credentials.credentials_path(folder)
    change_while_waiting(
        folder,
        lambda: credentials.store_file_token(ORIGIN, TOKEN, folder),
        lambda: config_file.write_private(
            path, '[origins."https://b.example.com"]\ntoken = "other"\n'
        ),
    )
    assert credentials.read_file_token(ORIGIN, folder) == TOKEN
    assert credentials.read_file_token("https://b.example.com", folder) == "other"


# --- where the token in force comes from, with a real file keyring ------------------------------

FILE_KEYRING = "keyrings.alt.file.PlaintextKeyring"
OTHER = "tok_other_fedcba9876543210"


@pytest.mark.parametrize(
    ("env", "in_keyring", "in_file", "found", "file_flag"),
    [
        ({"ACP_TOKEN": f" {TOKEN} "}, OTHER, OTHER, (TOKEN, "environment"), True),
        ({"ACP_TOKEN": TOKEN}, None, None, (TOKEN, "environment"), False),
        ({"ACP_TOKEN": "  "}, OTHER, None, (OTHER, "keyring"), False),
        ({}, OTHER, TOKEN, (OTHER, "keyring"), True),
        ({}, OTHER, None, (OTHER, "keyring"), False),
        ({}, None, TOKEN, (TOKEN, "plain-text file"), True),
        ({}, "", TOKEN, (TOKEN, "plain-text file"), True),
        ({}, None, None, None, False),
    ],
)
def test_the_token_in_force_and_what_else_is_stored(
    monkeypatch: pytest.MonkeyPatch,
    folder: Path,
    env: dict[str, str],
    in_keyring: str | None,
    in_file: str | None,
    found: tuple[str, str] | None,
    file_flag: bool,
) -> None:
    use_backend(monkeypatch, FILE_KEYRING)
    if in_keyring is not None:
        GuardedKeyring(30).set(ORIGIN, in_keyring)
    if in_file is not None:
        credentials.store_file_token(ORIGIN, in_file, folder)
    lookup = credentials.look_up(ORIGIN, env, folder)
    token = None if lookup.token is None else (lookup.token.value, lookup.token.source.value)
    assert (token, lookup.in_file, lookup.keyring_error) == (found, file_flag, None)


def test_without_an_api_url_only_acp_token_is_found(folder: Path) -> None:
    credentials.store_file_token(ORIGIN, TOKEN, folder)
    assert credentials.look_up(None, {}, folder) == credentials.Lookup(None, False, None)
    found = credentials.look_up(None, {"ACP_TOKEN": OTHER}, folder)
    assert found == credentials.Lookup(
        credentials.Token(OTHER, credentials.Source.ENVIRONMENT), False, None
    )


def test_storing_in_one_store_removes_the_copy_in_the_other(
    monkeypatch: pytest.MonkeyPatch, folder: Path
) -> None:
    use_backend(monkeypatch, FILE_KEYRING)
    path = credentials.credentials_path(folder)
    assert credentials.TokenStore(ORIGIN, folder, 30).store(TOKEN, plain_text=True) == (
        credentials.Stored(credentials.Source.FILE, path, removed_other_copy=False)
    )
    assert credentials.TokenStore(ORIGIN, folder, 30).store(OTHER, plain_text=False) == (
        credentials.Stored(credentials.Source.KEYRING, None, removed_other_copy=True)
    )
    assert credentials.read_file_token(ORIGIN, folder) is None
    assert GuardedKeyring(30).get(ORIGIN) == OTHER
    assert credentials.TokenStore(ORIGIN, folder, 30).store(TOKEN, plain_text=True) == (
        credentials.Stored(credentials.Source.FILE, path, removed_other_copy=True)
    )
    assert GuardedKeyring(30).get(ORIGIN) is None
    assert credentials.TokenStore(ORIGIN, folder, 30).remove() == credentials.Removed(
        from_keyring=False, from_file=True, keyring_error=None
    )
    GuardedKeyring(30).set(ORIGIN, TOKEN)
    assert credentials.TokenStore(ORIGIN, folder, 30).remove() == credentials.Removed(
        from_keyring=True, from_file=False, keyring_error=None
    )


@pytest.mark.parametrize(
    ("backend", "reported"),
    [("keyring.backends.fail.Keyring", False), ("acp_test_keyrings.Locked", True)],
)
def test_removing_reports_a_keyring_that_failed_but_not_one_that_does_not_exist(
    monkeypatch: pytest.MonkeyPatch, folder: Path, backend: str, reported: bool
) -> None:
    use_backend(monkeypatch, backend)
    credentials.store_file_token(ORIGIN, TOKEN, folder)
    removed = credentials.TokenStore(ORIGIN, folder, 30).remove()
    assert (removed.from_keyring, removed.from_file) == (False, True)
    assert (removed.keyring_error is not None) is reported
    stored = credentials.TokenStore(ORIGIN, folder, 30).store(TOKEN, plain_text=True)
    assert stored.removed_other_copy is False


def test_ctrl_c_inside_the_keyring_is_not_turned_into_a_keyring_error() -> None:
    keyring.set_keyring(Raising(KeyboardInterrupt()))
    try:
        with pytest.raises(KeyboardInterrupt):
            GuardedKeyring(30).get(ORIGIN)
    finally:
        reset_keyring_backend()


@pytest.mark.parametrize(
    "text",
    [
        'origins = "x"\n',
        "origins = [1]\n",
        '[origins]\n"https://api.example.com" = "tok"\n',
        '[origins."https://api.example.com"]\ntoken = 5\n',
        '[origins."https://api.example.com"]\ntoken = ""\n',
        '[origins."https://api.example.com"]\nother = "tok"\n',
        '[origins."https://b.example.com"]\ntoken = "tok"\n',
    ],
)
def test_a_token_file_without_a_token_for_the_origin_holds_none(folder: Path, text: str) -> None:
    path = credentials.credentials_path(folder)
    path.write_text(text)
    path.chmod(0o600)
    assert credentials.read_file_token(ORIGIN, folder) is None


def test_the_token_file_has_one_table_per_origin(folder: Path) -> None:
    path = credentials.store_file_token(ORIGIN, TOKEN, folder)
    credentials.store_file_token("https://b.example.com", "other", folder)
    assert path.read_text() == (
        f'[origins."{ORIGIN}"]\ntoken = "{TOKEN}"\n\n'
        '[origins."https://b.example.com"]\ntoken = "other"\n'
    )


@pytest.mark.usefixtures("slow_keyring")
def test_storing_and_removing_wait_for_the_keyring_only_as_long_as_told(folder: Path) -> None:
    started = time.monotonic()
    stored = credentials.TokenStore(ORIGIN, folder, 0.2).store(TOKEN, plain_text=True)
    assert stored.removed_other_copy is False  # the keyring did not answer: nothing removed
    assert time.monotonic() - started < 4  # the default bound is 5 s
    keyring_guard._stalled.clear()  # a new command, a new process
    with pytest.raises(KeyringUnavailable) as caught:
        credentials.TokenStore(ORIGIN, folder, 0.2).store(TOKEN, plain_text=False)
    assert caught.value.message == (
        "The system keyring did not answer within 0.2 seconds when acp tried to store "
        "the token in it."
    )
    keyring_guard._stalled.clear()
    removed = credentials.TokenStore(ORIGIN, folder, 0.2).remove()
    assert removed.keyring_error is not None
    assert removed.keyring_error.message == (
        "The system keyring did not answer within 0.2 seconds when acp tried to remove "
        "the token from it."
    )


@pytest.mark.parametrize(
    ("backend", "in_keyring", "in_file", "where"),
    [
        (FILE_KEYRING, "a b", None, "system keyring"),
        (FILE_KEYRING, None, "tok\u00e9n", "plain-text file"),
        (FILE_KEYRING, "", "a\tb", "plain-text file"),
        ("keyring.backends.fail.Keyring", None, "a b", "plain-text file"),
    ],
)
def test_an_unusable_stored_token_names_its_store_and_origin(
    monkeypatch: pytest.MonkeyPatch, folder: Path, backend: str, in_keyring: str | None,
    in_file: str | None, where: str,
) -> None:  # fmt: skip
    use_backend(monkeypatch, backend)
    if in_keyring is not None:
        GuardedKeyring(30).set(ORIGIN, in_keyring)
        assert GuardedKeyring(30).get(ORIGIN) == (in_keyring or None)
    if in_file is not None:
        credentials.store_file_token(ORIGIN, in_file, folder)
    with pytest.raises(AuthError) as caught:
        credentials.look_up(ORIGIN, {}, folder)
    assert caught.value.message == (
        f"The token in the {where} for {ORIGIN} contains spaces, line breaks, control or "
        "non-ASCII characters."
    )


@pytest.mark.usefixtures("slow_keyring")
def test_a_keyring_worker_given_up_on_cannot_keep_the_process_alive() -> None:
    with pytest.raises(KeyringUnavailable):
        GuardedKeyring(0.1).get(ORIGIN)
    stuck = [thread for thread in threading.enumerate() if thread.name == "acp-keyring"]
    assert stuck
    assert all(thread.daemon for thread in stuck)  # the interpreter exits without them
