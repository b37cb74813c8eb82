"""What answers and transport failures mean: the status table and the exception tables."""

from __future__ import annotations

import json
import ssl

import httpx
import orjson
import pytest

from acp_cli.answers import (
    EXCEPTION_RULES,
    STATUS_RULES,
    Failure,
    PrepareResult,
    error_for_response,
    read_answer,
    transport_failure,
)
from acp_cli.errors import AcpError, AuthError, NotFoundError, RejectedError, UnavailableError
from acp_cli.transport import Timeouts

LIMITS = Timeouts(connect=3, read=7, write=5, pool=2)


def response(status: int, body: bytes | str = b"", **headers: str) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(status, content=content, headers={"X-Request-Id": "req_1", **headers})


# --- success answers ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201])
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("", "it is not JSON"),
        ('{"pushSession": {"id": "ps_1"', "it is not JSON"),
        ("<html>ok</html>", "it is not JSON"),
        ("[]", "it is not a JSON object"),
        ('"ps_1"', "it is not a JSON object"),
        ("null", "it is not a JSON object"),
        ("{}", "it has no pushSession object"),
        ('{"pushSession": null}', "it has no pushSession object"),
        ('{"pushSession": []}', "it has no pushSession object"),
        ('{"pushSession": "ps_1"}', "it has no pushSession object"),
        ('{"error": {"code": "internal", "message": "db down"}}', "it has no pushSession object"),
        ('{"pushSession": {}, "created": "true"}', "created is not true or false"),
        ('{"pushSession": {}, "created": 1}', "created is not true or false"),
    ],
)
def test_a_success_without_the_documented_json_is_an_unavailable_error(
    status: int, body: str, problem: str
) -> None:
    outcome = read_answer(response(status, body), "wb_1")
    assert isinstance(outcome, Failure)
    assert isinstance(outcome.error, UnavailableError)
    assert outcome.error.exit_code == 6
    assert outcome.error.message.startswith(
        f"The server answered {status} but its body is not the documented JSON: {problem} ("
    )
    assert outcome.error.request_id == "req_1"
    assert not outcome.retryable


@pytest.mark.parametrize(
    ("body", "created"),
    [
        ('{"pushSession": {}}', None),
        ('{"pushSession": {"id": null, "status": null}, "created": null}', None),
        ('{"pushSession": {"id": "ps_1"}, "created": false}', False),
        ('{"pushSession": {"id": "ps_1", "extra": [1]}, "created": true, "more": 1}', True),
    ],
)
def test_missing_fields_inside_the_session_are_tolerated(body: str, created: bool | None) -> None:
    for status in (200, 201):
        result = read_answer(response(status, body), "wb_1")
        assert isinstance(result, PrepareResult)
        assert result.session == json.loads(body)["pushSession"]
        assert result.created is (created if created is not None else status == 201)
        assert result.request_id == "req_1"
        assert result.raw == body.encode()


def test_the_raw_answer_escapes_what_a_terminal_would_obey() -> None:
    body = '{"pushSession": {"id": "ps_\u009b2J", "status": "\u202eok"},\r\n"created": true}'
    result = read_answer(response(201, body), "wb_1")
    assert isinstance(result, PrepareResult)
    assert (
        result.raw
        == b'{"pushSession": {"id": "ps_\\u009b2J", "status": "\\u202eok"}, \n"created": true}'
    )
    assert orjson.loads(result.raw) == orjson.loads(body)


# --- the status table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (100, UnavailableError, False),
        (202, UnavailableError, False),
        (204, UnavailableError, False),
        *[(status, UnavailableError, False) for status in range(300, 309)],
        (400, RejectedError, False),
        (401, AuthError, False),
        (403, AuthError, False),
        (404, NotFoundError, False),
        (405, RejectedError, False),
        (408, UnavailableError, True),
        (409, RejectedError, False),
        (413, RejectedError, False),
        (422, RejectedError, False),
        (429, UnavailableError, True),
        (451, RejectedError, False),
        (500, UnavailableError, True),
        (501, UnavailableError, False),
        (502, UnavailableError, True),
        (503, UnavailableError, True),
        (504, UnavailableError, True),
        (505, UnavailableError, False),
        (599, UnavailableError, False),
    ],
)
def test_each_status_maps_to_its_error_and_retry(
    status: int, kind: type[AcpError], retryable: bool
) -> None:
    outcome = read_answer(response(status, '{"error": {"message": "said"}}'), "wb_1")
    assert isinstance(outcome, Failure)
    assert type(outcome.error) is kind
    assert outcome.retryable is retryable
    assert outcome.error.request_id == "req_1"
    assert f"{status}" in outcome.error.message
    assert outcome.reason.startswith(str(status))


def test_the_rules_are_checked_in_order() -> None:
    # 413 has its own hint before the 4xx rule; 3xx, 401/403, 404 come first too.
    assert "smaller parts" in str(error_for_response(413, {}, b"", "wb").hint)
    assert STATUS_RULES[-1].statuses == range(400, 500)


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("https://other.example.com/v1", "https://other.example.com/v1"),
        ("http://[bad", "http://[bad"),
        ("", "another location"),
        (None, "another location"),
        ("/x\u009b2J\u202e", "/x 2J"),
    ],
)
def test_a_redirect_names_its_location_made_printable(location: str | None, shown: str) -> None:
    headers = {} if location is None else {"location": location}
    error = error_for_response(307, headers, b"", "wb")
    assert isinstance(error, UnavailableError)
    assert error.message.startswith(f"The server answered 307 with a redirect to {shown};")


def test_the_server_message_and_its_code_hint() -> None:
    body = b'{"error": {"code": "plan_signature_mismatch", "message": "no"}}'
    error = error_for_response(400, {"x-request-id": "r\u009b1"}, body, "wb")
    assert error.message == "The server rejected the request (400): no."
    assert error.server_code == "plan_signature_mismatch"
    assert error.lines()[1] == "server code: plan_signature_mismatch"
    assert "acp push signature" in str(error.hint)
    assert error.request_id == "r 1"
    page = b"<html><title>Bad \x1b[2J Gateway</title>" + b"<p>x</p>" * 1000
    assert error_for_response(502, {}, page, "wb").message == (
        "The server is unavailable (502): Bad [2J Gateway."
    )
    assert error_for_response(404, {}, b"", "a/b").message == (
        "Workspace binding 'a/b' was not found (404)."
    )
    code_only = error_for_response(404, {}, b'{"error": {"code": "binding_not_found"}}', "b")
    assert (code_only.message, code_only.server_code) == (
        "Workspace binding 'b' was not found (404).",
        "binding_not_found",
    )
    assert error_for_response(404, {}, b'{"message": "gone"}', "b").server_code is None


def test_a_long_server_code_is_cut_to_100_characters() -> None:
    """The code is for searching and reports: kept short, whatever the server sends."""
    for length, shown in [(100, "c" * 100), (101, "c" * 99 + "…"), (500, "c" * 99 + "…")]:
        body = b'{"error": {"code": "%s", "message": "no"}}' % (b"c" * length)
        assert error_for_response(400, {}, body, "b").server_code == shown


@pytest.mark.parametrize(
    ("said", "detail"),
    [
        ("refused by proxy X.", "refused by proxy X"),  # only the final full stops go
        ("cut at XX...", "cut at XX"),
        ("X", "X"),
    ],
)
def test_the_reason_keeps_the_exception_s_words_but_its_final_full_stops(
    said: str, detail: str
) -> None:
    assert transport_failure(httpx.ConnectError(said), "https://h", LIMITS).reason == (
        f"could not connect: {detail}"
    )


# --- the exception tables -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "reason", "retryable"),
    [
        (httpx.ConnectTimeout("t"), "no connection within 3 s", True),
        (httpx.ReadTimeout("t"), "no answer within 7 s", True),
        (httpx.WriteTimeout("t"), "the request could not be sent within 5 s", True),
        (httpx.PoolTimeout("t"), "no free connection within 2 s", True),
        (httpx.ConnectError("refused"), "could not connect: refused", True),
        (httpx.ReadError("reset"), "the connection broke: reset", True),
        (httpx.WriteError("pipe"), "the connection broke: pipe", True),
        (httpx.RemoteProtocolError("cut"), "the connection broke: cut", True),
        (httpx.ProxyError("407"), "proxy error", False),
        (httpx.LocalProtocolError("Bearer tok_x"), "invalid request", False),
        (httpx.UnsupportedProtocol("ftp"), "ftp", False),
        (httpx.DecodingError("gzip"), "gzip", False),
    ],
)
def test_each_exception_maps_by_its_most_specific_class(
    exc: httpx.HTTPError, reason: str, retryable: bool
) -> None:
    failure = transport_failure(exc, "https://api.example.com", LIMITS)
    assert failure.reason == reason
    assert failure.retryable is retryable
    assert isinstance(failure.error, UnavailableError)
    assert "tok_x" not in failure.error.message


def test_every_exception_rule_names_an_httpx_class() -> None:
    for name in EXCEPTION_RULES:
        assert issubclass(getattr(httpx, name), Exception), name


def test_a_tls_cause_decides_before_the_httpx_class() -> None:
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "self-signed certificate"
    eof = ssl.SSLEOFError(8, "EOF occurred")
    cases = [
        (verify, "certificate verify failed", "could not be verified: self-signed certificate"),
        (ssl.SSLError(1, "wrong version"), "TLS handshake failed", "The TLS handshake with"),
        (eof, "the connection broke: EOF", "broke before a complete answer"),
    ]
    for cause, reason, said in cases:
        error = httpx.ConnectError("EOF") if cause is not eof else httpx.ReadError("EOF")
        error.__cause__ = cause
        failure = transport_failure(error, "https://h", LIMITS)
        assert failure.reason == reason
        assert said in failure.error.message
