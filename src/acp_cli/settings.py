"""Resolved settings for one run: flag > environment > config file > default."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from acp_cli import config_file
from acp_cli.errors import ConfigError
from acp_cli.retry import DEFAULT_DEADLINE

DEFAULT_PROFILE = "default"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where and how to talk to the API."""

    profile: str
    api_url: str
    """The base URL without a trailing slash, e.g. ``https://api.example.com``."""
    timeout: float
    """Seconds to wait for each answer and each write (the read and write timeouts)."""
    config_dir: Path
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    """Seconds to wait for a connection (never more than ``timeout``)."""
    deadline: float = DEFAULT_DEADLINE
    """Seconds for all attempts and retry waits of one command together."""
    ca_bundle: Path | None = None
    """A PEM file of CA certificates trusted on top of the default ones."""

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the API: the key a stored token belongs to."""
        return origin_of(self.api_url)


def profile_name(flag: str | None, env: Mapping[str, str]) -> str:
    """The active profile: ``--profile``, else ``ACP_PROFILE``, else ``default``."""
    return flag or env.get("ACP_PROFILE") or DEFAULT_PROFILE


def resolve(
    *,
    profile: str | None,
    api_url: str | None,
    env: Mapping[str, str],
    timeout: float | None = None,
    connect_timeout: float | None = None,
    deadline: float | None = None,
    ca_bundle: str | None = None,
) -> Settings:
    """Build the settings of this run from flags, the environment and the config file.

    The keyword arguments are the command's flags; None means not given.
    """
    name = profile_name(profile, env)
    folder = config_file.config_dir(env)
    path = config_file.config_path(folder)
    config = config_file.load(path)
    table = profile_table(config, name, path)

    url = api_url or env.get("ACP_API_URL") or table.get("api_url")
    if not url:
        raise ConfigError(
            f"No API URL is configured for profile '{name}'.",
            hint=(
                "Set one with `acp config set api_url https://api.example.com`"
                f"{'' if name == DEFAULT_PROFILE else f' --profile {name}'}, "
                "export ACP_API_URL, or pass --api-url."
            ),
        )
    if not isinstance(url, str):
        raise ConfigError(f"api_url in {path} [profiles.{name}] must be a string.")
    return Settings(
        profile=name,
        api_url=normalize_api_url(url),
        timeout=_seconds("timeout", timeout, table, path, name),
        config_dir=folder,
        connect_timeout=_seconds("connect_timeout", connect_timeout, table, path, name),
        deadline=_seconds("deadline", deadline, table, path, name),
        ca_bundle=_ca_bundle(ca_bundle, env, table, path, name),
    )


def profile_table(config: Mapping[str, Any], name: str, path: Path) -> Mapping[str, Any]:
    """The ``[profiles.NAME]`` table of a parsed config, empty when absent."""
    profiles = config.get("profiles", {})
    if not isinstance(profiles, Mapping):
        raise ConfigError(f"'profiles' in {path} must be a table.")
    table = profiles.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"[profiles.{name}] in {path} must be a table.")
    return table


def _seconds(
    key: str, flag: float | None, table: Mapping[str, Any], path: Path, name: str
) -> float:
    """A duration setting: the flag, else the profile's value, else the default."""
    if flag is not None:
        if not (math.isfinite(flag) and flag > 0):
            raise ConfigError(
                f"--{key.replace('_', '-')} must be a positive number of seconds, not {flag:g}."
            )
        return float(flag)
    value = table.get(key, PROFILE_KEYS[key].default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ConfigError(
            f"{key} in {path} [profiles.{name}] must be a positive number of seconds.",
            hint=f"Fix it with `acp config set {key} SECONDS`.",
        )
    return float(value)


def _ca_bundle(
    flag: str | None, env: Mapping[str, str], table: Mapping[str, Any], path: Path, name: str
) -> Path | None:
    """The extra CA file: ``--ca-bundle``, else ``ACP_CA_BUNDLE``, else the profile's."""
    if flag:
        value, source = flag, "--ca-bundle"
    elif env.get("ACP_CA_BUNDLE"):
        value, source = env["ACP_CA_BUNDLE"], "ACP_CA_BUNDLE"
    elif "ca_bundle" in table:
        value, source = table["ca_bundle"], f"ca_bundle in {path} [profiles.{name}]"
    else:
        return None
    bundle = Path(value).expanduser() if isinstance(value, str) and value.strip() else None
    if bundle is None or not bundle.is_file():
        raise ConfigError(
            f"The CA bundle {value!r} (from {source}) is not an existing file.",
            hint="Give the path of a PEM file holding the CA certificates to trust.",
        )
    return bundle


def normalize_api_url(url: str) -> str:
    """Check an API base URL and return it without a trailing slash.

    Plain ``http://`` is accepted only for loopback hosts, so a token never
    crosses a network in clear text.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(
            f"The API URL '{url}' is not an http(s) URL with a host.",
            hint="Use a URL such as https://api.example.com.",
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(
            f"The API URL '{url}' must not carry a query, a fragment or credentials.",
            hint="Give the base URL only, such as https://api.example.com.",
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"The API URL '{url}' has an invalid port.") from exc
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"Refusing plain http:// to {parts.hostname}: the token would cross the "
            "network unencrypted.",
            hint="Use https://, or http:// only with localhost, 127.0.0.1 or ::1.",
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


# --- the keys `acp config` knows ------------------------------------------------------


@dataclass(frozen=True)
class ProfileKey:
    """A setting of a ``[profiles.NAME]`` table that ``acp config`` reads and writes."""

    name: str
    description: str
    variable: str | None = None
    """The environment variable that overrides the file, if any."""
    default: Any = None
    """The value in force when nothing sets it."""


PROFILE_KEYS: Mapping[str, ProfileKey] = {
    key.name: key
    for key in (
        ProfileKey("api_url", "API base URL, e.g. https://api.example.com", "ACP_API_URL"),
        ProfileKey("ca_bundle", "extra CA certificates (a PEM file)", "ACP_CA_BUNDLE"),
        ProfileKey(
            "connect_timeout", "seconds to wait for a connection", None, DEFAULT_CONNECT_TIMEOUT
        ),
        ProfileKey("deadline", "seconds for all attempts and retries", None, DEFAULT_DEADLINE),
        ProfileKey("timeout", "seconds to wait for the API", None, DEFAULT_TIMEOUT),
    )
}


def parse_profile_value(key: str, text: str) -> str | int | float:
    """Check ``key`` and ``text`` as its value; return what to store in the file.

    ``api_url`` is normalised, ``timeout`` becomes a number and ``ca_bundle`` an
    absolute path, so the file means the same from any working directory.
    """
    if check_key(key) == "api_url":
        return normalize_api_url(text)
    if key in ("timeout", "connect_timeout", "deadline"):
        return _parse_seconds(key, text)
    if key == "ca_bundle":
        return _parse_ca_bundle(text)
    raise AssertionError(f"no parser for the known key {check_key(key)!r}")


def check_key(key: str) -> str:
    """``key`` when it is a known profile key; else a ConfigError listing the known ones."""
    if key not in PROFILE_KEYS:
        known = "; ".join(
            f"{name} ({PROFILE_KEYS[name].description})" for name in sorted(PROFILE_KEYS)
        )
        raise ConfigError(f"Unknown config key '{key}'.", hint=f"Known keys: {known}.")
    return key


def positive_seconds(text: str) -> int | float | None:
    """``text`` as a positive, finite number of seconds (an int when written as one), or None."""
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        return None
    if not (math.isfinite(value) and value > 0):
        return None
    return int(stripped) if stripped.isdigit() else value


def _parse_seconds(key: str, text: str) -> int | float:
    value = positive_seconds(text)
    if value is None:
        raise ConfigError(
            f"{key} must be a positive number of seconds, not '{text}'.",
            hint=f"For example: acp config set {key} 60",
        )
    return value


def _parse_ca_bundle(text: str) -> str:
    path = Path(text.strip()).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"ca_bundle must be the path of an existing file; '{text}' is not one.",
            hint="Give the path of a PEM file holding the CA certificates to trust.",
        )
    return str(path.resolve())


@dataclass(frozen=True)
class SourcedValue:
    """A profile setting as acp sees it, and what set it."""

    key: str
    value: Any
    """What is in force; None when nothing sets the key."""
    source: str
    """``flag``, ``environment``, ``file``, ``default`` or ``unset``."""
    detail: str | None = None
    """The flag or environment variable that set it, when one did."""


def profile_values(
    name: str,
    config: Mapping[str, Any],
    path: Path,
    env: Mapping[str, str],
    *,
    api_url_flag: str | None = None,
) -> list[SourcedValue]:
    """Every known key of profile ``name`` in force, flag > environment > file > default.

    Keys of the profile table that acp does not know come last, marked
    ``unknown``: they are ignored, and usually a typo.
    """
    table = profile_table(config, name, path)
    values = []
    for key in sorted(PROFILE_KEYS):
        spec = PROFILE_KEYS[key]
        if key == "api_url" and api_url_flag:
            values.append(SourcedValue(key, api_url_flag, "flag", "--api-url"))
        elif spec.variable and env.get(spec.variable):
            values.append(SourcedValue(key, env[spec.variable], "environment", spec.variable))
        elif key in table:
            values.append(SourcedValue(key, table[key], "file"))
        elif spec.default is not None:
            values.append(SourcedValue(key, spec.default, "default"))
        else:
            values.append(SourcedValue(key, None, "unset"))
    values += [SourcedValue(key, table[key], "unknown") for key in table if key not in PROFILE_KEYS]
    return values
