"""The ``/_emulator/`` control API as a plain function, without sockets.

`control_reply` is what the HTTP front calls once a control request is framed;
these tests call it directly on an `EmulatorState`, so a routing or checking
rule can be read and tested apart from HTTP. The socket-level behaviour
(loopback only, framing, keep-alive) stays in test_controls.py and
test_control_checks.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from acp_cli import __version__
from acp_cli.emulator.control import MAX_FAULTS_PER_REQUEST, control_reply, is_control_path
from acp_cli.emulator.endpoint import ApiError, parse_prepare_body
from acp_cli.emulator.state import EmulatorConfig, EmulatorState
from tests.support.emulator_http import signed_body


@pytest.fixture
def state() -> Iterator[EmulatorState]:
    state = EmulatorState(EmulatorConfig())
    yield state
    state.close()


def _reply(
    state: EmulatorState, method: str, path: str, query: str = "", body: bytes = b""
) -> tuple[int, Any]:
    status, reply = control_reply(state, method, path, query, body)
    return status, json.loads(reply)


def _refusal(
    state: EmulatorState, method: str, path: str, query: str = "", body: bytes = b""
) -> ApiError:
    with pytest.raises(ApiError) as caught:
        control_reply(state, method, path, query, body)
    return caught.value


def _new_session(state: EmulatorState, binding: str) -> str:
    request = parse_prepare_body(json.dumps(signed_body({"files": [], "b": binding})).encode())
    session, _ = state.prepare(request, binding_id=binding, user_id="u", device_id=None)
    return session.id


@pytest.mark.parametrize(
    ("path", "control"),
    [
        ("/_emulator", True),
        ("/_emulator/", True),
        ("/_emulator/health", True),
        ("/_emulatorx/health", False),
        ("/v1/_emulator/health", False),
        ("/", False),
    ],
)
def test_only_paths_under_the_control_prefix_are_controls(path: str, control: bool) -> None:
    assert is_control_path(path) is control


def test_health_names_the_emulator_version(state: EmulatorState) -> None:
    assert _reply(state, "GET", "/_emulator/health") == (
        200,
        {"status": "ok", "version": __version__},
    )


def test_sessions_are_listed_filtered_and_cancelled(state: EmulatorState) -> None:
    first = _new_session(state, "wb_1")
    second = _new_session(state, "wb_2")

    status, listed = _reply(state, "GET", "/_emulator/sessions")
    assert status == 200
    assert [s["id"] for s in listed["sessions"]] == [first, second]
    _, filtered = _reply(state, "GET", "/_emulator/sessions", "binding=wb_2")
    assert [s["id"] for s in filtered["sessions"]] == [second]

    status, cancelled = _reply(state, "POST", f"/_emulator/sessions/{first}/cancel")
    assert status == 200
    assert cancelled["pushSession"]["status"] == "cancelled"
    _, left = _reply(state, "GET", "/_emulator/sessions", "status=prepared")
    assert [s["id"] for s in left["sessions"]] == [second]
    assert state.sessions(status="cancelled")[0]["id"] == first


def test_an_unknown_session_is_a_404(state: EmulatorState) -> None:
    for method, path in (
        ("GET", "/_emulator/sessions/ps_x"),
        ("POST", "/_emulator/sessions/ps_x/cancel"),
    ):
        error = _refusal(state, method, path)
        assert (error.status, error.code) == (404, "session_not_found")


def test_faults_are_queued_listed_and_cleared(state: EmulatorState) -> None:
    body = json.dumps({"faults": [{"status": 503, "times": 2}, {"drop": True}]}).encode()
    status, queued = _reply(state, "POST", "/_emulator/faults", body=body)
    assert status == 200
    assert [f.get("status") for f in queued["faults"]] == [503, 503, None]
    assert len(state.faults.pending()) == 3

    assert _reply(state, "DELETE", "/_emulator/faults") == (200, {"faults": []})
    assert state.faults.pending() == []


def test_a_refused_fault_list_queues_nothing(state: EmulatorState) -> None:
    body = json.dumps([{"status": 503}, {"status": 99}]).encode()
    error = _refusal(state, "POST", "/_emulator/faults", body=body)
    assert (error.status, error.code) == (400, "invalid_fault")
    assert error.message.startswith("fault 1: ")
    assert state.faults.pending() == []


def test_one_request_cannot_queue_more_than_the_fault_limit(state: EmulatorState) -> None:
    body = json.dumps({"status": 503, "times": MAX_FAULTS_PER_REQUEST + 1}).encode()
    error = _refusal(state, "POST", "/_emulator/faults", body=body)
    assert (error.status, error.code) == (400, "invalid_fault")
    assert state.faults.pending() == []


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "status", "code"),
    [
        ("GET", "/_emulator/nothing", "", b"", 404, "not_found"),
        ("GET", "/_emulator/health", "verbose=1", b"", 400, "invalid_control"),
        ("GET", "/_emulator/sessions", "binding=a&binding=b", b"", 400, "invalid_control"),
        ("GET", "/_emulator/sessions", "status=gone", b"", 400, "invalid_control"),
        ("POST", "/_emulator/reset", "", b'{"all": true}', 400, "invalid_control"),
        (
            "POST",
            "/_emulator/faults",
            "",
            b'{"status": 503, "status": 500}',
            400,
            "invalid_control",
        ),
        ("POST", "/_emulator/faults", "", b"{not json", 400, "malformed_json"),
        ("POST", "/_emulator/faults", "", b'{"delay": NaN}', 400, "malformed_json"),
    ],
)
def test_a_bad_control_is_refused_and_changes_nothing(
    state: EmulatorState, method: str, path: str, query: str, body: bytes, status: int, code: str
) -> None:
    _new_session(state, "wb_1")
    error = _refusal(state, method, path, query, body)
    assert (error.status, error.code) == (status, code)
    assert len(state.sessions()) == 1
    assert state.faults.pending() == []


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/_emulator/health", "GET"),
        ("PUT", "/_emulator/faults", "GET, POST, DELETE"),
        ("GET", "/_emulator/reset", "POST"),
        ("POST", "/_emulator/requests", "GET, DELETE"),
    ],
)
def test_a_wrong_method_is_a_405_naming_the_allowed_ones(
    state: EmulatorState, method: str, path: str, allowed: str
) -> None:
    error = _refusal(state, method, path)
    assert error.status == 405
    assert error.headers == [("Allow", allowed)]


def test_reset_forgets_sessions_and_faults(state: EmulatorState) -> None:
    _new_session(state, "wb_1")
    _reply(state, "POST", "/_emulator/faults", body=b'{"status": 500}')
    assert _reply(state, "POST", "/_emulator/reset", body=b"{}") == (200, {"status": "ok"})
    assert state.sessions() == []
    assert state.faults.pending() == []
