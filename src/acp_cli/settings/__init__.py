"""acp's settings: every setting declared once, and the one resolution of their values.

The package is cut in layers, each importing only those above it:

- `values`: the types of values (seconds, a file, a count...) and how each is checked;
- `urls`: the API URL rules (https, or http to this machine only) and origins;
- `registry`: every `Setting`, declared once, and how one setting's value is found
  (flag > environment > config file > default); no file is read there;
- `file`: config.toml, where it lives, reading it and private atomic edits;
- `resolution`: the settings of a run from the flags, the environment and the file.

The names used across acp are re-exported here: ``from acp_cli.settings import X``.
"""

from __future__ import annotations

from acp_cli.settings.registry import (
    API_URL,
    CA_BUNDLE,
    CACHE_DIR,
    CONFIG_DIR,
    DEADLINE,
    DEFAULT_KEYRING_TIMEOUT,
    DEVICE_ID,
    KEYRING_TIMEOUT,
    LARGE_PLAN_BYTES,
    LARGE_PLAN_FILES,
    NETWORK,
    PROFILE,
    PROFILE_KEYS,
    RETRY_SCALE,
    SETTINGS,
    TIMEOUT,
    TOKEN,
    Resolved,
    Setting,
    check_key,
    env_value,
    parse_profile_value,
)
from acp_cli.settings.resolution import (
    Settings,
    cache_dir,
    known_profile,
    profile_name,
    profile_names,
    resolve,
    resolve_values,
    unknown_keys,
)
from acp_cli.settings.urls import (
    ApiUrl,
    normalize_api_url,
    origin_of,
)
from acp_cli.settings.values import (
    ExistingFile,
    Folder,
    HeaderValue,
    InvalidValue,
    Seconds,
    Text,
    ValueType,
    as_toml,
    described,
)

__all__ = [
    "API_URL",
    "CACHE_DIR",
    "CA_BUNDLE",
    "CONFIG_DIR",
    "DEADLINE",
    "DEFAULT_KEYRING_TIMEOUT",
    "DEVICE_ID",
    "KEYRING_TIMEOUT",
    "LARGE_PLAN_BYTES",
    "LARGE_PLAN_FILES",
    "NETWORK",
    "PROFILE",
    "PROFILE_KEYS",
    "RETRY_SCALE",
    "SETTINGS",
    "TIMEOUT",
    "TOKEN",
    "ApiUrl",
    "ExistingFile",
    "Folder",
    "HeaderValue",
    "InvalidValue",
    "Resolved",
    "Seconds",
    "Setting",
    "Settings",
    "Text",
    "ValueType",
    "as_toml",
    "cache_dir",
    "check_key",
    "described",
    "env_value",
    "known_profile",
    "normalize_api_url",
    "origin_of",
    "parse_profile_value",
    "profile_name",
    "profile_names",
    "resolve",
    "resolve_values",
    "unknown_keys",
]
