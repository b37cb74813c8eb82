"""Every setting of acp, declared once, and how one setting's value is found.

A `Setting` holds everything about one setting: its name, its type (how text
becomes a value and how a value from the config file is checked), its
environment variable, whether it is a key of a ``[profiles.NAME]`` table, its
flag, its default and its help. Resolution (`acp_cli.settings.resolve`),
``acp config``, the options of the commands (`acp_cli.cli.options`) and the man
page all read this registry, so an ``ACP_*`` name or a profile key is spelled
once, here. Nothing here reads a file.

Precedence, for every setting: flag > environment > config file > default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acp_cli.errors import ConfigError
from acp_cli.retry import DEFAULT_DEADLINE, SCALE_VARIABLE
from acp_cli.settings.urls import ApiUrl
from acp_cli.settings.values import (
    Count,
    ExistingFile,
    Folder,
    HeaderValue,
    InvalidValue,
    Seconds,
    Text,
    ValueType,
    as_toml,
)

DEFAULT_PROFILE = "default"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_KEYRING_TIMEOUT = 5.0


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
LARGE_PLAN_FILES = Setting(
    "large_plan_files",
    "A plan of more files than this is unusually large: acp push plan and prepare --dir "
    "warn about it, naming the largest files and folders (-q: no warning).",
    Count(),
    variable="ACP_LARGE_PLAN_FILES",
    default=50_000,
)
LARGE_PLAN_BYTES = Setting(
    "large_plan_bytes",
    "A plan of more bytes than this is unusually large, as for large_plan_files.",
    Count(),
    variable="ACP_LARGE_PLAN_BYTES",
    default=1 << 30,
    default_text="1 GiB",
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
        LARGE_PLAN_FILES,
        LARGE_PLAN_BYTES,
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

NETWORK: tuple[Setting, ...] = (TIMEOUT, CONNECT_TIMEOUT, DEADLINE, CA_BUNDLE)
"""The settings of how to reach the API that each command that sends has a flag for
(``--timeout``...): the network options, in the order help lists them."""


# --- one setting's value --------------------------------------------------------------------


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

    def checked(self) -> Any:
        """The value in force (None: nothing sets it); a ConfigError when it is invalid,
        saying what, from where, why, and the fix."""
        if self.problem is None:
            return self.value
        setting = self.setting
        if self.source == "file":
            fix = f"Fix it with `acp config set {setting.name} {setting.type.example}`."
        else:
            fix = f"Fix or unset {self.origin}."
        raise ConfigError(
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


def env_value(setting: Setting, env: Mapping[str, str]) -> Any:
    """The value of an environment-only ``setting`` (its variable, else its default);
    a ConfigError naming the variable when the value is invalid."""
    return resolved_value(setting, env).checked()


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
        example = f"For example: `acp config set {key} {setting.type.example}`."
        raise ConfigError(
            f"The {key} {as_toml(text)} {problem.reason}.",
            hint=f"{problem.hint} {example}" if problem.hint else example,
        ) from None
