"""acp_cli.transport: every message, hint and log line whole, one table per error class.

The loop runs in-process against httpx's MockTransport, as in tests/test_transport.py.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from acp_cli import __version__, transport
from acp_cli.answers import PrepareResult
from acp_cli.errors import AcpError, ConfigError, RejectedError, UnavailableError
from acp_cli.request import Request
from acp_cli.retry import GiveUp, RetryPolicy, Wait
from tests.support.cli_runner import PREPARED_SESSION
from tests.support.mock_transport import Recorder, send

POLICY = RetryPolicy(attempts=4, scale=1.0)
PROXY_HINT = "Check HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY."


@pytest.mark.parametrize(
    ("attempt", "reason", "wait", "line"),
    [
        (
            1,
            "503 Service Unavailable",
            Wait(2.0, 2.0),
            "Attempt 1/4 failed (503 Service Unavailable); retrying in 2 s.",
        ),
        (
            2,
            "x",
            Wait(0.5, 0.5, asked=0.5),
            "Attempt 2/4 failed (x); retrying in 0.5 s, as the server asked.",
        ),
        (
            3,
            "y",
            Wait(4.0, 0.4),
            "Attempt 3/4 failed (y); retrying in 4 s (ACP_RETRY_SCALE=1: sleeping 0.4 s).",
        ),
    ],
)
def test_the_retry_line(attempt: int, reason: str, wait: Wait, line: str) -> None:
    assert transport.retry_line(attempt, POLICY, reason, wait) == line


@pytest.mark.parametrize(
    ("hint", "ending", "message", "final_hint"),
    [
        (None, GiveUp("on attempt 2 of 4"), "The server is down; on attempt 2 of 4.", None),
        ("Later.", GiveUp("on attempt 4 of 4"), "The server is down; on attempt 4 of 4.", "Later."),
        (
            "Try again later.",
            GiveUp("the deadline passed", "Raise it."),
            "The server is down; the deadline passed.",
            "Try again later. Raise it.",
        ),
        (
            None,
            GiveUp("the deadline passed", "Raise it."),
            "The server is down; the deadline passed.",
            "Raise it.",
        ),
    ],
)
def test_the_final_error_says_after_which_attempt_or_why_acp_gave_up(
    hint: str | None, ending: GiveUp, message: str, final_hint: str | None
) -> None:
    error = UnavailableError("The server is down.", hint=hint, request_id="req_9")
    final = transport.final_error(error, ending)
    assert type(final) is UnavailableError
    assert (final.message, final.hint, final.request_id) == (message, final_hint, "req_9")


def test_a_first_attempt_that_will_not_pass_is_the_answer_s_own_error() -> None:
    error, _ = send(Recorder(httpx.Response(422, json={"message": "bad plan"})))
    assert isinstance(error, RejectedError)
    assert (error.message, error.hint) == (
        "The server rejected the request (422): bad plan.",
        "Check the plan and metadata against the server's message above.",
    )


def test_the_verbose_log_shows_each_exchange_with_the_token_masked() -> None:
    lines: list[str] = []
    handler = Recorder(
        httpx.Response(503, content=b"busy", headers={"Retry-After": "0"}),
        httpx.Response(
            201, json=PREPARED_SESSION, headers={"X-Request-Id": "r\x1b1", "x-dup": "a"}
        ),
    )
    result, _ = send(handler, log=lines.append)
    assert isinstance(result, PrepareResult)
    request_lines = [
        "> POST http://127.0.0.1:9/v1/workspace-bindings/wb_1/push-sessions",
        "> Authorization: Bearer tok_****",
        "> Content-Type: application/json",
        "> Accept: application/json",
        f"> User-Agent: {handler.requests[0].headers['User-Agent']}",
        "> ACP-Device-Id: dev",
        "> (38 bytes of body)",
    ]
    assert handler.requests[0].headers["User-Agent"].startswith(f"acp-cli/{__version__} (")
    assert lines == [
        "* Attempt 1/4",
        *request_lines,
        "< HTTP/1.1 503 Service Unavailable",
        "< Retry-After: 0",
        "< Content-Length: 4",
        "< (4 bytes of body)",
        "* Attempt 2/4",
        *request_lines,
        "< HTTP/1.1 201 Created",
        "< X-Request-Id: r\\x1b1",
        "< x-dup: a",
        "< Content-Length: 94",
        "< Content-Type: application/json",
        "< (94 bytes of body)",
    ]


def test_the_verbose_log_says_why_an_attempt_got_no_answer() -> None:
    lines: list[str] = []
    handler = Recorder(httpx.LocalProtocolError("bad header"))
    error, _ = send(handler, log=lines.append)
    assert isinstance(error, UnavailableError)
    assert lines[0] == "* Attempt 1/4"
    assert lines[-1] == "* No answer: invalid request"
    assert len(lines) == 9


@pytest.mark.parametrize("proxy", ["ftp://proxy.example.com", "socks5://127.0.0.1:1080"])
def test_an_unusable_proxy_setting_is_a_config_error_for_https_only(
    monkeypatch: pytest.MonkeyPatch, proxy: str
) -> None:
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    with pytest.raises(ConfigError) as caught:
        transport.Sender(timeouts=transport.Timeouts.of(5)).send(
            request_to("https://api.example.com"), binding_id="wb_1"
        )
    assert caught.value.message.startswith("The proxy settings are not usable: ")
    assert caught.value.message.endswith(".")
    assert caught.value.hint == PROXY_HINT
    # Plain http (loopback only) never goes through a proxy: the setting does not matter.
    handler = Recorder(httpx.Response(201, json=PREPARED_SESSION))
    result, _ = send(handler)
    assert isinstance(result, PrepareResult)


def request_to(url: str) -> Request:
    from acp_cli.request import prepare_request

    return prepare_request(
        api_url=url, binding_id="wb_1", token="tok_secret_123456", device_id="dev", body=b"{}"
    )


def test_a_ca_bundle_that_cannot_be_loaded_names_the_file_and_the_options(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("hello")
    with pytest.raises(ssl.SSLError) as reason:
        ssl.create_default_context().load_verify_locations(cafile=str(bogus))
    with pytest.raises(ConfigError) as caught:
        transport.tls_context(bogus)
    assert (caught.value.message, caught.value.hint) == (
        f"The CA bundle {bogus} could not be loaded: {reason.value}.",
        "Give a PEM file of CA certificates with --ca-bundle, ACP_CA_BUNDLE or the "
        "ca_bundle setting.",
    )


def test_unloadable_default_certificates_name_the_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    with pytest.raises(ConfigError) as caught:
        transport.tls_context()
    assert caught.value.message == (
        "The CA certificates named by SSL_CERT_FILE or SSL_CERT_DIR could not be loaded: "
        "[Errno 2] No such file or directory."
    )
    assert caught.value.hint == "Fix or unset SSL_CERT_FILE and SSL_CERT_DIR."


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (299, UnavailableError),
        (300, UnavailableError),
        (399, UnavailableError),
        (400, RejectedError),
    ],
)
def test_the_answers_around_the_redirects_are_one_attempt_each(
    status: int, kind: type[AcpError]
) -> None:
    handler = Recorder(httpx.Response(status, headers={"Location": "http://[bad"}))
    error, lines = send(handler)
    assert type(error) is kind
    assert (len(handler.requests), lines) == (1, [])


def test_the_timeouts_within_what_is_left_of_the_deadline() -> None:
    timeouts = transport.Timeouts(connect=10, read=30, write=20, pool=5)
    assert timeouts.within(12) == transport.Timeouts(connect=10, read=12, write=12, pool=5)
    assert timeouts.within(100) == timeouts
    assert timeouts.for_body(3 * 1024 * 1024) == transport.Timeouts(
        connect=10, read=33, write=20, pool=5
    )
    assert transport.Timeouts.of(60) == transport.Timeouts(connect=10, read=60, write=60, pool=10)


def test_a_ca_bundle_is_loaded_for_plain_http_too(tmp_path: Path) -> None:
    # A bundle given is checked whatever the URL: a typo shows at once, not on the
    # day the API URL becomes https.
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("hello")
    handler = Recorder(httpx.Response(201, json=PREPARED_SESSION))
    error, _ = send(handler, ca_bundle=bogus)
    assert isinstance(error, ConfigError)
    assert error.message.startswith(f"The CA bundle {bogus} could not be loaded: ")
    assert handler.requests == []


def test_a_final_error_ending_in_a_capital_keeps_it() -> None:
    error = RejectedError("Bad plan X.")
    assert transport.final_error(error, GiveUp("on attempt 2 of 4")).message == (
        "Bad plan X; on attempt 2 of 4."
    )


def test_plain_http_gets_a_tls_context_that_would_refuse_any_certificate() -> None:
    # Should TLS happen after all on an http:// URL, verification fails closed.
    context = transport._no_tls()
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.get_ca_certs() == []


def test_an_answer_is_read_for_the_binding_sent() -> None:
    error, _ = send(Recorder(httpx.Response(404)))
    assert isinstance(error, AcpError)
    assert error.message == "Workspace binding 'wb_1' was not found (404)."


# --- over real loopback sockets: what only a connection shows ------------------------------------


def test_each_attempt_has_a_new_connection_and_plain_http_no_proxy_nor_certificates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.raw_server import RawServer, answer, read_request, response_bytes

    def busy_then_ready(conn: Any, server: RawServer) -> None:
        # Keeps the connection open, and would answer a second request on it.
        read_request(conn, server)
        busy = response_bytes(503, b"busy", {"Retry-After": "0"})
        conn.sendall(busy.replace(b"Connection: close", b"Connection: keep-alive"))
        read_request(conn, server)
        conn.sendall(response_bytes(201, json.dumps(PREPARED_SESSION).encode()))

    # A proxy that is not there: plain http to loopback must not try to use it.
    monkeypatch.delenv("NO_PROXY")
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    # Nor load CA certificates: broken ones do not stop it.
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    ready = answer(201, json.dumps(PREPARED_SESSION).encode())
    with RawServer(busy_then_ready, ready) as srv:
        result = transport.Sender(
            timeouts=transport.Timeouts.of(5), policy=RetryPolicy(scale=0.0)
        ).send(request_to(srv.url), binding_id="wb_1")
    assert isinstance(result, PrepareResult)
    assert srv.connections == 2


def test_an_attempt_s_watchdog_cannot_keep_the_process_alive() -> None:
    import threading

    timers: list[bool] = []

    def answer_and_look() -> httpx.Response:
        timers.extend(t.daemon for t in threading.enumerate() if isinstance(t, threading.Timer))
        return httpx.Response(201, json=PREPARED_SESSION)

    result, _ = send(Recorder(answer_and_look))
    assert isinstance(result, PrepareResult)
    assert timers == [True]  # one watchdog for the attempt, and the interpreter exits without it
