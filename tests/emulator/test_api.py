"""The push-session endpoint of the in-process emulator, over real HTTP."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from acp_cli.emulator import Emulator
from acp_cli.emulator.endpoint import reference_signature
from acp_cli.emulator.store import NewSession, SessionStore
from tests.support.emulator_http import (
    TOKEN,
    connect,
    endpoint,
    raw_exchange,
    read_response,
    read_until_closed,
    signed_body,
)

PLAN = {"files": [{"path": "a.txt", "size": 3}], "root": "/w"}
OTHER_PLAN = {"files": [{"path": "b.txt", "size": 4}], "root": "/w"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SESSION_KEYS = {
    "id",
    "workspaceBindingId",
    "userId",
    "deviceId",
    "environmentId",
    "projectId",
    "status",
    "planSignature",
    "plan",
    "metadata",
    "createdAt",
    "updatedAt",
}


@pytest.fixture
def emu(make_emulator: Callable[..., Emulator]) -> Emulator:
    """An emulator that accepts only TOKEN and only a few bindings."""
    return make_emulator(tokens=[TOKEN], bindings=["wb_1", "wb_2", "a/b"], max_body=10_000)


def prepare(
    http: httpx.Client, binding: str = "wb_1", plan: dict[str, Any] = PLAN, **extra: Any
) -> httpx.Response:
    """POST a correctly signed body for ``plan``."""
    return http.post(endpoint(binding), json=signed_body(plan, **extra))


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """The response is exactly the documented error shape; return its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert re.fullmatch(r"req_[0-9a-f]{16}", response.headers["x-request-id"])
    document = response.json()
    assert set(document) == {"error"}
    assert set(document["error"]) == {"code", "message"}
    assert document["error"]["code"] == code
    assert isinstance(document["error"]["message"], str)
    assert document["error"]["message"]
    message: str = document["error"]["message"]
    return message


# --- success: the session and its life cycle --------------------------------


def test_a_new_plan_makes_a_prepared_session_201(http: httpx.Client) -> None:
    response = prepare(http, metadata={"ci": True, "n": 2})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert re.fullmatch(r"req_[0-9a-f]{16}", response.headers["x-request-id"])
    document = response.json()
    assert set(document) == {"pushSession", "created"}
    assert document["created"] is True
    session = document["pushSession"]
    assert set(session) == SESSION_KEYS
    assert re.fullmatch(r"ps_[0-9a-f]{24}", session["id"])
    assert session["workspaceBindingId"] == "wb_1"
    assert session["status"] == "prepared"
    assert session["planSignature"] == reference_signature(PLAN)
    assert session["plan"] == PLAN
    assert session["metadata"] == {"ci": True, "n": 2}
    assert re.fullmatch(r"usr_[0-9a-f]{20}", session["userId"])
    assert re.fullmatch(r"env_[0-9a-f]{20}", session["environmentId"])
    assert re.fullmatch(r"prj_[0-9a-f]{20}", session["projectId"])
    assert ISO_UTC.match(session["createdAt"])
    assert session["updatedAt"] == session["createdAt"]


def test_device_id_comes_from_the_header_and_is_null_without_it(http: httpx.Client) -> None:
    with_header = http.post(
        endpoint("wb_1"), json=signed_body(PLAN), headers={"ACP-Device-Id": "dev-42"}
    )
    without = prepare(http, binding="wb_2")
    assert with_header.json()["pushSession"]["deviceId"] == "dev-42"
    assert without.json()["pushSession"]["deviceId"] is None


def test_metadata_left_out_is_stored_as_an_empty_object(http: httpx.Client) -> None:
    assert prepare(http).json()["pushSession"]["metadata"] == {}


def test_the_same_plan_reuses_the_prepared_session_200(http: httpx.Client) -> None:
    first = prepare(http, metadata={"run": 1}).json()["pushSession"]
    # Same plan, other key order and whitespace: same canonical form, same signature.
    shuffled = '{"root": "/w",   "files": [{"size": 3, "path": "a.txt"}]}'
    signature = reference_signature(PLAN)
    body = f'{{"plan": {shuffled}, "planSignature": "{signature}", "metadata": {{}}}}'
    again = http.post(endpoint("wb_1"), content=body, headers={"Content-Type": "application/json"})
    assert again.status_code == 200
    assert again.json()["created"] is False
    # The stored session, unchanged: the first request's metadata and timestamps.
    assert again.json()["pushSession"] == first


def test_a_different_plan_makes_a_new_session_and_supersedes_the_old(
    http: httpx.Client, emu: Emulator
) -> None:
    old = prepare(http).json()["pushSession"]
    new = prepare(http, plan=OTHER_PLAN)
    assert new.status_code == 201
    assert new.json()["created"] is True
    assert new.json()["pushSession"]["id"] != old["id"]
    by_id = {s["id"]: s for s in emu.sessions()}
    assert by_id[old["id"]]["status"] == "superseded"
    assert by_id[old["id"]]["updatedAt"] >= old["updatedAt"]
    assert by_id[new.json()["pushSession"]["id"]]["status"] == "prepared"
    # Back to the first plan: its session is superseded, so a third one is made.
    third = prepare(http)
    assert third.status_code == 201
    assert third.json()["pushSession"]["id"] not in by_id
    assert [s["status"] for s in emu.sessions()] == ["superseded", "superseded", "prepared"]


def test_bindings_are_independent_and_have_stable_ids(http: httpx.Client) -> None:
    one = prepare(http, binding="wb_1").json()["pushSession"]
    two = prepare(http, binding="wb_2")
    assert two.status_code == 201  # same plan, other binding: not a reuse
    two_session = two.json()["pushSession"]
    assert two_session["environmentId"] != one["environmentId"]
    assert two_session["projectId"] != one["projectId"]
    one_again = prepare(http, binding="wb_1", plan=OTHER_PLAN).json()["pushSession"]
    assert (one_again["environmentId"], one_again["projectId"]) == (
        one["environmentId"],
        one["projectId"],
    )
    # wb_2's session was not superseded by wb_1's new plan.
    assert prepare(http, binding="wb_2").status_code == 200


def test_a_cancelled_session_is_not_reused(http: httpx.Client, emu: Emulator) -> None:
    first = prepare(http).json()["pushSession"]
    cancelled = emu.cancel(first["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["updatedAt"] >= first["updatedAt"]
    again = prepare(http)
    assert again.status_code == 201
    assert again.json()["pushSession"]["id"] != first["id"]
    # The cancelled session stays cancelled; it is not superseded.
    assert emu.session(first["id"])["status"] == "cancelled"  # type: ignore[index]


def test_user_id_is_stable_per_token_and_differs_between_tokens(
    make_emulator: Callable[..., Emulator],
) -> None:
    with httpx.Client(base_url=make_emulator().url) as http:

        def user(token: str, binding: str) -> str:
            response = http.post(
                endpoint(binding),
                json=signed_body(PLAN),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201
            user_id: str = response.json()["pushSession"]["userId"]
            return user_id

        assert user("alpha", "b1") == user("alpha", "b2")
        assert user("alpha", "b3") != user("beta", "b4")
        assert "alpha" not in user("alpha", "b5")


@pytest.mark.parametrize(
    ("segment", "binding"),
    [("a%2Fb", "a/b"), ("wb%5F1", "wb_1")],
)
def test_the_binding_segment_is_percent_decoded(
    http: httpx.Client, segment: str, binding: str
) -> None:
    response = http.post(f"/v1/workspace-bindings/{segment}/push-sessions", json=signed_body(PLAN))
    assert response.status_code == 201
    assert response.json()["pushSession"]["workspaceBindingId"] == binding


def test_any_binding_exists_without_binding_list(make_emulator: Callable[..., Emulator]) -> None:
    with httpx.Client(base_url=make_emulator().url) as http:
        response = http.post(
            endpoint("with space?#/.."),
            json=signed_body(PLAN),
            headers={"Authorization": "Bearer x"},
        )
        assert response.status_code == 201
        assert response.json()["pushSession"]["workspaceBindingId"] == "with space?#/.."


def test_integers_beyond_2_53_are_signed_as_their_nearest_double(http: httpx.Client) -> None:
    plan = {"big": 2**60 + 1, "neg": -(2**55) - 3}
    as_doubles = {"big": float(2**60 + 1), "neg": float(-(2**55) - 3)}
    response = http.post(
        endpoint("wb_1"), json={"planSignature": reference_signature(as_doubles), "plan": plan}
    )
    assert response.status_code == 201, response.text
    # The plan is stored and echoed unchanged, digits and all.
    assert response.json()["pushSession"]["plan"] == plan


def test_the_reference_signature_is_the_sha256_of_the_rfc8785_form() -> None:
    # The other tests sign their bodies with reference_signature itself; this
    # pins it to RFC 8785, written out by hand, big integers as doubles included.
    plan = {"b": [1.0, 1e21, "\u00e9"], "a": {"y": None, "x": True}, "n": 2**60 + 1}
    canonical = '{"a":{"x":true,"y":null},"b":[1,1e+21,"\u00e9"],"n":1152921504606847000}'
    expected = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert reference_signature(plan) == expected


def test_signature_comes_from_rfc8785_not_the_client_code() -> None:
    script = (
        "import sys, acp_cli.emulator, acp_cli.emulator.__main__\n"
        "assert 'rfc8785' in sys.modules\n"
        "leaked = [m for m in sys.modules if m.startswith('acp_cli') and"
        " not m.startswith('acp_cli.emulator') and m != 'acp_cli']\n"
        "assert not leaked, leaked\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


# --- errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, 'Bearer realm="acp-emulator"'),
        ({"Authorization": "Bearer"}, 'Bearer realm="acp-emulator"'),
        ({"Authorization": f"Basic {TOKEN}"}, 'Bearer realm="acp-emulator"'),
        ({"Authorization": "Bearer wrong"}, 'Bearer realm="acp-emulator", error="invalid_token"'),
    ],
)
def test_a_missing_or_wrong_token_is_401(
    emu: Emulator, headers: dict[str, str], challenge: str
) -> None:
    response = httpx.post(emu.url + endpoint("wb_1"), json=signed_body(PLAN), headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == challenge
    assert emu.sessions() == []


def test_the_bearer_scheme_is_case_insensitive(emu: Emulator) -> None:
    response = httpx.post(
        emu.url + endpoint("wb_1"),
        json=signed_body(PLAN),
        headers={"Authorization": f"bearer {TOKEN}"},
    )
    assert response.status_code == 201


def test_an_unknown_binding_is_404_binding_not_found(http: httpx.Client) -> None:
    message = assert_error(prepare(http, binding="wb_nope"), 404, "binding_not_found")
    assert "wb_nope" in message


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v1/nothing",
        "/v1/workspace-bindings//push-sessions",
        "/v1/workspace-bindings/wb_1/push-sessions/",
        "/v1/workspace-bindings/wb_1/push-sessions/extra",
        "/v1/workspace-bindings/a/b/push-sessions",  # an unencoded slash is two segments
        "/v2/workspace-bindings/wb_1/push-sessions",
    ],
)
def test_unknown_routes_are_404(http: httpx.Client, path: str) -> None:
    assert_error(http.post(path, json=signed_body(PLAN)), 404, "not_found")
    assert_error(http.get(path), 404, "not_found")


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_other_methods_on_the_endpoint_are_405(http: httpx.Client, method: str) -> None:
    response = http.request(method, endpoint("wb_1"))
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_head_on_the_endpoint_is_405_without_a_body(http: httpx.Client) -> None:
    response = http.head(endpoint("wb_1"))
    assert response.status_code == 405
    assert response.content == b""
    assert response.headers["allow"] == "POST"


def test_an_unsupported_method_gets_a_json_error(emu: Emulator) -> None:
    status, headers, body = raw_exchange(emu.url, b"BREW /v1/x HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == 501
    assert headers["x-request-id"].startswith("req_")
    assert json.loads(body)["error"]["code"] == "not_implemented"


def test_no_content_length_is_411(emu: Emulator) -> None:
    request = (
        f"POST {endpoint('wb_1')} HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\r\n"
    ).encode()
    status, headers, body = raw_exchange(emu.url, request)
    assert status == 411
    assert b"length_required" in body
    assert headers["x-request-id"].startswith("req_")


def test_a_chunked_body_is_411_and_the_connection_closes(http: httpx.Client) -> None:
    body = httpx.Request("POST", "/", json=signed_body(PLAN)).read()
    response = http.post(
        endpoint("wb_1"), content=iter([body]), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 411, "length_required")
    assert response.headers["connection"] == "close"


def test_a_body_over_the_limit_is_413(http: httpx.Client, emu: Emulator) -> None:
    plan = {"blob": "x" * 20_000}
    message = assert_error(prepare(http, plan=plan), 413, "payload_too_large")
    assert "10000" in message
    assert emu.sessions() == []


def test_413_is_sent_before_the_body_is_read(emu: Emulator) -> None:
    # Declare a gigabyte and send none of it: only an answer that does not wait
    # for the body can arrive.
    request = (
        f"POST {endpoint('wb_1')} HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000000\r\n\r\n"
    ).encode()
    with connect(emu.url) as sock:
        sock.sendall(request)
        sock.settimeout(5)
        status, headers, body = read_response(sock)
        assert status == 413
        assert headers["connection"] == "close"
        assert b"payload_too_large" in body
        assert read_until_closed(sock) == b""  # and then it closes


def test_expect_100_continue_is_answered_only_after_the_header_checks(emu: Emulator) -> None:
    too_big = (
        f"POST {endpoint('wb_1')} HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        "Content-Length: 20000\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with connect(emu.url) as sock:
        sock.sendall(too_big)
        status, _, _ = read_response(sock)
        assert status == 413  # no "100 Continue" first: the body is never invited

    body = httpx.Request("POST", "/", json=signed_body(PLAN)).read()
    fits = (
        f"POST {endpoint('wb_1')} HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with connect(emu.url) as sock:
        sock.sendall(fits)
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        status, _, _ = read_response(sock)
        assert status == 201


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
def test_a_body_that_is_not_json_content_is_415(
    http: httpx.Client, content_type: str | None
) -> None:
    body = httpx.Request("POST", "/", json=signed_body(PLAN)).read()
    headers = {} if content_type is None else {"Content-Type": content_type}
    assert_error(
        http.post(endpoint("wb_1"), content=body, headers=headers), 415, "unsupported_media_type"
    )


def test_json_content_type_parameters_are_accepted(http: httpx.Client) -> None:
    body = httpx.Request("POST", "/", json=signed_body(PLAN)).read()
    response = http.post(
        endpoint("wb_1"), content=body, headers={"Content-Type": "Application/JSON; charset=utf-8"}
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"plan": {}', b"{'a': 1}", b'{"plan": NaN}', b'{"a": Infinity}', b"\xff{}"],
)
def test_malformed_json_is_400(http: httpx.Client, body: bytes) -> None:
    response = http.post(
        endpoint("wb_1"), content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "malformed_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ("plan", "body"),
        ({"plan": PLAN}, "planSignature"),
        ({"planSignature": "", "plan": PLAN}, "planSignature"),
        ({"planSignature": 7, "plan": PLAN}, "planSignature"),
        ({"planSignature": None, "plan": PLAN}, "planSignature"),
        ({"planSignature": reference_signature(PLAN)}, "plan"),
        ({"planSignature": reference_signature([]), "plan": []}, "plan"),
        ({"planSignature": reference_signature(None), "plan": None}, "plan"),
        (signed_body(PLAN, metadata="x"), "metadata"),
        (signed_body(PLAN, metadata=None), "metadata"),
        (signed_body(PLAN, metadata=[1]), "metadata"),
    ],
)
def test_a_body_that_breaks_the_schema_is_422_naming_the_field(
    http: httpx.Client, emu: Emulator, body: Any, field: str
) -> None:
    message = assert_error(http.post(endpoint("wb_1"), json=body), 422, "validation_failed")
    assert field in message
    assert emu.sessions() == []


def test_a_wrong_signature_is_422_giving_the_expected_value(
    http: httpx.Client, emu: Emulator
) -> None:
    body = {"planSignature": reference_signature(OTHER_PLAN), "plan": PLAN}
    message = assert_error(http.post(endpoint("wb_1"), json=body), 422, "plan_signature_mismatch")
    assert reference_signature(PLAN) in message
    assert emu.sessions() == []


def test_a_signature_over_non_canonical_json_is_a_mismatch(http: httpx.Client) -> None:
    # Hashing the sorted-key json.dumps text is a plausible client bug: the
    # separators differ from RFC 8785, so the emulator must refuse it.
    wrong = "sha256:" + hashlib.sha256(json.dumps(PLAN, sort_keys=True).encode()).hexdigest()
    response = http.post(endpoint("wb_1"), json={"planSignature": wrong, "plan": PLAN})
    assert_error(response, 422, "plan_signature_mismatch")


def test_a_plan_without_a_canonical_form_is_422(http: httpx.Client) -> None:
    body = b'{"planSignature": "sha256:00", "plan": {"s": "\\ud800"}}'
    response = http.post(
        endpoint("wb_1"), content=body, headers={"Content-Type": "application/json"}
    )
    assert "plan" in assert_error(response, 422, "invalid_plan")


def test_errors_keep_the_connection_alive_when_the_body_was_small(emu: Emulator) -> None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(emu.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        body = httpx.Request("POST", "/", json=signed_body(PLAN)).read()
        statuses = []
        first_socket = None
        for auth in ("Bearer wrong", f"Bearer {TOKEN}", f"Bearer {TOKEN}"):
            conn.request(
                "POST",
                endpoint("wb_1"),
                body=body,
                headers={"Authorization": auth, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
            first_socket = first_socket or conn.sock
            assert conn.sock is first_socket  # never reconnected
        assert statuses == [401, 201, 200]
    finally:
        conn.close()


def test_request_ids_are_unique(http: httpx.Client) -> None:
    ids = {prepare(http).headers["x-request-id"] for _ in range(5)}
    ids.add(http.get("/nowhere").headers["x-request-id"])
    assert len(ids) == 6


# --- concurrency -----------------------------------------------------------


def test_32_concurrent_identical_requests_make_exactly_one_session(emu: Emulator) -> None:
    body = httpx.Request("POST", "/", json=signed_body(PLAN)).read()
    barrier = threading.Barrier(32)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(base_url=emu.url, timeout=20) as http:
            request = http.build_request(
                "POST",
                endpoint("wb_1"),
                content=body,
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            )
            barrier.wait()
            response = http.send(request)
        with lock:
            results.append((response.status_code, response.json()["pushSession"]["id"]))

    threads = [threading.Thread(target=send) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 31 + [201]
    assert len({session_id for _, session_id in results}) == 1
    sessions = emu.sessions()
    assert len(sessions) == 1
    assert sessions[0]["status"] == "prepared"


def test_the_database_refuses_a_second_prepared_session_for_one_plan(tmp_path: Any) -> None:
    # The unique index is the safety net behind the transaction: check that it
    # is really there by bypassing the store's logic.
    db = tmp_path / "s.sqlite3"
    store = SessionStore(db)
    store.prepare(
        NewSession(
            workspace_binding_id="b",
            plan_signature="sha256:1",
            plan_json="{}",
            metadata_json="{}",
            user_id="u",
            device_id=None,
            environment_id="e",
            project_id="p",
        )
    )
    store.close()
    conn = sqlite3.connect(db)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO push_sessions (id, workspace_binding_id, user_id, environment_id,"
                " project_id, status, plan_signature, plan, metadata, created_at, updated_at)"
                " VALUES ('ps_x', 'b', 'u', 'e', 'p', 'prepared', 'sha256:1', '{}', '{}', '', '')"
            )
        # A superseded duplicate is fine: only prepared sessions are unique.
        conn.execute(
            "INSERT INTO push_sessions (id, workspace_binding_id, user_id, environment_id,"
            " project_id, status, plan_signature, plan, metadata, created_at, updated_at)"
            " VALUES ('ps_y', 'b', 'u', 'e', 'p', 'superseded', 'sha256:1', '{}', '{}', '', '')"
        )
    finally:
        conn.close()
