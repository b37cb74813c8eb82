"""Fault injection: each kind of fault, its order, its limits, and its spec checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from acp_cli.emulator import Emulator, Fault, FaultSpecError
from tests.support.emulator_http import TOKEN, connect, endpoint, read_until_closed, signed_body
from tests.support.polling import wait_until

PLAN = {"files": [{"path": "a.txt", "size": 3}]}
BODY = httpx.Request("POST", "/", json=signed_body(PLAN)).read()


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    """A client for ``emu`` that sends the same body bytes every time, as a retrying client."""
    with httpx.Client(
        base_url=emu.url,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=5,
    ) as http:
        yield http


def post(client: httpx.Client, **kwargs: Any) -> httpx.Response:
    """POST the fixed body to binding wb_1."""
    return client.post(endpoint("wb_1"), content=BODY, **kwargs)


def test_a_status_fault_answers_instead_of_processing(client: httpx.Client, emu: Emulator) -> None:
    emu.queue_fault(status=503, retry_after=2)
    response = post(client)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.headers["x-request-id"].startswith("req_")
    assert response.json() == {
        "error": {
            "code": "service_unavailable",
            "message": "injected fault: 503 Service Unavailable",
        }
    }
    assert emu.sessions() == []
    # The fault is used up: the retry goes through.
    assert post(client).status_code == 201
    assert [r.status for r in emu.requests()] == [503, 201]
    assert emu.requests()[0].fault == Fault(status=503, retry_after="2")
    assert emu.requests()[1].fault is None


def test_a_status_fault_can_carry_an_html_page_and_headers(
    client: httpx.Client, emu: Emulator
) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    emu.queue_fault(status=502, body=page, headers={"X-Proxy": "edge-7"})
    response = post(client)
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-proxy"] == "edge-7"
    assert response.text == page


def test_a_retry_after_http_date_is_sent_as_given(client: httpx.Client, emu: Emulator) -> None:
    emu.queue_fault(status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    response = post(client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert response.json()["error"]["code"] == "too_many_requests"


def test_a_success_status_with_a_non_json_body_can_be_faked(
    client: httpx.Client, emu: Emulator
) -> None:
    emu.queue_fault(status=200, body="not json", content_type="text/plain")
    response = post(client)
    assert (response.status_code, response.text) == (200, "not json")
    assert emu.sessions() == []


def test_faults_apply_in_order_and_times_repeats_one(client: httpx.Client, emu: Emulator) -> None:
    emu.queue_fault(status=503, times=2)
    emu.queue_fault(status=429, retry_after="1")
    assert [post(client).status_code for _ in range(4)] == [503, 503, 429, 201]


def test_a_delay_answers_late_and_still_processes(client: httpx.Client, emu: Emulator) -> None:
    emu.queue_fault(delay=0.4)
    started = time.monotonic()
    response = post(client)
    assert time.monotonic() - started >= 0.4
    assert response.status_code == 201


def test_a_delay_longer_than_the_client_timeout_times_it_out(
    client: httpx.Client, emu: Emulator
) -> None:
    emu.queue_fault(delay=1.0, status=504)
    with pytest.raises(httpx.ReadTimeout):
        post(client, timeout=0.2)


def test_a_dropped_connection_gets_no_answer_and_nothing_is_made(
    client: httpx.Client, emu: Emulator
) -> None:
    emu.queue_fault(drop=True)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        post(client)
    assert emu.sessions() == []
    dropped = emu.requests()[0]
    assert dropped.status is None
    assert dropped.body == BODY  # the request was read in full before the close
    assert post(client).status_code == 201


def test_a_drop_after_processing_loses_the_answer_and_the_retry_reuses(
    client: httpx.Client, emu: Emulator
) -> None:
    emu.queue_fault(drop=True, process=True)
    with pytest.raises(httpx.RemoteProtocolError):
        post(client)
    [made] = emu.sessions()
    retry = post(client)
    assert retry.status_code == 200
    assert retry.json()["pushSession"]["id"] == made["id"]


def test_a_truncated_answer_is_cut_short_after_processing(
    client: httpx.Client, emu: Emulator
) -> None:
    emu.queue_fault(truncate=True)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body"):
        post(client)
    assert len(emu.sessions()) == 1
    assert emu.requests()[0].status == 201
    assert post(client).status_code == 200


def test_a_truncated_answer_on_the_wire(emu: Emulator) -> None:
    emu.queue_fault(truncate=True)
    request = (
        f"POST {endpoint('wb_1')} HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    with connect(emu.url) as sock:
        sock.sendall(request)
        raw = read_until_closed(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    declared = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[
            1
        ]
    )
    assert 0 < len(body) < declared


def test_a_reset_aborts_the_connection_without_reading_the_body(
    client: httpx.Client, emu: Emulator
) -> None:
    emu.queue_fault(reset=True)
    with pytest.raises(httpx.TransportError) as caught:
        post(client)
    assert isinstance(caught.value, httpx.ReadError | httpx.WriteError | httpx.RemoteProtocolError)
    assert emu.sessions() == []
    [reset] = emu.requests()
    assert (reset.status, reset.body) == (None, None)
    assert post(client).status_code == 201


def test_a_reset_is_a_tcp_reset_not_a_clean_close(emu: Emulator) -> None:
    emu.queue_fault(reset=True)
    with connect(emu.url) as sock:
        sock.sendall(
            f"POST {endpoint('wb_1')} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n".encode()
        )
        with pytest.raises(ConnectionResetError):
            read_until_closed(sock)


def test_faults_never_apply_to_the_controls(emu: Emulator) -> None:
    emu.queue_fault(status=500)
    assert httpx.get(emu.url + "/_emulator/sessions").status_code == 200
    assert httpx.get(emu.url + "/_emulator/health").status_code == 200
    assert emu.faults() == [{"status": 500}]


def test_faults_apply_to_any_api_request(client: httpx.Client, emu: Emulator) -> None:
    emu.queue_fault(status=503)
    assert client.get("/v1/unknown").status_code == 503
    assert client.get("/v1/unknown").status_code == 404


def test_a_request_refused_by_framing_does_not_use_up_a_fault(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(tokens=[TOKEN], max_body=10)
    with httpx.Client(base_url=emu.url) as http:
        emu.queue_fault(status=503)
        assert http.post(endpoint("b"), content=BODY).status_code == 413
        assert emu.faults() == [{"status": 503}]


def test_clearing_faults_cancels_them(client: httpx.Client, emu: Emulator) -> None:
    emu.queue_fault(status=503, times=5)
    emu.clear_faults()
    assert emu.faults() == []
    assert post(client).status_code == 201


def test_stopping_does_not_wait_for_a_long_delay(client: httpx.Client, emu: Emulator) -> None:
    emu.queue_fault(delay=60)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(post(client, timeout=30))
        except httpx.TransportError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: emu.faults() == [])  # the request is in and has taken the delay
    started = time.monotonic()
    emu.stop()
    assert time.monotonic() - started < 3
    caller.join(5)
    assert outcome
    assert isinstance(outcome[0], httpx.TransportError)  # closed unanswered, not answered late


def test_queue_faults_takes_fault_objects_and_json_mappings(
    client: httpx.Client, emu: Emulator
) -> None:
    emu.queue_faults([Fault(status=500), {"status": 502, "retryAfter": "3", "times": 2}])
    assert emu.faults() == [
        {"status": 500},
        {"status": 502, "retryAfter": "3"},
        {"status": 502, "retryAfter": "3"},
    ]
    assert [post(client).status_code for _ in range(4)] == [500, 502, 502, 201]


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"status": 503, "drop": True}, "at most one action"),
        ({"drop": True, "reset": True}, "at most one action"),
        ({"status": 99}, "status"),
        ({"status": 600}, "status"),
        ({"status": True}, "status"),
        ({"retry_after": "1"}, "retryAfter only goes with status"),
        ({"body": "x"}, "body only goes with status"),
        ({"headers": {"A": "b"}}, "headers only goes with status"),
        ({"status": 503, "headers": {"X": "a\r\nSet-Cookie: y"}}, "headers"),
        ({"status": 503, "headers": {"Content-Length": "1"}}, "Content-Length"),
        ({"process": True}, "process only goes with drop"),
        ({"delay": -1}, "delay"),
        ({"delay": 10_000}, "delay"),
        ({"delay": "1"}, "delay"),
        ({"drop": "yes"}, "drop"),
        ({"times": 0}, "times"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_fault_specs_are_refused(fields: dict[str, Any], complaint: str) -> None:
    with pytest.raises(FaultSpecError, match=complaint):
        Fault.build(**fields)


def test_fault_json_uses_camel_case_and_refuses_unknown_keys() -> None:
    [fault] = Fault.from_json(
        {"status": 503, "retryAfter": 5, "contentType": "text/plain", "body": "x"}
    )
    assert fault == Fault(status=503, retry_after="5", content_type="text/plain", body="x")
    assert fault.to_json() == {
        "status": 503,
        "retryAfter": "5",
        "body": "x",
        "contentType": "text/plain",
    }
    with pytest.raises(FaultSpecError, match="unknown fault field 'retry_after'"):
        Fault.from_json({"status": 503, "retry_after": 5})
    with pytest.raises(FaultSpecError, match="JSON object"):
        Fault.from_json([503])
