"""Typed option aliases shared by every command, so their help text never drifts.

The global options (``--profile``, ``--api-url``, ``-v``, ``--no-color``) are
declared on the root command and again on each command, so they work before
or after the subcommand: ``acp -v push prepare ...`` and ``acp push prepare ... -v``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

GLOBAL_PANEL = "Global options"


def complete_profile_names(incomplete: str) -> list[str]:
    """The profile names in config.toml that start with ``incomplete``, for Tab completion.

    Completion runs while the user types: a missing, unreadable or broken config
    file gives no names rather than an error. Typer calls this through its own
    completion protocol; the committed scripts in completions/ read the same
    ``[profiles.NAME]`` headers themselves, so Tab costs no Python start-up.
    """
    try:
        from acp_cli import config_file

        path = config_file.config_path(config_file.config_dir(environment()))
        profiles = config_file.load(path).get("profiles")
    except Exception:
        return []
    if not isinstance(profiles, dict):
        return []
    return [
        name
        for name, table in profiles.items()
        if isinstance(table, dict) and name.startswith(incomplete)
    ]


ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="Config profile to use. (default: $ACP_PROFILE, else 'default')",
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
        autocompletion=complete_profile_names,
    ),
]
ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        metavar="URL",
        help="API base URL, e.g. https://api.example.com. "
        "(default: $ACP_API_URL, else the profile's api_url)",
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Show the HTTP exchange (token masked) and tracebacks on stderr.",
        rich_help_panel=GLOBAL_PANEL,
    ),
]
NoColorOption = Annotated[
    bool,
    typer.Option(
        "--no-color",
        help="Never colour the output (also: the NO_COLOR environment variable).",
        rich_help_panel=GLOBAL_PANEL,
    ),
]

QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Do not announce retries on stderr (errors are still shown).",
    ),
]

NETWORK_PANEL = "Network options"

TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Seconds to wait for each answer and each write; a large plan adds one second "
        "per MiB to the wait for the answer. (default: the profile's timeout, else 30)",
        rich_help_panel=NETWORK_PANEL,
        show_default=False,
    ),
]
ConnectTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--connect-timeout",
        metavar="SECONDS",
        help="Seconds to wait for a connection. (default: the profile's connect_timeout, else 10)",
        rich_help_panel=NETWORK_PANEL,
        show_default=False,
    ),
]
DeadlineOption = Annotated[
    float | None,
    typer.Option(
        "--deadline",
        metavar="SECONDS",
        help="Seconds for all attempts and retry waits together. "
        "(default: the profile's deadline, else 120)",
        rich_help_panel=NETWORK_PANEL,
        show_default=False,
    ),
]
CaBundleOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        metavar="FILE",
        dir_okay=False,
        help="A PEM file of CA certificates to trust besides the default ones. "
        "(default: $ACP_CA_BUNDLE, else the profile's ca_bundle)",
        rich_help_panel=NETWORK_PANEL,
        show_default=False,
    ),
]


@dataclass(frozen=True)
class GlobalOptions:
    """The global options after merging the root's and the command's."""

    profile: str | None = None
    api_url: str | None = None
    verbose: bool = False
    no_color: bool = False

    def merged(
        self, *, profile: str | None, api_url: str | None, verbose: bool, no_color: bool
    ) -> GlobalOptions:
        """These options overridden by the ones given after the subcommand."""
        return GlobalOptions(
            profile=profile or self.profile,
            api_url=api_url or self.api_url,
            verbose=verbose or self.verbose,
            no_color=no_color or self.no_color,
        )


def global_options(
    ctx: typer.Context,
    *,
    profile: str | None,
    api_url: str | None,
    verbose: bool,
    no_color: bool,
) -> GlobalOptions:
    """The global options in force for a command, from the root context and its own."""
    root = ctx.find_root().obj
    base = root if isinstance(root, GlobalOptions) else GlobalOptions()
    return base.merged(profile=profile, api_url=api_url, verbose=verbose, no_color=no_color)


def environment() -> dict[str, str]:
    """A copy of the process environment: commands read it through this one door."""
    return dict(os.environ)
