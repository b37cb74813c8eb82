"""acp_cli.settings: every message and hint whole, one table per error class.

Where a value comes from (flag, environment, file) decides the fix the hint
names; `acp config set` messages carry an example; the value types say what
they got. tests/settings/test_urls.py has the API URL rules.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from acp_cli import settings
from acp_cli.errors import ConfigError
from acp_cli.settings import InvalidValue
from tests.support.messages import refusal

SECONDS = "must be a positive number of seconds"
PEM_HINT = "Give the path of a PEM file holding the CA certificates to trust."


@pytest.fixture
def config(isolated_env: Path) -> Path:
    isolated_env.mkdir(parents=True, exist_ok=True)
    return isolated_env / "config.toml"


def resolve(**flags: Any) -> settings.Settings:
    """`settings.resolve` with the global options (profile, api_url) as keywords and the
    other flags (the network options) in its one ``flags`` mapping."""
    profile, api_url = flags.pop("profile", None), flags.pop("api_url", None)
    return settings.resolve(profile=profile, api_url=api_url, env=dict(os.environ), flags=flags)


@pytest.mark.parametrize(
    ("profile", "table", "message", "hint"),
    [
        (
            "default",
            'timeout = "30"',
            'The timeout "30" (from timeout in {path} [profiles.default]) '
            f"{SECONDS}, not a string.",
            "Fix it with `acp config set timeout 60`.",
        ),
        (
            "default",
            "deadline = -1",
            f"The deadline -1 (from deadline in {{path}} [profiles.default]) {SECONDS}.",
            "Fix it with `acp config set deadline 60`.",
        ),
        (
            "default",
            "connect_timeout = true",
            "The connect_timeout true (from connect_timeout in {path} [profiles.default]) "
            f"{SECONDS}, not a boolean.",
            "Fix it with `acp config set connect_timeout 60`.",
        ),
        (
            "default",
            'ca_bundle = "/nonexistent/ca.pem"',
            'The ca_bundle "/nonexistent/ca.pem" (from ca_bundle in {path} [profiles.default]) '
            "is not an existing file.",
            f"{PEM_HINT} Fix it with `acp config set ca_bundle ~/certs/company-ca.pem`.",
        ),
        (
            "default",
            "api_url = 443",
            "The api_url 443 (from api_url in {path} [profiles.default]) must be a string, "
            "not a number.",
            "Fix it with `acp config set api_url https://api.example.com`.",
        ),
        (
            "default",
            'api_url = "http://api.example.com"',
            'The api_url "http://api.example.com" (from api_url in {path} [profiles.default]) '
            "is refused: plain http:// to api.example.com would carry the token across the "
            "network unencrypted.",
            "Use https://, or http:// only with localhost, 127.0.0.1 or ::1. "
            "Fix it with `acp config set api_url https://api.example.com`.",
        ),
    ],
)
def test_an_invalid_file_value_names_where_it_is_and_the_command_that_fixes_it(
    config: Path, profile: str, table: str, message: str, hint: str
) -> None:
    url = "" if table.startswith("api_url") else 'api_url = "https://api.example.com"\n'
    config.write_text(f"[profiles.{profile}]\n{url}{table}\n")
    assert refusal(resolve, ConfigError) == (message.format(path=config), hint)


@pytest.mark.parametrize(
    ("variable", "value", "message", "hint"),
    [
        (
            "ACP_API_URL",
            "ftp://x",
            'The api_url "ftp://x" (from ACP_API_URL) is not an http(s) URL with a host.',
            "Use a URL such as https://api.example.com. Fix or unset ACP_API_URL.",
        ),
        (
            "ACP_CA_BUNDLE",
            "/nonexistent/ca.pem",
            'The ca_bundle "/nonexistent/ca.pem" (from ACP_CA_BUNDLE) is not an existing file.',
            f"{PEM_HINT} Fix or unset ACP_CA_BUNDLE.",
        ),
        (
            "ACP_PROFILE",
            None,
            None,
            None,
        ),
    ],
)
def test_an_invalid_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None, message: str | None,
    hint: str | None,
) -> None:  # fmt: skip
    if value is None:  # an empty variable is not given
        monkeypatch.setenv(variable, "")
        monkeypatch.setenv("ACP_API_URL", "https://api.example.com")
        assert resolve().profile == "default"
        return
    monkeypatch.setenv("ACP_API_URL", "https://api.example.com")
    monkeypatch.setenv(variable, value)
    assert refusal(resolve, ConfigError) == (message, hint)


@pytest.mark.parametrize(
    ("flags", "message", "hint"),
    [
        (
            {"timeout": -1.0},
            f"The timeout -1 (from --timeout) {SECONDS}.",
            "Fix or unset --timeout.",
        ),
        (
            {"deadline": float("inf")},
            f"The deadline inf (from --deadline) {SECONDS}.",
            "Fix or unset --deadline.",
        ),
        (
            {"ca_bundle": ""},
            'The ca_bundle "" (from --ca-bundle) must be the path of a file, not a string.',
            f"{PEM_HINT} Fix or unset --ca-bundle.",
        ),
        (
            {"api_url": "https://u@api.example.com"},
            'The api_url "https://u@api.example.com" (from --api-url) must not carry a user '
            "name or password.",
            "Give the base URL only, such as https://api.example.com. Fix or unset --api-url.",
        ),
        (
            {"profile": ""},
            'The profile "" (from --profile) must not be empty.',
            "Fix or unset --profile.",
        ),
    ],
)
def test_an_invalid_flag_names_the_flag(
    config: Path, flags: dict[str, Any], message: str, hint: str
) -> None:
    assert refusal(
        lambda: resolve(**{"api_url": "https://api.example.com", **flags}), ConfigError
    ) == (message, hint)


@pytest.mark.parametrize(
    ("profile", "hint"),
    [
        (
            None,
            "Set one with `acp config set api_url https://api.example.com`, export "
            "ACP_API_URL, or pass --api-url.",
        ),
    ],
)
def test_no_api_url_says_every_way_to_give_one(
    config: Path, profile: str | None, hint: str
) -> None:
    name = profile or "default"
    assert refusal(lambda: resolve(profile=profile), ConfigError) == (
        f"No API URL is configured for profile '{name}'.",
        hint,
    )


@pytest.mark.parametrize(
    ("key", "text", "message", "hint"),
    [
        (
            "timeout",
            "soon",
            f'The timeout "soon" {SECONDS}.',
            "For example: `acp config set timeout 60`.",
        ),
        (
            "connect_timeout",
            "0",
            f'The connect_timeout "0" {SECONDS}.',
            "For example: `acp config set connect_timeout 60`.",
        ),
        (
            "ca_bundle",
            "/nonexistent/ca.pem",
            'The ca_bundle "/nonexistent/ca.pem" is not an existing file.',
            f"{PEM_HINT} For example: `acp config set ca_bundle ~/certs/company-ca.pem`.",
        ),
        (
            "api_url",
            "http://api.example.com",
            'The api_url "http://api.example.com" is refused: plain http:// to '
            "api.example.com would carry the token across the network unencrypted.",
            "Use https://, or http:// only with localhost, 127.0.0.1 or ::1. "
            "For example: `acp config set api_url https://api.example.com`.",
        ),
        (
            "token",
            "x",
            "Unknown config key 'token'.",
            "Known keys: api_url (API base URL, e.g. https://api.example.com); ca_bundle "
            "(extra CA certificates (a PEM file)); connect_timeout (seconds to wait for a "
            "connection); deadline (seconds for all attempts and retries); timeout (seconds "
            "to wait for the API).",
        ),
    ],
)
def test_acp_config_set_refuses_with_an_example(
    key: str, text: str, message: str, hint: str
) -> None:
    assert refusal(lambda: settings.parse_profile_value(key, text), ConfigError) == (message, hint)


@pytest.mark.parametrize(
    ("key", "text", "stored"),
    [
        ("timeout", " 45 ", 45),
        ("deadline", "2.5", 2.5),
        ("api_url", "https://api.example.com/v1/", "https://api.example.com/v1"),
    ],
)
def test_acp_config_set_stores_the_checked_value(key: str, text: str, stored: Any) -> None:
    value = settings.parse_profile_value(key, text)
    assert (value, type(value)) == (stored, type(stored))


@pytest.mark.parametrize(
    ("value", "kind", "toml"),
    [
        ("30", "a string", '"30"'),
        ("é", "a string", '"é"'),
        (True, "a boolean", "true"),
        (False, "a boolean", "false"),
        (30, "a number", "30"),
        (2.5, "a number", "2.5"),
        (float("nan"), "a number", "nan"),
        ({"a": 1}, "a table", "a table"),
        ([1], "an array", "an array"),
        ((1,), "an array", "an array"),
        (date(2024, 1, 2), "a date or time", "a date or time"),
        (datetime(2024, 1, 2, 3, 4), "a date or time", "a date or time"),
        (time(3, 4), "a date or time", "a date or time"),
        (None, "NoneType", "NoneType"),
        (Path("/x y"), "PosixPath", '"/x y"'),
    ],
)
def test_values_are_described_by_their_toml_type(value: Any, kind: str, toml: str) -> None:
    assert (settings.described(value), settings.as_toml(value)) == (kind, toml)


@pytest.mark.parametrize(
    ("setting", "value", "reason", "hint"),
    [
        (settings.DEVICE_ID, "", "must be printable ASCII without spaces", None),
        (settings.DEVICE_ID, "a\x7fb", "must be printable ASCII without spaces", None),
        (settings.DEVICE_ID, 5, "must be a string, not a number", None),
        (settings.TOKEN, "", "must not be empty", None),
        (settings.CA_BUNDLE, 5, "must be the path of a file, not a number", PEM_HINT),
        (settings.CA_BUNDLE, "  ", "must be the path of a file, not a string", PEM_HINT),
        (settings.CONFIG_DIR, [], "must be a string, not an array", None),
        (settings.TIMEOUT, "30", f"{SECONDS}, not a string", None),
        (settings.TIMEOUT, 0, SECONDS, None),
        (settings.TIMEOUT, float("-inf"), SECONDS, None),
    ],
)
def test_each_value_type_says_what_it_got(
    setting: settings.Setting, value: Any, reason: str, hint: str | None
) -> None:
    with pytest.raises(InvalidValue) as caught:
        setting.type.check(value)
    assert (caught.value.reason, caught.value.hint, str(caught.value)) == (reason, hint, reason)


def test_the_checked_values_of_the_value_types(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("")
    assert settings.CA_BUNDLE.type.check(pem) == pem
    assert settings.CONFIG_DIR.type.check("~/acp") == Path.home() / "acp"
    assert settings.DEVICE_ID.type.check("ci-runner-7") == "ci-runner-7"
    assert settings.TIMEOUT.type.check(3) == 3.0
    assert settings.TIMEOUT.type.parse("3") == 3.0


@pytest.mark.parametrize(
    ("variable", "value", "message", "hint"),
    [
        (
            "ACP_KEYRING_TIMEOUT",
            "soon",
            f'The keyring_timeout "soon" (from ACP_KEYRING_TIMEOUT) {SECONDS}.',
            "Fix or unset ACP_KEYRING_TIMEOUT.",
        ),
        (
            "ACP_DEVICE_ID",
            "a b",
            'The device_id "a b" (from ACP_DEVICE_ID) must be printable ASCII without spaces.',
            "Fix or unset ACP_DEVICE_ID.",
        ),
    ],
)
def test_an_environment_only_setting_names_its_variable(
    variable: str, value: str, message: str, hint: str
) -> None:
    setting = next(s for s in settings.SETTINGS.values() if s.variable == variable)
    assert refusal(lambda: settings.env_value(setting, {variable: value}), ConfigError) == (
        message,
        hint,
    )
    assert settings.env_value(setting, {}) == setting.default


@pytest.mark.parametrize(
    ("text", "show"),
    [('profiles = "x"\n', "'profiles'"), ("[profiles]\ndefault = 1\n", "[profiles.default]")],
)
def test_a_profile_that_is_not_a_table_is_named_with_its_file(
    config: Path, text: str, show: str
) -> None:
    config.write_text(text)
    from acp_cli.settings import file as config_file

    data = config_file.load(config)
    for read in (
        lambda: settings.resolve_values("default", data, config, {}),
        lambda: settings.unknown_keys(data, "default", config),
    ):
        message, _ = refusal(read, ConfigError)
        assert message.startswith(f"{show} in {config} ")
