"""The one error boundary, `acp_cli.cli.boundary.run`, with streams that misbehave.

Every command writes through the same wrapped streams, so each case runs over
several commands: a class of failure, not one reproduction.
"""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acp_cli.cli.boundary import run
from acp_cli.emulator import Emulator
from acp_cli.errors import ExitCode
from tests.support.cli_runner import BINDING, TOKEN

# Commands that write to stdout, with what they need. {plan} is a plan file.
WRITERS = [
    ("push", "prepare", BINDING, "--plan", "{plan}", "-o", "id"),
    ("push", "prepare", BINDING, "--plan", "{plan}", "--json"),
    ("push", "prepare", BINDING, "--plan", "{plan}"),
    ("push", "prepare", BINDING, "--plan", "{plan}", "--dry-run"),
    ("push", "signature", "{plan}"),
    ("auth", "status"),
    ("auth", "token"),
    ("config", "list"),
    ("config", "path"),
    ("--version",),
    ("--help",),
]


class FailingStream(io.StringIO):
    """A text stream whose writes (or flushes) fail with ``error``."""

    def __init__(self, error: OSError, *, on_flush: bool = False) -> None:
        super().__init__()
        self.error = error
        self.on_flush = on_flush

    def write(self, text: str) -> int:
        if not self.on_flush:
            raise self.error
        return super().write(text)

    def flush(self) -> None:
        if self.on_flush and self.getvalue():
            raise self.error


def acp(
    args: tuple[str, ...],
    plan: Path,
    env: dict[str, str],
    *,
    stdin: Any = b"",
    stdout: Any = None,
    stderr: Any = None,
) -> tuple[int, Any, Any]:
    stdout = io.StringIO() if stdout is None else stdout
    stderr = io.StringIO() if stderr is None else stderr
    argv = [arg.format(plan=plan) for arg in args]
    stdin = io.BytesIO(stdin) if isinstance(stdin, bytes) else stdin
    code = run(argv, env={**os.environ, **env}, stdin=stdin, stdout=stdout, stderr=stderr)
    return code, stdout, stderr


@pytest.mark.parametrize("args", WRITERS, ids=" ".join)
def test_a_reader_that_went_away_ends_acp_quietly_with_141(
    args: tuple[str, ...], api_env: dict[str, str], plan_file: Path
) -> None:
    code, _, stderr = acp(args, plan_file, api_env, stdout=FailingStream(BrokenPipeError()))
    assert code == ExitCode.BROKEN_PIPE
    assert int(ExitCode.BROKEN_PIPE) == 141
    assert stderr.getvalue() == ""


@pytest.mark.parametrize("args", WRITERS, ids=" ".join)
@pytest.mark.parametrize(
    ("error", "said"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
        (OSError(errno.EIO, "Input/output error"), "Input/output error"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "Disk quota exceeded"),
    ],
    ids=["ENOSPC", "EIO", "EDQUOT"],
)
@pytest.mark.parametrize("on_flush", [False, True], ids=["write", "flush"])
def test_output_that_cannot_be_written_is_one_line_and_exit_74(
    args: tuple[str, ...],
    error: OSError,
    said: str,
    on_flush: bool,
    api_env: dict[str, str],
    plan_file: Path,
) -> None:
    stdout = FailingStream(error, on_flush=on_flush)
    code, _, stderr = acp(args, plan_file, api_env, stdout=stdout)
    assert code == ExitCode.OUTPUT
    assert int(ExitCode.OUTPUT) == 74
    first = stderr.getvalue().splitlines()[0]
    assert first == f"Error: Cannot write to standard output: {said}."
    assert "bug" not in stderr.getvalue()
    assert "Traceback" not in stderr.getvalue()


@pytest.mark.parametrize("args", WRITERS, ids=" ".join)
def test_a_closed_stdout_is_reported_not_a_crash(
    args: tuple[str, ...], api_env: dict[str, str], plan_file: Path
) -> None:
    code, _, stderr = acp(args, plan_file, api_env, stdout=_Closed())
    assert code == ExitCode.OUTPUT
    assert stderr.getvalue().startswith("Error: Cannot write to standard output: ")


class _Closed(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.close()


def test_stdout_absent_at_start_is_reported(api_env: dict[str, str], plan_file: Path) -> None:
    stderr = io.StringIO()
    code = run(
        ["push", "signature", str(plan_file)],
        env={**os.environ, **api_env},
        stdin=None,
        stdout=None,
        stderr=stderr,
    )
    assert code == ExitCode.OUTPUT
    assert stderr.getvalue().startswith("Error: Cannot write to standard output: it is closed.")


def test_errors_with_stderr_gone_still_give_the_exit_code(
    api_env: dict[str, str], plan_file: Path
) -> None:
    code = run(
        ["push", "prepare", "wb_unknown_binding", "--plan", str(plan_file)],
        env={**os.environ, **api_env, "ACP_TOKEN": "wrong"},
        stdin=None,
        stdout=io.StringIO(),
        stderr=None,
    )
    assert code == ExitCode.AUTH


# --- standard input -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("push", "prepare", BINDING, "--plan", "{plan}", "-o", "id"),
        ("push", "prepare", BINDING, "--plan", "{plan}", "--metadata", "{plan}", "--dry-run"),
        ("push", "signature", "{plan}"),
        ("auth", "status"),
        ("config", "list"),
    ],
    ids=" ".join,
)
def test_commands_that_do_not_ask_for_stdin_work_with_it_closed(
    args: tuple[str, ...], api_env: dict[str, str], plan_file: Path
) -> None:
    code, stdout, stderr = acp(args, plan_file, api_env, stdin=None)
    assert code == 0, stderr.getvalue()
    assert stdout.getvalue()


class BrokenStdin(io.BytesIO):
    def read(self, *_: Any) -> bytes:
        raise OSError(errno.EIO, "Input/output error")


@pytest.mark.parametrize(
    "args",
    [
        ("push", "prepare", BINDING, "--plan", "-"),
        ("push", "prepare", BINDING, "--plan", "{plan}", "--metadata", "-"),
        ("push", "signature", "-"),
        ("auth", "login", "--with-token"),
    ],
    ids=" ".join,
)
@pytest.mark.parametrize("stdin", [None, BrokenStdin()], ids=["closed", "unreadable"])
def test_stdin_asked_for_but_closed_or_unreadable_is_exit_2(
    args: tuple[str, ...], stdin: Any, emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    code, stdout, stderr = acp(args, plan_file, api_env, stdin=stdin)
    assert code == ExitCode.USAGE
    assert "Standard input" in stderr.getvalue()
    assert "Traceback" not in stderr.getvalue()
    assert stdout.getvalue() == ""
    assert emulator.requests() == []


# --- encodings ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "cp1252"])
@pytest.mark.parametrize("fmt", ["table", "id", "json"])
def test_output_degrades_to_escapes_in_any_encoding(
    encoding: str, fmt: str, make_emulator: Callable[..., Emulator], plan_file: Path
) -> None:
    binding = "wb-😀-ü"
    emulator = make_emulator(tokens=[TOKEN])
    env = {"ACP_API_URL": emulator.url, "ACP_TOKEN": TOKEN}
    raw_out, raw_err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(raw_out, encoding=encoding, errors="strict")
    stderr = io.TextIOWrapper(raw_err, encoding=encoding, errors="strict")
    args = ("push", "prepare", binding, "--plan", "{plan}", "-o", fmt)
    code, _, _ = acp(args, plan_file, env, stdout=stdout, stderr=stderr)
    stdout.flush()
    assert code == 0, raw_err.getvalue()
    text = raw_out.getvalue().decode(encoding)
    [session] = emulator.sessions()
    assert session["workspaceBindingId"] == binding  # sent as given, whatever the terminal
    if fmt == "table":
        assert "wb-\\U0001f600" in text
    elif fmt == "id":
        assert text == session["id"] + "\n"


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_error_messages_degrade_too(encoding: str, api_env: dict[str, str]) -> None:
    raw_err = io.BytesIO()
    stderr = io.TextIOWrapper(raw_err, encoding=encoding, errors="strict")
    code, _, _ = acp(
        ("push", "signature", "/nonexistent/plän-😀.json"), Path("."), api_env, stderr=stderr
    )
    stderr.flush()
    assert code == ExitCode.USAGE
    assert "pl" in raw_err.getvalue().decode(encoding)


# --- explicit empty values --------------------------------------------------------------


@pytest.mark.parametrize("option", ["--profile", "--api-url"])
@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize(
    "command",
    [("push", "prepare", BINDING, "--plan", "{plan}"), ("auth", "status"), ("config", "list")],
    ids=" ".join,
)
def test_an_empty_global_option_is_a_usage_error(
    option: str,
    where: str,
    command: tuple[str, ...],
    emulator: Emulator,
    api_env: dict[str, str],
    plan_file: Path,
) -> None:
    args = (option, "", *command) if where == "before" else (*command, option, "")
    code, stdout, stderr = acp(args, plan_file, api_env)
    assert code == ExitCode.USAGE
    assert "must not be empty" in stderr.getvalue()
    assert option in stderr.getvalue()
    assert stdout.getvalue() == ""
    assert emulator.requests() == []
