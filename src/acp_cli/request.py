"""Building the Prepare workspace push session request (SPEC.md section 2).

Everything here is local: a binding ID or metadata that cannot be sent is a
`UsageError` (exit 2) before anything leaves the machine.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from acp_cli import __version__
from acp_cli.credentials import mask
from acp_cli.errors import UsageError
from acp_cli.server_text import has_control

UTF8_BOM = b"\xef\xbb\xbf"
MAX_URL_LENGTH = 8000
"""The longest request URL acp sends, in characters: RFC 9110 section 4.1 asks
servers to accept request lines of at least 8000 octets, and httpx refuses
URLs over 65536 characters."""

_BINDING_HINT = "Pass the workspace binding ID as the server shows it."


def user_agent() -> str:
    """``acp-cli/<version> (Python <version>; <os>)``."""
    import platform  # a few milliseconds of start-up, spent only when sending

    return (
        f"acp-cli/{__version__} "
        f"(Python {platform.python_version()}; {platform.system() or sys.platform})"
    )


def binding_segment(binding_id: str) -> str:
    """``binding_id`` percent-encoded (UTF-8) as exactly one path segment.

    Every reserved character is encoded (``/``, ``?``, ``#``, space, ``%``), and
    the dots of a ``.`` or ``..`` ID too, which clients and proxies would
    otherwise collapse as a relative path. An empty ID, one with control
    characters, and one that is not Unicode text (bytes that were not UTF-8
    reach Python's ``argv`` as lone surrogates) are refused with `UsageError`.
    """
    if not binding_id.strip():
        raise UsageError("The binding ID is empty.", hint="Pass the workspace binding ID.")
    if has_control(binding_id):
        raise UsageError(
            f"The binding ID {binding_id!r} contains control characters.", hint=_BINDING_HINT
        )
    try:
        segment = quote(binding_id, safe="")
    except UnicodeEncodeError:
        raise UsageError(
            f"The binding ID {binding_id!r} is not valid text: it holds bytes that are not UTF-8.",
            hint=_BINDING_HINT,
        ) from None
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return segment


def push_sessions_url(api_url: str, binding_id: str) -> str:
    """The URL of Prepare workspace push session for ``binding_id``.

    Raises `UsageError` for a binding ID `binding_segment` refuses, and for a
    URL longer than `MAX_URL_LENGTH`, which servers and proxies may refuse or cut.
    """
    url = f"{api_url}/v1/workspace-bindings/{binding_segment(binding_id)}/push-sessions"
    if len(url) > MAX_URL_LENGTH:
        raise UsageError(
            f"The binding ID is too long: {len(binding_id)} characters make a request URL of "
            f"{len(url)} characters, more than the {MAX_URL_LENGTH} acp sends.",
            hint=_BINDING_HINT,
        )
    return url


def request_body(
    plan_signature: str, plan_json: bytes, metadata: bytes | Mapping[str, Any] | None
) -> bytes:
    """The request body, with the plan's own bytes spliced in unchanged.

    The plan is not re-serialized: what the server receives is exactly what the
    user wrote (minus surrounding whitespace), and a 45 MB plan costs one copy.
    ``plan_json`` must already have been validated as one JSON object.
    ``metadata`` is either the JSON text of an object, already validated
    (`acp_cli.cli.push_input.merge_metadata`), spliced in unchanged like the plan,
    or a mapping, serialized here; None leaves the field out.
    """
    plan_json = plan_json.removeprefix(UTF8_BOM).strip()
    parts = [b'{"planSignature":', orjson.dumps(plan_signature), b',"plan":', plan_json]
    if isinstance(metadata, bytes):
        parts += [b',"metadata":', metadata.strip()]
    elif metadata is not None:
        # json, not orjson: Python integers of any size are written exactly.
        try:
            text = json.dumps(metadata, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            parts += [b',"metadata":', text.encode("utf-8")]
        except UnicodeEncodeError as exc:
            raise UsageError(
                "The metadata holds text that is not valid Unicode (a lone surrogate).",
                hint="Check the metadata's keys and values.",
            ) from exc
        except (TypeError, ValueError) as exc:  # a datetime, a set, NaN or an infinity
            raise UsageError(
                f"The metadata has no JSON form: {exc}.",
                hint="Metadata holds JSON data only: no NaN, infinities or other objects.",
            ) from None
    parts.append(b"}")
    return b"".join(parts)


@dataclass(frozen=True, repr=False)
class Request:
    """One HTTP request, built once and sent byte-identical on every attempt."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def __repr__(self) -> str:
        """The request as it may be shown in a traceback: the token masked, the body counted."""
        return (
            f"Request({self.method} {self.url}, headers={self.masked_headers()!r}, "
            f"{len(self.body)} bytes of body)"
        )

    def masked_headers(self) -> dict[str, str]:
        """The headers as they may be shown: the bearer token masked."""
        shown = dict(self.headers)
        auth = shown.get("Authorization")
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            shown["Authorization"] = f"{scheme} {mask(token)}"
        return shown


def prepare_request(
    *, api_url: str, binding_id: str, token: str, device_id: str | None, body: bytes
) -> Request:
    """The Prepare workspace push session request (SPEC.md section 2).

    ``device_id`` None leaves the ``ACP-Device-Id`` header out.
    """
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": user_agent(),
    }
    if device_id is not None:
        headers["ACP-Device-Id"] = device_id
    return Request(
        method="POST", url=push_sessions_url(api_url, binding_id), headers=headers, body=body
    )
