"""``acp config get|set|unset|list|path``: the settings of a profile in config.toml."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from acp_cli.cli.context import Invocation, invocation
from acp_cli.cli.options import (
    ApiUrlOption,
    NoColorOption,
    ProfileOption,
    VerboseOption,
)

if TYPE_CHECKING:
    from pathlib import Path

    from acp_cli.settings import SourcedValue

app = typer.Typer(
    name="config",
    help="Read and change the settings of a profile in config.toml.\n\n"
    "Each profile is a profiles.NAME table in the file; --profile (or ACP_PROFILE) picks it, "
    "'default' otherwise. Values are checked before they are written, and edits keep "
    "the rest of the file as it was.",
    epilog="Examples:\n\n  acp config set api_url https://api.example.com\n\n"
    "  acp config get api_url --profile staging\n\n  acp config list",
    no_args_is_help=True,
)

GET_EPILOG = """\
Examples:

  acp config get api_url

  acp config get timeout --profile staging
"""

SET_EPILOG = """\
Examples:

  acp config set api_url https://api.example.com

  acp config set api_url https://staging.example.com --profile staging

  acp config set timeout 60

  acp config set ca_bundle ~/certs/company-ca.pem
"""

UNSET_EPILOG = """\
Examples:

  acp config unset timeout

  acp config unset api_url --profile staging
"""

LIST_EPILOG = """\
Examples:

  acp config list

  acp config list --profile staging --json
"""

PATH_EPILOG = """\
Examples:

  acp config path

  ${EDITOR:-vi} "$(acp config path)"
"""


def _known_keys() -> list[str]:
    from acp_cli.settings import PROFILE_KEYS

    return sorted(PROFILE_KEYS)


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


@app.command(epilog=GET_EPILOG)
def get(
    ctx: typer.Context,
    key: KeyArgument,
    profile: ProfileOption = None,
    api_url: ApiUrlOption = None,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """Print the value of a setting that acp uses.

    That is the value from --api-url, the environment (ACP_API_URL,
    ACP_CA_BUNDLE), the profile's table in config.toml or the default, first
    found. A key that nothing sets prints nothing (and a note on stderr).
    """
    from acp_cli import settings
    from acp_cli.render import shown

    here = invocation(ctx)
    name, values = _profile_values(here)
    [found] = [value for value in values if value.key == settings.check_key(key)]
    if found.value is None:
        here.messages.info(f"{key} is not set for profile {name}.")
        return
    here.stdout.write(shown(found.value) + "\n")
    if found.detail:
        here.messages.info(f"({key} comes from {found.detail}, not the config file.)")


@app.command("set", epilog=SET_EPILOG)
def set_(
    ctx: typer.Context,
    key: KeyArgument,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value.")],
    profile: ProfileOption = None,
    api_url: ApiUrlOption = None,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """Set a setting of the profile in config.toml.

    The value is checked first: api_url must be https:// (http:// only for
    localhost), a duration such as timeout a positive number of seconds,
    ca_bundle an existing file (stored as an absolute path). The file is
    rewritten atomically, kept private (0600), and its comments and other
    settings stay as they were.
    """
    from acp_cli import config_file, settings
    from acp_cli.render import shown

    here = invocation(ctx)
    env = here.env
    name = settings.profile_name(here.profile, env)
    stored = settings.parse_profile_value(key, value)
    path = config_file.config_path_for(env)
    config_file.set_profile_value(path, name, key, stored)
    messages = here.messages
    messages.info(f"Set {key} = {shown(stored)} for profile {name} in {path}.")
    variable = settings.PROFILE_KEYS[key].variable
    if variable and env.get(variable):
        messages.warning(f"{variable} is set in the environment and takes precedence.")


@app.command(epilog=UNSET_EPILOG)
def unset(
    ctx: typer.Context,
    key: KeyArgument,
    profile: ProfileOption = None,
    api_url: ApiUrlOption = None,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """Remove a setting from the profile in config.toml.

    The default applies again (for timeout), or the setting is no longer set.
    The rest of the file stays as it was.
    """
    from acp_cli import config_file, settings

    here = invocation(ctx)
    env = here.env
    name = settings.profile_name(here.profile, env)
    path = config_file.config_path_for(env)
    if config_file.unset_profile_value(path, name, settings.check_key(key)):
        here.messages.info(f"Removed {key} from profile {name} in {path}.")
    else:
        here.messages.info(f"{key} was not set for profile {name} in {path}; nothing changed.")


@app.command("list", epilog=LIST_EPILOG)
def list_(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the settings as a JSON object for scripts.")
    ] = False,
    profile: ProfileOption = None,
    api_url: ApiUrlOption = None,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """List the settings of the profile and where each value comes from.

    Sources: flag (--api-url), environment (ACP_API_URL, ACP_CA_BUNDLE), file
    (config.toml), default, or unset. Keys in the profile's table that acp
    does not know are listed as unknown: acp ignores them.
    """

    from acp_cli.render import shown, write_json, write_table

    here = invocation(ctx)
    name, values = _profile_values(here)
    if json_output:
        document = {
            "profile": name,
            "values": {
                item.key: {"value": item.value, "source": item.source, "from": item.detail}
                for item in values
            },
        }
        write_json(document, here.stdout)
        return
    width = max(len(shown(item.value)) for item in values)
    rows = [
        (item.key, f"{shown(item.value):<{width}}  ({_described_source(item)})") for item in values
    ]
    write_table(f"Profile {name}:", rows, out=here.stdout, terminal=here.terminal())


@app.command(epilog=PATH_EPILOG)
def path(
    ctx: typer.Context,
    profile: ProfileOption = None,
    api_url: ApiUrlOption = None,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """Print the path of config.toml (it may not exist yet).

    The folder is ACP_CONFIG_DIR when set, else the platform's config folder
    for acp. The plain-text credentials file, when there is one, sits next to it.
    """
    from acp_cli import config_file

    here = invocation(ctx)
    here.stdout.write(str(config_file.config_path_for(here.env)) + "\n")


def _profile_values(here: Invocation) -> tuple[str, list[SourcedValue]]:
    from acp_cli import config_file, settings

    env = here.env
    name = settings.profile_name(here.profile, env)
    path: Path = config_file.config_path_for(env)
    config = config_file.load(path)
    return name, settings.profile_values(name, config, path, env, api_url_flag=here.api_url)


def _described_source(item: SourcedValue) -> str:
    if item.source == "flag":
        return f"flag {item.detail}"
    if item.source == "environment":
        return f"environment {item.detail}"
    if item.source == "unknown":
        return "file, unknown key: ignored"
    return item.source
