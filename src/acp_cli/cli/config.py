"""``acp config get|set|unset|list|path``: the settings of a profile in config.toml."""

from __future__ import annotations

from typing import Annotated

import typer

from acp_cli import settings
from acp_cli.cli.context import Invocation
from acp_cli.cli.options import PLAIN_HELP, command, epilog
from acp_cli.cli.quick import write_profile_names
from acp_cli.cli.render import shown, write_json, write_table
from acp_cli.errors import ConfigError, ExitCode
from acp_cli.server_text import one_line
from acp_cli.settings import API_URL, CONFIG_DIR, PROFILE, PROFILE_KEYS, Resolved
from acp_cli.settings import file as config_file

app = typer.Typer(
    name="config",
    help="Read and change the settings of a profile in config.toml.\n\n"
    f"Each profile is a profiles.NAME table in the file; --profile (or {PROFILE.variable}) "
    "picks it, "
    "'default' otherwise. Values are checked before they are written, and edits keep "
    "the rest of the file as it was.",
    epilog=epilog(
        "Examples:",
        [
            "acp config set api_url https://api.example.com",
            "acp config get api_url --profile staging",
            "acp config list",
        ],
    ),
    no_args_is_help=True,
    rich_markup_mode=PLAIN_HELP,
)

GET_EPILOG = epilog(
    "Examples:", ["acp config get api_url", "acp config get timeout --profile staging"]
)

SET_EPILOG = epilog(
    "Examples:",
    [
        "acp config set api_url https://api.example.com",
        "acp config set api_url https://staging.example.com --profile staging",
        "acp config set timeout 60",
        "acp config set ca_bundle ~/certs/company-ca.pem",
    ],
)

UNSET_EPILOG = epilog(
    "Examples:", ["acp config unset timeout", "acp config unset api_url --profile staging"]
)

LIST_EPILOG = epilog("Examples:", ["acp config list", "acp config list --profile staging --json"])

PROFILES_EPILOG = epilog(
    "Examples:",
    [
        "acp config profiles",
        'for name in $(acp config profiles); do acp config list --profile "$name"; done',
    ],
)

PATH_EPILOG = epilog("Examples:", ["acp config path", '${EDITOR:-vi} "$(acp config path)"'])


def _known_keys() -> list[str]:
    return list(PROFILE_KEYS)


KeyArgument = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="The setting, such as api_url, timeout or ca_bundle; `acp config list` "
        "shows them all.",
        autocompletion=_known_keys,
        show_default=False,
    ),
]


@command(app, epilog=GET_EPILOG)
def get(
    here: Invocation,
    key: KeyArgument,
) -> None:
    """Print the value of a setting that acp uses.

    That is the value from its flag, its environment variable, the profile's
    table in config.toml or the default, first found (`acp config list` shows
    which). A key that nothing sets prints nothing (and a note on stderr) and
    exits 1, as git config does; an invalid value is an error (exit 2).
    """
    setting = settings.check_key(key)
    name, values, _ = _profile_values(here)
    [found] = [item for item in values if item.setting is setting]
    value = found.checked()
    if value is None:
        here.messages.info(f"{key} is not set for profile {name}.")
        raise typer.Exit(ExitCode.NOT_SET)
    here.stdout.write(shown(_plain(value)) + "\n")
    if found.source in ("flag", "environment"):
        here.messages.info(f"({key} comes from {found.origin}, not the config file.)")


@command(app, "set", epilog=SET_EPILOG)
def set_(
    here: Invocation,
    key: KeyArgument,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value.")],
) -> None:
    """Set a setting of the profile in config.toml.

    The value is checked first: api_url must be https:// (http:// only for
    localhost), a duration such as timeout a positive number of seconds,
    ca_bundle an existing file (stored as an absolute path). The file is
    rewritten atomically, kept private (0600), and its comments and other
    settings stay as they were.
    """
    env = here.env
    name = settings.profile_name(here.profile, env)
    stored = settings.parse_profile_value(key, value)
    path = here.config_path
    config_file.set_profile_value(path, name, key, stored)
    messages = here.messages
    messages.info(f"Set {key} = {shown(stored)} for profile {name} in {path}.")
    variable = settings.check_key(key).variable
    if variable and env.get(variable):
        messages.warning(f"{variable} is set in the environment and takes precedence.")


@command(app, epilog=UNSET_EPILOG)
def unset(
    here: Invocation,
    key: KeyArgument,
) -> None:
    """Remove a setting from the profile in config.toml.

    The default applies again (for timeout), or the setting is no longer set.
    The rest of the file stays as it was. A profile that the file does not
    know is an error (exit 2), as for get and list.
    """
    path = here.config_path
    name = here.known_profile()
    if config_file.unset_profile_value(path, name, settings.check_key(key).name, here.config):
        here.messages.info(f"Removed {key} from profile {name} in {path}.")
    else:
        here.messages.info(f"{key} was not set for profile {name} in {path}; nothing changed.")


_PROFILE_VARIABLES = ", ".join(key.variable for key in PROFILE_KEYS.values() if key.variable)

LIST_HELP = f"""\
List the settings of the profile and where each value comes from.

Sources: flag ({API_URL.flag}), environment ({_PROFILE_VARIABLES}), file
(config.toml), default, or unset. An invalid value is listed with the
reason, and makes the command exit 2 once everything is listed. Keys in the
profile's table that acp does not know are listed as unknown: acp ignores them.
"""


@command(app, "list", help=LIST_HELP, epilog=LIST_EPILOG)
def list_(
    here: Invocation,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the settings as a JSON object for scripts.")
    ] = False,
) -> None:
    """List the settings of the profile (the help is LIST_HELP)."""

    name, values, unknown = _profile_values(here)
    invalid = [item for item in values if item.problem is not None]
    if json_output:
        listing: dict[str, dict[str, object]] = {
            item.setting.name: {
                "value": settings.as_toml(item.value) if item.problem else _plain(item.value),
                "source": item.source,
                "from": item.origin if item.source in ("flag", "environment") else None,
                **({"invalid": item.problem.reason} if item.problem else {}),
            }
            for item in values
        }
        for key, value in unknown.items():
            listing[key] = {"value": value, "source": "unknown", "from": None}
        write_json({"profile": name, "values": listing}, here.stdout)
    else:
        rows = [(item.setting.name, _shown(item), _described(item)) for item in values]
        rows += [
            (key, shown(value), "file, unknown key: ignored") for key, value in unknown.items()
        ]
        width = max(len(value) for _, value, _ in rows)
        terminal = here.terminal()
        write_table(
            f"Profile {name}:",
            [(key, f"{value:<{width}}  ({source})") for key, value, source in rows],
            out=here.stdout,
            terminal=terminal,
        )
    if invalid:
        keys = ", ".join(item.setting.name for item in invalid)
        raise ConfigError(
            f"Profile {name} has {len(invalid)} invalid value{'s' if len(invalid) > 1 else ''} "
            f"in force (listed above): {keys}.",
            hint="Fix each with `acp config set KEY VALUE`, or remove it with "
            "`acp config unset KEY` (a flag or environment variable: change or unset it).",
        )


@command(app, epilog=PROFILES_EPILOG)
def profiles(here: Invocation) -> None:
    """Print the names of the profiles in config.toml, one per line.

    The names of its profiles.NAME tables, in the file's order, as acp reads
    them: TOML quotes and escapes undone, dotted keys included. Shell
    completion uses it for --profile. A name with a line break or another
    control character is left out, as it cannot be one line.
    """
    write_profile_names(here)


PATH_HELP = f"""\
Print the path of config.toml (it may not exist yet).

The folder is {CONFIG_DIR.variable} when set, else the platform's config folder
for acp. The plain-text credentials file, when there is one, sits next to it.
"""


@command(app, help=PATH_HELP, epilog=PATH_EPILOG)
def path(here: Invocation) -> None:
    """Print the path of config.toml (the help is PATH_HELP)."""
    here.stdout.write(f"{here.config_path}\n")


def _profile_values(here: Invocation) -> tuple[str, list[Resolved], dict[str, object]]:
    """The profile in force, its settings as resolution sees them, and its unknown keys."""
    path, config = here.config_path, here.config
    name = here.known_profile()
    flags = {settings.API_URL.name: here.api_url}
    values = settings.resolve_values(name, config, path, here.env, flags)
    return name, values, settings.unknown_keys(config, name, path)


def _plain(value: object) -> object:
    """A value as text and JSON show it: a path as its string."""
    import os

    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _shown(item: Resolved) -> str:
    """A listed value: an invalid one as written in TOML, so that "30" shows its quotes."""
    return one_line(settings.as_toml(item.value)) if item.problem else shown(_plain(item.value))


def _described(item: Resolved) -> str:
    """Where a listed value comes from, and why it is invalid when it is."""
    where = (
        f"{item.source} {item.origin}" if item.source in ("flag", "environment") else item.source
    )
    return f"{where}; invalid: {item.problem.reason}" if item.problem else where
