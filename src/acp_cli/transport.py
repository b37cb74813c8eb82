"""Sending the request: timeouts, TLS, proxies, the retry loop and the ``-v`` log.

Never prints: retry lines go to the ``announce`` callable and the ``-v``
exchange to the ``log`` callable the caller passes in, with the token masked
and the server's status line and headers escaped (`acp_cli.server_text`).
The retry policy itself (which failures, how long to wait) is `acp_cli.retry`;
what an answer or an exception means is `acp_cli.answers`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from acp_cli.answers import Failure, PrepareResult, deadline_failure, read_answer, transport_failure
from acp_cli.errors import AcpError, ConfigError
from acp_cli.request import Request
from acp_cli.retry import SCALE_VARIABLE, Deadline, GiveUp, RetryPolicy, Wait, seconds
from acp_cli.server_text import escape
from acp_cli.settings import CA_BUNDLE, origin_of

if TYPE_CHECKING:
    import ssl

    import httpx

Log = Callable[[str], None]

READ_ALLOWANCE_BYTES_PER_SECOND = 1024 * 1024
WATCHDOG_GRACE = 0.25
"""Seconds past the deadline before the watchdog cuts an attempt: the timeouts,
cut to the deadline, end the ordinary cases first, with their own message."""


@dataclass(frozen=True)
class Timeouts:
    """How long one attempt may wait at each step, in seconds: httpx's four timeouts."""

    connect: float = 10.0
    """To open a connection (and finish the TLS handshake)."""
    read: float = 30.0
    """Between two reads of the answer, including the wait for its first byte."""
    write: float = 30.0
    """Between two writes of the request."""
    pool: float = 10.0
    """To get a connection from the pool."""

    @classmethod
    def of(cls, timeout: float, connect: float = 10.0) -> Timeouts:
        """The timeouts for the ``timeout`` and ``connect_timeout`` settings."""
        connect = min(connect, timeout)
        return cls(connect=connect, read=timeout, write=timeout, pool=connect)

    def for_body(self, size: int) -> Timeouts:
        """These timeouts with the read timeout raised by one second per MiB of body.

        The server checks the whole plan before it answers: a 45 MB plan must
        not time out where a 2 kB one would not.
        """
        return replace(self, read=self.read + size / READ_ALLOWANCE_BYTES_PER_SECOND)

    def within(self, remaining: float) -> Timeouts:
        """These timeouts, none longer than ``remaining`` (what is left of the deadline)."""
        return Timeouts(
            connect=min(self.connect, remaining),
            read=min(self.read, remaining),
            write=min(self.write, remaining),
            pool=min(self.pool, remaining),
        )


def tls_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The certificates acp trusts: httpx's defaults, plus ``ca_bundle`` when given.

    The defaults are certifi's CA certificates, or the file or folder named by
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``. ``ca_bundle`` adds to them: a private
    CA is trusted without distrusting the public ones.
    """
    import httpx

    try:
        context = httpx.create_ssl_context()
    except OSError as exc:
        raise ConfigError(
            f"The CA certificates named by SSL_CERT_FILE or SSL_CERT_DIR could not be "
            f"loaded: {exc}.",
            hint="Fix or unset SSL_CERT_FILE and SSL_CERT_DIR.",
        ) from None
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except OSError as exc:  # ssl.SSLError is an OSError
            raise ConfigError(
                f"The CA bundle {ca_bundle} could not be loaded: {exc}.",
                hint=f"Give a PEM file of CA certificates with --ca-bundle, "
                f"{CA_BUNDLE.variable} or the {CA_BUNDLE.name} setting.",
            ) from None
    return context


def _no_tls() -> ssl.SSLContext:
    """A context that trusts no certificate, for plain http to loopback.

    Loading the CA certificates costs tens of milliseconds of every run that
    never uses them; should TLS happen after all, verification fails closed.
    """
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class Sender:
    """What one client sends with: timeouts, retry policy, certificates, transport, logs.

    Built once per `acp_cli.client.Client`; each `send` opens its own httpx
    client (one command sends once, and httpx stays unimported until then).
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts,
        policy: RetryPolicy | None = None,
        ca_bundle: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        log: Log | None = None,
        announce: Log | None = None,
    ) -> None:
        """``log`` gets each attempt's exchange (``-v``, token masked), ``announce`` one
        line per retry; ``transport`` replaces httpx's (tests)."""
        self.timeouts = timeouts
        self.policy = policy or RetryPolicy()
        self.ca_bundle = ca_bundle
        self.transport = transport
        self.log = log
        self.announce = announce

    def send(self, request: Request, *, binding_id: str) -> PrepareResult:
        """Send ``request`` until it succeeds, and return the answer; or raise the last error.

        Failures that may pass are tried again under the sender's policy (see
        `acp_cli.retry`): connect errors, timeouts, dropped connections, truncated
        answers, 408, 429 and 5xx but 501 and 505. Every attempt sends the same
        body bytes on a new connection; a 3xx is an answer, never followed. The
        policy's deadline bounds everything, the reading of a slow answer
        included. Proxies come from ``HTTPS_PROXY`` and its relatives (httpx's
        ``trust_env``) for https only: plain http, which acp allows to loopback
        only, never goes through a proxy, where the token would cross a network
        in clear text. Certificates come from `tls_context`.
        """
        with _client(request.url, self.ca_bundle, self.transport) as client:
            deadline = self.policy.start()
            attempts = _Attempts(
                request,
                binding_id=binding_id,
                timeouts=self.timeouts.for_body(len(request.body)),
                policy=self.policy,
                deadline=deadline,
                log=self.log,
            )
            attempt = 0
            while True:
                attempt += 1
                outcome = attempts.attempt(client, attempt)
                if isinstance(outcome, PrepareResult):
                    return outcome
                if not outcome.retryable:
                    if attempt == 1:
                        raise outcome.error
                    raise final_error(
                        outcome.error, GiveUp(f"on attempt {attempt} of {self.policy.attempts}")
                    )
                decision = self.policy.after_failure(
                    attempt,
                    retry_after=self.policy.retry_after(outcome.retry_after),
                    remaining=deadline.remaining(),
                )
                if isinstance(decision, GiveUp):
                    raise final_error(outcome.error, decision)
                if self.announce:
                    self.announce(retry_line(attempt, self.policy, outcome.reason, decision))
                time.sleep(decision.slept)
                # The deadline counts the whole wait, slept or not: ACP_RETRY_SCALE
                # changes how long acp sleeps, never how many attempts it makes.
                deadline.charge(decision.seconds - decision.slept)


def _client(
    url: str, ca_bundle: Path | None, transport: httpx.BaseTransport | None
) -> httpx.Client:
    """The httpx client of one command: no redirects, no kept connections, proxies for https."""
    import httpx

    https = not url.startswith("http://")
    try:
        return httpx.Client(
            verify=tls_context(ca_bundle) if https or ca_bundle else _no_tls(),
            # Equivalent to True under the hook below, which hands a redirect back first.
            follow_redirects=False,  # pragma: no mutate
            # A new connection per attempt: a retry never rides a connection that
            # just failed, and the watchdog always knows the attempt's socket.
            limits=httpx.Limits(max_keepalive_connections=0),
            event_hooks={"response": [_stop_at_redirect]},
            transport=transport,
            trust_env=https,
        )
    except (ValueError, ImportError) as exc:  # e.g. HTTPS_PROXY=socks5://... without socksio
        raise ConfigError(
            f"The proxy settings are not usable: {exc}.",
            hint="Check HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY.",
        ) from None


class _Redirected(Exception):
    """A 3xx answer, taken out of httpx before it looks at the ``Location`` header."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__()
        self.response = response


def _stop_at_redirect(response: httpx.Response) -> None:
    """httpx's response hook: hand a redirect back whole, whatever its headers hold.

    Even with redirects off, httpx parses the ``Location`` of a redirect it would
    follow (301, 302, 303, 307, 308 with a Location: ``has_redirect_location``)
    to offer the next request, and a malformed one raises as if the connection
    had broken. Every other answer, other 3xx included, httpx returns as it is.
    """
    if response.has_redirect_location:
        response.read()
        raise _Redirected(response)


@dataclass
class _Attempts:
    """The attempts of one request."""

    request: Request
    binding_id: str
    timeouts: Timeouts
    policy: RetryPolicy
    deadline: Deadline
    log: Log | None

    def attempt(self, client: httpx.Client, number: int) -> PrepareResult | Failure:
        """One attempt: the result, or the failure it met."""
        import httpx

        remaining = self.deadline.remaining()
        limits = self.timeouts.within(remaining)
        if self.log:
            self.log(f"* Attempt {number}/{self.policy.attempts}")
            log_request(self.request, self.log)
        watchdog = _Watchdog(remaining + WATCHDOG_GRACE)
        try:
            with watchdog:
                response = client.request(
                    self.request.method,
                    self.request.url,
                    headers=self.request.headers,
                    content=self.request.body,
                    timeout=httpx.Timeout(
                        connect=limits.connect,
                        read=limits.read,
                        write=limits.write,
                        pool=limits.pool,
                    ),
                    extensions={"trace": watchdog.trace},
                )
        except _Redirected as redirected:
            response = redirected.response
        except httpx.HTTPError as exc:
            origin = origin_of(self.request.url)
            if watchdog.fired:
                failure = deadline_failure(origin, self.policy.deadline)
            else:
                failure = transport_failure(exc, origin, limits)
            if self.log:
                self.log(f"* No answer: {failure.reason}")
            return failure
        if self.log:
            log_response(response, self.log)
        return read_answer(response, self.binding_id)


class _Watchdog:
    """Cuts an attempt's connection when the attempt outlives the deadline.

    httpx's timeouts bound each read and write, not their sum: a server that
    sends a byte every half second never trips one. The watchdog learns the
    attempt's socket from httpcore's ``trace`` extension and, at the deadline,
    shuts it down, which ends the read or write in progress at once.
    """

    CONNECTED = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete"})

    def __init__(self, seconds: float) -> None:
        self.fired = False  # pragma: no mutate: read only as a truth value, so None is False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace callback: keep the socket of each new connection."""
        if event not in self.CONNECTED:
            return
        with self._lock:
            self._socket = info["return_value"].get_extra_info("socket")
            fired = self.fired
        if fired:
            self._shut_down()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
        self._shut_down()

    def _shut_down(self) -> None:
        with self._lock:
            sock = self._socket
        if sock is not None:
            with suppress(OSError):
                # socket.socket's own shutdown: an SSLSocket's would also drop its
                # TLS state under the thread that is reading it.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def final_error(error: AcpError, ending: GiveUp) -> AcpError:
    """The error to report when no more attempts will be made: ``error``, saying after
    which attempt or why acp gave up, with the hint of giving up added to its own."""
    hint = error.hint
    if ending.hint:
        hint = f"{hint} {ending.hint}" if hint else ending.hint
    return type(error)(
        f"{error.message.rstrip('.')}; {ending.reason}.",
        hint=hint,
        request_id=error.request_id,
        server_code=error.server_code,
    )


def retry_line(attempt: int, policy: RetryPolicy, reason: str, wait: Wait) -> str:
    """The one line that announces a retry: attempt, reason, wait."""
    line = f"Attempt {attempt}/{policy.attempts} failed ({reason}); "
    line += f"retrying in {seconds(wait.seconds)}"
    if wait.asked is not None:
        line += ", as the server asked"
    if wait.slept != wait.seconds:
        line += f" ({SCALE_VARIABLE}={policy.scale:g}: sleeping {seconds(wait.slept)})"
    return line + "."


def log_request(request: Request, log: Log) -> None:
    """Show a request on the ``-v`` log, the token masked."""
    log(f"> {request.method} {request.url}")
    for name, value in request.masked_headers().items():
        log(escape(f"> {name}: {value}"))
    log(f"> ({len(request.body)} bytes of body)")


def log_response(response: httpx.Response, log: Log) -> None:
    """Show a response's status line and headers on the ``-v`` log, escaped."""
    log(escape(f"< {response.http_version} {response.status_code} {response.reason_phrase}"))
    encoding = response.headers.encoding
    for name, value in response.headers.raw:  # as sent: repeated, in their own case
        log(escape(f"< {name.decode(encoding)}: {value.decode(encoding)}"))
    log(f"< ({len(response.content)} bytes of body)")
