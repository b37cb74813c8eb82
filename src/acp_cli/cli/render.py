"""Output: a table for people, JSON or a bare ID for scripts.

Data goes to the ``out`` stream (stdout); messages go through ``Messages`` to
stderr. rich is imported only when a table is drawn on a terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any

from acp_cli.errors import UnavailableError, UsageError
from acp_cli.server_text import has_control, json_text, one_line
from acp_cli.sizes import binary_size

if TYPE_CHECKING:
    from acp_cli.client import PreparedPushSession
    from acp_cli.request import Request

ABSENT = "-"

SESSION_FIELDS: Sequence[tuple[str, str]] = (
    ("ID", "id"),
    ("Status", "status"),
    ("Binding", "workspace_binding_id"),
    ("Device", "device_id"),
    ("Environment", "environment_id"),
    ("Project", "project_id"),
    ("User", "user_id"),
    ("Plan signature", "plan_signature"),
    ("Created", "created_at"),
    ("Updated", "updated_at"),
)


class OutputFormat(StrEnum):
    """What ``-o`` selects."""

    TABLE = "table"
    JSON = "json"
    ID = "id"

    @classmethod
    def choose(cls, json_flag: bool, output: OutputFormat | None) -> OutputFormat:
        """The format that ``--json`` and ``-o`` ask for together (table by default)."""
        if json_flag and output not in (None, cls.JSON):
            raise UsageError("--json and -o/--output disagree.", hint="Give one of them.")
        return cls.JSON if json_flag else (output or cls.TABLE)


@dataclass(frozen=True)
class Terminal:
    """How to draw for a stream: in colour with rich, or as plain text."""

    color: bool
    """True on a terminal unless ``--no-color`` or ``NO_COLOR`` asks for plain text."""

    @classmethod
    def detect(cls, stream: IO[str], *, no_color: bool, env: Mapping[str, str]) -> Terminal:
        """Decide from the stream, ``--no-color`` and ``NO_COLOR``."""
        return cls(stream.isatty() and not no_color and not env.get("NO_COLOR"))


def headline(session: PreparedPushSession, binding_id: str) -> str:
    """One short sentence, the essential first: a new session or a reused one."""
    if session.created:
        return f"New push session for binding '{binding_id}' ({session.http_status})."
    return (
        f"Reused push session for binding '{binding_id}' ({session.http_status}): "
        "same plan signature."
    )


REUSED_METADATA_NOTE = (
    "The reused session keeps the metadata it was prepared with; "
    "the metadata of this request was not stored."
)
"""Said on stderr when metadata was sent and the session was reused (SPEC: reuse is by
plan signature alone)."""


def shown(value: Any) -> str:
    """A value as printable text: absent and null show as ``-``, 30.0 as ``30``."""
    if value is None:
        return ABSENT
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool | int | float | list | dict):
        value = json.dumps(value, ensure_ascii=False)
    return one_line(str(value))


def session_rows(session: PreparedPushSession) -> list[tuple[str, str]]:
    """The table rows of a push session, in a fixed order."""
    return [(label, shown(getattr(session, name))) for label, name in SESSION_FIELDS]


def write_result(
    session: PreparedPushSession,
    *,
    binding_id: str,
    fmt: OutputFormat,
    out: IO[str],
    terminal: Terminal,
) -> None:
    """Write a prepared session in the chosen format."""
    if fmt is OutputFormat.JSON:
        write_raw_json(session.body, out)
    elif fmt is OutputFormat.ID:
        if not session.id or has_control(session.id):
            raise UnavailableError(
                "The server's answer has no pushSession.id that can be printed.",
                hint="Run again with --json to see the whole answer.",
                request_id=session.request_id,
            )
        out.write(session.id + "\n")
    else:
        write_table(
            headline(session, binding_id),
            session_rows(session),
            out=out,
            terminal=terminal,
            style="bold green" if session.created else "bold cyan",
        )


def write_raw_json(raw: bytes, out: IO[str]) -> None:
    """Write the server's JSON answer, ending with a newline: indented on a terminal,
    for people (as `write_json`); elsewhere the bytes as the server sent them, for
    scripts. ``raw`` is already safe to show (`acp_cli.server_text.json_text`), and so
    is its indented form."""
    if out.isatty():
        try:
            indented = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):  # a plan too deep to indent: as it came
            pass
        else:
            raw = json_text(indented.encode("utf-8"))
    write_data(raw.strip() + b"\n", out)


def write_data(data: bytes, out: IO[str]) -> None:
    """Write UTF-8 data bytes unchanged: through the stream's byte layer when it has one
    (acp's standard output), else as text."""
    write_bytes = getattr(out, "write_bytes", None)
    if write_bytes is None:
        out.write(data.decode("utf-8"))
    else:
        write_bytes(data)


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
        out.write(wrapped(title, out) + "\n")
        for label, value in rows:
            out.write(f"{label + ':':<{width + 1}} {value}\n")
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, highlight=False, width=terminal_width(out))
    # The title wraps at word boundaries at the terminal's width; long values
    # (signatures, IDs) are never cut or folded (soft_wrap), so they can be
    # copied whole from the terminal.
    console.print(Text(title, style=style))
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
    """A JSON document, ending with a newline; paths become strings.

    Indented on a terminal, where a person reads it; compact, on one line, on a
    pipe or in a file, where a program does (as gh and jq do). Every ``--json``
    and ``-o json`` of acp writes through here or `write_raw_json`.
    """
    if out.isatty():
        text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    else:
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str)
    out.write(text + "\n")


_QUOTED_COMMAND = re.compile(r"`[^`\n]*`")
"""A command in a message: between backticks, so that it can be pasted as it is."""
_ACP_COMMAND = re.compile(r"(?<![\w./-])acp (?=(?:push|auth|config)\b)")
"""Where an acp command starts in a quoted command: ``acp `` before a group's name."""


def with_global_options(text: str, options: Sequence[str]) -> str:
    """``text`` with ``options`` (shell-quoted) after ``acp`` in each acp command it
    quotes between backticks (prose that names a command is left alone).

    A hint is advice to follow as written: ``acp auth login --insecure-storage``
    after ``acp --profile local auth login`` must store the token for ``local``,
    so the command reads ``acp --profile local auth login --insecure-storage``.
    """
    if not options:
        return text
    import shlex

    after_acp = f"acp {' '.join(shlex.quote(option) for option in options)} "
    return _QUOTED_COMMAND.sub(lambda quoted: _ACP_COMMAND.sub(after_acp, quoted.group()), text)


class Messages:
    """Everything that is not data: progress, warnings and errors, on stderr.

    On a terminal a long line wraps at word boundaries at the terminal's width,
    continuation lines indented; elsewhere each message is one line, for logs and grep.
    Every acp command a message quotes carries the global options of this run
    (``global_options``, read when the message is written): see `with_global_options`.
    """

    def __init__(
        self, stream: IO[str], global_options: Callable[[], Sequence[str]] | None = None
    ) -> None:
        self.stream = stream
        self.global_options = global_options

    def info(self, text: str, *, indent: str = "") -> None:
        """A plain line."""
        if self.global_options is not None:
            text = with_global_options(text, self.global_options())
        self.stream.write(wrapped(text, self.stream, indent=indent) + "\n")
        self.stream.flush()

    def warning(self, text: str) -> None:
        """A line that starts with ``Warning:``."""
        self.info(f"Warning: {text}")

    def error(self, lines: Sequence[str]) -> None:
        """An error: the first line after ``Error:``, the rest (request ID, hint) below."""
        first, *rest = lines
        self.info(f"Error: {first}")
        for line in rest:
            self.info(line, indent="  ")


def terminal_width(stream: IO[str]) -> int | None:
    """The width of the terminal ``stream`` writes to, or None when it is not one."""
    try:
        if not stream.isatty():
            return None
        import os

        return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError, AttributeError):
        return None


def wrapped(text: str, stream: IO[str], *, indent: str = "") -> str:
    """``text`` after ``indent``, wrapped at word boundaries when ``stream`` is a terminal
    narrower than it (continuation lines indented two more spaces). Words longer than a
    line (paths, URLs, signatures) are never cut."""
    width = terminal_width(stream)
    if width is None or len(indent) + len(text) <= width:
        return indent + text
    import textwrap

    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def plan_summary(files: int, total_bytes: int, skipped: int) -> str:
    """The line after ``acp push plan`` on a terminal: ``12,345 files, 1.2 GiB, 3 skipped``."""
    listed = f"{files:,} file{'' if files == 1 else 's'}"
    return f"{listed}, {binary_size(total_bytes)}, {skipped:,} skipped"


class PlanProgressBar:
    """A progress bar on stderr while a plan's files are described
    (`acp_cli.workspace.PlanProgress`): how far (percent), files done of all, bytes
    hashed, rate, time left; what does not fit a narrow terminal is left out.

    How far counts each file as ``FILE_WEIGHT`` bytes plus the bytes hashed, so that
    a few huge files weigh what they take. Nothing is drawn for work that ends
    within ``delay`` seconds, nor before something moved. It redraws when called,
    at most every ``interval`` seconds, never from a thread of its own: the workers
    that hash are forked, and a fork must not happen while another thread holds a
    lock. ``build_plan`` calls it at least every 0.05 s.
    """

    def __init__(self, stream: IO[str], *, delay: float = 0.5, interval: float = 0.2) -> None:
        import time

        self.stream = stream
        self.delay = delay
        self.interval = interval
        self.clock = time.monotonic
        self.started = self.clock()
        self.total = 0
        self.files = 0
        self.hashed = 0
        self.still_pending = 0
        self.last_drawn = 0.0
        self.bar: Any = None
        self.task: Any = None
        self.columns: Any = None

    def start(self, files: int) -> None:
        """git has listed ``files`` paths to describe."""
        self.total = files

    def pending(self, hashed_bytes: int) -> None:
        """``hashed_bytes`` are still to be read to hash the big files found so far."""
        self.still_pending = hashed_bytes

    def advance(self, files: int, hashed_bytes: int) -> None:
        """``files`` more paths are described, ``hashed_bytes`` more bytes were read."""
        self.files += files
        self.hashed += hashed_bytes
        now = self.clock()
        if now - self.last_drawn < self.interval and self.files < self.total:
            return
        if self.bar is None and (
            now - self.started < self.delay or not (self.files or self.hashed)
        ):
            return  # quick work draws nothing; the first frame says how far it is
        done = self.files * FILE_WEIGHT + self.hashed
        whole = done + (self.total - self.files) * FILE_WEIGHT + self.still_pending
        first = self.bar is None
        if first:
            self._open()
        label, bar = self.columns
        width = self.bar.console.width - 1  # the last column would wrap on some terminals
        wide = width >= WIDE
        label.text_format = "Describing" if wide else ""
        # Each column but the first is one space after the one before it.
        room = width - (len("Describing") if wide else 0) - 1 - BAR_MIN - 1
        fraction = done / whole if whole else 1.0
        status = plan_status(
            self.files, self.total, self.hashed, fraction, now - self.started, room
        )
        bar.bar_width = max(BAR_MIN, min(BAR_MAX, room + BAR_MIN - len(status)))
        self.bar.update(self.task, completed=done, total=whole or 1, status=status)
        if first:
            self.bar.start()  # draws the first frame
        else:
            self.bar.refresh()
        self.last_drawn = now

    def close(self) -> None:
        """Take the bar off the terminal."""
        if self.bar is not None:
            self.bar.stop()

    def _open(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        console = Console(file=self.stream, width=terminal_width(self.stream))
        self.columns = (TextColumn(""), BarColumn())
        self.bar = Progress(
            *self.columns,
            TextColumn("{task.fields[status]}"),
            console=console,
            auto_refresh=False,
            transient=True,
        )
        self.task = self.bar.add_task("plan", status="")


FILE_WEIGHT = 64 * 1024
"""What describing a file weighs in the bar, in bytes hashed: about the time it takes."""
BAR_MIN = 10
BAR_MAX = 40
WIDE = 100
"""Terminals at least this wide also show the word "Describing"."""


def plan_status(
    files: int, total: int, hashed: int, fraction: float, elapsed: float, room: int
) -> str:
    """The text beside the bar, in at most ``room`` characters if it can be:
    ``45% 13,505/30,011 files, 1.2 GiB hashed, 240.0 MiB/s, 0:00:12 left``, shorter
    forms and fewer parts when it must be; the percent and the bytes always."""
    percent = f"{int(fraction * 100)}%"
    rate = f"{binary_size(int(hashed / elapsed))}/s" if hashed and elapsed > 0 else None
    left = None
    if 0 < fraction < 1:
        seconds = int(elapsed * (1 - fraction) / fraction)
        left = f"{seconds // 3600}:{seconds // 60 % 60:02}:{seconds % 60:02} left"
    counts = f"{files:,}/{total:,}"
    for parts in (
        [f"{counts} files", f"{binary_size(hashed)} hashed", rate, left],
        [counts, binary_size(hashed), rate, left],
    ):
        shown = [part for part in parts if part is not None]
        while len(shown) >= 2:
            text = f"{percent} {', '.join(shown)}"
            if len(text) <= room:
                return text
            shown.pop()
    return f"{percent} {binary_size(hashed)}"
