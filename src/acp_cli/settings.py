"""Every setting of acp, declared once, and the one resolution of their values.

A `Setting` holds everything about one setting: its name, its type (how text
becomes a value and how a value from the config file is checked), its
environment variable, whether it is a key of a ``[profiles.NAME]`` table, its
flag, its default and its help. Resolution (`resolve_values`, `resolve`),
``acp config``, the help of the options (`Setting.option_help`) and the man
page all read this registry, so an ``ACP_*`` name or a profile key is spelled
once, here.

Precedence, for every setting: flag > environment > config file > default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from acp_cli.errors import ConfigError
from acp_cli.retry import DEFAULT_DEADLINE, SCALE_VARIABLE

DEFAULT_PROFILE = "default"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_KEYRING_TIMEOUT = 5.0


# --- value types: text to value, and the check of a value from the file ------------------


class InvalidValue(ValueError):
    """A value a setting cannot take.

    ``reason`` completes a sentence whose subject is the value, e.g. "must be a
    positive number of seconds, not a string".
    """

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


class ValueType:
    """How one kind of setting is read: from text (flag, environment, ``acp config set``)
    and from a parsed TOML value (the config file)."""

    example = "VALUE"
    """A value to show in hints: ``acp config set KEY EXAMPLE``."""

    def parse(self, text: str) -> Any:
        """The value in force for ``text``; InvalidValue when it cannot be one."""
        return self.check(text)

    def check(self, value: Any) -> Any:
        """The value in force for a value read from the config file (any TOML type)."""
        if not isinstance(value, str):
            raise InvalidValue(f"must be a string, not {described(value)}")
        return value

    def stored(self, text: str) -> Any:
        """What ``acp config set`` writes in the file for ``text``."""
        return self.parse(text)


class Seconds(ValueType):
    """A positive, finite number of seconds."""

    example = "60"
    reason = "must be a positive number of seconds"

    def parse(self, text: str) -> float:
        return float(self.stored(text))

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(f"{self.reason}, not {described(value)}")
        if not (math.isfinite(value) and value > 0):
            raise InvalidValue(self.reason)
        return float(value)

    def stored(self, text: str) -> int | float:
        value = positive_seconds(text)
        if value is None:
            raise InvalidValue(self.reason)
        return value


class ApiUrl(ValueType):
    """An http(s) base URL, stored and used without a trailing slash."""

    example = "https://api.example.com"

    def check(self, value: Any) -> str:
        return checked_api_url(super().check(value))


class ExistingFile(ValueType):
    """The path of an existing file; ``~`` is expanded."""

    def __init__(self, example: str, hint: str) -> None:
        # Run at import only, where mutmut's mutants never apply (CONTRIBUTING.md);
        # tests/test_setting_messages.py asserts the example and the hint whole.
        self.example = example  # pragma: no mutate
        self.hint = hint  # pragma: no mutate
        """What to give instead, said with every refusal."""

    def check(self, value: Any) -> Path:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value.strip():
            raise InvalidValue(f"must be the path of a file, not {described(value)}", self.hint)
        path = Path(value).expanduser()
        if not path.is_file():
            raise InvalidValue("is not an existing file", self.hint)
        return path

    def stored(self, text: str) -> str:
        # Absolute, so the file means the same from any working directory.
        return str(self.check(text.strip()).resolve())


class Folder(ValueType):
    """A folder path; ``~`` is expanded. It need not exist yet."""

    example = "~/.config/acp"

    def check(self, value: Any) -> Path:
        return Path(super().check(value)).expanduser()


class HeaderValue(ValueType):
    """Text sent as an HTTP header value as it is: printable ASCII without spaces."""

    def check(self, value: Any) -> str:
        text = str(super().check(value))
        if not (text and text.isascii() and text.isprintable() and " " not in text):
            raise InvalidValue("must be printable ASCII without spaces")
        return text


class Text(ValueType):
    """Any non-empty text; its meaning is checked where it is used."""

    def check(self, value: Any) -> str:
        text = str(super().check(value))
        if not text:
            raise InvalidValue("must not be empty")
        return text


def described(value: Any) -> str:
    """The TOML type of ``value`` as a reason names it: ``a string``, ``a boolean``."""
    from datetime import date, time  # not at start-up: only an invalid value needs it

    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (str, "a string"),
        (bool, "a boolean"),
        ((int, float), "a number"),
        (Mapping, "a table"),
        ((list, tuple), "an array"),
        ((date, time), "a date or time"),
    )
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def as_toml(value: Any) -> str:
    """A value as TOML would write it, for messages: ``"30"``, ``true``, ``30``, ``inf``."""
    if isinstance(value, str | os.PathLike):
        import json  # not at start-up: only messages about a value need it

        return json.dumps(os.fspath(value), ensure_ascii=False)  # pragma: no mutate: None is False
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}"
    return described(value)


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


# --- the registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting: everything resolution, ``acp config``, help and the man page need."""

    name: str
    """What the setting is called; also its key in ``[profiles.NAME]`` when ``profile_key``."""
    help: str
    """What it is, as a sentence: the help of its flag and its entry in the man page."""
    type: ValueType
    summary: str = ""
    """A short phrase for lists of keys (``acp config``'s "Known keys")."""
    variable: str | None = None
    """The environment variable that sets it, if any."""
    profile_key: bool = False
    """Whether it is a key of the ``[profiles.NAME]`` tables of config.toml."""
    flag: str | None = None
    """The command-line option that sets it, if any."""
    default: Any = None
    """The value in force when nothing sets it (None: unset)."""
    default_text: str | None = None
    """How help shows the default when it is not the value itself."""

    def default_help(self) -> str:
        """Where the value comes from when the flag is not given, as option help shows it:
        ``(default: $ACP_API_URL, else the profile's api_url)``."""
        places = []
        if self.variable:
            places.append(f"${self.variable}")
        if self.profile_key:
            places.append(f"the profile's {self.name}")
        if self.default_text or self.default is not None:
            places.append(self.default_text or f"{self.default:g}")
        return f"(default: {', else '.join(places)})"

    @property
    def option_help(self) -> str:
        """The help text of the setting's flag: what it is, then where its default comes from."""
        return f"{self.help} {self.default_help()}"


_SECONDS = Seconds()

TOKEN = Setting(
    "token",
    "The API token. When set it wins over the system keyring and the credentials file, "
    "and the keyring is not touched at all: the usual way to give acp a token in CI. "
    "There is no option for the token, as command lines leak into shell history and "
    "process lists.",
    Text(),
    variable="ACP_TOKEN",
)
PROFILE = Setting(
    "profile",
    "Config profile to use.",
    Text(),
    variable="ACP_PROFILE",
    flag="--profile",
    default=DEFAULT_PROFILE,
    default_text=f"'{DEFAULT_PROFILE}'",
)
API_URL = Setting(
    "api_url",
    "API base URL, e.g. https://api.example.com.",
    ApiUrl(),
    summary="API base URL, e.g. https://api.example.com",
    variable="ACP_API_URL",
    profile_key=True,
    flag="--api-url",
)
CA_BUNDLE = Setting(
    "ca_bundle",
    "A PEM file of CA certificates to trust besides the default ones.",
    ExistingFile(
        "~/certs/company-ca.pem",
        "Give the path of a PEM file holding the CA certificates to trust.",
    ),
    summary="extra CA certificates (a PEM file)",
    variable="ACP_CA_BUNDLE",
    profile_key=True,
    flag="--ca-bundle",
)
TIMEOUT = Setting(
    "timeout",
    "Seconds to wait for each answer and each write; a large plan adds one second per MiB "
    "to the wait for the answer.",
    _SECONDS,
    summary="seconds to wait for the API",
    profile_key=True,
    flag="--timeout",
    default=DEFAULT_TIMEOUT,
)
CONNECT_TIMEOUT = Setting(
    "connect_timeout",
    "Seconds to wait for a connection.",
    _SECONDS,
    summary="seconds to wait for a connection",
    profile_key=True,
    flag="--connect-timeout",
    default=DEFAULT_CONNECT_TIMEOUT,
)
DEADLINE = Setting(
    "deadline",
    "Seconds for all attempts and retry waits together.",
    _SECONDS,
    summary="seconds for all attempts and retries",
    profile_key=True,
    flag="--deadline",
    default=DEFAULT_DEADLINE,
)
CONFIG_DIR = Setting(
    "config_dir",
    "The folder that holds config.toml and credentials.toml, instead of the platform's "
    "config folder (see FILES).",
    Folder(),
    variable="ACP_CONFIG_DIR",
)
CACHE_DIR = Setting(
    "cache_dir",
    "The folder for acp's caches (the file hashes of each workspace planned, so that "
    "acp push plan re-hashes only what changed), instead of the platform's cache "
    "folder (see FILES).",
    Folder(),
    variable="ACP_CACHE_DIR",
)
DEVICE_ID = Setting(
    "device_id",
    "The device ID sent in the ACP-Device-Id header, instead of the one stored as "
    "device_id in config.toml (a random UUID created on first need).",
    HeaderValue(),
    variable="ACP_DEVICE_ID",
)
KEYRING_TIMEOUT = Setting(
    "keyring_timeout",
    "How many seconds to wait for the system keyring before giving up with a message.",
    _SECONDS,
    variable="ACP_KEYRING_TIMEOUT",
    default=DEFAULT_KEYRING_TIMEOUT,
)
RETRY_SCALE = Setting(
    "retry_scale",
    "A number from 0 to 1 that scales the waits between retries, for test suites "
    "(0: retry at once). Every decision is taken on the real wait.",
    Text(),  # read by acp_cli.retry.scale_from_env, which owns its range check
    variable=SCALE_VARIABLE,
    default=1.0,
)

SETTINGS: Mapping[str, Setting] = {
    setting.name: setting
    for setting in (
        TOKEN,
        API_URL,
        PROFILE,
        CONFIG_DIR,
        CACHE_DIR,
        DEVICE_ID,
        CA_BUNDLE,
        TIMEOUT,
        CONNECT_TIMEOUT,
        DEADLINE,
        KEYRING_TIMEOUT,
        RETRY_SCALE,
    )
}
"""Every setting, in the order the man page lists them."""

PROFILE_KEYS: Mapping[str, Setting] = {
    name: SETTINGS[name] for name in sorted(SETTINGS) if SETTINGS[name].profile_key
}
"""The settings a ``[profiles.NAME]`` table holds, by key, sorted: what ``acp config`` edits."""

DEVICE_ID_KEY = DEVICE_ID.name
"""The top-level key of config.toml that stores this machine's device ID."""

PROFILES_TABLE = "profiles"
"""The table of config.toml whose sub-tables are the profiles: ``[profiles.NAME]``."""


# --- resolution ------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Resolved:
    """One setting as acp sees it: the value in force, what set it, and whether it is valid."""

    setting: Setting
    value: Any
    """The checked value in force; the raw value when invalid; None when nothing sets it."""
    source: str
    """``flag``, ``environment``, ``file``, ``default`` or ``unset``."""
    origin: str | None = None
    """Where exactly: ``--timeout``, ``ACP_API_URL``, ``timeout in PATH [profiles.NAME]``."""
    problem: InvalidValue | None = None
    """Why the value cannot be used; None when it can."""

    def error(self) -> ConfigError:
        """The error to raise for an invalid value: what, from where, why, and the fix."""
        assert self.problem is not None
        setting = self.setting
        if self.source == "file":
            fix = f"Fix it with `acp config set {setting.name} {setting.type.example}`."
        else:
            fix = f"Fix or unset {self.origin}."
        return ConfigError(
            f"The {setting.name} {as_toml(self.value)} (from {self.origin}) {self.problem.reason}.",
            hint=f"{self.problem.hint} {fix}" if self.problem.hint else fix,
        )


def resolved_value(
    setting: Setting,
    env: Mapping[str, str],
    *,
    flag: Any = None,
    table: Mapping[str, Any] | None = None,
    where: str | None = None,
) -> Resolved:
    """The value of ``setting`` in force: ``flag`` (None: not given) > its environment
    variable (unset or empty: not given) > ``table`` (its profile table or the file's
    top level, named ``where``) > its default. The value is checked, never raised about:
    an invalid one comes back with its ``problem``."""
    if flag is not None:
        return _checked(setting, flag, "flag", setting.flag, setting.type.check)
    text = setting.variable and env.get(setting.variable)
    if text:
        return _checked(setting, text, "environment", setting.variable, setting.type.parse)
    if table is not None and setting.name in table:
        origin = f"{setting.name} in {where}"
        return _checked(setting, table[setting.name], "file", origin, setting.type.check)
    if setting.default is not None:
        return Resolved(setting, setting.default, "default")
    return Resolved(setting, None, "unset")


def _checked(setting: Setting, raw: Any, source: str, origin: str | None, check: Any) -> Resolved:
    try:
        return Resolved(setting, check(raw), source, origin)
    except InvalidValue as problem:
        return Resolved(setting, raw, source, origin, problem)


def resolve_values(
    name: str,
    config: Mapping[str, Any],
    path: Path,
    env: Mapping[str, str],
    flags: Mapping[str, Any] | None = None,
) -> list[Resolved]:
    """Every profile key of profile ``name`` in force, sorted by key, valid or not.

    ``flags`` maps a profile key to its flag's value (None: not given). This is
    the one resolution: `resolve` raises on the first invalid value, ``acp config
    list`` shows them all.
    """
    table = profile_table(config, name, path)
    where = f"{path} [{PROFILES_TABLE}.{name}]"
    flags = flags or {}
    return [
        resolved_value(setting, env, flag=flags.get(key), table=table, where=where)
        for key, setting in PROFILE_KEYS.items()
    ]


def unknown_keys(config: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    """The keys of profile ``name`` that acp does not know (ignored; usually a typo)."""
    table = profile_table(config, name, path)
    return {key: value for key, value in table.items() if key not in PROFILE_KEYS}


def profile_name(flag: str | None, env: Mapping[str, str]) -> str:
    """The active profile: ``--profile``, else ``ACP_PROFILE``, else ``default``.

    An empty ``--profile ""`` is refused rather than read as "not given".
    """
    found = resolved_value(PROFILE, env, flag=flag)
    if found.problem is not None:
        raise found.error()
    return str(found.value)


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

    The keyword arguments are the command's flags; None means not given. The
    first invalid value, wherever it comes from, is a ConfigError.
    """
    from acp_cli import config_file

    name = profile_name(profile, env)
    folder = config_file.config_dir(env)
    path = config_file.config_path(folder)
    flags = {
        API_URL.name: api_url,
        TIMEOUT.name: timeout,
        CONNECT_TIMEOUT.name: connect_timeout,
        DEADLINE.name: deadline,
        CA_BUNDLE.name: ca_bundle,
    }
    values = {
        item.setting.name: item
        for item in resolve_values(name, config_file.load(path), path, env, flags)
    }
    for item in values.values():
        if item.problem is not None:
            raise item.error()
    url = values[API_URL.name].value
    if url is None:
        raise ConfigError(
            f"No API URL is configured for profile '{name}'.",
            hint=(
                f"Set one with `acp config set {API_URL.name} {API_URL.type.example}`"
                f"{'' if name == DEFAULT_PROFILE else f' --profile {name}'}, "
                f"export {API_URL.variable}, or pass {API_URL.flag}."
            ),
        )
    return Settings(
        profile=name,
        api_url=url,
        timeout=values[TIMEOUT.name].value,
        config_dir=folder,
        connect_timeout=values[CONNECT_TIMEOUT.name].value,
        deadline=values[DEADLINE.name].value,
        ca_bundle=values[CA_BUNDLE.name].value,
    )


def env_value(setting: Setting, env: Mapping[str, str]) -> Any:
    """The value of an environment-only ``setting`` (its variable, else its default);
    a ConfigError naming the variable when the value is invalid."""
    found = resolved_value(setting, env)
    if found.problem is not None:
        raise found.error()
    return found.value


def cache_dir(env: Mapping[str, str]) -> Path:
    """The folder for acp's caches: ``ACP_CACHE_DIR``, else the platform's cache folder."""
    folder = env_value(CACHE_DIR, env)
    if folder is not None:
        return Path(folder)
    import platformdirs  # not at start-up: most runs never cache anything

    return platformdirs.user_cache_path("acp")


def profile_table(config: Mapping[str, Any], name: str, path: Path) -> Mapping[str, Any]:
    """The ``[profiles.NAME]`` table of a parsed config, empty when absent."""
    profiles = config.get(PROFILES_TABLE, {})
    if not isinstance(profiles, Mapping):
        raise ConfigError(f"'{PROFILES_TABLE}' in {path} must be a table.")
    table = profiles.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{PROFILES_TABLE}.{name}] in {path} must be a table.")
    return table


def profile_names(config: Mapping[str, Any]) -> list[str]:
    """The names of the profiles of a parsed config (tables only), in file order."""
    profiles = config.get(PROFILES_TABLE)
    if not isinstance(profiles, Mapping):
        return []
    return [name for name, table in profiles.items() if isinstance(table, Mapping)]


# --- the keys `acp config` edits ---------------------------------------------------------------


def check_key(key: str) -> Setting:
    """The profile setting called ``key``; else a ConfigError listing the known ones."""
    setting = PROFILE_KEYS.get(key)
    if setting is None:
        known = "; ".join(f"{name} ({item.summary})" for name, item in PROFILE_KEYS.items())
        raise ConfigError(f"Unknown config key '{key}'.", hint=f"Known keys: {known}.")
    return setting


def parse_profile_value(key: str, text: str) -> Any:
    """Check ``key`` and ``text`` as its value; return what to store in the file.

    ``api_url`` is normalised, a duration becomes a number and ``ca_bundle`` an
    absolute path, so the file means the same from any working directory.
    """
    setting = check_key(key)
    try:
        return setting.type.stored(text)
    except InvalidValue as problem:
        example = f"For example: acp config set {key} {setting.type.example}"
        raise ConfigError(
            f"The {key} {as_toml(text)} {problem.reason}.",
            hint=f"{problem.hint} {example}" if problem.hint else example,
        ) from None


# --- API URLs ----------------------------------------------------------------------------------


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
