"""acp_cli.settings.file: every error's message and hint whole, one table per error class.

Unreadable files, unwritable folders and folders of another user are tested as
an ordinary user (tests/support/ordinary_user.py), so they run in CI as root too.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acp_cli.errors import ConfigError
from acp_cli.settings import file as config_file
from tests.support.lock_race import change_while_waiting, needs_proc_locks
from tests.support.messages import refusal
from tests.support.ordinary_user import ROOT_OWNED, as_ordinary_user

READ_HINT = "Check its permissions, or point ACP_CONFIG_DIR at another folder."
WRITE_HINT = "Check its permissions, or set ACP_CONFIG_DIR to a folder you can write."
TOML_HINT = "Fix or delete the file; `acp config list` shows what acp reads."
TABLE_HINT = "Fix or delete that line, then try again."
DEVICE_HINT = "Delete the device_id line and acp will create a new ID."


@pytest.mark.parametrize(
    ("make", "strerror"),
    [
        (lambda path: (path.write_text("a = 1\n"), path.chmod(0o000)), "Permission denied"),
        (lambda path: (path.write_text("a = 1\n"), path.chmod(0o200)), "Permission denied"),
        (lambda path: (path.write_text("a = 1\n"), path.parent.chmod(0o600)), "Permission denied"),
        (lambda path: path.mkdir(), "Is a directory"),
    ],
)
def test_a_config_file_acp_cannot_read_says_why(
    ordinary_folder: Path, make: Callable[[Path], Any], strerror: str
) -> None:
    def attempt() -> tuple[tuple[str, str | None], str]:
        path = ordinary_folder / "acp" / "config.toml"
        path.parent.mkdir()
        make(path)
        try:
            return refusal(lambda: config_file.load(path), ConfigError), str(path)
        finally:
            path.parent.chmod(0o700)

    (message, hint), path = as_ordinary_user(attempt)
    assert (message, hint) == (f"Cannot read the config file {path}: {strerror}.", READ_HINT)


def test_a_config_file_in_a_folder_that_cannot_be_listed_is_read(ordinary_folder: Path) -> None:
    def attempt() -> dict[str, Any]:
        path = ordinary_folder / "acp" / "config.toml"
        path.parent.mkdir()
        path.write_text("a = 1\n")
        path.parent.chmod(0o300)
        return config_file.load(path)

    assert as_ordinary_user(attempt) == {"a": 1}


@pytest.mark.parametrize("text", [b"[profiles\n", b"a = 1\na = 2\n", b'a = "\x01"\n'])
def test_a_config_file_that_is_not_toml_names_the_parser_s_reason(
    tmp_path: Path, text: bytes
) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(text)
    with pytest.raises(tomllib.TOMLDecodeError) as parser:
        tomllib.loads(text.decode())
    assert refusal(lambda: config_file.load(path), ConfigError) == (
        f"The config file {path} is not valid TOML: {parser.value}.",
        TOML_HINT,
    )


def test_a_config_file_that_is_not_utf8_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"a = '\xff'\n")
    assert refusal(lambda: config_file.load(path), ConfigError) == (
        f"The config file {path} is not valid TOML: 'utf-8' codec can't decode byte 0xff "
        "in position 5: invalid start byte.",
        TOML_HINT,
    )
    assert refusal(lambda: config_file.set_profile_value(path, "p", "k", 1), ConfigError) == (
        f"Cannot update the config file {path}: 'utf-8' codec can't decode byte 0xff "
        "in position 5: invalid start byte.",
        "Fix or delete the file, then try again.",
    )


def test_an_edit_of_a_file_that_is_not_toml_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[profiles\n")
    message, hint = refusal(lambda: config_file.set_profile_value(path, "p", "k", 1), ConfigError)
    assert message.startswith(f"Cannot update the config file {path}: ")
    assert hint == "Fix or delete the file, then try again."
    assert path.read_text() == "[profiles\n"


@pytest.mark.parametrize("mode", [0o500, 0o555, 0o100])
def test_an_edit_in_a_folder_acp_cannot_write_says_so(ordinary_folder: Path, mode: int) -> None:
    def attempt() -> tuple[tuple[str, str | None], str, bool]:
        folder = ordinary_folder / "acp"
        folder.mkdir()
        folder.chmod(mode)
        path = folder / "config.toml"
        try:
            found = refusal(
                lambda: config_file.set_profile_value(path, "p", "timeout", 5), ConfigError
            )
            return found, str(folder), path.exists()
        finally:
            folder.chmod(0o700)

    (message, hint), folder, written = as_ordinary_user(attempt)
    assert (message, hint) == (
        f"Cannot write in the config folder {folder}: Permission denied.",
        WRITE_HINT,
    )
    assert written is False


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o1777, 0o720, 0o702])
def test_a_folder_others_can_write_names_the_mode_and_the_fix(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "acp"
    folder.mkdir()
    os.chmod(folder, mode)
    assert refusal(lambda: config_file.require_safe_folder(folder), ConfigError) == (
        f"The config folder {folder} is writable by other users (mode {mode:o}); acp stores "
        "a token only in a folder that no one else can change.",
        f"Run `chmod go-w {folder}`, or set ACP_CONFIG_DIR to a folder of your own.",
    )


def test_a_folder_another_user_owns_is_refused_as_an_ordinary_user() -> None:
    folder = ROOT_OWNED.parent  # root's, and no one else may write in it

    def attempt() -> tuple[tuple[str, str | None], int]:
        return refusal(lambda: config_file.require_safe_folder(folder), ConfigError), os.geteuid()

    (message, hint), uid = as_ordinary_user(attempt)
    assert (message, hint) == (
        f"The config folder {folder} is owned by another user; acp stores a token only in "
        "a folder that no one else can change.",
        f"Run `chown {uid} {folder}`, or set ACP_CONFIG_DIR to a folder of your own.",
    )


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ('profiles = "x"\n', "profiles"),
        ("profiles = [1]\n", "profiles"),
        ("[profiles]\nwork = 1\n", "profiles.work"),
        ('[profiles]\nwork = "x"\n', "profiles.work"),
    ],
)
def test_an_edit_under_an_entry_that_is_not_a_table_names_it(
    tmp_path: Path, text: str, label: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    assert refusal(
        lambda: config_file.set_profile_value(path, "work", "timeout", 5), ConfigError
    ) == (
        f"'{label}' in {path} must be a table.",
        TABLE_HINT,
    )
    assert path.read_text() == text


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ('"a b"', "must be printable ASCII without spaces"),
        ('""', "must be printable ASCII without spaces"),
        ('"é"', "must be printable ASCII without spaces"),
        ("42", "must be a string, not a number"),
        ("true", "must be a string, not a boolean"),
        ("[1]", "must be a string, not an array"),
    ],
)
def test_a_bad_stored_device_id_says_how_to_get_a_new_one(
    tmp_path: Path, stored: str, reason: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"device_id = {stored}\n")
    assert refusal(lambda: config_file.device_id(tmp_path, {}), ConfigError) == (
        f"device_id in {path} {reason}.",
        DEVICE_HINT,
    )
    path.write_text("")  # following the hint: acp creates a new ID
    assert config_file.device_id(tmp_path, {}) == config_file.load(path)["device_id"]


# --- races: another process's edit lands while acp waits for the lock -------------------------


@needs_proc_locks
def test_a_device_id_stored_meanwhile_is_the_one_used(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    found = change_while_waiting(
        tmp_path,
        lambda: config_file.device_id(tmp_path, {}),
        lambda: config_file.write_private(path, 'device_id = "stored-meanwhile"\n'),
    )
    assert found == "stored-meanwhile"
    assert config_file.load(path) == {"device_id": "stored-meanwhile"}


@needs_proc_locks
@pytest.mark.parametrize(
    "meanwhile", ["[profiles.default]\ndeadline = 9\n", 'profiles = "x"\n', "[profiles]\n"]
)
def test_a_key_removed_meanwhile_is_not_removed_again(tmp_path: Path, meanwhile: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[profiles.default]\ntimeout = 5\n")
    removed = change_while_waiting(
        tmp_path,
        lambda: config_file.unset_profile_value(path, "default", "timeout"),
        lambda: config_file.write_private(path, meanwhile),
    )
    assert removed is False
    assert path.read_text() == meanwhile


@needs_proc_locks
def test_a_profile_made_meanwhile_keeps_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    change_while_waiting(
        tmp_path,
        lambda: config_file.set_profile_value(path, "work", "timeout", 5),
        lambda: config_file.write_private(path, "[profiles.work]\ndeadline = 9\n"),
    )
    assert config_file.load(path) == {"profiles": {"work": {"deadline": 9, "timeout": 5}}}


@needs_proc_locks
def test_a_bad_device_id_stored_meanwhile_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as caught:
        change_while_waiting(
            tmp_path,
            lambda: config_file.device_id(tmp_path, {}),
            lambda: config_file.write_private(path, 'device_id = "a b"\n'),
        )
    assert (caught.value.message, caught.value.hint) == (
        f"device_id in {path} must be printable ASCII without spaces.",
        DEVICE_HINT,
    )


def test_a_new_profile_is_written_as_its_own_table(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    config_file.set_profile_value(path, "work", "timeout", 5)
    config_file.set_profile_value(path, "default", "deadline", 9)
    assert path.read_text() == "[profiles.work]\ntimeout = 5\n\n[profiles.default]\ndeadline = 9\n"


def test_a_stored_device_id_is_read_from_a_folder_acp_cannot_write(ordinary_folder: Path) -> None:
    def attempt() -> tuple[str, list[str]]:
        folder = ordinary_folder / "acp"
        folder.mkdir()
        (folder / "config.toml").write_text('device_id = "dev-1"\n')  # a file put there by hand
        folder.chmod(0o500)
        try:
            return config_file.device_id(folder, {}), sorted(os.listdir(folder))
        finally:
            folder.chmod(0o700)

    # Read without taking the lock: nothing is written, not even the lock file.
    assert as_ordinary_user(attempt) == ("dev-1", ["config.toml"])
