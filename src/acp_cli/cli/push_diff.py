"""``acp push diff``: what changed between two plans, plan files or folders."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from acp_cli.cli.context import Invocation
from acp_cli.cli.options import ExcludeOption, NoCacheOption, epilog
from acp_cli.errors import UsageError

if TYPE_CHECKING:
    from acp_cli.plan_diff import PlanEntries

DIFFERENT = 1
"""The exit code of plans that differ, as diff(1) and ``git diff --exit-code`` use it.
Not an error: the command ends with it through ``typer.Exit``, past the error boundary."""

DIFF_EPILOG = epilog(
    "Examples:",
    [
        "acp push diff sent.json .",
        "acp push diff old.json new.json --name-status",
        "acp push plan | acp push diff sent.json - --json",
        "acp push diff --last wb_123 .  # since the last plan prepared for wb_123",
    ],
    "Exit codes: 0 the plans are the same, 1 they differ, 2 a plan cannot be read or "
    "compared (not a plan, a path listed twice, - given twice).",
)

_SOURCE_HELP = (
    "A plan file, - for standard input, or a folder (planned as `acp push plan` plans it)."
)
OldArgument = Annotated[
    str | None, typer.Argument(metavar="OLD", help=_SOURCE_HELP, show_default=False)
]
NewArgument = Annotated[
    str | None, typer.Argument(metavar="NEW", help=_SOURCE_HELP, show_default=False)
]


def diff(
    here: Invocation,
    old: OldArgument = None,
    new: NewArgument = None,
    last: Annotated[
        str | None,
        typer.Option(
            "--last",
            metavar="BINDING",
            help="Compare the last plan prepared here for BINDING (at this API) with "
            "the one plan, file or folder given.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON: the added, modified and deleted paths, the count of "
            "unchanged ones and the byte totals.",
        ),
    ] = False,
    name_status: Annotated[
        bool,
        typer.Option(
            "--name-status", help="Print git's A, M or D, a tab and the path, one per line."
        ),
    ] = False,
    exclude: ExcludeOption = None,
    no_cache: NoCacheOption = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="For a folder: no progress bar, no summary.")
    ] = False,
) -> None:
    """Show what changed between two plans: paths added, modified, deleted.

    OLD and NEW are each a plan file, - for standard input (one of them at
    most), or a workspace folder, planned as `acp push plan` plans it. A path
    is modified when any field of its entry differs. Changed paths are listed
    in the plans' order (UTF-8 bytes) with their size change, then a summary.
    """
    from acp_cli.cli.render_diff import DiffFormat, write_diff
    from acp_cli.plan_diff import diff_entries

    if json_output and name_status:
        raise UsageError("--json and --name-status are two forms: give one of them.")
    if last is not None:
        if old is None or new is not None:
            raise UsageError(
                "With --last BINDING, give one plan to compare: a file, - or a folder.",
                hint=f"For example: acp push diff --last {last} .",
            )
        old, new = None, old
    elif old is None or new is None:
        raise UsageError(
            "Give two plans to compare, OLD and NEW (or --last BINDING and NEW).",
            hint="For example: acp push diff sent.json .",
        )
    if old == "-" and new == "-":
        raise UsageError(
            "OLD and NEW cannot both be - (standard input).",
            hint="Give one of them as a file: acp push plan -o new.json, then compare.",
        )
    folders = [
        source for source in (old, new) if source not in (None, "-") and Path(source).is_dir()
    ]
    if not folders and (exclude or no_cache):
        raise UsageError(
            "--exclude and --no-cache go with a folder.",
            hint="A plan file is compared as it is.",
        )
    options = _PlanReader(
        exclude or [], cache=not no_cache, quiet=quiet, sources=(old, new), folders=folders
    )
    before = _last_prepared(here, last) if last is not None else options.entries(here, old)
    result = diff_entries(before, options.entries(here, new))
    fmt = (
        DiffFormat.JSON
        if json_output
        else DiffFormat.NAME_STATUS
        if name_status
        else DiffFormat.HUMAN
    )
    write_diff(result, fmt=fmt, out=here.stdout, terminal=here.terminal())
    if not result.same:
        raise typer.Exit(DIFFERENT)


def _last_prepared(here: Invocation, binding: str) -> PlanEntries:
    """The entries of the last plan prepared here for ``binding`` at this run's API."""
    from acp_cli import strict_json
    from acp_cli.plan_diff import plan_entries
    from acp_cli.sent_plans import SentPlans

    origin = here.settings().origin
    data = SentPlans.from_env(here.env).recall(origin, binding)
    if data is not None:
        name = f"the last plan prepared for {binding}"
        # One that is not a plan (a crash cut it short: it is written without an fsync)
        # is not trusted either: the user cannot fix it, the next prepare replaces it.
        with contextlib.suppress(UsageError):
            return plan_entries(strict_json.parse_object(data, name), name)
    raise UsageError(
        f"No plan was prepared here for {binding} at {origin} (or acp cannot trust "
        "the one it remembers).",
        hint=f"acp remembers the plan of each successful `acp push prepare {binding} ...`.",
    )


def since_last_prepared(
    here: Invocation, origin: str, binding: str, data: bytes, *, show: bool
) -> None:
    """After a successful prepare of the plan ``data``: say (when ``show``) what changed
    since the last plan prepared here for ``binding`` at ``origin``, then remember
    this one. A plan that cannot be compared path by path is remembered, not compared."""
    from acp_cli.sent_plans import SentPlans

    sent = SentPlans.from_env(here.env)
    before = sent.recall(origin, binding) if show else None
    if before is not None:  # on a terminal only: a script's prepare imports no diff
        from acp_cli import strict_json
        from acp_cli.cli.render_diff import since_last_line
        from acp_cli.plan_diff import diff_entries, plan_entries

        try:
            old = plan_entries(strict_json.parse_object(before, "the last plan"), "the last plan")
            new = plan_entries(strict_json.parse_object(data, "the plan"), "the plan")
        except UsageError:
            pass
        else:
            here.messages.info(since_last_line(binding, diff_entries(old, new)))
    sent.remember(origin, binding, data)


class _PlanReader:
    """How OLD or NEW is read: a plan file or stdin strictly, a folder planned."""

    def __init__(
        self,
        excludes: list[str],
        *,
        cache: bool,
        quiet: bool,
        sources: tuple[str | None, str | None],
        folders: list[str],
    ) -> None:
        self.excludes = excludes
        self.cache = cache
        self.quiet = quiet
        self.folders = folders
        """The sources that are folders, found once by `diff`."""
        # A plan file compared with a folder is not part of that folder's plan: the
        # documented `acp push diff sent.json .` would always list sent.json as added.
        self.own_files: dict[Path | str, str] = {
            source: "the plan compared with it"
            for source in sources
            if source not in (None, "-") and source not in folders
        }

    def entries(self, here: Invocation, source: str | None) -> PlanEntries:
        """The entries by path of the plan ``source`` names."""
        from acp_cli import strict_json
        from acp_cli.cli.push import _build_plan
        from acp_cli.cli.push_input import source_name
        from acp_cli.plan_diff import plan_entries

        assert source is not None  # diff() checked it
        if source in self.folders:
            built = _build_plan(
                here,
                Path(source),
                self.excludes,
                cache=self.cache,
                quiet=self.quiet,
                own_files=self.own_files,
                allow_empty=True,
            )
            data, name = built.data, f"the plan of {source}"
        else:
            data, name = (
                strict_json.read_source(source, here.stdin_reader("a plan")),
                source_name(source),
            )
        return plan_entries(strict_json.parse_object(data, name), name)
