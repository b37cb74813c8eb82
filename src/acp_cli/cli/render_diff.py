"""How ``acp push diff`` shows a `acp_cli.plan_diff.PlanDiff`: for people, as git's
``--name-status``, or as JSON.

Paths come from plan files that anyone may have written: a control character or a
bidirectional override in one is shown as an escape (``\\x1b``), never sent to the
terminal as it is.
"""

from __future__ import annotations

from enum import StrEnum
from typing import IO

from acp_cli.cli.render import Terminal, write_json
from acp_cli.plan_diff import PathChange, PlanDiff, Status
from acp_cli.server_text import escape
from acp_cli.sizes import binary_size

_SYMBOL = {Status.ADDED: "+", Status.MODIFIED: "~", Status.DELETED: "-"}
_STYLE = {Status.ADDED: "green", Status.MODIFIED: "yellow", Status.DELETED: "red"}
_BATCH = 2000
"""Lines handed to rich at once: one call per line would cost seconds for a large diff."""


class DiffFormat(StrEnum):
    """The forms of ``acp push diff``."""

    HUMAN = "human"
    NAME_STATUS = "name-status"
    JSON = "json"


def signed_size(change: int) -> str:
    """A size change for people: ``+1.2 MiB``, ``-312 bytes``, ``+0 bytes``."""
    return ("-" if change < 0 else "+") + binary_size(abs(change))


def diff_summary(diff: PlanDiff) -> str:
    """One line: ``3 added, 2 modified, 1 deleted; +1.2 MiB``, or that nothing changed."""
    if diff.same:
        return f"No changes: {diff.unchanged:,} paths the same in both plans."
    counts = diff.counts()
    return (
        f"{counts[Status.ADDED]:,} added, {counts[Status.MODIFIED]:,} modified, "
        f"{counts[Status.DELETED]:,} deleted; {signed_size(diff.new_bytes - diff.old_bytes)}"
    )


def since_last_line(binding: str, diff: PlanDiff) -> str:
    """What ``prepare`` says on a terminal before its table: ``Since the last plan
    prepared here for wb_123: 3 added, 2 modified, 1 deleted (+1.2 MiB)``."""
    head = f"Since the last plan prepared here for {escape(binding)}:"
    if diff.same:
        return f"{head} no changes."
    counts = diff.counts()
    return (
        f"{head} {counts[Status.ADDED]:,} added, {counts[Status.MODIFIED]:,} modified, "
        f"{counts[Status.DELETED]:,} deleted ({signed_size(diff.new_bytes - diff.old_bytes)})."
    )


def write_diff(diff: PlanDiff, *, fmt: DiffFormat, out: IO[str], terminal: Terminal) -> None:
    """Write ``diff`` in the form ``fmt``; colour only for people on a colour terminal."""
    if fmt is DiffFormat.JSON:
        write_json(diff.as_json(), out)
    elif fmt is DiffFormat.NAME_STATUS:
        out.write("".join(f"{change.status}\t{escape(change.path)}\n" for change in diff.changes))
    elif terminal.color:
        _write_colored(diff, out)
    else:
        out.write("".join(_line(change) + "\n" for change in diff.changes))
        out.write(diff_summary(diff) + "\n")


def _line(change: PathChange) -> str:
    return f"{_SYMBOL[change.status]} {escape(change.path)} ({signed_size(change.size_change)})"


def _write_colored(diff: PlanDiff, out: IO[str]) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, highlight=False)
    for start in range(0, len(diff.changes), _BATCH):
        text = Text()
        for change in diff.changes[start : start + _BATCH]:
            text.append(_line(change) + "\n", style=_STYLE[change.status])
        console.print(text, end="", soft_wrap=True)
    console.print(Text(diff_summary(diff), style="bold"), soft_wrap=True)
