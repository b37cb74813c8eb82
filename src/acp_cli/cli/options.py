"""Typed option aliases shared by every command, so their help text never drifts.

The global options (``--profile``, ``--api-url``, ``-v``, ``--no-color``) are
declared on the root command and again on each command, so they work before
or after the subcommand: ``acp -v push prepare ...`` and ``acp push prepare ... -v``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

import typer

GLOBAL_PANEL = "Global options"

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="Config profile to use. (default: $ACP_PROFILE, else 'default')",
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
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
