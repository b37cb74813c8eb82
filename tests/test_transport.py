"""The transport: the retry loop in-process with an injected transport, and TLS contexts.

Nothing here sleeps for real unless a test says so: the random source and the
clocks are injected and the loop runs with ``scale=0``. The behaviour over real
sockets is in tests/cli/test_reliability.py.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from acp_cli import transport
from acp_cli.answers import PrepareResult
from acp_cli.errors import (
    AcpError,
    AuthError,
    ConfigError,
    NotFoundError,
    RejectedError,
    UnavailableError,
)
from acp_cli.request import prepare_request
from acp_cli.retry import GiveUp
from tests.support.cli_runner import PREPARED_SESSION
from tests.support.mock_transport import Recorder, request, send
from tests.support.retry_policy import Extremes, FakeClock, policy

# --- the loop -----------------------------------------------------------------


Handler = Callable[[httpx.Request], httpx.Response]


def tls_failure() -> httpx.ConnectError:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate"
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.__cause__ = cause
    return error


def handshake_failure() -> httpx.ConnectError:
    error = httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number")
    error.__cause__ = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    return error


RETRIED = {
    "connect-error": httpx.ConnectError("[Errno 111] Connection refused"),
    "connect-timeout": httpx.ConnectTimeout("timed out"),
    "read-timeout": httpx.ReadTimeout("timed out"),
    "write-timeout": httpx.WriteTimeout("timed out"),
    "pool-timeout": httpx.PoolTimeout("timed out"),
    "dropped": httpx.RemoteProtocolError("Server disconnected without sending a response."),
    "truncated": httpx.RemoteProtocolError("peer closed connection without sending complete"),
    "read-error": httpx.ReadError("[Errno 104] Connection reset by peer"),
    "write-error": httpx.WriteError("[Errno 32] Broken pipe"),
}
NOT_RETRIED = {
    "certificate": tls_failure(),
    "handshake": handshake_failure(),
    "proxy": httpx.ProxyError("407 Proxy Authentication Required"),
    "local-protocol": httpx.LocalProtocolError("Illegal header value"),
    "unsupported": httpx.UnsupportedProtocol("Request URL has an unsupported protocol"),
}


@pytest.mark.parametrize("name", sorted(RETRIED))
def test_transport_failures_that_may_pass_are_tried_4_times(name: str) -> None:
    handler = Recorder(RETRIED[name])
    error, lines = send(handler)
    assert isinstance(error, UnavailableError)
    assert len(handler.requests) == 4
    assert len(lines) == 3
    assert error.message.endswith("; gave up after 4 attempts.")


@pytest.mark.parametrize("name", sorted(RETRIED))
def test_a_transport_failure_then_an_answer_is_a_success(name: str) -> None:
    reused = {**PREPARED_SESSION, "created": False}
    handler = Recorder(RETRIED[name], httpx.Response(200, json=reused))
    result, lines = send(handler)
    assert isinstance(result, PrepareResult)
    assert not result.created
    assert len(lines) == 1


@pytest.mark.parametrize("name", sorted(NOT_RETRIED))
def test_transport_failures_that_will_not_pass_are_tried_once(name: str) -> None:
    handler = Recorder(NOT_RETRIED[name])
    error, lines = send(handler)
    assert isinstance(error, UnavailableError)
    assert len(handler.requests) == 1
    assert lines == []
    assert "attempt" not in error.message


def test_a_certificate_failure_says_so_and_points_at_the_options() -> None:
    error, _ = send(Recorder(tls_failure()))
    assert isinstance(error, UnavailableError)
    assert error.message == (
        "The TLS certificate of http://127.0.0.1:9 could not be verified: self-signed certificate."
    )
    assert error.hint is not None
    for option in ("--ca-bundle", "ACP_CA_BUNDLE", "acp config set ca_bundle", "SSL_CERT_FILE"):
        assert option in error.hint


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_statuses_that_may_pass_are_tried_4_times(status: int) -> None:
    handler = Recorder(httpx.Response(status, headers={"X-Request-Id": "r"}))
    error, lines = send(handler)
    assert isinstance(error, UnavailableError)
    assert len(handler.requests) == 4
    assert [line.split(" failed ")[0] for line in lines] == [f"Attempt {n}/4" for n in (1, 2, 3)]
    assert error.request_id == "r"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (301, UnavailableError),
        (307, UnavailableError),
        (400, RejectedError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (409, RejectedError),
        (413, RejectedError),
        (418, RejectedError),
        (422, RejectedError),
        (501, UnavailableError),
        (505, UnavailableError),
    ],
)
def test_statuses_that_will_not_pass_are_tried_once(status: int, kind: type[AcpError]) -> None:
    handler = Recorder(httpx.Response(status, headers={"Retry-After": "1", "Location": "/x"}))
    error, lines = send(handler)
    assert type(error) is kind
    assert len(handler.requests) == 1
    assert lines == []


def test_a_later_failure_that_will_not_pass_says_which_attempt() -> None:
    handler = Recorder(httpx.Response(503), httpx.Response(422, json={"message": "bad plan"}))
    error, lines = send(handler)
    assert isinstance(error, RejectedError)
    assert error.message == "The server rejected the request (422): bad plan; on attempt 2 of 4."
    assert len(lines) == 1


def test_the_same_body_object_is_sent_on_every_attempt() -> None:
    body = b'{"planSignature":"sha256:x","plan":{"a": [1.50, "\\u00e9"]}}'
    handler = Recorder(
        httpx.Response(503), httpx.Response(502), httpx.Response(201, json=PREPARED_SESSION)
    )
    result, _ = send(handler, req=request(body))
    assert isinstance(result, PrepareResult)
    assert handler.bodies == [body] * 3


def test_the_retry_line_names_the_attempt_the_reason_and_the_wait() -> None:
    handler = Recorder(
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.Response(201, json=PREPARED_SESSION),
    )
    _, lines = send(handler, pol=policy(scale=0.0))
    assert lines == [
        "Attempt 1/4 failed (429 Too Many Requests); retrying in 7 s, as the server asked "
        "(ACP_RETRY_SCALE=0: sleeping 0 s).",
        "Attempt 2/4 failed (could not connect: [Errno 111] Connection refused); "
        "retrying in 1 s (ACP_RETRY_SCALE=0: sleeping 0 s).",
    ]


def test_timeouts_are_explicit_and_the_read_timeout_grows_with_the_body() -> None:
    handler = Recorder(httpx.Response(201, json=PREPARED_SESSION))
    big = b'{"planSignature":"sha256:x","plan":{"p":"' + b"x" * (8 * 1024 * 1024) + b'"}}'
    send(handler, req=request(big), timeout=transport.Timeouts.of(30, connect=5))
    assert handler.requests[0].extensions["timeout"] == pytest.approx(
        {"connect": 5.0, "read": 38.0, "write": 30.0, "pool": 5.0}, abs=0.01
    )
    assert transport.Timeouts.of(2, connect=10) == transport.Timeouts(
        connect=2, read=2, write=2, pool=2
    )


def test_the_deadline_cuts_the_timeouts_and_stops_the_retries() -> None:
    clock = FakeClock()

    def slow_timeout() -> Exception:
        clock.now += 50  # each attempt waits a long read timeout
        return httpx.ReadTimeout("timed out")

    handler = Recorder(slow_timeout)
    error, lines = send(handler, pol=policy(deadline=120, clock=clock, scale=0.0))
    assert isinstance(error, UnavailableError)
    reads = [r.extensions["timeout"]["read"] for r in handler.requests]
    # The last attempt gets what is left of the deadline: 120 - 2 * 50, less the
    # two waits (0.5 s and 1 s), which count though ACP_RETRY_SCALE=0 skips them.
    assert reads == pytest.approx([30.0, 30.0, 18.5], abs=0.01)
    assert len(lines) == 2
    assert "the 120 s deadline leaves no time for another attempt" in error.message
    assert "after attempt 3 of 4" in error.message
    assert "--timeout" in str(error.hint)
    assert "--deadline" in str(error.hint)


def test_a_keyboard_interrupt_is_never_retried() -> None:
    handler = Recorder(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        send(handler)
    assert len(handler.requests) == 1


# --- certificates ---------------------------------------------------------------


def test_the_ca_bundle_adds_to_the_default_certificates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)  # a folder loads lazily: nothing to count
    raw = pytest.importorskip("tests.support.raw_server")
    certs = raw.make_certificates(tmp_path)
    default = transport.tls_context()
    added = transport.tls_context(certs.ca)
    assert added.cert_store_stats()["x509_ca"] == default.cert_store_stats()["x509_ca"] + 1
    assert default.cert_store_stats()["x509_ca"] > 50  # the public CAs are still trusted


def test_a_ca_bundle_that_is_not_pem_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("hello")
    with pytest.raises(ConfigError, match="could not be loaded"):
        transport.tls_context(bogus)


def test_an_unreadable_ssl_cert_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="SSL_CERT_FILE or SSL_CERT_DIR could not be loaded"):
        transport.tls_context()


# --- redirects: one attempt, whatever the headers (issue 11, item 3) ------------------------------

LOCATIONS = [
    None,
    "",
    "http://[bad",
    "http://127.0.0.1:99999/x",
    "https://exa mple.com/",
    "//",
    "https://",
    ":::",
    "http://other.example.com/" + "x" * 70_000,
    "/v1/elsewhere",
]


@pytest.mark.parametrize("status", range(300, 309))
@pytest.mark.parametrize("location", LOCATIONS, ids=lambda v: repr(v)[:20])
def test_every_3xx_is_one_attempt_whatever_its_location(status: int, location: str | None) -> None:
    headers = {"Retry-After": "1"} if location is None else {"Location": location}
    handler = Recorder(httpx.Response(status, headers=headers))
    error, lines = send(handler)
    assert isinstance(error, UnavailableError)
    assert error.exit_code == 6
    assert error.message.startswith(f"The server answered {status} with a redirect to ")
    assert len(handler.requests) == 1
    assert lines == []


# --- ACP_RETRY_SCALE changes the sleeps only (item 4) -------------------------------------------


def test_the_scale_makes_the_same_attempts_and_messages_against_the_deadline() -> None:
    # The case: --deadline 3 against a server answering 503. The waits are
    # 0.75 s, 1.5 s, then 3 s, which no longer fits: three attempts at any scale.
    outcomes = {}
    for scale in (0.0, 0.01, 1.0):
        handler = Recorder(httpx.Response(503))
        error, lines = send(handler, pol=policy(rng=Extremes(0.5), deadline=3, scale=scale))
        assert isinstance(error, UnavailableError)
        unscaled = [line.split(" (ACP_RETRY_SCALE")[0].rstrip(".") for line in lines]
        outcomes[scale] = (len(handler.requests), unscaled, error.message)
    assert outcomes[0.0] == outcomes[0.01] == outcomes[1.0]
    attempts, lines, message = outcomes[1.0]
    assert attempts == 3
    assert lines == [
        "Attempt 1/4 failed (503 Service Unavailable); retrying in 0.8 s",
        "Attempt 2/4 failed (503 Service Unavailable); retrying in 1.5 s",
    ]
    assert message.endswith(
        "the 3 s deadline leaves no time for another attempt, so it gave up after attempt 3 of 4."
    )


# --- the deadline covers the reading of the answer (item 2) ---------------------------------------


def test_the_watchdog_cuts_an_answer_that_trickles_in_at_the_deadline() -> None:
    from tests.support.raw_server import RawServer, read_request

    def trickle(conn: Any, server: RawServer) -> None:
        read_request(conn, server)
        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 1000\r\n\r\n{")
        while not server.stopping.wait(0.2):
            conn.sendall(b" ")

    with RawServer(trickle) as srv:
        req = prepare_request(
            api_url=srv.url, binding_id="wb_1", token="t", device_id="d", body=b"{}"
        )
        started = time.monotonic()
        with pytest.raises(UnavailableError) as caught:
            transport.Sender(
                timeouts=transport.Timeouts.of(1.0), policy=policy(deadline=1.5, scale=0.0)
            ).send(req, binding_id="wb_1")
        elapsed = time.monotonic() - started
    assert caught.value.message == (
        f"The request to {srv.url} did not complete within the 1.5 s deadline."
    )
    assert srv.connections == 1
    assert 1.5 <= elapsed < 1.5 + transport.WATCHDOG_GRACE + 0.5


def test_the_watchdog_cuts_a_request_the_server_reads_slowly() -> None:
    from tests.support.raw_server import RawServer, read_head

    def slow_reader(conn: Any, server: RawServer) -> None:
        read_head(conn)
        while not server.stopping.wait(0.1):
            if not conn.recv(1 << 19):  # each write makes progress: no write timeout
                return

    with RawServer(slow_reader) as srv:  # 5 MB/s at most: 48 MB take 10 s
        body = b'{"planSignature":"sha256:x","plan":{"p":"' + b"x" * (48 << 20) + b'"}}'
        req = prepare_request(
            api_url=srv.url, binding_id="wb_1", token="t", device_id="d", body=body
        )
        started = time.monotonic()
        with pytest.raises(UnavailableError) as caught:
            transport.Sender(
                timeouts=transport.Timeouts.of(1.0), policy=policy(deadline=1.5, scale=0.0)
            ).send(req, binding_id="wb_1")
        elapsed = time.monotonic() - started
    assert "did not complete within the 1.5 s deadline" in caught.value.message
    assert 1.5 <= elapsed < 1.5 + transport.WATCHDOG_GRACE + 0.5


# --- the watchdog and the last error, up close ----------------------------------------------


def test_the_last_error_keeps_the_server_s_code_and_request_id() -> None:
    error = UnavailableError("The server is busy (503).", request_id="r1", server_code="busy")
    final = transport.final_error(error, GiveUp("after attempt 3 of 3", hint="Try later."))
    assert final.message == "The server is busy (503); after attempt 3 of 3."
    assert (final.request_id, final.server_code, final.hint) == ("r1", "busy", "Try later.")


class _Stream:
    """What httpcore's trace hands the watchdog: a stream that knows its socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None


def test_a_connection_made_after_the_deadline_fired_is_cut_at_once() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.settimeout(10)  # a connection left open fails the test, not hangs it
        dog = transport._Watchdog(60)
        dog._fire()  # before any connection: nothing to cut yet, and no error
        dog.trace("connection.connect_tcp.complete", {"return_value": _Stream(ours)})
        assert theirs.recv(1) == b""  # cut: the other end reads the end of the stream


def test_cutting_a_connection_that_is_gone_or_never_was_is_no_error() -> None:
    dog = transport._Watchdog(60)
    dog._shut_down()  # no connection yet
    with socket.socket() as never_connected:  # shutdown: ENOTCONN
        dog.trace("connection.connect_tcp.complete", {"return_value": _Stream(never_connected)})
        dog._shut_down()
