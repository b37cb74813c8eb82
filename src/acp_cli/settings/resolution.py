"""The settings of one run: the active profile, and every profile key resolved from
the flags, the environment and config.toml (`resolve`), or listed valid or not
(`resolve_values`, for ``acp config list``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp_cli.errors import ConfigError
from acp_cli.retry import DEFAULT_DEADLINE
from acp_cli.settings import file as config_file
from acp_cli.settings.registry import (
    API_URL,
    CACHE_DIR,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_PROFILE,
    PROFILE,
    PROFILE_KEYS,
    PROFILES_TABLE,
    Resolved,
    env_value,
    resolved_value,
)
from acp_cli.settings.urls import origin_of


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
    file: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """config.toml as read for these settings (empty when absent): what else the run
    needs from it (the device ID) is taken from here rather than read again."""

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the API: the key a stored token belongs to."""
        return origin_of(self.api_url)


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
    return str(resolved_value(PROFILE, env, flag=flag).checked())


def known_profile(
    flag: str | None, env: Mapping[str, str], config: Mapping[str, Any], path: Path
) -> str:
    """The active profile, as `profile_name`, for a command that reads settings: a name
    that ``config`` (read from ``path``) does not know is a ConfigError naming the known
    profiles and the closest one, rather than an empty profile (a typo, most likely).

    ``default`` is always known. Commands that write settings (``acp config set``,
    ``acp auth login``) use `profile_name`: they create new profiles.
    """
    name = profile_name(flag, env)
    known = list(dict.fromkeys([DEFAULT_PROFILE, *profile_names(config)]))
    if name in known:
        return name
    import difflib  # not at start-up: only a mistyped profile needs it

    given = PROFILE.flag if flag is not None else PROFILE.variable
    close = difflib.get_close_matches(name, known, n=1)  # pragma: no mutate: close[0] is best
    guess = f"Did you mean '{close[0]}'? " if close else ""
    raise ConfigError(
        f"Profile '{name}' (from {given}) is not in {path}.",
        hint=f"{guess}Known profiles: {', '.join(known)}. To create it, set a value in it: "
        f"`acp config set {API_URL.name} {API_URL.type.example}`.",
    )


def resolve(
    *,
    profile: str | None,
    api_url: str | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any] | None = None,
    new_profile: bool = False,
    config: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings of this run from flags, the environment and the config file.

    ``profile`` and ``api_url`` are the global options, ``flags`` maps the name of
    each other profile setting to its flag's value (the network options, `NETWORK`);
    None means not given. The first invalid value, wherever it comes from, is a
    ConfigError, and so is a profile that the config file does not know, unless
    ``new_profile`` (a command that stores something for a profile it may create).
    ``config`` is the config file as the caller already read it (None: read it here).
    """
    folder = config_file.config_dir(env)
    path = config_file.config_path(folder)
    if config is None:
        config = config_file.load(path)
    name = profile_name(profile, env) if new_profile else known_profile(profile, env, config, path)
    given = {**(flags or {}), API_URL.name: api_url}
    values = {
        item.setting.name: item.checked() for item in resolve_values(name, config, path, env, given)
    }
    if values[API_URL.name] is None:
        raise ConfigError(
            f"No API URL is configured for profile '{name}'.",
            hint=(
                f"Set one with `acp config set {API_URL.name} {API_URL.type.example}`, "
                f"export {API_URL.variable}, or pass {API_URL.flag}."
            ),
        )
    return Settings(
        profile=name,
        config_dir=folder,
        file=config,
        **values,
    )


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
