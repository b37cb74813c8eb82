"""The root command and ``main()``: the one place errors become exit codes."""

from __future__ import annotations

import typer

from acp_cli import __version__

app = typer.Typer(
    name="acp",
    help="Talk to the ACP API from a terminal, a script or a CI job.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"acp {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """Talk to the ACP API from a terminal, a script or a CI job."""


def main() -> None:
    """Console-script entry point."""
    app()
