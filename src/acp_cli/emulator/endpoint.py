"""The Prepare workspace push session endpoint, apart from HTTP framing.

Each check is one function that returns a value or raises `ApiError`, so the
HTTP front can run them in the order a real server would (cheap header checks
before reading the body) and answer as soon as one fails.

The plan signature is recomputed with the ``rfc8785`` package, an independent
implementation of RFC 8785, never with ``acp_cli.signature``: the emulator is
the check on the client, so it must not share the client's bugs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import rfc8785

from acp_cli.emulator.nesting import (
    MAX_METADATA_DEPTH,
    MAX_PLAN_DEPTH,
    deep_recursion,
    nesting_depth,
)

API_PREFIX = ("", "v1", "workspace-bindings")
API_SUFFIX = "push-sessions"

# JSON has no integers: RFC 8785 reads every number as an IEEE 754 double, and
# rfc8785 refuses integers it cannot represent exactly instead of rounding them.
_SAFE_INTEGER = 2**53 - 1


class ApiError(Exception):
    """An error answer: status, machine-readable code, human message, extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []

    def body(self) -> bytes:
        """The JSON error document every error answer carries."""
        return error_body(self.code, self.message)


@dataclass(frozen=True)
class PrepareRequest:
    """A validated request body."""

    plan_signature: str
    plan: dict[str, Any]
    metadata: dict[str, Any]


def error_body(code: str, message: str) -> bytes:
    """``{"error": {"code": ..., "message": ...}}`` as UTF-8 JSON bytes."""
    error = {"error": {"code": code, "message": message}}
    return json.dumps(error, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_code_for_status(status: int) -> str:
    """A snake_case error code from an HTTP status: 503 gives ``service_unavailable``."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "error"
    return "_".join(phrase.lower().replace("-", " ").replace("'", "").split())


def match_api_path(path: str) -> str | None:
    """The raw (still percent-encoded) binding segment if ``path`` is the endpoint, else None.

    The path is split on ``/`` before decoding, so ``a%2Fb`` stays one segment.
    """
    segments = path.split("/")
    if (
        len(segments) == 5
        and tuple(segments[:3]) == API_PREFIX
        and segments[4] == API_SUFFIX
        and segments[3]
    ):
        return segments[3]
    return None


def decode_binding_id(segment: str) -> str:
    """Percent-decode one path segment into a binding ID (400 when it is not UTF-8)."""
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "invalid_binding_id", "the binding ID is not valid percent-encoded UTF-8"
        ) from exc


def user_id_for_token(token: str) -> str:
    """A stable user ID for a token; the token itself cannot be read back from it."""
    return "usr_" + hashlib.sha256(b"acp-emulator user\0" + token.encode()).hexdigest()[:20]


def environment_id_for_binding(binding_id: str) -> str:
    """The binding's stable environment (computer) ID."""
    return "env_" + hashlib.sha256(b"acp-emulator env\0" + binding_id.encode()).hexdigest()[:20]


def project_id_for_binding(binding_id: str) -> str:
    """The binding's stable project ID."""
    return "prj_" + hashlib.sha256(b"acp-emulator prj\0" + binding_id.encode()).hexdigest()[:20]


def authenticate(authorization: str | None, accepted_tokens: Collection[str]) -> str:
    """Check a bearer ``Authorization`` header and return the user ID (401 otherwise).

    With no accepted tokens configured, any non-empty token is accepted.
    """
    challenge = 'Bearer realm="acp-emulator"'
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "unauthorized",
            "missing bearer token: send 'Authorization: Bearer <token>'",
            [("WWW-Authenticate", challenge)],
        )
    if accepted_tokens and not any(
        hmac.compare_digest(token.encode(), known.encode()) for known in accepted_tokens
    ):
        raise ApiError(
            401,
            "unauthorized",
            "the bearer token is not valid",
            [("WWW-Authenticate", f'{challenge}, error="invalid_token"')],
        )
    return user_id_for_token(token)


def check_binding(binding_id: str, known_bindings: Collection[str]) -> None:
    """404 ``binding_not_found`` when bindings are configured and this is not one of them."""
    if known_bindings and binding_id not in known_bindings:
        raise ApiError(404, "binding_not_found", f"workspace binding {binding_id!r} was not found")


def check_content_type(content_type: str | None) -> None:
    """415 unless the media type is ``application/json`` (parameters allowed)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = content_type or "none"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the request body must be application/json, got {shown}",
        )


def parse_prepare_body(body: bytes) -> PrepareRequest:
    """Parse and validate the request body: 400 when it is not JSON, 422 naming the field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "malformed_json", "the request body is not valid UTF-8") from exc
    try:
        with deep_recursion():
            document = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ApiError(
            422,
            "validation_failed",
            f"the request body nests too deeply: plan may nest {MAX_PLAN_DEPTH} levels"
            f" and metadata {MAX_METADATA_DEPTH}",
        ) from exc
    if not isinstance(document, dict):
        raise ApiError(422, "validation_failed", "the request body must be a JSON object")
    signature = document.get("planSignature")
    if "planSignature" not in document:
        raise ApiError(422, "validation_failed", "planSignature is required")
    if not isinstance(signature, str) or not signature:
        raise ApiError(422, "validation_failed", "planSignature must be a non-empty string")
    if "plan" not in document:
        raise ApiError(422, "validation_failed", "plan is required")
    plan = document["plan"]
    if not isinstance(plan, dict):
        raise ApiError(422, "validation_failed", "plan must be a JSON object")
    metadata = document.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ApiError(422, "validation_failed", "metadata must be a JSON object")
    for name, value, limit in (
        ("plan", plan, MAX_PLAN_DEPTH),
        ("metadata", metadata, MAX_METADATA_DEPTH),
    ):
        if nesting_depth(value) > limit:
            raise ApiError(422, "validation_failed", f"{name} is nested deeper than {limit} levels")
    return PrepareRequest(plan_signature=signature, plan=plan, metadata=metadata)


def reference_signature(plan: Any) -> str:
    """``sha256:<hex>`` over the RFC 8785 form of ``plan``, computed by ``rfc8785``.

    Raises 422 ``invalid_plan`` when the plan has no canonical form.
    """
    try:
        with deep_recursion():
            try:
                canonical = rfc8785.dumps(plan)
            except rfc8785.IntegerDomainError:
                # SPEC section 3: integers beyond 2^53 count as their nearest double.
                canonical = rfc8785.dumps(_big_integers_as_doubles(plan))
    except (rfc8785.CanonicalizationError, OverflowError) as exc:
        raise ApiError(422, "invalid_plan", f"plan has no RFC 8785 canonical form: {exc}") from exc
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def check_signature(request: PrepareRequest) -> None:
    """422 ``plan_signature_mismatch``, naming the expected value, when the signature is wrong."""
    expected = reference_signature(request.plan)
    if request.plan_signature != expected:
        raise ApiError(
            422,
            "plan_signature_mismatch",
            f"planSignature does not match the plan: expected {expected},"
            f" got {request.plan_signature}",
        )


def plan_json_text(plan: dict[str, Any]) -> str:
    """The plan as compact JSON text for storage (valid UTF-8: rfc8785 refused surrogates)."""
    with deep_recursion():
        return json.dumps(plan, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def metadata_json_text(metadata: dict[str, Any]) -> str:
    """The metadata as compact JSON text for storage (422 when it holds an infinite number)."""
    with deep_recursion():
        try:
            text = json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError as exc:
            raise ApiError(
                422, "validation_failed", "metadata holds a number outside the double range"
            ) from exc
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (legal in JSON escapes) cannot be written as UTF-8;
            # keep it as a \u escape instead.
            text = json.dumps(metadata, separators=(",", ":"), allow_nan=False)
        return text


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _big_integers_as_doubles(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _big_integers_as_doubles(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_big_integers_as_doubles(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INTEGER:
        as_double = float(value)  # OverflowError beyond the double range
        if math.isinf(as_double):  # pragma: no cover - float() raises first
            raise OverflowError(f"{value} is outside the double range")
        return as_double
    return value
