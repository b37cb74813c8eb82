"""Talking HTTP to the emulator: its endpoint path, signed request bodies, raw sockets.

Bodies are signed with the emulator's own `reference_signature` (``rfc8785``),
never with ``acp_cli.signature``: these tests check the emulator, not the client.
"""

from __future__ import annotations

import socket
from http.client import HTTPResponse
from typing import Any
from urllib.parse import quote, urlsplit

from acp_cli.emulator.endpoint import reference_signature

TOKEN = "t"
"""The token the emulator of the ``emu`` fixture (tests/emulator/conftest.py) accepts."""


def signed_body(plan: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A valid request body for ``plan``, plus any extra fields (e.g. ``metadata``)."""
    return {"planSignature": reference_signature(plan), "plan": plan, **extra}


def endpoint(binding: str) -> str:
    """The endpoint path for a binding, percent-encoded as one segment."""
    return f"/v1/workspace-bindings/{quote(binding, safe='')}/push-sessions"


def connect(url: str, timeout: float = 5.0) -> socket.socket:
    """A raw TCP connection to the emulator at ``url``."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP response from a raw socket: status, lower-cased headers, body."""
    response = HTTPResponse(sock)
    response.begin()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw request bytes on a fresh connection and read one response."""
    with connect(url) as sock:
        sock.sendall(request)
        return read_response(sock)


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the peer sends until it closes the connection."""
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
