"""Typed option aliases shared by every command, so their help text never drifts.

The global options (``--profile``, ``--api-url``, ``-v``, ``--no-color``) are
declared on the root command and again on each command, so they work before
or after the subcommand: ``acp -v push prepare ...`` and ``acp push prepare ... -v``.
They are not passed to the command functions (``expose_value=False``): each
one's callback records it in this run's `Invocation` (`acp_cli.cli.context`),
which a command reads with `invocation`. The parameters in a command's signature
only declare the options; their value there is always the default.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from acp_cli import settings
from acp_cli.cli.context import invocation

GLOBAL_PANEL = "Global options"


def complete_profile_names(incomplete: str) -> list[str]:
    """The profile names in config.toml that start with ``incomplete``, for Tab completion.

    Completion runs while the user types: a missing, unreadable or broken config
    file gives no names rather than an error. Typer calls this through its own
    completion protocol (``_ACP_COMPLETE``), in a process of its own, hence
    ``os.environ``; the committed scripts in completions/ ask ``acp config profiles``.
    """
    try:
        from acp_cli import config_file, settings

        path = config_file.config_path_for(os.environ)
        names = settings.profile_names(config_file.load(path))
    except Exception:
        return []
    return [name for name in names if name.startswith(incomplete)]


def _record(name: str) -> Callable[[typer.Context, typer.CallbackParam, Any], Any]:
    """An option callback that stores a given value on this run's `Invocation`.

    Only values actually given are stored, so an option given before the
    subcommand is not reset by the same option's default after it. An empty
    value given on purpose (``--profile ""``) is refused rather than silently
    replaced by the environment or the default.
    """

    def record(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if value == "":
            raise typer.BadParameter("must not be empty.", ctx=ctx, param=param)
        if value:
            setattr(invocation(ctx), name, value)
        return value

    return record


ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help=settings.PROFILE.option_help,
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
        autocompletion=complete_profile_names,
        expose_value=False,
        callback=_record("profile"),
    ),
]
ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        metavar="URL",
        help=settings.API_URL.option_help,
        rich_help_panel=GLOBAL_PANEL,
        show_default=False,
        expose_value=False,
        callback=_record("api_url"),
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Show the HTTP exchange (token masked) and tracebacks on stderr.",
        rich_help_panel=GLOBAL_PANEL,
        expose_value=False,
        callback=_record("verbose"),
    ),
]
NoColorOption = Annotated[
    bool,
    typer.Option(
        "--no-color",
        help="Never colour the output (also: the NO_COLOR environment variable).",
        rich_help_panel=GLOBAL_PANEL,
        expose_value=False,
        callback=_record("no_color"),
    ),
]

QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Do not announce retries on stderr, nor draw progress, a summary or the "
        "large-plan warning with --dir (other warnings and errors are still shown).",
    ),
]

NETWORK_PANEL = "Network options"

TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help=settings.TIMEOUT.option_help,
        rich_help_panel=NETWORK_PANEL,
        show_default=False,
    ),
]
ConnectTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--connect-timeout",
        metavar="SECONDS",
        help=settings.CONNECT_TIMEOUT.option_help,
        rich_help_panel=NETWORK_PANEL,
        show_default=False,
    ),
]
DeadlineOption = Annotated[
    float | None,
    typer.Option(
        "--deadline",
        metavar="SECONDS",
        help=settings.DEADLINE.option_help,
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
        help=settings.CA_BUNDLE.option_help,
        rich_help_panel=NETWORK_PANEL,
        show_default=False,
    ),
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        metavar="PATTERN",
        help="Leave out what this gitignore pattern (relative to DIR) matches; repeatable.",
        show_default=False,
    ),
]
NoCacheOption = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Hash every file; neither read nor write the hash cache "
        f"({settings.CACHE_DIR.variable}, else the user's cache folder).",
    ),
]
