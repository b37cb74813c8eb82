"""``acp-emulator``: run the emulator until SIGINT or SIGTERM.

The first line of stdout is the base URL, flushed at once, so a script can
start the emulator on port 0 and read where it listens. Everything else goes
to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from acp_cli import __version__
from acp_cli.emulator.in_process import Emulator
from acp_cli.emulator.state import DEFAULT_MAX_BODY, loopback_host

EPILOG = """\
examples:
  acp-emulator --port 0 --token t
  acp-emulator --port 8900 --db emulator.sqlite3 --binding wb_123

Test controls (loopback only) live under /_emulator/: sessions, faults,
requests, reset. See the acp_cli.emulator package documentation.
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``acp-emulator`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="acp-emulator",
        description="A local, stateful stand-in for the ACP push-session API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="loopback address to listen on: 127.0.0.1 (default), ::1 or localhost",
    )
    parser.add_argument(
        "--port", type=_port, default=0, help="port to listen on; 0 (default) picks a free one"
    )
    parser.add_argument(
        "--db", metavar="PATH", help="SQLite file that keeps sessions across restarts"
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="T",
        help="an accepted bearer token (repeatable); without it any non-empty token is accepted",
    )
    parser.add_argument(
        "--binding",
        action="append",
        default=[],
        metavar="ID",
        help="a workspace binding that exists (repeatable); without it every binding exists",
    )
    parser.add_argument(
        "--max-body",
        type=_size,
        default=DEFAULT_MAX_BODY,
        metavar="BYTES",
        help=f"largest request body accepted, in bytes (default {DEFAULT_MAX_BODY})",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    parser.add_argument("--version", action="version", version=f"acp-emulator {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator; return the exit code (0 on SIGINT/SIGTERM, 1 if it cannot start)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        loopback_host(args.host)
    except ValueError as exc:
        parser.error(str(exc))  # exits 2

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Handlers before the server starts, so a signal that arrives right after the
    # URL is printed still stops cleanly instead of raising KeyboardInterrupt.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    emulator = Emulator(
        tokens=args.token,
        bindings=args.binding,
        db=args.db,
        max_body=args.max_body,
        quiet=args.quiet,
        host=args.host,
        port=args.port,
    )
    try:
        emulator.start()
    except OSError as exc:
        print(f"acp-emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # e.g. sqlite3.Error for an unusable --db file
        print(f"acp-emulator: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        print(emulator.url, flush=True)
        if not args.quiet:
            for line in _start_notes(args.token, args.binding, args.db):
                emulator.log(f"acp-emulator: {line}")
        # A timeout keeps the main thread returning to Python now and then, so
        # signal handlers run promptly on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


def _start_notes(tokens: list[str], bindings: list[str], db: str | None) -> list[str]:
    notes = [
        f"accepting only the {len(tokens)} token(s) given with --token"
        if tokens
        else "accepting any non-empty bearer token (restrict with --token)",
        f"serving only the binding(s) {', '.join(bindings)}"
        if bindings
        else "every workspace binding ID exists (restrict with --binding)",
        f"state in {db}" if db else "state in memory (keep it across restarts with --db)",
        "test controls under /_emulator/; stop with Ctrl-C",
    ]
    return notes


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 0 to 65535, got {port}")
    return port


def _size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of bytes: {text!r}") from None
    if size < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {size}")
    return size


if __name__ == "__main__":
    sys.exit(main())
