"""The command tree: the root ``acp`` command, its global options and its groups.

`acp_cli.cli.boundary.run` invokes it; nothing here handles errors or exit codes."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from typing import Annotated

import typer

from acp_cli.cli import completion
from acp_cli.cli.context import invocation
from acp_cli.cli.options import PLAIN_HELP, command, epilog, root_callback
from acp_cli.cli.quick import write_version

ROOT_EPILOG = epilog(
    "Before you start: from your ACP service you need its API URL, a token (issued by "
    "the service to you or to your CI job) and a workspace binding ID such as wb_123 "
    "(made in ACP: the API cannot list bindings). Store the first two once per machine, "
    "then push a folder (with --dry-run first, to check everything and send nothing):",
    [
        "acp config set api_url https://api.example.com",
        "acp auth login",
        "acp push prepare wb_123 --dir . --dry-run",
    ],
    "Examples:",
    [
        "export ACP_API_URL=https://api.example.com ACP_TOKEN=...  # in CI",
        "acp push prepare wb_123 --dir .           # the plan of this folder",
        "acp push prepare wb_123 --plan plan.json",
    ],
    "Exit codes: 0 ok, 1 bug (or config get: key not set), 2 bad input or config, "
    "3 authentication, 4 not found, 5 rejected by the server, 6 server unavailable, "
    "74 output not written, 129 SIGHUP, 130 interrupted, 141 the output's reader went "
    "away, 143 SIGTERM.",
)

GROUPS = {"push": "acp_cli.cli.push", "auth": "acp_cli.cli.auth", "config": "acp_cli.cli.config"}
"""The groups of commands, by name, and the module that declares each as its ``app``:
a run imports only the group it names."""


def group(name: str) -> typer.Typer:
    """The group of commands ``name`` (one of `GROUPS`)."""
    # The import statement's machinery, not importlib.import_module: only what it
    # loads shows in ``python -X importtime``, where start-up is profiled.
    app: typer.Typer = __import__(GROUPS[name], fromlist=["app"]).app
    return app


def _print_version(ctx: typer.Context, value: bool) -> None:
    if value:
        write_version(invocation(ctx))
        raise typer.Exit()


def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version, the Python version and the platform, and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Talk to the ACP API from a terminal, a script or a CI job.

    Set the API URL and a token once (`acp config set api_url URL`,
    `acp auth login`), or give them as ACP_API_URL and ACP_TOKEN in CI.
    """


def _root_app(groups: list[typer.Typer]) -> typer.Typer:
    """The root command with ``groups`` under it, and ``acp completion``."""
    tree = typer.Typer(
        name="acp",
        epilog=ROOT_EPILOG,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=PLAIN_HELP,
        # Every command and group inherits the root's help option names.
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    root_callback(tree)(root)
    for group in groups:
        tree.add_typer(group)
    # No global option changes what it prints: it takes none.
    command(tree, "completion", global_options=False, epilog=completion.EPILOG)(
        completion.completion
    )
    return tree


@functools.cache
def whole_tree() -> typer.Typer:
    """The whole command tree: help, shell completion, the man page."""
    return _root_app([group(name) for name in GROUPS])


_VALUED_GLOBALS = ("--profile", "--api-url")


def app_for(argv: list[str]) -> typer.Typer:
    """The tree a run with ``argv`` needs: only the group it names and, when the next
    word names one of its commands, only that command.

    Typer builds every command of the tree it is given at each start, about 2 ms a
    command, and the group's module imports what its commands need: ``acp push
    prepare`` need not pay for ``auth``, ``config`` nor ``push plan``. Anything else
    (``--help``, a mistyped group or command that deserves "Did you mean", an option
    between the group and the command) gets the whole tree or the whole group.
    ``acp completion`` needs no group.
    """
    words = iter(argv)
    for word in words:
        if word in _VALUED_GLOBALS:
            next(words, None)
        elif not word.startswith("-"):
            if word == "completion":
                return _root_app([])
            if word not in GROUPS:
                return whole_tree()
            return _root_app([_only_named(group(word), words)])
    return whole_tree()


def _only_named(commands: typer.Typer, words: Iterator[str]) -> typer.Typer:
    """The group ``commands`` holding only the command that the next word names, when
    it names one; else the whole group."""
    word = next(words, None)
    named = [info for info in commands.registered_commands if info.name == word]
    if not named:
        return commands
    only = copy.copy(commands)
    only.registered_commands = named
    return only
