"""acp_cli.settings: the registry of settings and the one resolution, called directly."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import pytest

from acp_cli import settings
from acp_cli.errors import ConfigError
from acp_cli.settings import (
    API_URL,
    CA_BUNDLE,
    PROFILE,
    PROFILE_KEYS,
    SETTINGS,
    TIMEOUT,
    InvalidValue,
)
from tests.support.paths import REPO

# --- the registry --------------------------------------------------------------------------


def test_every_acp_variable_and_profile_key_is_spelled_once_in_src() -> None:
    """Other modules refer to the registry: a second spelling would be a second source."""
    sources = {
        path: path.read_text(encoding="utf-8")
        for path in (REPO / "src" / "acp_cli").rglob("*.py")
        if "emulator" not in path.parts  # the emulator is the server, not a client setting
    }
    literals = [
        (path, match)
        for path, text in sources.items()
        for match in re.findall(r"""["'](ACP_[A-Z_]+)["']""", text)
    ]
    names = [name for _, name in literals]
    assert sorted(names) == sorted(set(names)), literals
    assert set(names) == {setting.variable for setting in SETTINGS.values() if setting.variable}
    # A profile key is read or written through the registry, never by its own literal.
    for key in PROFILE_KEYS:
        lookups = [
            path.name
            for path, text in sources.items()
            if re.search(rf"""(?:\.get\(|\[)["']{key}["']""", text)
        ]
        assert lookups == [], (key, lookups)


def test_profile_keys_are_the_profile_settings_sorted() -> None:
    assert list(PROFILE_KEYS) == ["api_url", "ca_bundle", "connect_timeout", "deadline", "timeout"]
    assert all(setting.profile_key for setting in PROFILE_KEYS.values())
    assert all(setting.summary for setting in PROFILE_KEYS.values())


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (PROFILE, "(default: $ACP_PROFILE, else 'default')"),
        (API_URL, "(default: $ACP_API_URL, else the profile's api_url)"),
        (CA_BUNDLE, "(default: $ACP_CA_BUNDLE, else the profile's ca_bundle)"),
        (TIMEOUT, "(default: the profile's timeout, else 30)"),
        (settings.DEADLINE, "(default: the profile's deadline, else 120)"),
    ],
)
def test_default_help_says_where_the_value_comes_from(
    setting: settings.Setting, expected: str
) -> None:
    assert setting.default_help() == expected
    assert setting.option_help == f"{setting.help} {expected}"


# --- value types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("30", "must be a positive number of seconds, not a string"),
        (True, "must be a positive number of seconds, not a boolean"),
        ([1], "must be a positive number of seconds, not an array"),
        ({"s": 1}, "must be a positive number of seconds, not a table"),
        (0, "must be a positive number of seconds"),
        (-2.5, "must be a positive number of seconds"),
        (math.inf, "must be a positive number of seconds"),
        (math.nan, "must be a positive number of seconds"),
    ],
)
def test_seconds_refuse_what_is_not_a_positive_number(value: Any, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        TIMEOUT.type.check(value)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("text", "stored", "used"),
    [("60", 60, 60.0), (" 2.5 ", 2.5, 2.5), ("1e1", 10.0, 10.0), ("007", 7, 7.0)],
)
def test_seconds_from_text(text: str, stored: float, used: float) -> None:
    assert TIMEOUT.type.stored(text) == stored
    assert type(TIMEOUT.type.stored(text)) is type(stored)
    assert TIMEOUT.type.parse(text) == used


@pytest.mark.parametrize("text", ["", "soon", "0", "-1", "nan", "inf", "1,5"])
def test_seconds_from_bad_text(text: str) -> None:
    with pytest.raises(InvalidValue, match="positive number of seconds"):
        TIMEOUT.type.parse(text)


@pytest.mark.parametrize(("text", "count"), [("0", 0), (" 50000 ", 50_000), ("007", 7)])
def test_a_count_from_text(text: str, count: int) -> None:
    assert settings.LARGE_PLAN_FILES.type.parse(text) == count


@pytest.mark.parametrize("text", ["", " ", "-1", "+1", "1.5", "1e3", "²", "\u0661", "many"])
def test_a_count_from_bad_text(text: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        settings.LARGE_PLAN_FILES.type.parse(text)
    assert caught.value.reason == "must be a whole number, 0 or more"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, "must be a whole number, 0 or more, not -1"),
        (True, "must be a whole number, 0 or more, not a boolean"),
        (1.0, "must be a whole number, 0 or more, not 1.0"),
        (2.5, "must be a whole number, 0 or more, not 2.5"),
        ([1], "must be a whole number, 0 or more, not an array"),
        ("3", "must be a whole number, 0 or more, not a string"),
    ],
)
def test_a_count_refuses_what_is_not_a_whole_number(value: Any, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        settings.LARGE_PLAN_BYTES.type.check(value)
    assert caught.value.reason == reason


@pytest.mark.parametrize("value", [0, 1, 1 << 30])
def test_a_count_accepts_a_whole_number(value: int) -> None:
    assert settings.LARGE_PLAN_BYTES.type.check(value) == value


def test_ca_bundle_expands_home_and_is_stored_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Path(os.environ["HOME"])
    (home / "ca.pem").write_text("")
    assert CA_BUNDLE.type.check("~/ca.pem") == home / "ca.pem"
    monkeypatch.chdir(home)
    assert CA_BUNDLE.type.stored("ca.pem") == str((home / "ca.pem").resolve())
    for bad in ("", "   ", 5, str(tmp_path / "missing.pem"), str(tmp_path)):
        with pytest.raises(InvalidValue):
            CA_BUNDLE.type.check(bad)


@pytest.mark.parametrize("value", ["", "a b", "é", "a\tb", 5])
def test_device_id_must_be_sendable_as_a_header(value: Any) -> None:
    with pytest.raises(InvalidValue):
        settings.DEVICE_ID.type.check(value)


# --- resolution ---------------------------------------------------------------------------------


@pytest.fixture
def config(isolated_env: Path) -> Path:
    isolated_env.mkdir(parents=True, exist_ok=True)
    return isolated_env / "config.toml"


def resolved(
    config: Path, env: dict[str, str] | None = None, **flags: Any
) -> dict[str, settings.Resolved]:
    from acp_cli.settings import file as config_file

    values = settings.resolve_values("default", config_file.load(config), config, env or {}, flags)
    return {item.setting.name: item for item in values}


def test_precedence_is_flag_environment_file_default(config: Path, tmp_path: Path) -> None:
    pems = {name: tmp_path / f"{name}.pem" for name in ("flag", "env", "file")}
    for path in pems.values():
        path.write_text("")
    config.write_text(
        '[profiles.default]\napi_url = "https://file.example.com"\n'
        f'ca_bundle = "{pems["file"]}"\ntimeout = 5\n'
    )
    env = {"ACP_API_URL": "https://env.example.com", "ACP_CA_BUNDLE": str(pems["env"])}

    by_file = resolved(config)
    assert by_file["api_url"].value == "https://file.example.com"
    assert (by_file["api_url"].source, by_file["timeout"].source) == ("file", "file")
    assert by_file["deadline"].source == "default"
    assert by_file["deadline"].value == 120.0

    by_env = resolved(config, env)
    assert (by_env["api_url"].value, by_env["api_url"].origin) == (
        "https://env.example.com",
        "ACP_API_URL",
    )
    assert by_env["ca_bundle"].value == pems["env"]

    by_flag = resolved(
        config, env, api_url="https://flag.example.com", ca_bundle=str(pems["flag"]), timeout=7.0
    )
    assert (by_flag["api_url"].value, by_flag["api_url"].origin) == (
        "https://flag.example.com",
        "--api-url",
    )
    assert by_flag["ca_bundle"].value == pems["flag"]
    assert (by_flag["timeout"].value, by_flag["timeout"].source) == (7.0, "flag")


def test_an_empty_environment_variable_is_not_given(config: Path) -> None:
    config.write_text('[profiles.default]\napi_url = "https://file.example.com"\n')
    assert resolved(config, {"ACP_API_URL": ""})["api_url"].source == "file"


def test_resolution_reports_every_invalid_value_without_raising(config: Path) -> None:
    config.write_text('[profiles.default]\ntimeout = "30"\ndeadline = -1\napi_url = 443\n')
    values = resolved(config)
    assert {name for name, item in values.items() if item.problem} == {
        "timeout",
        "deadline",
        "api_url",
    }
    assert values["timeout"].value == "30"  # the raw value, to show it as written
    assert values["connect_timeout"].problem is None


def test_resolve_raises_the_invalid_value_with_its_origin_and_fix(config: Path) -> None:
    config.write_text('[profiles.default]\napi_url = "https://api.example.com"\ntimeout = "30"\n')
    with pytest.raises(ConfigError) as caught:
        settings.resolve(profile=None, api_url=None, env=dict(os.environ))
    assert caught.value.message == (
        f'The timeout "30" (from timeout in {config} [profiles.default]) must be a positive '
        "number of seconds, not a string."
    )
    assert caught.value.hint == "Fix it with `acp config set timeout 60`."


def test_an_invalid_file_value_hidden_by_the_environment_is_not_an_error(config: Path) -> None:
    config.write_text("[profiles.default]\napi_url = 443\n")
    env = {**os.environ, "ACP_API_URL": "https://env.example.com"}
    conf = settings.resolve(profile=None, api_url=None, env=env)
    assert conf.api_url == "https://env.example.com"
    assert conf.origin == "https://env.example.com"


def test_resolve_without_an_api_url_says_how_to_set_one(config: Path) -> None:
    config.write_text("[profiles.ci]\ntimeout = 5\n")
    with pytest.raises(ConfigError, match="No API URL is configured for profile 'ci'") as caught:
        settings.resolve(profile="ci", api_url=None, env=dict(os.environ))
    assert caught.value.hint == (
        "Set one with `acp config set api_url https://api.example.com`, export ACP_API_URL, "
        "or pass --api-url."
    )


@pytest.mark.parametrize(
    ("flag", "env", "origin"),
    [("stagin", {}, "--profile"), (None, {"ACP_PROFILE": "stagin"}, "ACP_PROFILE")],
)
def test_resolve_refuses_a_profile_the_file_does_not_know(
    config: Path, flag: str | None, env: dict[str, str], origin: str
) -> None:
    config.write_text('[profiles.staging]\napi_url = "https://s.example.com"\n[profiles.prod]\n')
    with pytest.raises(ConfigError) as caught:
        settings.resolve(profile=flag, api_url="https://x.example.com", env={**os.environ, **env})
    assert caught.value.message == f"Profile 'stagin' (from {origin}) is not in {config}."
    assert "Did you mean 'staging'? Known profiles: default, staging, prod." in (
        caught.value.hint or ""
    )


def test_resolve_may_create_a_profile_when_asked(config: Path) -> None:
    conf = settings.resolve(
        profile="new", api_url="https://x.example.com", env=dict(os.environ), new_profile=True
    )
    assert (conf.profile, conf.api_url) == ("new", "https://x.example.com")


def test_the_default_profile_is_known_without_a_file(config: Path) -> None:
    assert settings.known_profile(None, {}, {}, config) == "default"
    with pytest.raises(ConfigError) as caught:
        settings.known_profile("zzz", {}, {}, config)
    assert caught.value.hint == (  # nothing close: no guess
        "Known profiles: default. To create it, set a value in it: "
        "`acp config set api_url https://api.example.com`."
    )


def test_profile_name_precedence_and_empty_flag() -> None:
    assert settings.profile_name(None, {}) == "default"
    assert settings.profile_name(None, {"ACP_PROFILE": "env"}) == "env"
    assert settings.profile_name("flag", {"ACP_PROFILE": "env"}) == "flag"
    with pytest.raises(ConfigError, match=r"\(from --profile\) must not be empty"):
        settings.profile_name("", {"ACP_PROFILE": "env"})


def test_a_profile_that_is_not_a_table(config: Path) -> None:
    config.write_text("[profiles]\ndefault = 3\n")
    with pytest.raises(ConfigError, match=r"\[profiles.default\] in .* must be a table"):
        resolved(config)
    config.write_text('profiles = "x"\n')
    with pytest.raises(ConfigError, match=r"'profiles' in .* must be a table"):
        resolved(config)


def test_unknown_keys_and_profile_names(config: Path) -> None:
    from acp_cli.settings import file as config_file

    config.write_text('[profiles.default]\napi-url = "typo"\ntimeout = 3\n[profiles."a b"]\n')
    parsed = config_file.load(config)
    assert settings.unknown_keys(parsed, "default", config) == {"api-url": "typo"}
    assert settings.profile_names(parsed) == ["default", "a b"]
    assert settings.profile_names({"profiles": {"x": 1}}) == []
    assert settings.profile_names({"profiles": "x"}) == []


def test_parse_profile_value_checks_the_key_and_the_value() -> None:
    assert settings.parse_profile_value("api_url", "https://a.example.com/") == (
        "https://a.example.com"
    )
    with pytest.raises(ConfigError, match="Unknown config key 'api-url'") as caught:
        settings.parse_profile_value("api-url", "x")
    assert "api_url (API base URL" in (caught.value.hint or "")
    with pytest.raises(ConfigError, match=r'The timeout "soon" must be a positive number'):
        settings.parse_profile_value("timeout", "soon")


def test_environment_only_settings(tmp_path: Path) -> None:
    assert settings.env_value(settings.KEYRING_TIMEOUT, {}) == 5.0
    assert settings.env_value(settings.KEYRING_TIMEOUT, {"ACP_KEYRING_TIMEOUT": "0.5"}) == 0.5
    with pytest.raises(ConfigError, match=r"\(from ACP_KEYRING_TIMEOUT\)") as caught:
        settings.env_value(settings.KEYRING_TIMEOUT, {"ACP_KEYRING_TIMEOUT": "never"})
    assert caught.value.hint == "Fix or unset ACP_KEYRING_TIMEOUT."
    assert settings.cache_dir({"ACP_CACHE_DIR": str(tmp_path / "c")}) == tmp_path / "c"
    home = Path(os.environ["HOME"])
    assert settings.cache_dir({"ACP_CACHE_DIR": "~/c"}) == home / "c"


def test_the_default_cache_dir_is_the_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    assert settings.cache_dir({}) == platformdirs.user_cache_path("acp")
