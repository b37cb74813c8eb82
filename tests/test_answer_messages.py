"""acp_cli.answers: every message, reason and hint whole, one table per error class.

tests/test_answers.py maps statuses and exceptions to error classes and retries;
this file pins down what the user reads for each, at the edges of each rule.
"""

from __future__ import annotations

import ssl

import httpx
import pytest

from acp_cli.answers import Failure, deadline_failure, read_answer, transport_failure
from acp_cli.errors import (
    AcpError,
    AuthError,
    NotFoundError,
    RejectedError,
    UnavailableError,
)
from acp_cli.retry import DEADLINE_HINT
from acp_cli.transport import Timeouts

LIMITS = Timeouts(connect=3, read=7.25, write=0.5, pool=12)
ORIGIN = "https://api.example.com"
REDIRECT_HINT = "Set the API URL to the final address."
TOKEN_HINT = (
    "Check it with `acp auth status`; log in again with `acp auth login`, or set ACP_TOKEN."
)
BINDING_HINT = "Check the binding ID and that the API URL and profile are the right ones."
LATER = "Try again later."
REJECTED = "Check the plan and metadata against the server's message above."
SMALLER = "The plan is larger than the server accepts; push the workspace in smaller parts."
SIGNATURE_HINT = (
    "acp and the server disagree on the plan's signature (RFC 8785): please report it "
    "with the output of `acp push signature PLAN_FILE`."
)
NETWORK = (
    "Check the API URL, your network connection and any proxy (HTTPS_PROXY, NO_PROXY), "
    "then try again."
)
TIMEOUT = "If the server is slow, raise --timeout, or `acp config set timeout SECONDS`."
CA = (
    "If the server's certificate comes from a private CA, trust that CA with "
    "--ca-bundle FILE, ACP_CA_BUNDLE or `acp config set ca_bundle FILE` "
    "(SSL_CERT_FILE replaces the default CA certificates)."
)
SAID = b'{"error": {"code": "busy", "message": "come back"}}'


def failure_of(status: int, body: bytes = SAID, **headers: str) -> Failure:
    outcome = read_answer(
        httpx.Response(status, content=body, headers={"X-Request-Id": "req_1", **headers}),
        "wb_1",
    )
    assert isinstance(outcome, Failure)
    return outcome


def unavailable(message: str, hint: str | None) -> tuple[type[AcpError], str, str | None]:
    return UnavailableError, message, hint


@pytest.mark.parametrize(
    ("status", "kind", "message", "hint"),
    [
        (
            100,
            *unavailable("The server answered with an unexpected status 100: come back.", None),
        ),
        (
            202,
            *unavailable("The server answered with an unexpected status 202: come back.", None),
        ),
        (
            299,
            *unavailable("The server answered with an unexpected status 299: come back.", None),
        ),
        *[
            (
                status,
                *unavailable(
                    f"The server answered {status} with a redirect to https://b.example.com/x; "
                    "acp does not follow redirects, so the token never travels to another "
                    "address.",
                    REDIRECT_HINT,
                ),
            )
            for status in (300, 307, 399)
        ],
        (400, RejectedError, "The server rejected the request (400): come back.", REJECTED),
        (401, AuthError, "The server refused the token (401): come back.", TOKEN_HINT),
        (402, RejectedError, "The server rejected the request (402): come back.", REJECTED),
        (403, AuthError, "The server refused the token (403): come back.", TOKEN_HINT),
        (
            404,
            NotFoundError,
            "Workspace binding 'wb_1' was not found (404): come back.",
            BINDING_HINT,
        ),
        (407, RejectedError, "The server rejected the request (407): come back.", REJECTED),
        (408, *unavailable("The server is unavailable (408): come back.", LATER)),
        (413, RejectedError, "The server rejected the request (413): come back.", SMALLER),
        (429, *unavailable("The server is unavailable (429): come back.", LATER)),
        (499, RejectedError, "The server rejected the request (499): come back.", REJECTED),
        (500, *unavailable("The server is unavailable (500): come back.", LATER)),
        (999, *unavailable("The server is unavailable (999): come back.", LATER)),
    ],
)
def test_each_status_says_what_happened_and_what_to_do(
    status: int, kind: type[AcpError], message: str, hint: str | None
) -> None:
    failure = failure_of(status, location="https://b.example.com/x")
    assert type(failure.error) is kind
    assert (failure.error.message, failure.error.hint) == (message, hint)
    assert failure.error.request_id == "req_1"
    assert failure.error.server_code == "busy"  # on a line of its own, not in the message


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"", ""),
        (b"   ", ""),
        (b'{"error": {"code": "busy"}}', ""),  # the code is shown on a line of its own
        (b'{"error": {"message": "come back"}}', ": come back"),
        (b'{"error": {"code": "", "message": ""}, "message": "top"}', ": top"),
        (b'{"error": "plain"}', ": plain"),
        (b'{"detail": "why"}', ": why"),
        (b'{"message": 5, "detail": "why"}', ": why"),
        (b'{"other": 1}', ': {"other": 1}'),
        (b"[1, 2]", ": [1, 2]"),
        (b"<html><head><TITLE>Bad\nGateway</TITLE></head></html>", ": Bad Gateway"),
        (b"<p>gone <b>away</b></p>", ": gone away"),
        (b"line one\r\nline\ttwo", ": line one line two"),
        (b'{"message": "' + b"m" * 600 + b'"}', ": " + "m" * 499 + "…"),
        (b'{"error": {"message": "' + b"n" * 600 + b'"}}', ": " + "n" * 499 + "…"),
        (b'{"error": {"message": "' + b"n" * 500 + b'"}}', ": " + "n" * 500),
        (b"bad \xff byte", ": bad \ufffd byte"),
        (b"[" * 6000 + b"]" * 6000, ": " + "[" * 119 + "…"),
        (b"x" * 600, ": " + "x" * 119 + "…"),
        (b"y" * 120, ": " + "y" * 120),
    ],
)
def test_the_server_s_own_words_are_shown_on_one_short_line(body: bytes, said: str) -> None:
    failure = failure_of(409, body)
    assert failure.error.message == f"The server rejected the request (409){said}."


def test_a_server_error_code_brings_its_own_hint() -> None:
    body = b'{"error": {"code": "plan_signature_mismatch", "message": "no"}}'
    assert failure_of(400, body).error.hint == SIGNATURE_HINT
    assert failure_of(409, b'{"message": "plan_signature_mismatch"}').error.hint == SIGNATURE_HINT
    assert failure_of(400, b'{"message": "plan signature mismatch"}').error.hint == REJECTED


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("/" + "l" * 300, "/" + "l" * 198 + "…"),
        ("/" + "l" * 199, "/" + "l" * 199),
        ("  ", "another location"),
    ],
)
def test_a_redirect_location_is_cut_at_200_characters(location: str, shown: str) -> None:
    assert failure_of(302, b"", location=location).error.message == (
        f"The server answered 302 with a redirect to {shown}; acp does not follow "
        "redirects, so the token never travels to another address."
    )


@pytest.mark.parametrize(
    ("headers", "request_id", "retry_after"),
    [
        ({"X-Request-Id": "r" * 250, "Retry-After": "7"}, "r" * 199 + "…", "7"),
        ({"X-Request-Id": " ", "Retry-After": "7"}, None, "7"),
        ({"X-Request-Id": "req_2"}, "req_2", None),
        ({"Retry-After": "0"}, None, "0"),
    ],
)
def test_the_request_id_and_retry_after_of_a_retryable_answer(
    headers: dict[str, str], request_id: str | None, retry_after: str | None
) -> None:
    outcome = read_answer(httpx.Response(503, content=b"", headers=headers), "wb_1")
    assert isinstance(outcome, Failure)
    assert (outcome.error.request_id, outcome.retry_after) == (request_id, retry_after)
    assert (outcome.reason, outcome.retryable) == ("503 Service Unavailable", True)


def test_a_final_answer_keeps_no_retry_after_and_a_long_reason_is_cut() -> None:
    outcome = read_answer(
        httpx.Response(400, headers={"Retry-After": "7"}, extensions={"reason_phrase": b"R" * 100}),
        "wb_1",
    )
    assert isinstance(outcome, Failure)
    assert (outcome.retry_after, outcome.retryable) == (None, False)
    assert outcome.reason == "400 " + "R" * 75 + "…"


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b"", "it is not JSON (empty body)"),
        (b"<html><title>Welcome</title></html>", "it is not JSON (Welcome)"),
        (b"[]", "it is not a JSON object ([])"),
        (b"[" * 6000 + b"]" * 6000, "it is not JSON (" + "[" * 119 + "…)"),
        (b'{"pushSession": 1}', 'it has no pushSession object ({"pushSession": 1})'),
    ],
)
def test_a_success_without_the_documented_json_says_what_came_instead(
    body: bytes, shown: str
) -> None:
    failure = failure_of(200, body)
    assert (failure.error.message, failure.error.hint) == (
        f"The server answered 200 but its body is not the documented JSON: {shown}.",
        "Check that the API URL points at the ACP API.",
    )
    assert (failure.reason, failure.retryable) == ("200 OK", False)


# --- no answer: the exception tables --------------------------------------------------------

EXCEPTIONS = [
    (
        httpx.ConnectTimeout("t"),
        f"The request to {ORIGIN} timed out: no connection within 3 s.",
        "no connection within 3 s",
        TIMEOUT,
        True,
    ),
    (
        httpx.ReadTimeout("t"),
        f"The request to {ORIGIN} timed out: no answer within 7.2 s.",
        "no answer within 7.2 s",
        TIMEOUT,
        True,
    ),
    (
        httpx.WriteTimeout("t"),
        f"The request to {ORIGIN} timed out: the request could not be sent within 0.5 s.",
        "the request could not be sent within 0.5 s",
        TIMEOUT,
        True,
    ),
    (
        httpx.PoolTimeout("t"),
        f"The request to {ORIGIN} timed out: no free connection within 12 s.",
        "no free connection within 12 s",
        TIMEOUT,
        True,
    ),
    (
        httpx.ProxyError("407 Proxy Authentication Required"),
        f"The proxy did not connect acp to {ORIGIN}: 407 Proxy Authentication Required.",
        "proxy error",
        "Check HTTPS_PROXY, HTTP_PROXY and NO_PROXY.",
        False,
    ),
    (
        httpx.ConnectError("[Errno 111] Connection refused"),
        f"Could not connect to {ORIGIN}: [Errno 111] Connection refused.",
        "could not connect: [Errno 111] Connection refused",
        NETWORK,
        True,
    ),
    (
        httpx.ConnectError(""),
        f"Could not connect to {ORIGIN}: ConnectError.",
        "could not connect: ConnectError",
        NETWORK,
        True,
    ),
    (
        httpx.ReadError("reset.\nby peer."),
        f"The connection to {ORIGIN} broke before a complete answer: reset. by peer.",
        "the connection broke: reset. by peer",
        NETWORK,
        True,
    ),
    (
        httpx.RemoteProtocolError("peer closed connection"),
        f"The connection to {ORIGIN} broke before a complete answer: peer closed connection.",
        "the connection broke: peer closed connection",
        NETWORK,
        True,
    ),
    (
        httpx.WriteError("e" * 400),
        f"The connection to {ORIGIN} broke before a complete answer: {'e' * 299}….",
        f"the connection broke: {'e' * 299}…",
        NETWORK,
        True,
    ),
    (
        httpx.LocalProtocolError("Illegal header value b'Bearer tok_x\\n'"),
        "acp could not send the request: a header value is not valid HTTP.",
        "invalid request",
        "Check ACP_DEVICE_ID and the token for stray characters.",
        False,
    ),
    (
        httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'"),
        f"The request to {ORIGIN} failed: Request URL has an unsupported protocol 'ftp://'.",
        "Request URL has an unsupported protocol 'ftp://'",
        NETWORK,
        False,
    ),
    (
        httpx.DecodingError("gzip"),
        f"The request to {ORIGIN} failed: gzip.",
        "gzip",
        NETWORK,
        False,
    ),
]


@pytest.mark.parametrize(("exc", "message", "reason", "hint", "retryable"), EXCEPTIONS)
def test_each_transport_failure_says_what_happened_and_what_to_do(
    exc: httpx.HTTPError, message: str, reason: str, hint: str, retryable: bool
) -> None:
    failure = transport_failure(exc, ORIGIN, LIMITS)
    assert type(failure.error) is UnavailableError
    assert (failure.error.message, failure.error.hint) == (message, hint)
    assert (failure.reason, failure.retryable) == (reason, retryable)


def test_every_httpx_error_has_a_rule() -> None:
    # The rules are looked up by class name along the MRO: each httpx error class
    # that can reach transport_failure finds one, at worst HTTPError's.
    def subclasses(klass: type[httpx.HTTPError]) -> set[type[httpx.HTTPError]]:
        found = set(klass.__subclasses__())
        return found.union(*(subclasses(sub) for sub in found))

    for klass in subclasses(httpx.HTTPError) - {httpx.HTTPStatusError}:
        failure = transport_failure(klass("x"), ORIGIN, LIMITS)
        assert isinstance(failure.error, UnavailableError), klass


def tls_failure(cause: BaseException, outer: httpx.HTTPError) -> Failure:
    outer.__cause__ = cause
    return transport_failure(outer, ORIGIN, LIMITS)


def test_a_certificate_that_fails_says_why_and_how_to_trust_a_private_ca() -> None:
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] failed")
    verify.verify_message = "self-signed certificate"
    failure = tls_failure(verify, httpx.ConnectError("[SSL] failed (_ssl.c:1000)"))
    assert (failure.error.message, failure.error.hint) == (
        f"The TLS certificate of {ORIGIN} could not be verified: self-signed certificate.",
        CA,
    )
    assert (failure.reason, failure.retryable) == ("certificate verify failed", False)


@pytest.mark.parametrize(
    ("cause", "said"),
    [
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "handshake"),
        (ssl.SSLCertVerificationError(1, "no verify message"), "handshake"),
    ],
)
def test_without_the_tls_library_s_reason_the_httpx_words_are_shown(
    cause: ssl.SSLError, said: str
) -> None:
    failure = tls_failure(cause, httpx.ConnectError(said))
    assert failure.error.message.endswith(f": {said}.")
    assert failure.retryable is False


def test_the_tls_library_s_reason_is_cut_at_300_characters() -> None:
    verify = ssl.SSLCertVerificationError(1, "failed")
    verify.verify_message = "v" * 400
    failure = tls_failure(verify, httpx.ConnectError("failed"))
    assert failure.error.message == (
        f"The TLS certificate of {ORIGIN} could not be verified: {'v' * 299}…."
    )


def test_a_tls_error_with_a_reason_shows_the_reason_and_says_to_check_the_port() -> None:
    cause = ssl.SSLError(1, "wrong version")
    cause.reason = "WRONG_VERSION_NUMBER"
    failure = tls_failure(cause, httpx.ConnectError("handshake"))
    assert (failure.error.message, failure.error.hint) == (
        f"The TLS handshake with {ORIGIN} failed: WRONG_VERSION_NUMBER.",
        "Check that the API URL is right: https:// must point at a TLS port.",
    )
    assert (failure.reason, failure.retryable) == ("TLS handshake failed", False)


@pytest.mark.parametrize("cause", [ssl.SSLEOFError(8, "EOF"), ssl.SSLZeroReturnError(6, "closed")])
def test_a_tls_connection_the_peer_closed_is_a_broken_connection(cause: ssl.SSLError) -> None:
    failure = tls_failure(cause, httpx.ReadError("EOF occurred"))
    assert failure.error.message == (
        f"The connection to {ORIGIN} broke before a complete answer: EOF occurred."
    )
    assert (failure.reason, failure.retryable) == ("the connection broke: EOF occurred", True)


def test_the_tls_cause_is_found_through_context_and_a_loop_ends() -> None:
    outer = httpx.ConnectError("handshake")
    middle = OSError("middle")
    cause = ssl.SSLError(1, "x")
    cause.reason = "BAD"
    middle.__context__ = cause
    outer.__cause__ = middle
    assert transport_failure(outer, ORIGIN, LIMITS).reason == "TLS handshake failed"
    looped = httpx.ConnectError("loop")
    other = OSError("other")
    looped.__cause__, other.__cause__ = other, looped
    assert transport_failure(looped, ORIGIN, LIMITS).reason == "could not connect: loop"


@pytest.mark.parametrize(("deadline", "shown"), [(120, "120 s"), (0.25, "0.2 s"), (9.96, "10 s")])
def test_the_deadline_failure_names_the_deadline_and_how_to_raise_it(
    deadline: float, shown: str
) -> None:
    failure = deadline_failure(ORIGIN, deadline)
    assert type(failure.error) is UnavailableError
    assert (failure.error.message, failure.error.hint) == (
        f"The request to {ORIGIN} did not complete within the {shown} deadline.",
        DEADLINE_HINT,
    )
    assert (failure.reason, failure.retryable) == ("the deadline passed", False)
