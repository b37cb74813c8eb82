"""The API URL rules: what is refused, how it is normalised, and which spellings
name one origin (the key a stored token belongs to)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acp_cli.errors import ConfigError
from acp_cli.settings import API_URL, InvalidValue, normalize_api_url, origin_of
from tests.support.cli_runner import TOKEN, run_acp

BASE_ONLY = "Give the base URL only, such as https://api.example.com."
WITH_HOST = "Use a URL such as https://api.example.com."
IN_BRACKETS = "Write an IPv6 address in brackets, such as https://[::1]:8443."
LOOPBACK_ONLY = "Use https://, or http:// only with localhost, 127.0.0.1 or ::1."
FILE_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}


@pytest.mark.parametrize(
    ("url", "reason", "hint"),
    [
        ("ftp://api.example.com", "is not an http(s) URL with a host", WITH_HOST),
        ("https://", "is not an http(s) URL with a host", WITH_HOST),
        ("api.example.com", "is not an http(s) URL with a host", WITH_HOST),
        ("https://u:p@api.example.com", "must not carry a user name or password", BASE_ONLY),
        ("https://u@api.example.com", "must not carry a user name or password", BASE_ONLY),
        ("https://:p@api.example.com", "must not carry a user name or password", BASE_ONLY),
        ("https://@api.example.com", "must not carry a user name or password", BASE_ONLY),
        ("https://api.example.com#x", "must not carry a fragment (#...)", BASE_ONLY),
        ("https://api.example.com/v1#", "must not carry a fragment (#...)", BASE_ONLY),
        ("https://api.example.com?x=1", "must not carry a query (?...)", BASE_ONLY),
        ("https://api.example.com?", "must not carry a query (?...)", BASE_ONLY),
        ("https://[zzz]", "has an invalid host", IN_BRACKETS),
        ("https://[v1.x]", "has an invalid host", IN_BRACKETS),
        ("https://[::1", "has an invalid host", IN_BRACKETS),
        ("https://api.example.com:99999", "has an invalid port", None),
        ("https://api.example.com:x", "has an invalid port", None),
        (
            "http://api.example.com",
            "is refused: plain http:// to api.example.com would carry the token across the "
            "network unencrypted",
            LOOPBACK_ONLY,
        ),
        (
            "http://10.0.0.1:80",
            "is refused: plain http:// to 10.0.0.1 would carry the token across the "
            "network unencrypted",
            LOOPBACK_ONLY,
        ),
    ],
)
def test_a_refused_api_url_says_what_is_wrong_and_what_to_write(
    url: str, reason: str, hint: str | None
) -> None:
    with pytest.raises(InvalidValue) as caught:
        API_URL.type.check(url)
    assert (caught.value.reason, caught.value.hint) == (reason, hint)
    with pytest.raises(ConfigError) as error:
        normalize_api_url(url)
    assert (error.value.message, error.value.hint) == (f"The API URL '{url}' {reason}.", hint)


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://api.example.com/", "https://api.example.com"),
        (" https://api.example.com/v1/ ", "https://api.example.com/v1"),
        ("https://api.example.com/X//", "https://api.example.com/X"),
        ("https://api.example.com/a@b", "https://api.example.com/a@b"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://localhost.", "http://localhost."),
        ("http://LOCALHOST", "http://LOCALHOST"),
        ("http://127.0.0.2", "http://127.0.0.2"),
        ("http://[::1]:9", "http://[::1]:9"),
        ("http://[0:0::1]", "http://[0:0::1]"),
    ],
)
def test_an_accepted_api_url_is_normalised(url: str, normalised: str) -> None:
    assert API_URL.type.check(url) == normalised


@pytest.mark.parametrize(
    ("spellings", "origin"),
    [
        (
            [
                "https://api.example.com",
                "https://API.example.com:443/v1",
                "HTTPS://api.example.com:0443",
            ],
            "https://api.example.com",
        ),
        (
            ["https://api.example.com:8443", "https://api.example.com:8443/v2"],
            "https://api.example.com:8443",
        ),
        (["http://localhost", "http://localhost:80/", "http://Localhost:80/x"], "http://localhost"),
        (["http://localhost:443"], "http://localhost:443"),
        (["https://localhost:80"], "https://localhost:80"),
        (
            ["https://[::1]", "https://[::1]:443", "https://[0:0:0:0:0:0:0:1]", "https://[::0001]"],
            "https://[::1]",
        ),
        (
            ["https://[2001:DB8::1]:8443", "https://[2001:db8:0::1]:8443/v1"],
            "https://[2001:db8::1]:8443",
        ),
    ],
)
def test_spellings_of_one_server_are_one_origin(spellings: list[str], origin: str) -> None:
    assert {origin_of(API_URL.type.check(url)) for url in spellings} == {origin}


@pytest.mark.usefixtures("isolated_env")
@pytest.mark.parametrize(
    ("stored_for", "asked_for"),
    [
        ("https://api.example.com", "https://api.example.com:443/v1"),
        ("https://API.example.com:443", "https://api.example.com"),
        ("http://[::1]:80", "http://[0:0::1]"),
    ],
)
def test_a_token_stored_for_one_spelling_is_found_with_another(
    stored_for: str, asked_for: str, tmp_path: Path
) -> None:
    login = run_acp(
        "auth",
        "login",
        "--with-token",
        "--api-url",
        stored_for,
        stdin=TOKEN + "\n",
        env=FILE_KEYRING,
    )
    assert login.code == 0, login.stderr
    token = run_acp("auth", "token", "--api-url", asked_for, env=FILE_KEYRING)
    assert (token.code, token.stdout) == (0, TOKEN + "\n")
    other = run_acp("auth", "token", "--api-url", "https://api.example.com:8443", env=FILE_KEYRING)
    assert (other.code, other.stdout) == (3, "")
