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
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from acp_cli import settings
from acp_cli.cli.context import invocation

PLAIN_HELP = None
"""``rich_markup_mode`` of every Typer app of acp: help and usage errors as plain text.

Rich's help draws fixed columns that cut option names at 40 columns and keeps the
line breaks of hand-wrapped paragraphs; Typer's plain help wraps every paragraph at
the terminal's width and never cuts a name (a paragraph after a line holding only
``\\b`` is kept as written: the examples). A usage error is then
``Usage: ...`` and an ``Error:`` line, as acp's other errors, not a box."""

EXAMPLE_WIDTH = 72
"""The longest line of an example command: with help's indent it fits 80 columns."""


def epilog(*parts: str | Sequence[str]) -> str:
    """The text under a command's help, rendered one way for every command.

    A string is a paragraph, wrapped at the terminal's width. A list holds commands
    (examples, steps), each shown as written, indented, never re-wrapped: a line
    holding only ``\\b`` before it tells the help formatter (and tools/man_page.py)
    to keep it. A command longer than `EXAMPLE_WIDTH` is continued with a backslash
    before an option, as one would type it, so that no line is broken inside it.
    """
    blocks: list[str] = []
    for part in parts:
        if isinstance(part, str):
            blocks.append(part)
        else:
            blocks += ["\b\n" + "\n".join(_example_lines(command)) for command in part]
    return "\n\n".join(blocks) + "\n"


def _example_lines(command: str) -> list[str]:
    """``command`` as indented lines of at most `EXAMPLE_WIDTH` characters where it can
    be cut before an option or a pipe, the lines but the last ending with `` \\``."""
    pieces = re.split(r" (?=--?\w|\| )", command)
    lines = [pieces[0]]
    for piece in pieces[1:]:
        if len(lines[-1]) + 1 + len(piece) + len(" \\") > EXAMPLE_WIDTH:
            lines[-1] += " \\"
            lines.append("    " + piece)
        else:
            lines[-1] += " " + piece
    return ["  " + line for line in lines]


GLOBAL_PANEL = "Global options"


def complete_profile_names(incomplete: str) -> list[str]:
    """The profile names in config.toml that start with ``incomplete``, for Tab completion.

    Completion runs while the user types: a missing, unreadable or broken config
    file gives no names rather than an error. Typer calls this through its own
    completion protocol (``_ACP_COMPLETE``), in a process of its own, hence
    ``os.environ``; the scripts in acp_cli/completions/ ask ``acp config profiles``.
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
        help="Do not announce retries on stderr, nor draw progress, a summary, notes or "
        "the large-plan warning with --dir (other warnings and errors are still shown).",
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
