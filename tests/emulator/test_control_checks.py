"""Every field of a ``/_emulator/`` control request is checked before anything changes.

An invalid control request is a 400 with the usual error shape; it queues
nothing, forgets nothing, and leaves the emulator answering API requests and
``GET /_emulator/requests`` as before (no injected header, no poisoned queue).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from acp_cli.emulator import Emulator, EmulatorClient, EmulatorControlError, Fault, FaultSpecError
from tests.support.emulator_http import connect, endpoint, read_response, signed_body

PLAN = {"files": [{"path": "a.txt", "size": 3}]}


def values(*items: Any) -> tuple[Any, ...]:
    """The values of any JSON type that a field is given, as one tuple."""
    return items


# For each field, values that must be refused, with a status that makes them otherwise valid.
BAD_FIELD_VALUES: list[tuple[str, Any]] = [
    *[
        ("status", value)
        for value in values(99, 100, 199, 600, 1000, -1, "503", 503.0, True, [503])
    ],
    *[
        ("retryAfter", value)
        for value in values(
            "1\r\nX-Injected: yes",
            "1\nX-Injected: yes",
            "1\r",
            "\x00",
            "a\x00b",
            "\u2028",
            "\ud800",
            "\U0001f600",
            1.5,
            True,
            [],
            {},
        )
    ],
    *[
        ("body", value)
        for value in values("\ud800", "a\udfffb", "\udc80\ud800", 5, True, [], {"a": 1})
    ],
    *[
        ("contentType", value)
        for value in values(
            "text/plain\r\nX-Injected: yes",
            "text/plain\n",
            "text/\x00plain",
            "text/plain; x=\u0100",
            "\ud800",
            3,
            False,
            ["text/plain"],
        )
    ],
    *[
        ("headers", value)
        for value in values(
            {"X-Ok": "a\r\nX-Injected: yes"},
            {"X-Ok": "a\nb"},
            {"X-Ok": "a\x00"},
            {"X-Ok": "\u20ac"},
            {"X-Ok": "\udfff"},
            {"X-Ok": 1},
            {"X-Ok": ["a"]},
            {"X A": "v"},
            {"": "v"},
            {"X:Y": "v"},
            {"X\r\nInjected": "v"},
            {"X\u00e9": "v"},
            {"Content-Length": "1"},
            {"transfer-encoding": "chunked"},
            [["X-Ok", "v"]],
            "X-Ok: v",
            7,
        )
    ],
    *[("delay", value) for value in values(-1, -0.001, 300.5, 1e999, "1", True, [1], {"s": 1})],
    *[("times", value) for value in values(0, -3, 1001, 10**9, 1.5, "2", True, [2])],
    *[
        (flag, value)
        for flag in ("drop", "truncate", "reset")
        for value in values("yes", "true", 1, 0, [], {})
    ],
    *[("colour", "red"), ("retry_after", "1"), ("Status", 503), ("content_type", "x/y")],
]


def spec_with(field: str, value: Any) -> dict[str, Any]:
    """A fault that would be valid without ``field`` (each field gets its natural companion)."""
    if field in ("drop", "truncate", "reset"):
        return {field: value}
    if field == "delay":
        return {"delay": value}
    if field == "status":
        return {"status": value}
    return {"status": 503, field: value}


def assert_refused(response: httpx.Response, codes: tuple[str, ...]) -> str:
    """A 400 in the documented error shape, with a request ID; returns the message."""
    assert response.status_code == 400, response.text
    assert re.fullmatch(r"req_[0-9a-f]{16}", response.headers["x-request-id"])
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] in codes, error
    message: str = error["message"]
    return message


def assert_healthy_and_untouched(http: httpx.Client, emu: Emulator, sessions: int = 0) -> None:
    """Nothing queued, nothing injected: the next API request is processed normally."""
    assert http.get("/_emulator/faults").json() == {"faults": []}
    assert emu.faults() == []
    response = http.post(endpoint("wb_check"), json=signed_body(PLAN))
    assert response.status_code in (200, 201), response.text
    assert "x-injected" not in response.headers
    listed = http.get("/_emulator/requests")
    assert listed.status_code == 200
    assert listed.json()["requests"][-1]["status"] == response.status_code
    assert listed.json()["requests"][-1]["fault"] is None
    assert len(emu.sessions()) == sessions + (response.status_code == 201)


@pytest.mark.parametrize(("field", "value"), BAD_FIELD_VALUES)
def test_each_bad_fault_field_is_a_400_that_queues_nothing(
    http: httpx.Client, emu: Emulator, field: str, value: Any
) -> None:
    spec = spec_with(field, value)
    body = json.dumps(spec).encode()  # a lone surrogate becomes a \u escape
    # The same body alone, in a list after a valid fault, and wrapped in {"faults": [...]}.
    for payload in (body, b'[{"status":502},' + body + b"]", b'{"faults":[' + body + b"]}"):
        message = assert_refused(
            http.post("/_emulator/faults", content=payload), ("invalid_fault", "malformed_json")
        )
        assert "Traceback" not in message
    assert_healthy_and_untouched(http, emu)


@pytest.mark.parametrize(("field", "value"), BAD_FIELD_VALUES)
def test_the_python_helpers_refuse_the_same_values(emu: Emulator, field: str, value: Any) -> None:
    spec = spec_with(field, value)
    with pytest.raises(FaultSpecError):
        emu.queue_faults([spec])
    with pytest.raises(FaultSpecError):
        Fault.from_json(spec)
    assert emu.faults() == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{nope",
        b"\xff\xfe",
        b'{"status": 503',
        b'{"status": NaN}',
        b'{"delay": Infinity}',
        b'{"status": 500, "status": 503}',
        b'{"status": 503, "headers": {"X-A": "1", "X-A": "2"}}',
        b"[" * 5000 + b"]" * 5000,
        b'"drop"',
        b"503",
        b"null",
        b"true",
        b"[[]]",
        b"[null]",
        b"{}",
        b'{"status": null}',
        b'{"status": 503, "retryAfter": null}',
        b'{"delay": 0}',
        b'{"process": true}',
        b'{"faults": {}}',
        b'{"faults": "drop"}',
        b'{"faults": [], "status": 503}',
        b'{"faults": [{"status": 503}, {}]}',
        json.dumps([{"status": 503, "times": 1000}] * 11).encode(),
    ],
)
def test_malformed_fault_bodies_are_a_400_that_queues_nothing(
    http: httpx.Client, emu: Emulator, body: bytes
) -> None:
    assert_refused(
        http.post("/_emulator/faults", content=body),
        ("invalid_fault", "malformed_json", "invalid_control"),
    )
    assert_healthy_and_untouched(http, emu)


def test_the_reproductions_of_the_report(http: httpx.Client, emu: Emulator) -> None:
    injected = http.post(
        "/_emulator/faults", content=b'{"status":500,"retryAfter":"1\\r\\nX-Injected: yes"}'
    )
    assert "retryAfter" in assert_refused(injected, ("invalid_fault",))
    surrogate = http.post("/_emulator/faults", content=b'{"status":500,"body":"\\ud800"}')
    assert "surrogate" in assert_refused(surrogate, ("invalid_fault",))
    assert_healthy_and_untouched(http, emu)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/_emulator/sessions?bogus=1", b""),
        ("GET", "/_emulator/sessions?status=nope", b""),
        ("GET", "/_emulator/sessions?status=prepared&status=cancelled", b""),
        ("GET", "/_emulator/sessions?binding=%ff", b""),
        ("GET", "/_emulator/sessions?binding", b""),
        ("GET", "/_emulator/sessions", b'{"binding": "wb"}'),
        ("GET", "/_emulator/health?verbose=1", b""),
        ("GET", "/_emulator/faults?all", b""),
        ("GET", "/_emulator/requests?limit=5", b""),
        ("DELETE", "/_emulator/requests", b"[1]"),
        ("DELETE", "/_emulator/faults", b'{"status": 503}'),
        ("POST", "/_emulator/faults/clear", b"nope"),
        ("POST", "/_emulator/reset", b'{"keep": "sessions"}'),
        ("POST", "/_emulator/reset?sessions=0", b""),
        ("POST", "/_emulator/reset", b"\xff"),
        ("POST", "/_emulator/sessions/ps_x/cancel", b'{"reason": "x"}'),
    ],
)
def test_other_controls_check_their_query_and_body_before_acting(
    http: httpx.Client, emu: Emulator, method: str, path: str, body: bytes
) -> None:
    made = http.post(endpoint("wb_1"), json=signed_body({"files": ["kept"]}))
    assert made.status_code == 201
    emu.queue_fault(delay=0.01)
    response = http.request(method, path, content=body)
    assert_refused(response, ("invalid_control", "malformed_json"))
    # Nothing happened: the session is still prepared, the fault still queued.
    assert [s["status"] for s in emu.sessions()] == ["prepared"]
    assert emu.faults() == [{"delay": 0.01}]
    emu.clear_faults()
    assert_healthy_and_untouched(http, emu, sessions=1)


def test_controls_without_input_accept_no_body_or_an_empty_object(
    http: httpx.Client, emu: Emulator
) -> None:
    for body in (b"", b"{}", b" { } \n"):
        assert http.post("/_emulator/reset", content=body).status_code == 200
        assert http.request("DELETE", "/_emulator/requests", content=body).status_code == 200
    assert http.get("/_emulator/sessions?status=&binding=").status_code == 200
    # EmulatorClient sends {} to the controls that take no input.
    EmulatorClient(emu.url).reset()


def test_emulator_client_reports_the_400(emu: Emulator) -> None:
    remote = EmulatorClient(emu.url)
    with pytest.raises(EmulatorControlError) as caught:
        remote.queue_faults([{"status": 500, "retryAfter": "1\r\nX: y"}])
    assert (caught.value.status, caught.value.code) == (400, "invalid_fault")
    assert emu.faults() == []


def test_valid_edge_values_are_accepted_and_sent_as_given(
    http: httpx.Client, emu: Emulator
) -> None:
    """The checks refuse what HTTP cannot carry, not odd values a test may want."""
    accepted = http.post(
        "/_emulator/faults",
        json={
            "status": 599,
            "retryAfter": "Wed, 21 Oct 2015 07:28:00 GMT",
            "contentType": "text/plain; charset=latin-1\tx=\u00e9",
            # Control characters other than CR, LF and NUL get through HTTP parsers
            # (h11 keeps them), so a test can check that the client sanitises them.
            "headers": {
                "X-Odd!#$%&'*+-.^_`|~": "tab\tand \u00ff",
                "X-Evil": "\u009b2J \x1b[2J\x1b]0;pwned\x07 \x7f",
                "X-E": "",
            },
            "body": "caf\u00e9 \U0001f600",
            "times": 1000,
        },
    )
    assert accepted.status_code == 200
    assert len(emu.faults()) == 1000
    answer = http.post(endpoint("wb_1"), json=signed_body(PLAN))
    assert answer.status_code == 599
    assert answer.headers["retry-after"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert answer.headers["x-odd!#$%&'*+-.^_`|~"] == "tab\tand \u00ff"
    assert answer.headers["x-evil"] == "\u009b2J \x1b[2J\x1b]0;pwned\x07 \x7f"
    assert answer.content == "caf\u00e9 \U0001f600".encode()
    assert http.post("/_emulator/faults", json={"status": 204}).status_code == 200
    assert http.post("/_emulator/faults", json={"delay": 300}).status_code == 200


def test_a_body_sent_to_a_get_control_is_read_so_the_connection_stays_in_step(
    emu: Emulator,
) -> None:
    """Unread body bytes would be taken for the next request on a keep-alive connection."""
    with connect(emu.url) as sock:
        sock.sendall(b"GET /_emulator/faults HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        first = read_response(sock)
        # Had "{}" been left unread, this request line would arrive as "{}GET ...".
        sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        second = read_response(sock)
    assert (first[0], json.loads(first[2])) == (200, {"faults": []})
    assert (second[0], json.loads(second[2])["status"]) == (200, "ok")
