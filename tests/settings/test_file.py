"""acp_cli.settings.file: where config.toml lives, reading, the secret-folder rule, edits."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from acp_cli.errors import ConfigError
from acp_cli.settings import file as config_file


def test_config_dir_is_acp_config_dir_or_the_platforms(tmp_path: Path) -> None:
    import platformdirs

    assert config_file.config_dir({"ACP_CONFIG_DIR": str(tmp_path)}) == tmp_path
    assert config_file.config_dir({"ACP_CONFIG_DIR": "~/acp"}) == Path.home() / "acp"
    assert config_file.config_dir({}) == platformdirs.user_config_path("acp")
    assert config_file.config_dir({"ACP_CONFIG_DIR": ""}) == platformdirs.user_config_path("acp")


def test_load(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert config_file.load(path) == {}
    path.write_text('[profiles."a b"]\ntimeout = 3\n')
    assert config_file.load(path) == {"profiles": {"a b": {"timeout": 3}}}
    for broken in (b"[profiles\n", b"\xff\xfe", b"a = 1\na = 2\n"):
        path.write_bytes(broken)
        with pytest.raises(ConfigError, match="is not valid TOML"):
            config_file.load(path)


def test_load_of_something_that_is_not_a_file_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "config.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match=f"Cannot read the config file {folder}"):
        config_file.load(folder)


def test_load_check_sees_the_file_opened_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "dotfiles" / "acp.toml"
    target.parent.mkdir()
    target.write_text("x = 1\n")
    os.chmod(target, 0o640)
    link = tmp_path / "config.toml"
    link.symlink_to(target)
    seen: list[int] = []

    def check(status: os.stat_result) -> None:
        seen.append(status.st_mode)

    assert config_file.load(link, check=check) == {"x": 1}
    assert [stat.S_IMODE(mode) for mode in seen] == [0o640]
    assert config_file.load(tmp_path / "missing.toml", check=check) == {}
    assert len(seen) == 1  # nothing to check when there is no file


# --- StrictModes for folders that receive a secret ----------------------------------------------


@pytest.mark.parametrize("mode", [0o700, 0o750, 0o755, 0o711, 0o500])
def test_a_folder_only_the_user_can_change_is_accepted(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "acp"
    folder.mkdir()
    os.chmod(folder, mode)
    config_file.require_safe_folder(folder)


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777, 0o770, 0o720, 0o702, 0o1777, 0o2770])
def test_a_folder_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "acp"
    folder.mkdir()
    os.chmod(folder, mode)
    with pytest.raises(ConfigError) as caught:
        config_file.require_safe_folder(folder)
    assert f"is writable by other users (mode {stat.S_IMODE(mode):o})" in caught.value.message
    assert f"chmod go-w {folder}" in (caught.value.hint or "")


def test_a_secret_is_not_written_in_a_folder_others_can_write(tmp_path: Path) -> None:
    folder = tmp_path / "acp"
    folder.mkdir()
    os.chmod(folder, 0o777)  # noqa: S103 - the point of the test
    path = folder / "secret.toml"
    with pytest.raises(ConfigError, match="writable by other users"):
        config_file.update(path, lambda document: document.update({"k": "v"}), secret=True)
    assert not path.exists()
    # The same folder is fine for what is not a secret.
    config_file.update(path, lambda document: document.update({"k": "v"}))
    assert config_file.load(path) == {"k": "v"}


def test_a_symlinked_secret_file_is_judged_by_both_folders(tmp_path: Path) -> None:
    own = tmp_path / "acp"
    own.mkdir(mode=0o700)
    open_to_all = tmp_path / "open_to_all"
    open_to_all.mkdir()
    os.chmod(open_to_all, 0o777)  # noqa: S103 - the point of the test
    (open_to_all / "secret.toml").write_text("")
    link = own / "secret.toml"
    link.symlink_to(open_to_all / "secret.toml")
    with pytest.raises(ConfigError, match=f"{open_to_all} is writable by other users"):
        config_file.update(link, lambda document: document.update({"k": "v"}), secret=True)
    assert (open_to_all / "secret.toml").read_text() == ""


def test_a_new_folder_is_private_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    new = tmp_path / "a" / "acp"
    config_file.set_profile_value(new / "config.toml", "default", "timeout", 3)
    assert stat.S_IMODE(new.stat().st_mode) == 0o700
    assert stat.S_IMODE((new / "config.toml").stat().st_mode) == 0o600
    existing = tmp_path / "existing"
    existing.mkdir()
    os.chmod(existing, 0o755)  # noqa: S103 - a folder made by mkdir with the usual umask
    config_file.set_profile_value(existing / "config.toml", "default", "timeout", 3)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755


# --- edits ---------------------------------------------------------------------------------------


def test_set_and_unset_keep_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = '# mine\n[profiles."a b"]\napi_url = "https://a.example.com"  # note\n'
    path.write_text(text)
    config_file.set_profile_value(path, "a b", "timeout", 5)
    assert path.read_text() == text + "timeout = 5\n"
    assert config_file.unset_profile_value(path, "a b", "timeout") is True
    assert path.read_text() == text
    assert config_file.unset_profile_value(path, "a b", "timeout") is False
    assert config_file.unset_profile_value(path, "other", "timeout") is False


def test_an_edit_that_changes_nothing_does_not_write(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[profiles.default]\ntimeout = 5\n")
    before = path.stat()
    config_file.set_profile_value(path, "default", "timeout", 5)
    assert path.stat().st_ino == before.st_ino
    assert path.stat().st_mtime_ns == before.st_mtime_ns


def test_unset_in_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "acp"
    assert config_file.unset_profile_value(folder / "config.toml", "default", "x") is False
    assert not folder.exists()


@pytest.mark.parametrize("text", ['profiles = "x"\n', "[profiles]\ndefault = 1\n"])
def test_set_refuses_a_profiles_entry_that_is_not_a_table(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="must be a table"):
        config_file.set_profile_value(path, "default", "timeout", 5)
    assert path.read_text() == text


# --- the device ID -------------------------------------------------------------------------------


def test_what_the_caller_already_read_is_used_not_read_again(tmp_path: Path) -> None:
    """A run reads config.toml once: given that reading, these functions trust it
    (here the file has changed since; what the run read wins)."""
    path = tmp_path / "config.toml"
    path.write_text('device_id = "in-the-file"\n[profiles.default]\ntimeout = 3\n')
    read_before = {"device_id": "read-before", "profiles": {"default": {}}}
    assert config_file.device_id(tmp_path, {}, read_before) == "read-before"
    assert config_file.unset_profile_value(path, "default", "timeout", read_before) is False
    assert config_file.load(path)["profiles"]["default"] == {"timeout": 3}  # untouched


def test_device_id_is_created_once_and_kept(tmp_path: Path) -> None:
    import uuid

    first = config_file.device_id(tmp_path, {})
    assert uuid.UUID(first)
    assert config_file.device_id(tmp_path, {}) == first
    assert config_file.load(tmp_path / "config.toml")["device_id"] == first
    assert config_file.device_id(tmp_path, {"ACP_DEVICE_ID": "ci-runner-7"}) == "ci-runner-7"


@pytest.mark.parametrize("value", ["a b", "é", ""])
def test_a_bad_device_id_in_the_environment(tmp_path: Path, value: str) -> None:
    if not value:  # empty: not given
        assert config_file.device_id(tmp_path, {"ACP_DEVICE_ID": value})
        return
    with pytest.raises(ConfigError, match=r"\(from ACP_DEVICE_ID\) must be printable ASCII"):
        config_file.device_id(tmp_path, {"ACP_DEVICE_ID": value})


@pytest.mark.parametrize("stored", ['"a b"', "42", '""'])
def test_a_bad_stored_device_id(tmp_path: Path, stored: str) -> None:
    (tmp_path / "config.toml").write_text(f"device_id = {stored}\n")
    with pytest.raises(ConfigError, match=r"device_id in .*config\.toml") as caught:
        config_file.device_id(tmp_path, {})
    assert "Delete the device_id line" in (caught.value.hint or "")
