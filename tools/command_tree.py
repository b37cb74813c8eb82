"""The acp command tree as plain data, read from the live Typer app.

The completion scripts and the man page are rendered from this one model, so
they list exactly the commands and options that `acp` accepts. The tree is read
through `typer.main.get_command`, Typer's documented bridge to the command
objects; nothing here imports Click or Typer's private copy of it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import typer
import typer.main

PROFILE_OPTION = "--profile"
"""The option whose values are the profile names in the user's config.toml."""

ValueKind = Literal["none", "free", "words", "file", "dir", "profile"]


@dataclass(frozen=True)
class Values:
    """What a shell can offer for an option's value or a positional argument.

    ``none``: a flag, no value; ``free``: any text, nothing to offer; ``words``:
    a fixed list; ``file``/``dir``: paths; ``profile``: the profile names found
    in config.toml when the user presses Tab.
    """

    kind: ValueKind
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Option:
    """One option of a command."""

    names: tuple[str, ...]
    """Long names first, then short ones: ``("--output", "-o")``."""
    metavar: str | None
    """What the value is called in help, ``None`` for a flag."""
    help: str
    values: Values
    repeatable: bool
    required: bool

    @property
    def takes_value(self) -> bool:
        """Whether the word after the option is its value."""
        return self.values.kind != "none"


@dataclass(frozen=True)
class Argument:
    """One positional argument of a command."""

    metavar: str
    help: str
    values: Values
    required: bool
    variadic: bool


@dataclass(frozen=True)
class Command:
    """A command or a group of commands, with everything its help shows."""

    path: tuple[str, ...]
    """The words after ``acp`` that name it: ``()`` for the root, ``("push", "prepare")``."""
    summary: str
    description: tuple[str, ...]
    """The paragraphs of the help after the summary, each on one line."""
    epilog: str
    options: tuple[Option, ...]
    arguments: tuple[Argument, ...]
    commands: tuple[Command, ...]

    @property
    def name(self) -> str:
        """The full command line that runs it: ``acp push prepare``."""
        return " ".join(("acp", *self.path))

    def walk(self) -> Iterator[Command]:
        """This command and every command under it, depth first, in help order."""
        yield self
        for command in self.commands:
            yield from command.walk()


def read_tree(app: typer.Typer) -> Command:
    """Read ``app``'s command tree.

    Completion callbacks are evaluated against an empty config folder, so the
    result never depends on the machine it is generated on.
    """
    root = typer.main.get_command(app)
    with _empty_config_dir():
        return _read_command(root, typer.Context(root, info_name="acp"), ())


@contextlib.contextmanager
def _empty_config_dir() -> Iterator[None]:
    saved = os.environ.get("ACP_CONFIG_DIR")
    with tempfile.TemporaryDirectory(prefix="acp-docs-") as folder:
        os.environ["ACP_CONFIG_DIR"] = folder
        try:
            yield
        finally:
            if saved is None:
                del os.environ["ACP_CONFIG_DIR"]
            else:
                os.environ["ACP_CONFIG_DIR"] = saved


def _read_command(command: Any, ctx: typer.Context, path: tuple[str, ...]) -> Command:
    paragraphs = _paragraphs(command.help or "")
    options: list[Option] = []
    arguments: list[Argument] = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            arguments.append(_read_argument(param, ctx))
        else:
            options.append(_read_option(param, ctx))
    help_option = command.get_help_option(ctx)
    if help_option is not None:
        options.append(_read_option(help_option, ctx))

    children: list[Command] = []
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            child = command.get_command(ctx, name)
            if child is None or child.hidden:
                continue
            child_ctx = typer.Context(child, info_name=name, parent=ctx)
            children.append(_read_command(child, child_ctx, (*path, name)))
    return Command(
        path=path,
        summary=paragraphs[0] if paragraphs else "",
        description=tuple(paragraphs[1:]),
        epilog=(command.epilog or "").strip("\n"),
        options=tuple(options),
        arguments=tuple(arguments),
        commands=tuple(children),
    )


def _read_option(param: Any, ctx: typer.Context) -> Option:
    names = [*param.opts, *param.secondary_opts]
    names.sort(key=lambda name: not name.startswith("--"))  # stable: long names first
    flag = bool(param.is_flag or param.count)
    values = Values("none") if flag else _values(param, ctx, names)
    metavar = None if flag else _metavar(param, values)
    return Option(
        names=tuple(names),
        metavar=metavar,
        help=_one_line(param.help or ""),
        values=values,
        repeatable=bool(param.multiple or param.count),
        required=bool(param.required),
    )


def _read_argument(param: Any, ctx: typer.Context) -> Argument:
    values = _values(param, ctx, [])
    return Argument(
        metavar=_metavar(param, values),
        help=_one_line(getattr(param, "help", None) or ""),
        values=values,
        required=bool(param.required),
        variadic=param.nargs == -1,
    )


def _values(param: Any, ctx: typer.Context, names: list[str]) -> Values:
    if PROFILE_OPTION in names:
        return Values("profile")
    choices = getattr(param.type, "choices", None)
    if choices:
        return Values("words", tuple(str(choice) for choice in choices))
    if param.type.name in ("file", "path"):
        return Values("file")
    if param.type.name == "directory":
        return Values("dir")
    words = tuple(item.value for item in param.shell_complete(ctx, "") if item.value)
    return Values("words", words) if words else Values("free")


def _metavar(param: Any, values: Values) -> str:
    if param.metavar:
        return str(param.metavar)
    if values.kind == "words" and getattr(param.type, "choices", None):
        return "|".join(values.words)
    if param.param_type_name == "argument":
        return str(param.name).upper()
    return str(param.type.name).upper()


def _paragraphs(text: str) -> list[str]:
    return [_one_line(block) for block in text.strip().split("\n\n") if block.strip()]


def _one_line(text: str) -> str:
    return " ".join(text.split())
