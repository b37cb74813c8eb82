"""The ``/_emulator/`` control routes, the request log, and `EmulatorClient`."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from acp_cli.emulator import Emulator, EmulatorClient, EmulatorControlError, RecordedRequest
from acp_cli.emulator import server as emulator_server
from acp_cli.emulator.state import is_loopback_client, loopback_host
from tests.support.emulator_http import TOKEN, endpoint, signed_body

PLAN_A = {"files": ["a"]}
PLAN_B = {"files": ["b"]}


def make(http: httpx.Client, binding: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Prepare a session and return it."""
    response = http.post(endpoint(binding), json=signed_body(plan))
    assert response.status_code in (200, 201)
    session: dict[str, Any] = response.json()["pushSession"]
    return session


def test_health(http: httpx.Client) -> None:
    response = http.get("/_emulator/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-request-id"].startswith("req_")


def test_sessions_are_listed_in_creation_order_and_filtered(http: httpx.Client) -> None:
    a1 = make(http, "wb_a", PLAN_A)
    a2 = make(http, "wb_a", PLAN_B)
    b1 = make(http, "wb/b", PLAN_A)
    listed = http.get("/_emulator/sessions").json()["sessions"]
    assert [s["id"] for s in listed] == [a1["id"], a2["id"], b1["id"]]
    assert listed[2] == b1
    by_binding = http.get("/_emulator/sessions", params={"binding": "wb/b"}).json()
    assert [s["id"] for s in by_binding["sessions"]] == [b1["id"]]
    prepared_a = http.get("/_emulator/sessions", params={"binding": "wb_a", "status": "prepared"})
    assert [s["id"] for s in prepared_a.json()["sessions"]] == [a2["id"]]
    bad = http.get("/_emulator/sessions", params={"status": "nope"})
    assert bad.status_code == 400


def test_one_session_by_id(http: httpx.Client) -> None:
    made = make(http, "wb_a", PLAN_A)
    assert http.get(f"/_emulator/sessions/{made['id']}").json() == {"pushSession": made}
    missing = http.get("/_emulator/sessions/ps_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "session_not_found"


def test_cancel_over_http(http: httpx.Client) -> None:
    made = make(http, "wb_a", PLAN_A)
    response = http.post(f"/_emulator/sessions/{made['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["pushSession"]["status"] == "cancelled"
    assert response.json()["pushSession"]["id"] == made["id"]
    # Cancelled is final: the next identical request makes a new session.
    assert http.post(endpoint("wb_a"), json=signed_body(PLAN_A)).status_code == 201
    assert http.post("/_emulator/sessions/ps_nope/cancel").status_code == 404


def test_fault_routes_accept_one_a_list_or_an_object(http: httpx.Client) -> None:
    one = http.post("/_emulator/faults", json={"status": 503, "retryAfter": "1"})
    assert one.json() == {"faults": [{"status": 503, "retryAfter": "1"}]}
    http.post("/_emulator/faults", json=[{"delay": 0.1}, {"drop": True}])
    http.post("/_emulator/faults", json={"faults": [{"truncate": True, "times": 2}]})
    assert http.get("/_emulator/faults").json() == {
        "faults": [
            {"status": 503, "retryAfter": "1"},
            {"delay": 0.1},
            {"drop": True},
            {"truncate": True},
            {"truncate": True},
        ]
    }
    assert http.delete("/_emulator/faults").json() == {"faults": []}
    http.post("/_emulator/faults", json={"reset": True})
    assert http.post("/_emulator/faults/clear").json() == {"faults": []}
    assert http.get("/_emulator/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"status": 503, "bogus": 1}, 400, "invalid_fault"),
        ([{"status": 503}, {"status": 1}], 400, "invalid_fault"),
        ("drop", 400, "invalid_fault"),
    ],
)
def test_bad_faults_are_refused_and_nothing_is_queued(
    http: httpx.Client, payload: object, status: int, code: str
) -> None:
    response = http.post("/_emulator/faults", json=payload)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert http.get("/_emulator/faults").json() == {"faults": []}


def test_a_fault_body_that_is_not_json_is_400(http: httpx.Client) -> None:
    response = http.post("/_emulator/faults", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_requests_are_recorded_exactly(http: httpx.Client, emu: Emulator) -> None:
    body = b'{"plan": {"files": ["a"]}, "planSignature": "sha256:x"}'
    http.post(
        "/v1/workspace-bindings/a%2Fb/push-sessions?x=1",
        content=body,
        headers={"Content-Type": "application/json", "ACP-Device-Id": "dev-1"},
    )
    http.get("/_emulator/sessions")  # controls are not recorded
    [recorded] = emu.requests()
    assert recorded.method == "POST"
    assert recorded.target == "/v1/workspace-bindings/a%2Fb/push-sessions?x=1"
    assert recorded.body == body
    assert recorded.status == 422
    assert recorded.header("acp-device-id") == "dev-1"
    assert recorded.header("Authorization") == f"Bearer {TOKEN}"
    assert ("ACP-Device-Id", "dev-1") in recorded.headers  # spelling kept
    assert recorded.json() == {"plan": {"files": ["a"]}, "planSignature": "sha256:x"}
    assert recorded.request_id.startswith("req_")
    assert recorded.connection_id.startswith("conn_")

    listed = http.get("/_emulator/requests").json()["requests"]
    assert len(listed) == 1
    entry = listed[0]
    assert base64.b64decode(entry["bodyBase64"]) == body
    assert entry["bodyLength"] == len(body)
    assert entry["bodySha256"] == hashlib.sha256(body).hexdigest()
    assert entry["target"] == recorded.target
    assert entry["connectionId"] == recorded.connection_id
    assert entry["fault"] is None
    assert RecordedRequest.from_json(entry) == recorded

    assert http.delete("/_emulator/requests").json() == {"requests": []}
    assert emu.requests() == []


def test_each_request_names_the_connection_it_came_on(emu: Emulator) -> None:
    # Two requests on one kept-alive connection (an injected error answer keeps it
    # too), then one on a new connection.
    emu.queue_fault(status=503)
    with httpx.Client(base_url=emu.url, timeout=5) as first:
        assert first.get("/v1/a").status_code == 503
        first.get("/v1/b")
    with httpx.Client(base_url=emu.url, timeout=5) as second:
        second.get("/v1/c")
    kept_1, kept_2, new = emu.requests()
    assert [r.target for r in (kept_1, kept_2, new)] == ["/v1/a", "/v1/b", "/v1/c"]
    assert kept_1.connection_id == kept_2.connection_id
    assert new.connection_id != kept_1.connection_id


def test_an_oversized_body_is_recorded_as_unread(make_emulator: Callable[..., Emulator]) -> None:
    emu = make_emulator(max_body=5)
    with httpx.Client(base_url=emu.url) as client:
        client.post(endpoint("b"), content=b"0123456789")
        [recorded] = emu.requests()
        assert (recorded.status, recorded.body) == (413, None)


def test_reset_forgets_sessions_faults_and_requests(http: httpx.Client, emu: Emulator) -> None:
    make(http, "wb_a", PLAN_A)
    emu.queue_fault(status=503)
    assert http.post("/_emulator/reset").status_code == 200
    assert emu.sessions() == []
    assert emu.faults() == []
    assert emu.requests() == []
    # The same plan is new again.
    assert http.post(endpoint("wb_a"), json=signed_body(PLAN_A)).status_code == 201


def test_unknown_control_routes_and_methods(http: httpx.Client) -> None:
    missing = http.get("/_emulator/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = http.post("/_emulator/sessions")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert http.put("/_emulator/faults").headers["allow"] == "GET, POST, DELETE"
    assert http.get("/_emulator/reset").status_code == 405


def test_controls_refuse_clients_that_are_not_loopback(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The emulator only binds loopback, so no real remote client can exist in a
    # test; pretend the peer is remote to check that the guard is wired in.
    monkeypatch.setattr(emulator_server, "is_loopback_client", lambda address: False)
    response = http.get("/_emulator/sessions")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("192.168.1.2", False),
        ("not-an-ip", False),
    ],
)
def test_loopback_clients(address: str, loopback: bool) -> None:
    assert is_loopback_client(address) is loopback


@pytest.mark.parametrize(
    ("host", "bound"),
    [("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1"), ("::1", "::1"), ("[::1]", "::1")],
)
def test_loopback_hosts_are_accepted(host: str, bound: str) -> None:
    assert loopback_host(host) == bound


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.2", "example.com", ""])  # noqa: S104
def test_other_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Emulator(host=host)


def test_the_python_helpers_need_a_running_emulator() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError, match="not running"):
        emu.sessions()
    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.url


def test_cancel_of_an_unknown_session_raises_lookup_error(emu: Emulator) -> None:
    with pytest.raises(LookupError):
        emu.cancel("ps_nope")
    assert emu.session("ps_nope") is None


def test_emulator_client_mirrors_the_in_process_helpers(http: httpx.Client, emu: Emulator) -> None:
    remote = EmulatorClient(emu.url + "/")
    assert remote.health()["status"] == "ok"
    made = make(http, "wb/a", PLAN_A)
    assert remote.sessions() == emu.sessions() == [made]
    assert remote.sessions(binding="wb/a", status="prepared") == [made]
    assert remote.sessions(binding="other") == []
    assert remote.session(str(made["id"])) == made
    assert remote.session("ps_nope") is None
    assert remote.cancel(str(made["id"]))["status"] == "cancelled"
    with pytest.raises(LookupError):
        remote.cancel("ps_nope")

    remote.queue_fault(status=503, retry_after=1, times=2)
    assert remote.faults() == emu.faults() == [{"status": 503, "retryAfter": "1"}] * 2
    remote.clear_faults()
    assert emu.faults() == []
    with pytest.raises(EmulatorControlError) as caught:
        remote.queue_faults([{"status": 1}])
    assert (caught.value.status, caught.value.code) == (400, "invalid_fault")

    assert remote.requests() == emu.requests()
    remote.clear_requests()
    assert emu.requests() == []
    remote.reset()
    assert emu.sessions() == []
