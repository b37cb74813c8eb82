"""One run of ``acp``: its environment, its streams and its global options.

`acp_cli.cli.boundary.run` builds an `Invocation` and hands it to Typer as the root
context's ``obj``; `acp_cli.cli.options.command` passes it to every command as its
first argument (option callbacks find it with `invocation`), so that no command
reaches for ``os.environ`` or ``sys.stdout``. Tests call ``run()`` with their own
environment and streams, as httpie's tests pass an ``Environment`` to ``main``.

The standard streams are wrapped in `OutputStream`: whatever the stream's
encoding, text that it cannot encode is escaped rather than crashing, and a
write that fails becomes an `OutputError`, which ``run()`` reports once.

Every run builds an `Invocation`, ``acp --version`` included (`acp_cli.cli.quick`): the
settings and the rendering that its methods use are imported when first used.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from pathlib import Path

    import typer

    from acp_cli.cli.render import Messages, Terminal
    from acp_cli.client import Client
    from acp_cli.settings import Settings


class OutputError(Exception):
    """A standard stream could not be written: closed, full, or its reader went away.

    Deliberately not an OSError: Typer turns a broken pipe into a plain exit 1,
    and acp reports it itself (`acp_cli.cli.boundary.run`).
    """

    def __init__(self, name: str, reason: str, *, broken_pipe: bool = False) -> None:
        super().__init__(f"Cannot write to {name}: {reason}.")
        self.name = name
        self.broken_pipe = broken_pipe


class OutputStream:
    """A text stream that never crashes on encoding and reports write failures once.

    ``stream`` is None when the process started with that stream closed
    (``acp ... >&-``): writing to it is then an `OutputError`, as it would be for
    any other stream that cannot be written.
    """

    def __init__(self, stream: IO[str] | None, name: str) -> None:
        self._stream = stream
        self.name = name
        encoding = getattr(stream, "encoding", None) or "utf-8"
        self.encoding: str = encoding
        self._lossless = encoding.replace("-", "").lower() in ("utf8", "utf8sig")

    def write(self, text: str) -> int:
        """Write ``text``; characters the stream's encoding lacks become escapes."""
        if not self._lossless:
            text = text.encode(self.encoding, "backslashreplace").decode(self.encoding)
        with self._reporting():
            return self._open().write(text)

    def write_bytes(self, data: bytes) -> None:
        """Write data (UTF-8 JSON) as its bytes, whatever the stream's text encoding:
        a script reading a plan or an answer gets it to the byte."""
        stream = self._open()
        buffer = getattr(stream, "buffer", None)
        with self._reporting():
            if buffer is None:  # an in-memory text stream
                stream.write(data.decode("utf-8"))
            else:
                stream.flush()
                buffer.write(data)

    def flush(self) -> None:
        """Flush the stream; a failure is an `OutputError`."""
        if self._stream is not None:
            with self._reporting():
                self._stream.flush()

    def isatty(self) -> bool:
        """Whether the stream is a terminal (False when it is closed or not a file)."""
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        """The stream's file descriptor (rich and getpass ask for it)."""
        return self._open().fileno()

    @property
    def closed(self) -> bool:
        """Whether the stream is closed (or was never open)."""
        return self._stream is None or self._stream.closed

    def as_io(self) -> IO[str]:
        """This stream where a text stream is expected (it has what rich and Typer use)."""
        return cast(IO[str], self)

    def _open(self) -> IO[str]:
        if self._stream is None:
            raise OutputError(self.name, "it is closed")
        return self._stream

    @contextlib.contextmanager
    def _reporting(self) -> Iterator[None]:
        """Turn the failure of a write into `OutputError`: a broken pipe, a full disk,
        a closed file."""
        try:
            yield
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) or exc.errno in (errno.EPIPE, errno.ECONNRESET):
                raise OutputError(self.name, "the reader went away", broken_pipe=True) from None
            raise OutputError(self.name, exc.strerror or str(exc)) from None
        except ValueError as exc:  # "I/O operation on closed file"
            raise OutputError(self.name, str(exc)) from None


@dataclass
class Invocation:
    """What one run of ``acp`` was given: environment, streams, global options."""

    env: Mapping[str, str]
    stdin: IO[bytes] | None
    """Standard input as bytes; None when the process started with it closed."""
    stdout: IO[str]
    """Standard output (an `OutputStream`): data only."""
    stderr: IO[str]
    """Standard error (an `OutputStream`): messages, warnings, progress."""
    profile: str | None = None
    api_url: str | None = None
    verbose: bool = False
    no_color: bool = False
    _messages: Messages | None = field(default=None, repr=False)
    _config: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def messages(self) -> Messages:
        """Messages, warnings and errors, on stderr."""
        if self._messages is None:
            from acp_cli.cli.render import Messages

            self._messages = Messages(self.stderr, self.global_options)
        return self._messages

    def global_options(self) -> list[str]:
        """The global options given on the command line that change what a command
        acts on (``--profile``, ``--api-url``): every acp command a message quotes
        repeats them, so that following a hint acts on the same profile and API."""
        options = []
        if self.profile is not None:
            options += ["--profile", self.profile]
        if self.api_url is not None:
            options += ["--api-url", self.api_url]
        return options

    @property
    def config_path(self) -> Path:
        """The config file of this run (config.toml; it may not exist yet)."""
        from acp_cli.settings.file import config_path_for

        return config_path_for(self.env)

    @property
    def config(self) -> Mapping[str, Any]:
        """config.toml as this run reads it (empty when absent): read once, on first
        need. The profile, the settings and the device ID of the run all come from
        this one read; only a write reads the file again, under its lock."""
        if self._config is None:
            from acp_cli.settings.file import load

            self._config = load(self.config_path)
        return self._config

    def known_profile(self) -> str:
        """The active profile, which config.toml must know (`acp_cli.settings.known_profile`)."""
        from acp_cli.settings import known_profile

        return known_profile(self.profile, self.env, self.config, self.config_path)

    def settings(
        self, flags: Mapping[str, Any] | None = None, *, new_profile: bool = False
    ) -> Settings:
        """The settings of this run from the command's network options (``flags``, by
        setting name), the global options, the environment and the config file
        (`acp_cli.settings.resolve`; ``new_profile`` for a command that stores
        something for a profile that the config file may not hold yet)."""
        from acp_cli.settings import resolve

        return resolve(
            profile=self.profile,
            api_url=self.api_url,
            env=self.env,
            flags=flags,
            new_profile=new_profile,
            config=self.config,
        )

    def terminal(self) -> Terminal:
        """How to draw on stdout: colour on a terminal, unless --no-color or NO_COLOR."""
        from acp_cli.cli.render import Terminal

        return Terminal.detect(self.stdout, no_color=self.no_color, env=self.env)

    def read_stdin(self, what: str) -> bytes:
        """All of standard input, which the user asked for as ``what``.

        Standard input is only touched when an option asks for it; a closed or
        unreadable one is bad input (exit 2), not a crash.
        """
        from acp_cli.errors import UsageError

        if self.stdin is None:
            raise UsageError(
                f"Standard input is closed, so {what} cannot be read from it.",
                hint="Give a file instead, or run acp with standard input open.",
            )
        try:
            return self.stdin.read()
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(
                f"Standard input could not be read for {what}: {reason}.",
                hint="Give a file instead.",
            ) from None

    def stdin_reader(self, what: str) -> IO[bytes]:
        """Standard input for ``what``, read only if and when ``-`` asks for it."""
        return _StdinReader(self, what)  # type: ignore[return-value]

    def client(
        self, flags: Mapping[str, Any] | None = None, *, announce_retries: bool = True
    ) -> Client:
        """The API client of this run, for its `settings` (``flags`` as there); ``-v``
        shows the exchange, retries are announced on stderr."""
        from acp_cli.client import Client

        return Client._from_settings(
            self.settings(flags),
            self.env,
            log=self.messages.info if self.verbose else None,
            announce=self.messages.info if announce_retries else None,
        )

    def stdin_is_terminal(self) -> bool:
        """Whether standard input is a terminal (someone may be typing)."""
        try:
            return self.stdin is not None and self.stdin.isatty()
        except (OSError, ValueError):
            return False


class _StdinReader:
    """Standard input as the file-like object plan reading expects, read on demand."""

    name = "standard input"
    """How messages about what was read from it name it."""

    def __init__(self, here: Invocation, what: str) -> None:
        self.here = here
        self.what = what

    def read(self) -> bytes:
        return self.here.read_stdin(self.what)


def invocation(ctx: typer.Context) -> Invocation:
    """The `Invocation` of this run, which ``run()`` put on the root context."""
    root = ctx.find_root()
    if not isinstance(root.obj, Invocation):  # pragma: no cover - run() always sets it
        raise AssertionError("acp commands run through acp_cli.cli.boundary.run()")
    return root.obj
