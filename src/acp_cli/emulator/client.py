"""`EmulatorClient`: the ``/_emulator/`` controls of a running emulator, over HTTP.

For an emulator started as a separate process (``acp-emulator --port 0``);
its methods match the in-process `Emulator` helpers and return the same types.
Plain ``urllib`` with proxies switched off: the emulator is always on loopback,
and an ``HTTP_PROXY`` in the environment must not reroute control calls.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from acp_cli.emulator.faults import Fault
from acp_cli.emulator.nesting import deep_recursion
from acp_cli.emulator.recorder import RecordedRequest


class EmulatorControlError(RuntimeError):
    """A control call failed; ``status`` and ``code`` come from the emulator's answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class EmulatorClient:
    """Drive the ``/_emulator/`` routes of the emulator at ``url``."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        """``url`` is the base URL the emulator printed, e.g. ``http://127.0.0.1:54321``."""
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "version": ...}`` once the emulator is serving."""
        health: dict[str, Any] = self._call("GET", "/_emulator/health")
        return health

    def queue_fault(self, **fields: Any) -> None:
        """Queue a fault from snake_case keywords, as `Emulator.queue_fault` does."""
        self.queue_faults(Fault.build(**fields))

    def queue_faults(self, specs: Iterable[Fault | Mapping[str, Any]]) -> None:
        """Queue several faults in order: `Fault` objects or camelCase JSON-style mappings."""
        payload = [spec.to_json() if isinstance(spec, Fault) else dict(spec) for spec in specs]
        self._call("POST", "/_emulator/faults", {"faults": payload})

    def faults(self) -> list[dict[str, Any]]:
        """The faults still queued, oldest first, in their JSON form."""
        faults: list[dict[str, Any]] = self._call("GET", "/_emulator/faults")["faults"]
        return faults

    def clear_faults(self) -> None:
        """Forget every queued fault."""
        self._call("DELETE", "/_emulator/faults")

    def sessions(
        self, binding: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Push sessions as API ``pushSession`` objects, in creation order, optionally filtered."""
        query = {key: value for key, value in (("binding", binding), ("status", status)) if value}
        suffix = f"?{urlencode(query)}" if query else ""
        sessions: list[dict[str, Any]] = self._call("GET", f"/_emulator/sessions{suffix}")[
            "sessions"
        ]
        return sessions

    def session(self, session_id: str) -> dict[str, Any] | None:
        """One push session, or None."""
        try:
            answer = self._call("GET", f"/_emulator/sessions/{quote(session_id, safe='')}")
        except EmulatorControlError as exc:
            if exc.status == 404:
                return None
            raise
        session: dict[str, Any] = answer["pushSession"]
        return session

    def cancel(self, session_id: str) -> dict[str, Any]:
        """Mark a session ``cancelled`` and return it. Raises LookupError when it does not exist."""
        path = f"/_emulator/sessions/{quote(session_id, safe='')}/cancel"
        try:
            answer = self._call("POST", path, {})
        except EmulatorControlError as exc:
            if exc.status == 404:
                raise LookupError(exc.message) from exc
            raise
        session: dict[str, Any] = answer["pushSession"]
        return session

    def requests(self) -> list[RecordedRequest]:
        """The API requests received (not the controls), oldest first."""
        entries = self._call("GET", "/_emulator/requests")["requests"]
        return [RecordedRequest.from_json(entry) for entry in entries]

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self._call("DELETE", "/_emulator/requests")

    def reset(self) -> None:
        """Forget every session, queued fault and recorded request."""
        self._call("POST", "/_emulator/reset", {})

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout) as response, deep_recursion():
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read())["error"]
                code, message = str(error["code"]), str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "error", exc.reason
            raise EmulatorControlError(exc.code, code, message) from exc
