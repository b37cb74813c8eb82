"""``run()``: acp in this process; ``main()``: the ``acp`` console script around it.

``run()`` is the one error boundary: every error becomes one message on stderr
and an exit code (SPEC.md section 5), whatever command raised it. Nothing is
imported at module level beyond the standard library, so a Ctrl-C that lands
while Typer is still being imported is still "Interrupted." and exit 130.
"""

from __future__ import annotations

import os
import sys

# Only the standard library's already-loaded modules at import time (not even
# typing): until main() runs, a Ctrl-C would print a raw traceback.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import IO

    from acp_cli.cli.context import Invocation


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    stdin: IO[bytes] | None,
    stdout: IO[str] | None,
    stderr: IO[str] | None,
) -> int:
    """Run ``acp`` with the arguments ``argv`` (without the program name) and return its
    exit code.

    ``env`` is the environment acp reads; ``stdin`` (bytes) and ``stdout``/``stderr``
    (text) are its streams; None stands for a stream the process was started
    without (``<&-``). Nothing here exits the interpreter.
    """
    from acp_cli.cli.context import Invocation, OutputStream

    here = Invocation(
        env=dict(env),
        stdin=stdin,
        stdout=OutputStream(stdout, "standard output").as_io(),
        stderr=OutputStream(stderr, "standard error").as_io(),
    )
    # Typer writes its help and usage errors to sys.stdout and sys.stderr.
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = here.stdout, here.stderr
    try:
        return _run(argv, here)
    finally:
        sys.stdout, sys.stderr = saved


def _run(argv: Sequence[str], here: Invocation) -> int:
    import contextlib

    from acp_cli.cli.context import OutputError
    from acp_cli.errors import AcpError, ExitCode

    try:
        try:
            code = _invoke(argv, here)
        except AcpError as exc:
            # The error is what the user needs to hear; stdout and stderr may
            # fail as well (a closed terminal) without changing the exit code.
            with contextlib.suppress(OutputError):
                here.stdout.flush()
            with contextlib.suppress(OutputError):
                here.messages.error(exc.lines())
            return exc.exit_code
        here.stdout.flush()
        if code == ExitCode.INTERRUPTED:
            return _quietly(here, ["Interrupted."], code)
        return code
    except (KeyboardInterrupt, Stopped) as exc:
        message, code = _interrupted(exc)
        return _quietly(here, [message], code)
    except OutputError as exc:
        if exc.broken_pipe:
            return ExitCode.BROKEN_PIPE
        return _quietly(
            here,
            [f"Error: {exc}", "  The output is incomplete; nothing else went wrong."],
            ExitCode.OUTPUT,
        )
    except Exception as exc:
        if here.verbose or any(arg in ("-v", "--verbose") for arg in argv):
            import traceback

            _quietly(here, traceback.format_exc().splitlines(), ExitCode.UNEXPECTED)
        return _quietly(
            here,
            [
                f"Error: unexpected {type(exc).__name__}: {exc}",
                "  This is a bug in acp; run again with -v for the traceback and report it.",
            ],
            ExitCode.UNEXPECTED,
        )


class Stopped(BaseException):
    """SIGTERM or SIGHUP, raised in the main thread as Ctrl-C raises KeyboardInterrupt,
    so that everything unwinds: worker processes end, temporary files are removed.
    Not a KeyboardInterrupt, which Typer turns into exit 130."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, frame: object) -> None:
    raise Stopped(signum)


def _interrupted(exc: KeyboardInterrupt | Stopped) -> tuple[str, int]:
    """What acp says when a signal stopped it, and its exit code: 128 + the signal's
    number, as a shell reports a process the signal killed (130 for Ctrl-C)."""
    if isinstance(exc, Stopped):
        import signal

        return f"Stopped by {signal.Signals(exc.signum).name}.", 128 + exc.signum
    from acp_cli.errors import ExitCode

    return "Interrupted.", ExitCode.INTERRUPTED


def _invoke(argv: Sequence[str], here: Invocation) -> int:
    """Run the command tree; its exit code (Typer ends every run with SystemExit).

    A command line that `acp_cli.cli.quick` answers (``acp --version``, ``acp config
    profiles``) is answered without it: loading Typer and the tree would be most of
    the run."""
    from acp_cli.cli.quick import ANSWERS

    answer = ANSWERS.get(tuple(argv))
    if answer is not None:
        answer(here)
        return 0
    from acp_cli.cli.render import terminal_width
    from acp_cli.cli.root import app_for

    # Help is wrapped at the width of the terminal it is shown on (Typer would ask
    # the process's own stdout, and never go below 50 columns); 80 at most.
    columns = terminal_width(here.stdout)
    width = None if columns is None else min(columns, 80) - 2
    try:
        app_for(list(argv))(
            args=list(argv), prog_name="acp", obj=here, standalone_mode=True, terminal_width=width
        )
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _quietly(here: Invocation, lines: list[str], code: int) -> int:
    """Write ``lines`` on stderr as they are, if stderr can still be written; return ``code``."""
    import contextlib

    from acp_cli.cli.context import OutputError

    with contextlib.suppress(OutputError):
        for line in lines:
            here.stderr.write(line + "\n")
        here.stderr.flush()
    return code


def main() -> None:
    """The ``acp`` console script: ``run()`` on this process's arguments, environment
    and streams, then exit with its code."""
    import signal

    try:
        # From here on Ctrl-C is KeyboardInterrupt again, which run() reports
        # (acp_cli.__main__ left SIGINT at its default while acp loaded), and
        # SIGTERM and SIGHUP are Stopped: each ends the work and its workers at
        # once, leaves no temporary file, and exits 128 + the signal's number. A
        # signal the caller ignores (nohup, a background job) stays ignored.
        for signum, handler in (
            (signal.SIGINT, signal.default_int_handler),
            (signal.SIGTERM, _stop),
            (getattr(signal, "SIGHUP", None), _stop),
        ):
            if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, handler)
        _reserve_closed_descriptors()
        code = run(
            sys.argv[1:],
            env=os.environ,
            stdin=None if sys.stdin is None else sys.stdin.buffer,
            stdout=sys.stdout,
            stderr=sys.stderr,
        )
    except (KeyboardInterrupt, Stopped) as exc:  # before run() had its boundary in place
        message, code = _interrupted(exc)
        if sys.stderr is not None:
            sys.stderr.write(message + "\n")
    if code != 0 and sys.stdout is not None:
        # Output that could not be written stays in the buffer; the interpreter
        # would try to flush it again at exit and print a second error.
        _discard_pending(sys.stdout)
    sys.exit(code)


def _reserve_closed_descriptors() -> None:
    """Point a closed standard descriptor (0, 1 or 2) at /dev/null.

    Otherwise the next file or socket opened would take its number, and a
    child process (git) or a stray write could use it as a standard stream.
    The Python stream itself stays None: acp still knows the stream was closed.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # takes the lowest free number: ``fd``


def _discard_pending(stream: IO[str]) -> None:
    try:
        stream.flush()
    except (OSError, ValueError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass
