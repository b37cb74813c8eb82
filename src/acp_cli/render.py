"""Output: a table for people, JSON or a bare ID for scripts.

Data goes to the ``out`` stream (stdout); messages go through ``Messages`` to
stderr. rich is imported only when a table is drawn on a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any

from acp_cli.errors import UnavailableError
from acp_cli.server_text import has_control, one_line

if TYPE_CHECKING:
    from acp_cli.answers import PrepareResult
    from acp_cli.request import Request

ABSENT = "-"

SESSION_FIELDS: Sequence[tuple[str, str]] = (
    ("ID", "id"),
    ("Status", "status"),
    ("Binding", "workspaceBindingId"),
    ("Device", "deviceId"),
    ("Environment", "environmentId"),
    ("Project", "projectId"),
    ("User", "userId"),
    ("Plan signature", "planSignature"),
    ("Created", "createdAt"),
    ("Updated", "updatedAt"),
)


class OutputFormat(StrEnum):
    """What ``-o`` selects."""

    TABLE = "table"
    JSON = "json"
    ID = "id"


@dataclass(frozen=True)
class Terminal:
    """How to draw for a stream: in colour with rich, or as plain text."""

    color: bool
    """True on a terminal unless ``--no-color`` or ``NO_COLOR`` asks for plain text."""

    @classmethod
    def detect(cls, stream: IO[str], *, no_color: bool, env: Mapping[str, str]) -> Terminal:
        """Decide from the stream, ``--no-color`` and ``NO_COLOR``."""
        return cls(stream.isatty() and not no_color and not env.get("NO_COLOR"))


def headline(result: PrepareResult, binding_id: str) -> str:
    """One sentence that says whether the session is new or reused."""
    if result.created:
        return (
            f"New push session prepared for binding '{binding_id}' "
            f"({result.status_code}, created: true)."
        )
    return (
        f"Reused the existing prepared push session for binding '{binding_id}': "
        f"same plan signature ({result.status_code}, created: false)."
    )


def shown(value: Any) -> str:
    """A value as printable text: absent and null show as ``-``, 30.0 as ``30``."""
    if value is None:
        return ABSENT
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool | int | float | list | dict):
        value = json.dumps(value, ensure_ascii=False)
    return one_line(str(value))


def session_rows(session: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The table rows of a push session, in a fixed order."""
    return [(label, shown(session.get(key))) for label, key in SESSION_FIELDS]


def write_result(
    result: PrepareResult,
    *,
    binding_id: str,
    fmt: OutputFormat,
    out: IO[str],
    terminal: Terminal,
) -> None:
    """Write a prepared session in the chosen format."""
    if fmt is OutputFormat.JSON:
        write_raw_json(result.raw, out)
    elif fmt is OutputFormat.ID:
        session_id = result.session.get("id")
        if not isinstance(session_id, str) or not session_id or has_control(session_id):
            raise UnavailableError(
                "The server's answer has no pushSession.id that can be printed.",
                hint="Run again with --json to see the whole answer.",
                request_id=result.request_id,
            )
        out.write(session_id + "\n")
    else:
        write_table(
            headline(result, binding_id),
            session_rows(result.session),
            out=out,
            terminal=terminal,
            style="bold green" if result.created else "bold cyan",
        )


def write_raw_json(raw: bytes, out: IO[str]) -> None:
    """Write JSON bytes as the server sent them, ending with a newline."""
    text = raw.decode("utf-8").strip()
    out.write(text + "\n")


def write_table(
    title: str,
    rows: Sequence[tuple[str, str]],
    *,
    out: IO[str],
    terminal: Terminal,
    style: str = "bold",
) -> None:
    """A two-column table: drawn with rich on a colour terminal, plain aligned text otherwise.

    Plain text is never coloured or truncated, so it can be piped and grepped.
    """
    width = max(len(label) for label, _ in rows)
    if not terminal.color:
        out.write(title + "\n")
        for label, value in rows:
            out.write(f"{label + ':':<{width + 1}} {value}\n")
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, highlight=False)
    console.print(Text(title, style=style), soft_wrap=True)
    # soft_wrap: long values (signatures, IDs) are never cut or folded by rich,
    # so they can be copied whole from the terminal.
    for label, value in rows:
        console.print(Text.assemble((f"{label:<{width}}", "bold"), "  ", value), soft_wrap=True)


def write_dry_run(
    request: Request, plan_signature: str, *, fmt: OutputFormat, out: IO[str], terminal: Terminal
) -> None:
    """What ``--dry-run`` shows: a table, or JSON with ``--json`` and ``-o json|id``."""
    if fmt is OutputFormat.TABLE:
        title = "Dry run: this request would be sent (nothing was sent)."
        write_table(title, dry_run_rows(request, plan_signature), out=out, terminal=terminal)
    else:
        write_json(dry_run_json(request, plan_signature), out)


def dry_run_rows(request: Request, plan_signature: str) -> list[tuple[str, str]]:
    """What ``--dry-run`` shows: the request line, headers (token masked), body facts."""
    rows = [("Method", request.method), ("URL", request.url)]
    rows += list(request.masked_headers().items())
    rows += [("Plan signature", plan_signature), ("Body", f"{len(request.body)} bytes")]
    return rows


def dry_run_json(request: Request, plan_signature: str) -> dict[str, Any]:
    """``--dry-run --json``: the same facts as one JSON object."""
    return {
        "method": request.method,
        "url": request.url,
        "headers": request.masked_headers(),
        "planSignature": plan_signature,
        "bodyBytes": len(request.body),
    }


def write_json(document: Any, out: IO[str]) -> None:
    """A JSON document for scripts, indented, on its own line; paths become strings."""
    out.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")


class Messages:
    """Everything that is not data: progress, warnings and errors, on stderr."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr

    def info(self, text: str) -> None:
        """A plain line."""
        self.stream.write(text + "\n")
        self.stream.flush()

    def warning(self, text: str) -> None:
        """A line that starts with ``Warning:``."""
        self.info(f"Warning: {text}")

    def error(self, lines: Sequence[str]) -> None:
        """An error: the first line after ``Error:``, the rest (request ID, hint) below."""
        first, *rest = lines
        self.info(f"Error: {first}")
        for line in rest:
            self.info(f"  {line}")
