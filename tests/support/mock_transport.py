"""Sending a push prepare through httpx's MockTransport: a handler that plays a script
and records what it got (`Recorder`), and `send`, which returns the result or the
error and the retry lines announced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from acp_cli import transport
from acp_cli.answers import PrepareResult
from acp_cli.errors import AcpError
from acp_cli.request import Request, prepare_request
from acp_cli.retry import RetryPolicy
from tests.support.retry_policy import policy


def request(body: bytes = b'{"planSignature":"sha256:x","plan":{}}') -> Request:
    """A push prepare request for ``wb_1`` with ``body``, to an address nothing listens on."""
    return prepare_request(
        api_url="http://127.0.0.1:9", binding_id="wb_1", token="tok_secret_123456",
        device_id="dev", body=body,
    )  # fmt: skip


class Recorder:
    """A MockTransport handler that plays a script and records what it got."""

    def __init__(self, *script: httpx.Response | BaseException | Callable[[], Any]) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        self.bodies.append(req.read())
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        if callable(step) and not isinstance(step, httpx.Response):
            step = step()
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, httpx.Response)
        return step


def send(
    handler: Recorder, *, pol: RetryPolicy | None = None, timeout: Any = 30.0, **kw: Any
) -> tuple[PrepareResult | AcpError, list[str]]:
    """Send `request` (or ``req``) through a `transport.Sender` over ``handler`` with the
    policy ``pol`` (default: `policy` with no waits) and ``kw`` for the rest; return the
    answer or the error raised, and the retry lines the sender announced."""
    lines: list[str] = []
    try:
        req = kw.pop("req", None) or request()
        sender = transport.Sender(
            timeouts=timeout
            if isinstance(timeout, transport.Timeouts)
            else transport.Timeouts.of(timeout),
            announce=lines.append,
            policy=pol or policy(scale=0.0),
            transport=httpx.MockTransport(handler),
            **kw,
        )
        result: PrepareResult | AcpError = sender.send(req, binding_id="wb_1")
    except AcpError as exc:
        result = exc
    return result, lines
