"""API URLs: the check of an API base URL (https, or http to this machine only) and
the origin a stored token belongs to."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from acp_cli.errors import ConfigError
from acp_cli.settings.values import InvalidValue, ValueType


class ApiUrl(ValueType):
    """An http(s) base URL, stored and used without a trailing slash."""

    example = "https://api.example.com"

    def check(self, value: Any) -> str:
        return checked_api_url(super().check(value))


def normalize_api_url(url: str) -> str:
    """Check an API base URL and return it without a trailing slash.

    Plain ``http://`` is accepted only for loopback hosts, so a token never
    crosses a network in clear text.
    """
    try:
        return checked_api_url(url)
    except InvalidValue as problem:
        raise ConfigError(f"The API URL '{url}' {problem.reason}.", hint=problem.hint) from None


def checked_api_url(url: str) -> str:
    """``url`` normalised (no trailing slash); InvalidValue saying what is wrong with it."""
    try:
        parts = urlsplit(url.strip())
        if "[" in parts.netloc:  # urlsplit lets "[v1.x]" through: only IPv6 goes in brackets
            _ipv6(parts.hostname or "")  # pragma: no mutate: `or ""` is for mypy, never taken
    except ValueError:
        raise InvalidValue(
            "has an invalid host", "Write an IPv6 address in brackets, such as https://[::1]:8443."
        ) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidValue(
            "is not an http(s) URL with a host", "Use a URL such as https://api.example.com."
        )
    # By the characters, not by urlsplit's fields: "https://@host" and "https://host#"
    # have empty fields, yet are not a plain base URL either.
    for extra, present in (
        ("a user name or password", "@" in parts.netloc),
        ("a query (?...)", "?" in url),
        ("a fragment (#...)", "#" in url),
    ):
        if present:
            raise InvalidValue(
                f"must not carry {extra}",
                "Give the base URL only, such as https://api.example.com.",
            )
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise InvalidValue("has an invalid port") from None
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InvalidValue(
            f"is refused: plain http:// to {parts.hostname} would carry the token across the "
            "network unencrypted",
            "Use https://, or http:// only with localhost, 127.0.0.1 or ::1.",
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost``, 127.0.0.0/8 or ``::1``."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        import ipaddress  # not at start-up: most runs never check a literal address

        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ipv6(host: str) -> str:
    """The compressed form of an IPv6 address; ValueError if ``host`` is not one."""
    import ipaddress  # not at start-up: only an IPv6 API URL needs it

    return ipaddress.IPv6Address(host).compressed


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a checked API URL: lower-cased, default ports
    (443, 80) dropped, an IPv6 address in its compressed form."""
    parts = urlsplit(url)
    host = parts.hostname or ""  # pragma: no mutate: a checked URL always has a host
    if ":" in host:
        # One IPv6 address has many spellings ([::1], [0:0::1], [::0001]): its
        # compressed form is the one the origin, and so the stored token, is keyed by.
        host = f"[{_ipv6(host)}]"
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"
