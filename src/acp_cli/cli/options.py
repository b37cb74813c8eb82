"""The global options, declared once, and the typed option aliases shared by commands.

The global options (``--profile``, ``--api-url``, ``-v``, ``--no-color``) work before
or after the subcommand: ``acp -v push prepare ...`` and ``acp push prepare ... -v``.
They are declared once, in `GLOBAL_OPTIONS`: `root_callback` puts them on the root
command and `command` appends them to each command's signature as Typer reads it.
Their values never reach the command functions (``expose_value=False``): each one's
callback records it in this run's `Invocation` (`acp_cli.cli.context`), which
`command` hands to the command as its first argument.
"""

from __future__ import annotations

import functools
import gc
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Concatenate, ParamSpec, cast

import typer

from acp_cli import settings
from acp_cli.cli.context import Invocation, invocation

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


def _global(name: str, option: Any, default: object) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=option
    )


GLOBAL_OPTIONS = (
    _global("profile", ProfileOption, None),
    _global("api_url", ApiUrlOption, None),
    _global("verbose", VerboseOption, False),
    _global("no_color", NoColorOption, False),
)
"""The global options as parameters of a signature, in the order help lists them."""

NETWORK_PANEL = "Network options"


@dataclass(frozen=True)
class OptionGroup:
    """Options that a command takes as one mapping of their names to their values (None:
    not given): the default of the command's parameter that receives the mapping. Typer
    is shown the options in its place (`command`)."""

    parameters: tuple[inspect.Parameter, ...]


Flags = Mapping[str, Any]
"""The values of an `OptionGroup`'s options, by name; None for an option not given."""


def _setting_option(setting: settings.Setting) -> inspect.Parameter:
    """The option of a setting that has a flag, as a parameter named after the setting:
    a path for a file (``--ca-bundle FILE``), seconds for the others."""
    is_file = isinstance(setting.type, settings.ExistingFile)
    option = typer.Option(
        str(setting.flag),
        metavar="FILE" if is_file else "SECONDS",
        dir_okay=False,  # Typer reads it for a path only
        help=setting.option_help,
        rich_help_panel=NETWORK_PANEL,
        show_default=False,
    )
    annotation: Any = Annotated[Path | None, option] if is_file else Annotated[float | None, option]
    return inspect.Parameter(
        setting.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation
    )


NETWORK_OPTIONS = cast(
    Flags, OptionGroup(tuple(_setting_option(setting) for setting in settings.NETWORK))
)
"""``--timeout``, ``--connect-timeout``, ``--deadline`` and ``--ca-bundle``, made from the
registry (`acp_cli.settings.NETWORK`): a command that sends takes them as
``network: Flags = NETWORK_OPTIONS`` and hands the mapping to `Invocation.client`.
(Typed as the mapping the command receives; the command's signature holds the group.)"""

P = ParamSpec("P")
Command = Callable[Concatenate[Invocation, P], None]


def command(
    group: typer.Typer,
    name: str | None = None,
    *,
    global_options: bool = True,
    **command_settings: Any,
) -> Callable[[Command[P]], Command[P]]:
    """Register the decorated function as the command ``name`` of ``group`` (with
    Typer's ``command_settings``: ``help``, ``epilog``...), and return it unchanged.

    The function takes this run's `Invocation` first, then its own arguments and
    options. Typer is shown its signature with the `Invocation` replaced by the
    context and the global options appended (none with ``global_options=False``).
    """

    def register(function: Command[P]) -> Command[P]:
        after = GLOBAL_OPTIONS if global_options else ()
        # Named here as Typer would name it, so that a run can find the command it
        # names without building the others (`acp_cli.cli.root.app_for`).
        named = name or function.__name__.lower().replace("_", "-")
        group.command(named, **command_settings)(_TyperView(function, after=after))
        return function

    return register


def root_callback(group: typer.Typer) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Register the decorated function as the callback of ``group``, the root command,
    with the global options before its own; return it unchanged."""

    def register(function: Callable[P, None]) -> Callable[P, None]:
        group.callback()(_TyperView(function, before=GLOBAL_OPTIONS, hand_invocation=False))
        return function

    return register


_CONTEXT = inspect.Parameter(
    "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
)


class _TyperView:
    """A command function as Typer is given it: a callable whose `__signature__` shows
    the global options ``before`` or ``after`` the function's own parameters and, when
    ``hand_invocation``, the context in place of the first one, the `Invocation`.

    Typer calls it with a value for each parameter shown, the global options'
    defaults included, and it calls the function with its own ones only. The
    signature is worked out when Typer first reads it, as Typer would otherwise:
    when it builds the command's group, so a run pays only for the group it names
    (`acp_cli.cli.root.app_for`).
    """

    def __init__(
        self,
        function: Callable[..., None],
        *,
        before: Sequence[inspect.Parameter] = (),
        after: Sequence[inspect.Parameter] = (),
        hand_invocation: bool = True,
    ) -> None:
        functools.update_wrapper(self, function)
        # The signature holds every annotation, evaluated: Typer need not read these.
        self.__annotations__: dict[str, Any] = {}
        self._function = function
        self._before = [_CONTEXT, *before] if hand_invocation else list(before)
        self._after = list(after)
        self._hand_invocation = hand_invocation

    @functools.cached_property
    def _own(self) -> list[inspect.Parameter]:
        """The function's parameters (but the `Invocation`), annotations evaluated."""
        parameters = inspect.signature(self._function, eval_str=True).parameters.values()
        return list(parameters)[1:] if self._hand_invocation else list(parameters)

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        shown = [
            option
            for parameter in self._own
            for option in (
                parameter.default.parameters
                if isinstance(parameter.default, OptionGroup)
                else (parameter,)
            )
        ]
        return inspect.Signature([*self._before, *shown, *self._after], return_annotation=None)

    def __call__(self, **values: Any) -> None:
        _collect_garbage()
        first = [invocation(values[_CONTEXT.name])] if self._hand_invocation else []
        self._function(
            *first, **{parameter.name: _value(parameter, values) for parameter in self._own}
        )


def _collect_garbage() -> None:
    """Turn the garbage collector back on when the console script turned it off for its
    start-up (`acp_cli.__main__`), leaving what start-up made out of its collections."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _value(parameter: inspect.Parameter, values: Mapping[str, Any]) -> Any:
    """The value Typer gave ``parameter``, or the mapping of its group's options."""
    if isinstance(parameter.default, OptionGroup):
        return {option.name: values[option.name] for option in parameter.default.parameters}
    return values[parameter.name]


QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Do not announce retries on stderr, nor draw progress, a summary, notes or "
        "the large-plan warning with --dir (other warnings and errors are still shown).",
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
