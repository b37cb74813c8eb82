"""The command tree: the root ``acp`` command, its global options and its groups.

`acp_cli.cli.app.run` invokes it; nothing here handles errors or exit codes."""

from __future__ import annotations

from typing import Annotated

import typer

from acp_cli import __version__
from acp_cli.cli import auth, config, push
from acp_cli.cli.context import invocation
from acp_cli.cli.options import (
    ApiUrlOption,
    NoColorOption,
    ProfileOption,
    VerboseOption,
)

ROOT_EPILOG = """\
Examples:

  export ACP_API_URL=https://api.example.com ACP_TOKEN=...   # or: acp auth login

  acp push prepare wb_123 --dir .              # the plan of this folder

  acp push prepare wb_123 --plan plan.json

Exit codes: 0 ok, 1 bug, 2 bad input or config, 3 authentication, 4 not found,
5 rejected by the server, 6 server unavailable, 74 output not written,
130 interrupted, 141 the output's reader went away.
"""

app = typer.Typer(
    name="acp",
    epilog=ROOT_EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(push.app)
app.add_typer(auth.app)
app.add_typer(config.app)


def _print_version(ctx: typer.Context, value: bool) -> None:
    if value:
        invocation(ctx).stdout.write(f"acp {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    profile: ProfileOption = None,
    api_url: ApiUrlOption = None,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Talk to the ACP API from a terminal, a script or a CI job.

    Set the API URL and a token once (`acp config set api_url URL`,
    `acp auth login`), or give them as ACP_API_URL and ACP_TOKEN in CI.
    """
