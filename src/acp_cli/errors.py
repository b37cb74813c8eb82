"""The error tree: every failure a user can meet, with its exit code and a hint.

Modules raise these; only ``acp_cli.cli.boundary.run`` prints them and turns them into exit codes.

    AcpError                  (1)  unexpected: a bug
    +-- UsageError            (2)  bad local input: options, plan, metadata, binding ID
    |   +-- ConfigError       (2)  a broken or incomplete config file or setting
    +-- AuthError             (3)  no token, unusable keyring, HTTP 401/403
    +-- NotFoundError         (4)  HTTP 404
    +-- RejectedError         (5)  HTTP 400, 409, 413, 422 and other 4xx
    +-- UnavailableError      (6)  network errors, timeouts, 429/5xx after retries,
    |                              redirects, a success answer that is not the documented JSON
    +-- WriteError           (74)  an output file could not be written: a full disk, an I/O error

Each error carries a one-line ``message`` (what failed), an optional ``hint``
(what to do next) and, for server answers, the server's error ``server_code``
(``binding_not_found``) and its ``request_id``.
Messages never contain a token.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Process exit codes; SPEC.md section 5."""

    OK = 0
    UNEXPECTED = 1
    NOT_SET = 1
    """``acp config get``: nothing sets the key, as ``git config`` says it (no error)."""
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    REJECTED = 5
    UNAVAILABLE = 6
    OUTPUT = 74
    """The output could not be written (a full disk, a closed stream): EX_IOERR of sysexits.h."""
    HUNG_UP = 129
    """SIGHUP (the terminal closed): 128 + the signal's number, as a shell reports it."""
    INTERRUPTED = 130
    """SIGINT (Ctrl-C)."""
    BROKEN_PIPE = 141
    """The reader of the output went away: the status of a process killed by SIGPIPE."""
    TERMINATED = 143
    """SIGTERM (``kill``, a CI job's timeout, a container stopping)."""


class AcpError(Exception):
    """Base of every error acp reports to the user."""

    exit_code: ClassVar[ExitCode] = ExitCode.UNEXPECTED

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        request_id: str | None = None,
        server_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.request_id = request_id
        self.server_code = server_code

    def lines(self) -> list[str]:
        """The lines to print on stderr, without prefixes or colour: the message, the
        server's code and request ID on lines of their own (to search for, to quote in
        a report), then the hint."""
        out = [self.message]
        if self.server_code:
            out.append(f"server code: {self.server_code}")
        if self.request_id:
            out.append(f"request ID: {self.request_id}")
        if self.hint:
            out.append(self.hint)
        return out


class UsageError(AcpError):
    """Bad local input: an option, the plan or metadata file, the binding ID."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The configuration is broken or incomplete."""


class AuthError(AcpError):
    """No usable token, or the server refused it."""

    exit_code = ExitCode.AUTH


class NotFoundError(AcpError):
    """The server answered 404."""

    exit_code = ExitCode.NOT_FOUND


class RejectedError(AcpError):
    """The server refused the request (a 4xx other than 401, 403, 404, 408, 429)."""

    exit_code = ExitCode.REJECTED


class UnavailableError(AcpError):
    """The server could not be reached, timed out, failed, or answered nonsense."""

    exit_code = ExitCode.UNAVAILABLE


class WriteError(AcpError):
    """An output file (``-o FILE``, ``--save-plan``) could not be written for want of
    room or a working disk; a path that cannot be written at all is a UsageError."""

    exit_code = ExitCode.OUTPUT
