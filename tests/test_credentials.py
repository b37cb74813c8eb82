"""acp_cli.credentials: the plain-text token file and the token lookup, called directly.

The keyring here is the `fail` backend the shared fixtures choose (no keyring):
tests/test_keyring_backends.py drives the real ones.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from acp_cli import credentials
from acp_cli.errors import AuthError, ConfigError, ExitCode, UsageError
from acp_cli.keyring_guard import KeyringUnavailable
from acp_cli.settings import DEFAULT_KEYRING_TIMEOUT

ORIGIN = "https://api.example.com"
TOKEN = "tok_unit_0123456789abcdef"


@pytest.fixture
def folder(isolated_env: Path) -> Path:
    isolated_env.mkdir(mode=0o700, parents=True, exist_ok=True)
    return isolated_env


@pytest.fixture
def stored(folder: Path) -> Path:
    """The credentials file, holding TOKEN for ORIGIN."""
    return credentials.store_file_token(ORIGIN, TOKEN, folder)


def test_store_writes_a_private_file_and_keeps_other_origins(folder: Path) -> None:
    path = credentials.store_file_token(ORIGIN, TOKEN, folder)
    credentials.store_file_token("https://b.example.com", "other", folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.read_file_token(ORIGIN, folder) == TOKEN
    assert credentials.read_file_token("https://b.example.com", folder) == "other"
    assert credentials.read_file_token("https://c.example.com", folder) is None


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o711])
def test_store_accepts_a_folder_others_can_only_read(folder: Path, mode: int) -> None:
    os.chmod(folder, mode)
    credentials.store_file_token(ORIGIN, TOKEN, folder)
    assert credentials.read_file_token(ORIGIN, folder) == TOKEN


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777])
def test_store_refuses_a_folder_others_can_write(folder: Path, mode: int) -> None:
    os.chmod(folder, mode)
    with pytest.raises(ConfigError, match="writable by other users"):
        credentials.store_file_token(ORIGIN, TOKEN, folder)
    assert not credentials.credentials_path(folder).exists()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610, 0o601])
def test_a_file_others_can_read_or_write_is_refused(stored: Path, folder: Path, mode: int) -> None:
    os.chmod(stored, mode)
    with pytest.raises(AuthError) as caught:
        credentials.read_file_token(ORIGIN, folder)
    assert caught.value.exit_code == ExitCode.AUTH
    assert f"(mode {mode:o})" in caught.value.message
    assert caught.value.hint is not None
    assert f"chmod 600 {stored}" in caught.value.hint
    assert TOKEN not in str(caught.value.lines())


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_a_file_only_the_user_can_use_is_read(stored: Path, folder: Path, mode: int) -> None:
    os.chmod(stored, mode)
    assert credentials.read_file_token(ORIGIN, folder) == TOKEN


@pytest.mark.parametrize(("mode", "refused"), [(0o600, False), (0o644, True)])
def test_a_symlink_is_judged_by_its_target(
    stored: Path, folder: Path, tmp_path: Path, mode: int, refused: bool
) -> None:
    target = tmp_path / "elsewhere.toml"
    stored.rename(target)
    stored.symlink_to(target)
    os.chmod(target, mode)
    if refused:
        with pytest.raises(AuthError, match="can be read or changed by other users"):
            credentials.read_file_token(ORIGIN, folder)
    else:
        assert credentials.read_file_token(ORIGIN, folder) == TOKEN


def test_look_up_uses_the_file_when_there_is_no_keyring(stored: Path, folder: Path) -> None:
    found = credentials.look_up(ORIGIN, {}, folder)
    assert found.token is not None
    assert (found.token.value, found.token.source) == (TOKEN, credentials.Source.FILE)
    assert found.in_file


def test_look_up_refuses_an_exposed_file(stored: Path, folder: Path) -> None:
    os.chmod(stored, 0o644)
    with pytest.raises(AuthError, match="can be read or changed by other users") as caught:
        credentials.look_up(ORIGIN, {}, folder)
    assert f"chmod 600 {stored}" in (caught.value.hint or "")


def test_acp_token_wins_and_an_exposed_file_does_not_stop_it(stored: Path, folder: Path) -> None:
    os.chmod(stored, 0o644)
    found = credentials.look_up(ORIGIN, {"ACP_TOKEN": " env_token_value "}, folder)
    assert found.token is not None
    assert (found.token.value, found.token.source) == (
        "env_token_value",
        credentials.Source.ENVIRONMENT,
    )
    assert found.in_file is False


def test_delete_removes_the_token_even_from_an_exposed_file(stored: Path, folder: Path) -> None:
    credentials.store_file_token("https://b.example.com", "other", folder)
    os.chmod(stored, 0o644)
    assert credentials.delete_file_token(ORIGIN, folder) is True
    assert TOKEN not in stored.read_text()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600  # rewritten private
    assert credentials.read_file_token("https://b.example.com", folder) == "other"
    assert credentials.delete_file_token(ORIGIN, folder) is False


def test_no_token_anywhere(folder: Path) -> None:
    found = credentials.look_up(ORIGIN, {}, folder)
    assert found.token is None
    with pytest.raises(KeyringUnavailable, match="no keyring backend"):
        credentials.resolve_token(ORIGIN, {}, folder)  # the reason there is none, and the ways


def test_keyring_timeout_from_the_environment() -> None:
    assert credentials.keyring_timeout({}) == DEFAULT_KEYRING_TIMEOUT == 5.0
    assert credentials.keyring_timeout({"ACP_KEYRING_TIMEOUT": "0.25"}) == 0.25
    for bad in ("0", "-1", "soon", "nan"):
        with pytest.raises(ConfigError, match="ACP_KEYRING_TIMEOUT"):
            credentials.keyring_timeout({"ACP_KEYRING_TIMEOUT": bad})


@pytest.mark.parametrize("token", ["", "  ", "a b", "a\nb", "tok\x00", "tökén"])
def test_check_token_refuses_what_cannot_be_a_bearer_token(token: str) -> None:
    with pytest.raises(UsageError) as caught:
        credentials.check_token(token)
    if token.strip():
        assert token.strip() not in caught.value.message


def test_an_unusable_environment_token_is_never_shown() -> None:
    with pytest.raises(AuthError) as caught:
        credentials.look_up(ORIGIN, {"ACP_TOKEN": "secret value"}, Path("/nonexistent"))
    assert "secret" not in " ".join(caught.value.lines())
    assert "ACP_TOKEN" in caught.value.message


def test_mask_and_repr_never_show_a_token() -> None:
    assert credentials.mask("short") == "****"
    assert credentials.mask(TOKEN) == "tok_****"
    token = credentials.Token(TOKEN, credentials.Source.FILE)
    assert TOKEN not in repr(token)


def test_a_token_store_on_a_machine_without_a_keyring_keeps_the_token_in_the_file(
    folder: Path,
) -> None:
    store = credentials.TokenStore.for_env(ORIGIN, folder, {"ACP_KEYRING_TIMEOUT": "2"})
    assert store.keyring_timeout == 2.0
    with pytest.raises(KeyringUnavailable, match="no keyring backend"):
        store.check_storage(plain_text=False)  # before a token is typed in vain
    store.check_storage(plain_text=True)

    stored = store.store(TOKEN, plain_text=True)
    assert stored == credentials.Stored(credentials.Source.FILE, store.path, False)
    assert credentials.read_file_token(ORIGIN, folder) == TOKEN
    found = store.look_up({})
    assert found.token == credentials.Token(TOKEN, credentials.Source.FILE)
    assert found.keyring_error is not None  # the keyring failed; the file answered

    # No keyring at all is not worth a warning on logout: nothing can be there.
    assert store.remove() == credentials.Removed(False, True, None)
    assert store.look_up({}).token is None
    assert store.remove() == credentials.Removed(False, False, None)
