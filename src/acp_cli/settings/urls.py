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
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidValue(
            "is not an http(s) URL with a host", "Use a URL such as https://api.example.com."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidValue(
            "must not carry a query, a fragment or credentials",
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


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"
