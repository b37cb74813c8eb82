"""The HTTP front of the emulator: framing, the API endpoint's order of checks, fault injection.

Plain ``http.server`` on purpose: it starts in milliseconds, needs no
dependency, and lets the fault injector do things a framework would hide
(answer with a wrong ``Content-Length``, reset a socket, close without a word).

Order of checks for an API request, cheapest first, as a real server behind a
proxy would do them: HTTP framing (411 for chunked bodies, 400 for a bad
``Content-Length``, 413 over ``max_body``, refused before reading the body),
then the queued fault, the route (404) and method (405), ``Content-Length``
present (411), bearer token (401), binding (404), content type (415), and only
then the body: JSON (400), schema (422), signature (422).

The ``/_emulator/`` controls are framed here and answered by
`acp_cli.emulator.control.control_reply`; `acp_cli.emulator.in_process.Emulator`
runs this server in a background thread.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from acp_cli import __version__
from acp_cli.emulator.control import control_reply, is_control_path
from acp_cli.emulator.endpoint import (
    ApiError,
    authenticate,
    check_binding,
    check_content_type,
    check_signature,
    decode_binding_id,
    error_body,
    error_code_for_status,
    match_api_path,
    parse_prepare_body,
)
from acp_cli.emulator.faults import Fault
from acp_cli.emulator.http_syntax import HEADER_NAME, NOT_FIELD_VALUE
from acp_cli.emulator.recorder import RecordedRequest
from acp_cli.emulator.state import EmulatorState, is_loopback_client
from acp_cli.emulator.store import utc_now

# After refusing a body it did not read, the server keeps reading (and
# discarding) for this long before closing: closing a socket with unread data
# sends a TCP reset, which can destroy the answer before the client reads it.
_LINGER_SECONDS = 2.0
_CONTENT_LENGTH = re.compile(r"[0-9]{1,20}")


class _ClientGone(Exception):
    """The client closed the connection before sending its whole request."""


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server bound to loopback, holding the emulator's state."""

    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when a test fires
    # dozens of requests at once; the client then waits a second to retry.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        state: EmulatorState,
        log: Callable[[str], None] | None = None,
    ) -> None:
        """Bind ``address`` (a loopback host and a port, 0 for any free one)."""
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.state = state
        self.log = log
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_changed = threading.Condition()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse DNS lookup, which can stall for seconds."""
        socketserver.TCPServer.server_bind(self)
        host, port = cast(tuple[str, int], self.server_address[:2])
        self.server_name = host
        self.server_port = port

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up: with injected faults that is routine."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def track(self, connection: socket.socket) -> None:
        """Remember an open client connection, so `close_connections` can end it."""
        with self._connections_changed:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a client connection that is closing."""
        with self._connections_changed:
            self._connections.discard(connection)
            self._connections_changed.notify_all()

    def close_connections(self, wait: float = 2.0) -> None:
        """End every open client connection and wait (bounded) for their threads to finish.

        Idle keep-alive connections would otherwise keep handler threads
        blocked on a read after the emulator stopped.
        """
        with self._connections_changed:
            for connection in list(self._connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections_changed.wait_for(lambda: not self._connections, timeout=wait)


class _Handler(BaseHTTPRequestHandler):
    """One client connection; handles its requests one after another (keep-alive)."""

    protocol_version = "HTTP/1.1"
    # http.server takes a request for HTTP/0.9 until its request line says
    # otherwise, and answers HTTP/0.9 with a bare body: no status line, no
    # headers. So an error about a request line it could not parse ("HELLO")
    # lost its status and X-Request-Id. The emulator speaks HTTP/1.1 only:
    # every answer, errors included, is a complete HTTP/1.1 response.
    default_request_version = "HTTP/1.1"
    server_version = f"acp-emulator/{__version__}"
    sys_version = ""
    # Idle keep-alive connections and stalled uploads give up after this long.
    timeout = 60

    _connection_id = ""  # this connection's, made by setup()

    # Per-request state, reset by _begin().
    _request_id = ""
    _started = 0.0
    _received_at = ""
    _expect_continue = False
    _status: int | None = None
    _unread = 0
    _body: bytes | None = None
    _fault: Fault | None = None
    _note = ""
    _api_request = False
    _recorded = False

    def version_string(self) -> str:
        """The ``Server`` header: the emulator and its version, without Python's."""
        return self.server_version

    @property
    def _server(self) -> EmulatorHTTPServer:
        return cast(EmulatorHTTPServer, self.server)

    # --- connection and request life cycle ---------------------------------

    def setup(self) -> None:
        """Name the connection (in the request log), and register it, so a stopping
        emulator can close it."""
        self._connection_id = "conn_" + secrets.token_hex(8)
        super().setup()
        self._server.track(self.connection)

    def finish(self) -> None:
        """Close the connection's streams and unregister it."""
        try:
            super().finish()
        finally:
            self._server.untrack(self.connection)

    def _begin(self) -> None:
        self._request_id = "req_" + secrets.token_hex(8)
        self._started = time.perf_counter()
        self._received_at = utc_now()
        self._expect_continue = False
        self._status = None
        self._unread = 0
        self._body = None
        self._fault = None
        self._note = ""
        self._api_request = False
        self._recorded = False

    def handle_one_request(self) -> None:
        """Serve one request; per-request state starts fresh."""
        self._begin()
        super().handle_one_request()

    def parse_request(self) -> bool:
        """Parse the request line and headers, refusing what is not HTTP/1.x (400).

        The clock starts once the request arrived.
        """
        self._started = time.perf_counter()
        self._received_at = utc_now()
        if not super().parse_request():
            return False
        if len(self.requestline.split()) < 3:
            # "GET /" alone: http.server would serve it as HTTP/0.9.
            self.send_error(
                HTTPStatus.BAD_REQUEST,
                "the request line has no HTTP version; HTTP/0.9 is not supported, send HTTP/1.1",
            )
            return False
        problem = _header_problem(self.headers)
        if problem is not None:
            self.send_error(HTTPStatus.BAD_REQUEST, problem)
            return False
        return True

    def handle_expect_100(self) -> bool:
        """Defer ``100 Continue`` until the request passed its header checks.

        ``http.server`` would send it at once; a client that waits for it (curl
        does, for large bodies) would then upload a body we are about to refuse.
        """
        self._expect_continue = True
        return True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silence ``http.server``'s own log; `_log_line` writes ours."""

    def log_message(self, format: str, *args: Any) -> None:
        """Silence ``http.server``'s own log; `_log_line` writes ours."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a request ``http.server`` could not parse, in the emulator's JSON error shape."""
        self._unread = -1  # the rest of the stream is not a request we understood
        with contextlib.suppress(OSError):
            body = error_body(error_code_for_status(code), message or _phrase(code))
            self._answer(code, body, [("Connection", "close")])
            self._close()
        self._log_line()

    def do_GET(self) -> None:
        """Route a GET request."""
        self._dispatch()

    def do_HEAD(self) -> None:
        """Route a HEAD request."""
        self._dispatch()

    def do_POST(self) -> None:
        """Route a POST request."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Route a PUT request."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Route a PATCH request."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Route a DELETE request."""
        self._dispatch()

    def do_OPTIONS(self) -> None:
        """Route an OPTIONS request."""
        self._dispatch()

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        control = is_control_path(path)
        self._api_request = not control
        try:
            if control:
                self._control(path, query)
            else:
                self._api(path)
        except (_ClientGone, ConnectionError, TimeoutError):
            self.close_connection = True
            self._note = "client went away"
        except Exception:
            # A bug in the emulator: say so loudly, and answer if we still can.
            traceback.print_exc(file=sys.stderr)
            self._note = "internal error"
            if self._status is None:
                with contextlib.suppress(OSError):
                    body = error_body("internal_error", "the emulator failed")
                    self._answer(500, body, [("Connection", "close")])
            self._close()
        finally:
            self._record()
            self._log_line()

    # --- the API endpoint --------------------------------------------------

    def _api(self, path: str) -> None:
        try:
            length = self._framing()
        except ApiError as err:
            self._refuse(err)
            return
        fault = self._server.state.faults.pop()
        self._fault = fault
        if fault is not None:
            if fault.reset:
                self._reset_connection()
                return
            self._body = self._read_body(length)
            if fault.delay and self._server.stopping.wait(fault.delay):
                self._close()  # the emulator is stopping: do not answer late
                return
            if fault.status is not None:
                self._answer_fault(fault)
                return
            if fault.drop and not fault.process:
                self._close()
                return
        try:
            status, body = self._prepare(path, length)
        except ApiError as err:
            if fault is not None and fault.drop:
                self._close()
            else:
                self._refuse(err, truncate=fault is not None and fault.truncate)
            return
        if fault is not None and fault.drop:
            self._close()  # processed, but the answer is lost
            return
        self._answer(status, body, truncate=fault is not None and fault.truncate)

    def _prepare(self, path: str, length: int) -> tuple[int, bytes]:
        state = self._server.state
        config = state.config
        segment = match_api_path(path)
        if segment is None:
            raise ApiError(404, "not_found", f"no such route: {path}")
        if self.command != "POST":
            raise ApiError(
                405,
                "method_not_allowed",
                f"{self.command} is not allowed on this route; use POST",
                [("Allow", "POST")],
            )
        if self.headers.get("Content-Length") is None:
            raise ApiError(411, "length_required", "send the body with a Content-Length header")
        binding_id = decode_binding_id(segment)
        user_id = authenticate(self.headers.get("Authorization"), config.tokens)
        check_binding(binding_id, config.bindings)
        check_content_type(self.headers.get("Content-Type"))
        body = self._body if self._body is not None else self._read_body(length)
        request = parse_prepare_body(body)
        check_signature(request)
        session, created = state.prepare(
            request,
            binding_id=binding_id,
            user_id=user_id,
            device_id=self.headers.get("ACP-Device-Id"),
        )
        text = f'{{"pushSession":{session.to_json_text()},"created":{json.dumps(created)}}}'
        return (201 if created else 200), text.encode("utf-8")

    def _answer_fault(self, fault: Fault) -> None:
        status = cast(int, fault.status)
        headers = list(fault.headers)
        if fault.retry_after is not None:
            headers.append(("Retry-After", fault.retry_after))
        if fault.body is None:
            message = f"injected fault: {status} {_phrase(status)}"
            body = error_body(error_code_for_status(status), message)
            content_type = "application/json"
        else:
            body = fault.body.encode("utf-8")
            content_type = fault.content_type or "text/html; charset=utf-8"
        self._answer(status, body, headers, content_type=content_type)

    def _reset_connection(self) -> None:
        """Abort the connection with a TCP reset, leaving the body unread."""
        self._note = "connection reset"
        self.close_connection = True
        self._record()
        # SO_LINGER with a zero timeout turns close() into an abortive close (RST).
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket only really closes once its buffered reader lets go of it.
        self.rfile.close()
        self.connection.close()

    # --- /_emulator/ controls ----------------------------------------------

    def _control(self, path: str, query: str) -> None:
        try:
            if not is_loopback_client(str(self.client_address[0])):
                raise ApiError(403, "forbidden", "/_emulator/ answers loopback clients only")
            body = self._read_body(self._framing())
            status, reply = control_reply(self._server.state, self.command, path, query, body)
        except ApiError as err:
            self._refuse(err)
            return
        self._answer(status, reply)

    # --- HTTP plumbing -----------------------------------------------------

    def _framing(self) -> int:
        """The declared body length, checked against the limit before any of it is read."""
        if self.headers.get("Transfer-Encoding") is not None:
            self._unread = -1
            raise ApiError(
                411, "length_required", "send the body with a Content-Length, not chunked"
            )
        values = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if not values:
            return 0
        value = values.pop()
        if values or not _CONTENT_LENGTH.fullmatch(value):
            self._unread = -1
            raise ApiError(400, "invalid_content_length", "the Content-Length header is invalid")
        length = int(value)
        self._unread = length
        limit = self._server.state.config.max_body
        if length > limit:
            raise ApiError(
                413,
                "payload_too_large",
                f"the request body is {length} bytes; the limit is {limit} bytes",
            )
        return length

    def _read_body(self, length: int) -> bytes:
        """Read exactly ``length`` body bytes, first sending a deferred ``100 Continue``."""
        if self._unread <= 0:
            return self._body if self._body is not None else b""
        if self._expect_continue:
            self._expect_continue = False
            self.send_response_only(100)
            self.end_headers()
        data = self.rfile.read(length)
        self._unread = length - len(data)
        self._body = data
        if len(data) < length:
            raise _ClientGone
        return data

    def _refuse(self, err: ApiError, *, truncate: bool = False) -> None:
        """Answer an error, keeping the connection when the unread body can be skipped."""
        if self._unread > 0 and not self._expect_continue and err.status != 413:
            # The body is within the limit: reading it keeps the connection usable.
            self._read_body(self._unread)
        headers = list(err.headers)
        if self._unread:
            headers.append(("Connection", "close"))
        self._answer(err.status, err.body(), headers, truncate=truncate)
        if self._unread:
            self._close()

    def _answer(
        self,
        status: int,
        body: bytes,
        headers: Iterable[tuple[str, str]] = (),
        *,
        content_type: str = "application/json",
        truncate: bool = False,
    ) -> None:
        """Send a complete answer (or, with ``truncate``, only half its body, then close)."""
        self._status = status
        # Record before the client can see the answer, so a test that asserts
        # on the log right after its request returns never races this thread.
        self._record()
        bodiless = status in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED)
        self.send_response(status)
        self.send_header("X-Request-Id", self._request_id)
        if not bodiless:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD" or bodiless:
            return
        if truncate:
            self._note = "truncated"
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(body)

    def _close(self) -> None:
        """Close after this request; drain unread body bytes first, so the close is clean."""
        self._record()
        self.close_connection = True
        if not self._unread:
            return
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + _LINGER_SECONDS
            while (remaining := deadline - time.monotonic()) > 0:
                self.connection.settimeout(remaining)
                if not self.rfile.read1(65536):
                    break
        except OSError:
            pass

    def _record(self) -> None:
        """Log this API request once, with what was done to it (controls are not logged)."""
        if not self._api_request or self._recorded:
            return
        self._recorded = True
        body = self._body
        if body is None and self._unread == 0 and self._note != "connection reset":
            body = b""  # nothing was declared, so nothing is missing
        self._server.state.requests.append(
            RecordedRequest(
                request_id=self._request_id,
                connection_id=self._connection_id,
                received_at=self._received_at,
                method=self.command or "",
                target=self.path,
                headers=tuple(self.headers.items()),
                body=body,
                status=self._status,
                fault=self._fault,
            )
        )

    def _log_line(self) -> None:
        log = self._server.log
        if log is None:
            return
        elapsed = (time.perf_counter() - self._started) * 1000
        method = getattr(self, "command", None) or "-"
        target = getattr(self, "path", None) or "-"
        status = "-" if self._status is None else str(self._status)
        line = f"{method} {target} {status} {elapsed:.1f}ms {self._request_id}"
        if self._fault is not None:
            line += f" fault={self._fault.kind}"
        if self._note:
            line += f" ({self._note})"
        log(line)


def _header_problem(headers: Message) -> str | None:
    """Why the request's header section is malformed (RFC 9112 section 5), or None.

    The parser of ``http.client`` is lenient: it stops at a line without a
    colon (keeping the rest as "body"), accepts folded lines and control
    characters. A server must refuse such requests rather than guess.
    """
    if headers.defects or headers.get_payload():
        return "a header line is malformed: each is 'Name: value' on one line"
    for name, value in headers.items():
        if not HEADER_NAME.fullmatch(name):
            return f"the header name {name!r} is not a token"
        if NOT_FIELD_VALUE.search(value):
            return f"the {name} header holds a control character or a folded line"
    return None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
