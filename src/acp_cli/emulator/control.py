"""The ``/_emulator/`` control API, apart from HTTP: one function from a request to an answer.

`control_reply` takes the emulator's state and an already framed request
(method, path, query string, body) and returns the status and JSON body to
send, or raises `ApiError`; the HTTP front in `acp_cli.emulator.server` does
the sockets. The routes are listed in the package docstring.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote

from acp_cli import __version__
from acp_cli.emulator.endpoint import ApiError
from acp_cli.emulator.faults import Fault, FaultSpecError
from acp_cli.emulator.state import EmulatorState
from acp_cli.emulator.store import STATUSES

CONTROL_PREFIX = "/_emulator"
# Enough for any test; a typo such as a huge ``times`` in a loop cannot eat the memory.
MAX_FAULTS_PER_REQUEST = 10_000


def is_control_path(path: str) -> bool:
    """Whether a request path (without its query) is one of the ``/_emulator/`` controls."""
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def control_reply(
    state: EmulatorState, method: str, path: str, query: str, body: bytes
) -> tuple[int, bytes]:
    """Answer one ``/_emulator/`` request: its status and JSON body, or `ApiError`.

    ``path`` is the request path (``/_emulator/...``, percent-encoded) and
    ``query`` the raw query string after ``?``. The request is checked
    completely before it acts, so a refused one changes nothing. No socket is
    involved: the HTTP front has already framed the request, read its body and
    checked that the client is on loopback.
    """
    parts = [unquote(part) for part in path.split("/")[2:]]
    params = _control_params(query, allowed=("binding", "status") if parts == ["sessions"] else ())
    if not (parts == ["faults"] and method == "POST"):
        _check_no_body(body)
    match parts:
        case ["health"]:
            _allow(method, "GET")
            return 200, _json({"status": "ok", "version": __version__})
        case ["sessions"]:
            _allow(method, "GET")
            status = params.get("status")
            if status is not None and status not in STATUSES:
                raise ApiError(
                    400, "invalid_control", f"status must be one of {', '.join(STATUSES)}"
                )
            text = state.sessions_json_text(binding_id=params.get("binding"), status=status)
            return 200, text.encode("utf-8")
        case ["sessions", session_id]:
            _allow(method, "GET")
            session = state.store.get(session_id)
            if session is None:
                raise _no_session(session_id)
            return 200, f'{{"pushSession":{session.to_json_text()}}}'.encode()
        case ["sessions", session_id, "cancel"]:
            _allow(method, "POST")
            session = state.store.cancel(session_id)
            if session is None:
                raise _no_session(session_id)
            return 200, f'{{"pushSession":{session.to_json_text()}}}'.encode()
        case ["faults"]:
            _allow(method, "GET", "POST", "DELETE")
            if method == "POST":
                state.faults.extend(_read_fault_specs(body))
            elif method == "DELETE":
                state.faults.clear()
            return 200, _json({"faults": [f.to_json() for f in state.faults.pending()]})
        case ["faults", "clear"]:
            _allow(method, "POST")
            state.faults.clear()
            return 200, _json({"faults": []})
        case ["requests"]:
            _allow(method, "GET", "DELETE")
            if method == "DELETE":
                state.requests.clear()
            entries = state.requests.entries()
            return 200, _json({"requests": [entry.to_json() for entry in entries]})
        case ["reset"]:
            _allow(method, "POST")
            state.reset()
            return 200, _json({"status": "ok"})
        case _:
            raise ApiError(404, "not_found", f"no such route: {path}")


def _allow(method: str, *methods: str) -> None:
    if method not in methods:
        raise ApiError(
            405,
            "method_not_allowed",
            f"{method} is not allowed on this route; use {' or '.join(methods)}",
            [("Allow", ", ".join(methods))],
        )


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _no_session(session_id: str) -> ApiError:
    return ApiError(404, "session_not_found", f"push session {session_id!r} was not found")


def _control_json(body: bytes) -> Any:
    """A control request's JSON body: strict UTF-8 JSON, each key once per object (else 400)."""
    try:
        return json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_object_without_duplicate_keys,
            parse_constant=_not_a_json_value,
        )
    except _DuplicateKeyError as exc:
        raise ApiError(400, "invalid_control", str(exc)) from exc
    except ValueError as exc:  # UnicodeDecodeError included
        raise ApiError(400, "malformed_json", f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ApiError(400, "malformed_json", "the request body nests too deeply") from exc


class _DuplicateKeyError(ValueError):
    """A control body names one key twice: which value was meant is unclear."""


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(f"the request body has the key {key!r} twice")
            seen.add(key)
    return document


def _not_a_json_value(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _check_no_body(body: bytes) -> None:
    """A control without input takes no body, or ``{}`` (which `EmulatorClient` sends)."""
    if body.strip() and _control_json(body) != {}:
        raise ApiError(400, "invalid_control", "this control takes no body: send none, or {}")


def _control_params(query: str, *, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters of a control: only ``allowed`` names, each at most once (else 400)."""
    try:
        pairs = parse_qsl(
            query, keep_blank_values=True, strict_parsing=bool(query), errors="strict"
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_control", f"the query string is malformed: {exc}") from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            known = f"; known: {', '.join(allowed)}" if allowed else ""
            raise ApiError(400, "invalid_control", f"unknown query parameter {name!r}{known}")
        if name in params:
            raise ApiError(400, "invalid_control", f"the query parameter {name!r} is given twice")
        if value:  # an empty value means no filter
            params[name] = value
    return params


def _read_fault_specs(body: bytes) -> list[Fault]:
    """Faults from a control body: one fault object, a list, or ``{"faults": [...]}``.

    Every fault is checked before any is returned, so a refused body queues nothing.
    """
    document = _control_json(body)
    if isinstance(document, dict) and "faults" in document:
        if set(document) != {"faults"} or not isinstance(document["faults"], list):
            raise ApiError(
                400, "invalid_fault", 'give {"faults": [fault, ...]} with nothing beside the list'
            )
        document = document["faults"]
    specs = document if isinstance(document, list) else [document]
    faults: list[Fault] = []
    for index, spec in enumerate(specs):
        try:
            faults.extend(Fault.from_json(spec))
        except FaultSpecError as exc:
            where = f"fault {index}: " if len(specs) > 1 else ""
            raise ApiError(400, "invalid_fault", f"{where}{exc}") from exc
        if len(faults) > MAX_FAULTS_PER_REQUEST:
            raise ApiError(
                400,
                "invalid_fault",
                f"one request queues at most {MAX_FAULTS_PER_REQUEST} faults (times included)",
            )
    return faults
