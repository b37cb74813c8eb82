"""The log of API requests the emulator received, so tests can check their exact shape.

Only API requests are recorded (not ``/_emulator/`` controls), with the
connection they came on, the raw request target, the headers in the order and
spelling they arrived in, and the body bytes. Bodies are kept up to a total
budget: past it the oldest entries are forgotten, so a benchmark pushing large
plans cannot exhaust memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from acp_cli.emulator.faults import Fault
from acp_cli.emulator.nesting import deep_recursion

# Enough for any test's bodies; a single larger body is still kept, alone.
BODY_BUDGET_BYTES = 128 * 1024 * 1024
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class RecordedRequest:
    """One API request as received, and what the emulator did with it.

    ``body`` is None when it was never read (refused as too large, or a
    ``reset`` fault). ``status`` is None when no answer was sent (a ``drop`` or
    ``reset`` fault, or the client went away). ``fault`` is the fault applied, if any.
    ``connection_id`` names the TCP connection the request came on: requests that
    share one came on one kept-alive connection.
    """

    request_id: str
    connection_id: str
    received_at: str
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    status: int | None
    fault: Fault | None

    def header(self, name: str) -> str | None:
        """The first value of a header, matched case-insensitively, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        if self.body is None:
            raise ValueError("the request body was not read")
        with deep_recursion():
            return json.loads(self.body)

    def to_json(self) -> dict[str, Any]:
        """The JSON form served by ``GET /_emulator/requests``."""
        return {
            "requestId": self.request_id,
            "connectionId": self.connection_id,
            "receivedAt": self.received_at,
            "method": self.method,
            "target": self.target,
            "headers": [[key, value] for key, value in self.headers],
            "bodyBase64": None if self.body is None else base64.b64encode(self.body).decode(),
            "bodyLength": None if self.body is None else len(self.body),
            "bodySha256": None if self.body is None else hashlib.sha256(self.body).hexdigest(),
            "status": self.status,
            "fault": None if self.fault is None else self.fault.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordedRequest:
        """Read the form made by `to_json`."""
        fault = data.get("fault")
        encoded = data.get("bodyBase64")
        return cls(
            request_id=data["requestId"],
            connection_id=data["connectionId"],
            received_at=data["receivedAt"],
            method=data["method"],
            target=data["target"],
            headers=tuple((key, value) for key, value in data["headers"]),
            body=None if encoded is None else base64.b64decode(encoded),
            status=data.get("status"),
            fault=None if fault is None else Fault.from_json(fault)[0],
        )


class RequestLog:
    """Recorded requests, oldest first, bounded by `BODY_BUDGET_BYTES`; thread-safe."""

    def __init__(self, body_budget: int = BODY_BUDGET_BYTES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[RecordedRequest] = deque()
        self._body_bytes = 0
        self._budget = body_budget

    def append(self, entry: RecordedRequest) -> None:
        """Record a request, forgetting the oldest ones past the budget."""
        with self._lock:
            self._entries.append(entry)
            self._body_bytes += len(entry.body or b"")
            while len(self._entries) > 1 and (
                self._body_bytes > self._budget or len(self._entries) > MAX_ENTRIES
            ):
                dropped = self._entries.popleft()
                self._body_bytes -= len(dropped.body or b"")

    def entries(self) -> list[RecordedRequest]:
        """Every recorded request still kept, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._entries.clear()
            self._body_bytes = 0
