"""Requests that are not HTTP/1.x still get a complete HTTP/1.1 answer, over raw sockets.

Whatever arrives (a word, an HTTP/0.9 request line, an over-long line, broken
headers, a TLS handshake), the answer has a status line, headers with an
``X-Request-Id``, and the JSON error body; and the emulator keeps serving.
"""

from __future__ import annotations

import io
import json
import re
import socket
from collections.abc import Callable

import httpx
import pytest

from acp_cli.emulator import Emulator
from tests.support.emulator_http import connect, read_until_closed
from tests.support.polling import wait_until

TLS_CLIENT_HELLO = bytes.fromhex("16030100a5010000a10303") + bytes(40) + b"\r\n\r\n"
MANY_HEADERS = b"".join(b"X-%d: a\r\n" % index for index in range(150))

MALFORMED = [
    pytest.param(b"HELLO\r\n\r\n", 400, id="one word"),
    pytest.param(b"HELLO WORLD\r\n\r\n", 400, id="two words"),
    pytest.param(b"GET /\r\n\r\n", 400, id="HTTP/0.9 GET"),
    pytest.param(b"GET /_emulator/health\r\n\r\n", 400, id="HTTP/0.9 control"),
    pytest.param(b"POST /v1/workspace-bindings/wb/push-sessions\r\n\r\n", 400, id="HTTP/0.9 POST"),
    pytest.param(b"GET / HTTP/2.0\r\n\r\n", 505, id="HTTP/2.0"),
    pytest.param(b"GET / HTTP/1.1 extra\r\n\r\n", 400, id="four words"),
    pytest.param(b"GET / HTTP/x.y\r\n\r\n", 400, id="version not numbers"),
    pytest.param(b"GET / HTTP/1.1.1\r\n\r\n", 400, id="version with three parts"),
    pytest.param(b"GET / FTP/1.0\r\n\r\n", 400, id="not HTTP"),
    pytest.param(b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, id="request line too long"),
    pytest.param(
        b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431, id="long header"
    ),
    pytest.param(b"GET / HTTP/1.1\r\n" + MANY_HEADERS + b"\r\n", 431, id="too many headers"),
    pytest.param(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400, id="header without colon"),
    pytest.param(b"GET / HTTP/1.1\r\nX-A: 1\r\nbad\r\nX-B: 2\r\n\r\n", 400, id="bad line between"),
    pytest.param(b"GET / HTTP/1.1\r\n : x\r\n\r\n", 400, id="continuation first"),
    pytest.param(b"GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", 400, id="folded header"),
    pytest.param(b"GET / HTTP/1.1\r\nX A: 1\r\n\r\n", 400, id="space in name"),
    pytest.param(b"GET / HTTP/1.1\r\n: empty\r\n\r\n", 400, id="empty name"),
    pytest.param(b"GET / HTTP/1.1\r\nX\xe9: 1\r\n\r\n", 400, id="non-ASCII name"),
    pytest.param(b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400, id="NUL in value"),
    pytest.param(b"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400, id="bare CR in value"),
    pytest.param(b"GET / HTTP/1.1\r\nX-A: \x1b[2J\r\n\r\n", 400, id="escape in value"),
    pytest.param(TLS_CLIENT_HELLO, 400, id="TLS handshake"),
    pytest.param(b"BREW /pot HTTP/1.1\r\n\r\n", 501, id="unknown method"),
    pytest.param(b"get / HTTP/1.1\r\n\r\n", 501, id="lower-case method"),
]


@pytest.fixture
def emu(make_emulator: Callable[..., Emulator]) -> Emulator:
    """An emulator accepting any token and binding."""
    return make_emulator()


def exchange(emu: Emulator, request: bytes) -> bytes:
    """Send raw bytes, end the sending side, and read everything until the emulator closes."""
    with connect(emu.url) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock)


def parse_strictly(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Split one HTTP/1.1 response exactly: status, lower-cased headers, body of Content-Length."""
    head, separator, rest = raw.partition(b"\r\n\r\n")
    assert separator, f"no end of headers in {raw[:200]!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.1 (\d{3}) [A-Za-z -]+", status_line)
    assert match, f"not an HTTP/1.1 status line: {status_line!r}"
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(": ")
        assert colon, line
        assert re.fullmatch(r"[A-Za-z0-9-]+", name), line
        headers[name.lower()] = value
    length = int(headers["content-length"])
    assert len(rest) == length, (len(rest), length)
    return int(match.group(1)), headers, rest


def assert_complete_error(raw: bytes, status: int) -> None:
    """A well-formed HTTP/1.1 error answer with a request ID and the JSON error body."""
    got, headers, body = parse_strictly(raw)
    assert got == status, raw[:300]
    assert re.fullmatch(r"req_[0-9a-f]{16}", headers["x-request-id"])
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    document = json.loads(body)
    assert set(document) == {"error"}
    assert set(document["error"]) == {"code", "message"}
    assert document["error"]["code"]
    assert document["error"]["message"]


@pytest.mark.parametrize(("request_bytes", "status"), MALFORMED)
def test_every_malformed_request_gets_a_complete_http_answer(
    emu: Emulator, request_bytes: bytes, status: int
) -> None:
    assert_complete_error(exchange(emu, request_bytes), status)
    # Nothing malformed reaches the API or the request log, and the emulator still serves.
    assert emu.requests() == []
    assert httpx.get(emu.url + "/_emulator/health", timeout=5).status_code == 200


@pytest.mark.parametrize(("request_bytes", "status"), MALFORMED[:8])
def test_a_malformed_request_after_a_good_one_on_the_same_connection(
    emu: Emulator, request_bytes: bytes, status: int
) -> None:
    good = b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = exchange(emu, good + request_bytes)
    first_end = raw.index(b"}", raw.index(b"\r\n\r\n")) + 1
    first_status, first_headers, _ = parse_strictly(raw[:first_end])
    assert first_status == 200
    assert first_headers["x-request-id"].startswith("req_")
    assert_complete_error(raw[first_end:], status)


def test_the_answer_reads_with_a_strict_http_client(emu: Emulator) -> None:
    """http.client refuses HTTP/0.9-style answers (a body without a status line)."""
    from http.client import HTTPResponse

    class _Socket:
        def __init__(self, data: bytes) -> None:
            self._file = io.BytesIO(data)

        def makefile(self, mode: str) -> io.BytesIO:
            return self._file

    response = HTTPResponse(_Socket(exchange(emu, b"HELLO\r\n\r\n")))  # type: ignore[arg-type]
    response.begin()
    assert response.status == 400
    assert response.getheader("X-Request-Id", "").startswith("req_")
    assert json.loads(response.read())["error"]["code"] == "bad_request"


def test_a_malformed_request_is_logged_with_its_request_id(
    make_emulator: Callable[..., Emulator],
) -> None:
    log = io.StringIO()
    emu = make_emulator(quiet=False, log_stream=log)
    _, headers, _ = parse_strictly(exchange(emu, b"HELLO\r\n\r\n"))
    # The line is written once the connection is closed, just after the client saw the end.
    wait_until(lambda: headers["x-request-id"] in log.getvalue())
    assert " 400 " in log.getvalue()
