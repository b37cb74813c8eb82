"""The root command and ``main()``: the one place errors become exit codes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from acp_cli import __version__
from acp_cli.cli import auth, config, push
from acp_cli.cli.options import (
    ApiUrlOption,
    NoColorOption,
    ProfileOption,
    VerboseOption,
)
from acp_cli.errors import AcpError, ExitCode

ROOT_EPILOG = """\
Examples:

  export ACP_API_URL=https://api.example.com ACP_TOKEN=...   # or: acp auth login

  acp push prepare wb_123 --plan plan.json

Exit codes: 0 ok, 1 bug, 2 bad input or config, 3 authentication, 4 not found,
5 rejected by the server, 6 server unavailable, 130 interrupted.
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


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"acp {__version__}")
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


def main() -> None:
    """Console-script entry point: run the app, turn errors into messages and exit codes."""
    verbose = any(arg in ("-v", "--verbose") for arg in sys.argv[1:])
    try:
        app()
    except AcpError as exc:
        _report(exc.lines())
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _report(["Interrupted."])
        sys.exit(ExitCode.INTERRUPTED)
    except SystemExit as exc:
        if exc.code == ExitCode.INTERRUPTED:
            _report(["Interrupted."])
        raise
    except Exception as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        _report(
            [
                f"Unexpected error: {type(exc).__name__}: {exc}",
                "This is a bug in acp; run again with -v for the traceback and report it.",
            ]
        )
        sys.exit(ExitCode.UNEXPECTED)


def _report(lines: list[str]) -> None:
    from acp_cli.render import Messages

    Messages().error(lines)
