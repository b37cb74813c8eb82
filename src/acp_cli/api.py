"""The HTTP client: the push-session endpoint, and server answers turned into typed errors.

Never prints: progress and the ``-v`` exchange go to the ``log`` callable the
caller passes in, with the token masked.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from acp_cli import __version__
from acp_cli.credentials import mask
from acp_cli.errors import (
    AcpError,
    AuthError,
    NotFoundError,
    RejectedError,
    UnavailableError,
    UsageError,
)

if TYPE_CHECKING:
    import httpx

Log = Callable[[str], None]

USER_AGENT = (
    f"acp-cli/{__version__} "
    f"(Python {platform.python_version()}; {platform.system() or sys.platform})"
)
EXCERPT_LIMIT = 120
UTF8_BOM = b"\xef\xbb\xbf"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def binding_segment(binding_id: str) -> str:
    """``binding_id`` percent-encoded as exactly one path segment.

    Every reserved character is encoded (``/``, ``?``, ``#``, space, ``%``), and
    the dots of a ``.`` or ``..`` ID too, which clients and proxies would
    otherwise collapse as a relative path.
    """
    if not binding_id.strip():
        raise UsageError("The binding ID is empty.", hint="Pass the workspace binding ID.")
    if _CONTROL.search(binding_id):
        raise UsageError(
            f"The binding ID {binding_id!r} contains control characters.",
            hint="Pass the workspace binding ID as the server shows it.",
        )
    segment = quote(binding_id, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return segment


def push_sessions_url(api_url: str, binding_id: str) -> str:
    """The URL of Prepare workspace push session for ``binding_id``."""
    return f"{api_url}/v1/workspace-bindings/{binding_segment(binding_id)}/push-sessions"


def request_body(
    plan_signature: str, plan_json: bytes, metadata: Mapping[str, Any] | None
) -> bytes:
    """The request body, with the plan's own bytes spliced in unchanged.

    The plan is not re-serialized: what the server receives is exactly what the
    user wrote (minus surrounding whitespace), and a 45 MB plan costs one copy.
    ``plan_json`` must already have been validated as one JSON object.
    """
    plan_json = plan_json.removeprefix(UTF8_BOM).strip()
    parts = [b'{"planSignature":', orjson.dumps(plan_signature), b',"plan":', plan_json]
    if metadata is not None:
        text = json.dumps(metadata, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            parts += [b',"metadata":', text.encode("utf-8")]
        except UnicodeEncodeError as exc:
            raise UsageError(
                "The metadata holds text that is not valid Unicode (a lone surrogate).",
                hint="Check the --meta values and the --metadata file.",
            ) from exc
    parts.append(b"}")
    return b"".join(parts)


@dataclass(frozen=True)
class Request:
    """One HTTP request, built once and sent byte-identical on every attempt."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = field(repr=False)

    def masked_headers(self) -> dict[str, str]:
        """The headers as they may be shown: the bearer token masked."""
        shown = dict(self.headers)
        auth = shown.get("Authorization")
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            shown["Authorization"] = f"{scheme} {mask(token)}"
        return shown


def prepare_request(
    *, api_url: str, binding_id: str, token: str, device_id: str, body: bytes
) -> Request:
    """The Prepare workspace push session request (SPEC.md section 2)."""
    return Request(
        method="POST",
        url=push_sessions_url(api_url, binding_id),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "ACP-Device-Id": device_id,
        },
        body=body,
    )


@dataclass(frozen=True)
class PrepareResult:
    """A successful answer of Prepare workspace push session."""

    status_code: int
    answer: Mapping[str, Any]
    """The response object as the server sent it."""
    raw: bytes
    """The response body bytes."""
    request_id: str | None

    @property
    def created(self) -> bool:
        """True for a new session: ``created`` when the server sent it, else 201."""
        flag = self.answer.get("created")
        return flag if isinstance(flag, bool) else self.status_code == 201

    @property
    def session(self) -> Mapping[str, Any]:
        """``pushSession``, empty when the server left it out."""
        session = self.answer.get("pushSession")
        return session if isinstance(session, Mapping) else {}


def send_prepare(
    request: Request,
    *,
    binding_id: str,
    timeout: float,
    log: Log | None = None,
    transport: httpx.BaseTransport | None = None,
) -> PrepareResult:
    """Send ``request`` and return the server's answer, or raise the matching error."""
    import httpx

    if log:
        log_request(request, log)
    try:
        with httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            transport=transport,
        ) as client:
            response = client.request(
                request.method, request.url, headers=request.headers, content=request.body
            )
    except httpx.TimeoutException as exc:
        raise UnavailableError(
            f"The request to {_origin(request.url)} timed out ({type(exc).__name__}).",
            hint="Try again; raise `timeout` in the profile if the server is slow.",
        ) from None
    except httpx.TransportError as exc:
        raise UnavailableError(
            f"Could not talk to {_origin(request.url)}: {exc or type(exc).__name__}.",
            hint="Check the API URL and your network connection, then try again.",
        ) from None
    if log:
        log_response(response, log)
    return read_answer(response, binding_id)


def log_request(request: Request, log: Log) -> None:
    """Show a request on the ``-v`` log, the token masked."""
    log(f"> {request.method} {request.url}")
    for name, value in request.masked_headers().items():
        log(f"> {name}: {value}")
    log(f"> ({len(request.body)} bytes of body)")


def log_response(response: httpx.Response, log: Log) -> None:
    """Show a response's status line and headers on the ``-v`` log."""
    log(f"< {response.http_version} {response.status_code} {response.reason_phrase}")
    for name, value in response.headers.items():
        log(f"< {name}: {value}")
    log(f"< ({len(response.content)} bytes of body)")


def read_answer(response: httpx.Response, binding_id: str) -> PrepareResult:
    """Turn a response into a PrepareResult, or the error it stands for."""
    request_id = response.headers.get("x-request-id")
    status = response.status_code
    if status not in (200, 201):
        raise error_for_response(status, response.headers, response.content, binding_id)
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict) or not _documented_shape(answer):
        raise UnavailableError(
            f"The server answered {status} but its body is not the documented JSON "
            f"({_excerpt(response.content) or 'empty body'}).",
            hint="Check that the API URL points at the ACP API.",
            request_id=request_id,
        )
    return PrepareResult(status, answer, response.content, request_id)


def _documented_shape(answer: Mapping[str, Any]) -> bool:
    session = answer.get("pushSession")
    created = answer.get("created")
    return (session is None or isinstance(session, dict)) and (
        created is None or isinstance(created, bool)
    )


def error_for_response(
    status: int, headers: Mapping[str, str], body: bytes, binding_id: str
) -> AcpError:
    """The typed error for a non-success answer, with the server's own words."""
    request_id = headers.get("x-request-id")
    detail = server_message(body)
    said = f": {detail}" if detail else ""
    if 300 <= status < 400:
        where = headers.get("location", "another location")
        return UnavailableError(
            f"The server answered {status} with a redirect to {where}; acp does not follow "
            "redirects, so the token never travels to another address.",
            hint="Set the API URL to the final address.",
            request_id=request_id,
        )
    if status in (401, 403):
        return AuthError(
            f"The server refused the token ({status}){said}.",
            hint="Check it with `acp auth status`; log in again with `acp auth login`, "
            "or set ACP_TOKEN.",
            request_id=request_id,
        )
    if status == 404:
        return NotFoundError(
            f"Workspace binding '{binding_id}' was not found (404){said}.",
            hint="Check the binding ID and that the API URL and profile are the right ones.",
            request_id=request_id,
        )
    if status in (408, 429) or status >= 500:
        return UnavailableError(
            f"The server is unavailable ({status}){said}.",
            hint="Try again later.",
            request_id=request_id,
        )
    if 400 <= status < 500:
        return RejectedError(
            f"The server rejected the request ({status}){said}.",
            request_id=request_id,
        )
    return UnavailableError(
        f"The server answered with an unexpected status {status}{said}.",
        request_id=request_id,
    )


def server_message(body: bytes) -> str:
    """The server's error message: ``error.code``/``error.message``, or a short excerpt."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _excerpt(body)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
            text = " ".join(str(part) for part in (code, message) if part)
            if text:
                return _one_line(text, limit=500)
        for key in ("message", "error", "detail"):
            if isinstance(data.get(key), str):
                return _one_line(data[key], limit=500)
    return _excerpt(body)


def _excerpt(body: bytes) -> str:
    """A single short line from a body that is not JSON: an HTML title, or its start."""
    text = body.decode("utf-8", errors="replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1)
    elif "<" in text:
        text = re.sub(r"<[^>]*>", " ", text)
    return _one_line(text, limit=EXCERPT_LIMIT)


def _one_line(text: str, *, limit: int) -> str:
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _origin(url: str) -> str:
    from acp_cli.settings import origin_of

    return origin_of(url)
