"""What an answer, or a failure to get one, means: a result, or a typed error.

Tables decide, not a chain of checks: `STATUS_RULES` maps HTTP statuses to an
error class, a message and a hint; `EXCEPTION_RULES` and `TLS_RULES` map an
httpx exception, or the ssl error behind it, to a message, the short reason
shown in the retry line, and whether another attempt may help. Nothing here
sends, sleeps or prints; every text that came from the server goes through
`acp_cli.server_text`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import orjson

from acp_cli.errors import (
    AcpError,
    AuthError,
    NotFoundError,
    RejectedError,
    UnavailableError,
)
from acp_cli.retry import DEADLINE_HINT, RETRYABLE_STATUSES, seconds
from acp_cli.server_text import json_text, one_line
from acp_cli.settings import CA_BUNDLE, DEVICE_ID, TOKEN
from acp_cli.strict_json import MAX_DEPTH

if TYPE_CHECKING:
    import httpx

EXCERPT_LIMIT = 120
HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
SUCCESS_STATUSES = (200, 201)


@dataclass(frozen=True)
class PrepareResult:
    """A successful answer of Prepare workspace push session."""

    status_code: int
    answer: Mapping[str, Any]
    """The response object as the server sent it; ``pushSession`` is always an object."""
    raw: bytes
    """The response body, with the characters `acp_cli.server_text` deems unsafe on a
    terminal written as JSON escapes: the same JSON value, safe to print."""
    request_id: str | None

    @property
    def created(self) -> bool:
        """True for a new session: ``created`` when the server sent it, else 201."""
        flag = self.answer.get("created")
        return flag if isinstance(flag, bool) else self.status_code == 201

    @property
    def session(self) -> Mapping[str, Any]:
        """``pushSession``: its fields may each be missing (SPEC.md section 1)."""
        session: Mapping[str, Any] = self.answer["pushSession"]
        return session


@dataclass(frozen=True)
class Failure:
    """One attempt that failed: the error it stands for, and whether to try again."""

    error: AcpError
    reason: str
    """A short clause for the retry line and the ``-v`` log: ``503 Service Unavailable``."""
    retryable: bool
    retry_after: str | None = None
    """The answer's ``Retry-After`` header, when a retryable answer had one."""


# --- answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRule:
    """What a range of HTTP statuses means.

    ``message`` may name ``{status}``, ``{said}`` (": " and the server's own
    message, or nothing), ``{binding_id}`` and ``{location}``.
    """

    statuses: range | frozenset[int]
    error: type[AcpError]
    message: str
    hint: str | None


REJECTED_HINT = "Check the plan and metadata against the server's message above."
STATUS_RULES: tuple[StatusRule, ...] = (
    StatusRule(
        range(300, 400),
        UnavailableError,
        "The server answered {status} with a redirect to {location}; acp does not follow "
        "redirects, so the token never travels to another address.",
        "Set the API URL to the final address.",
    ),
    StatusRule(
        frozenset({401, 403}),
        AuthError,
        "The server refused the token ({status}){said}.",
        "Check it with `acp auth status`; log in again with `acp auth login`, "
        f"or set {TOKEN.variable}.",
    ),
    StatusRule(
        frozenset({404}),
        NotFoundError,
        "Workspace binding '{binding_id}' was not found (404){said}.",
        "Check the binding ID and that the API URL and profile are the right ones.",
    ),
    StatusRule(
        frozenset({408, 429}) | frozenset(range(500, 1000)),
        UnavailableError,
        "The server is unavailable ({status}){said}.",
        "Try again later.",
    ),
    StatusRule(
        frozenset({413}),
        RejectedError,
        "The server rejected the request (413){said}.",
        "The plan is larger than the server accepts; push the workspace in smaller parts.",
    ),
    StatusRule(
        range(400, 500),
        RejectedError,
        "The server rejected the request ({status}){said}.",
        REJECTED_HINT,
    ),
)
"""Checked in order; the first rule that holds the status applies."""

UNEXPECTED_STATUS = StatusRule(
    range(0),
    UnavailableError,
    "The server answered with an unexpected status {status}{said}.",
    None,
)
"""For every status no rule holds (1xx, a 2xx other than 200 and 201)."""

SERVER_CODE_HINTS: Mapping[str, str] = {
    "plan_signature_mismatch": "acp and the server disagree on the plan's signature "
    "(RFC 8785): please report it with the output of `acp push signature PLAN_FILE`.",
}
"""Hints for error codes the server may name in its message, in place of the rule's."""


def read_answer(response: httpx.Response, binding_id: str) -> PrepareResult | Failure:
    """A whole response: the result it carries, or the failure it stands for."""
    status = response.status_code
    reason = one_line(f"{status} {response.reason_phrase}", limit=80)
    if status not in SUCCESS_STATUSES:
        retryable = status in RETRYABLE_STATUSES
        # httpx's headers ignore case: "RETRY-AFTER" is the same key.
        retry_after = response.headers.get("retry-after")  # pragma: no mutate
        return Failure(
            error_for_response(status, response.headers, response.content, binding_id),
            reason=reason,
            retryable=retryable,
            retry_after=retry_after if retryable else None,
        )
    request_id = request_id_of(response.headers)
    answer = _documented_answer(response.content)
    if isinstance(answer, str):
        # Not retried: a server that answers nonsense once will do it again.
        error = UnavailableError(
            f"The server answered {status} but its body is not the documented JSON: "
            f"{answer} ({_excerpt(response.content) or 'empty body'}).",
            hint="Check that the API URL points at the ACP API.",
            request_id=request_id,
        )
        return Failure(error, reason=reason, retryable=False)
    return PrepareResult(status, answer, json_text(response.content), request_id)


def _documented_answer(body: bytes) -> dict[str, Any] | str:
    """The answer object when ``body`` has the documented shape, else what is wrong with it.

    ``pushSession`` must be an object and ``created``, when present, a boolean;
    the fields inside ``pushSession`` may each be missing or null.
    """
    try:
        answer = _loads(body)
    except ValueError:  # orjson.JSONDecodeError and json.JSONDecodeError alike
        return "it is not JSON"
    if not isinstance(answer, dict):
        return "it is not a JSON object"
    if not isinstance(answer.get("pushSession"), dict):
        return "it has no pushSession object"
    if answer.get("created") is not None and not isinstance(answer["created"], bool):
        return "created is not true or false"
    return answer


def _loads(body: bytes) -> Any:
    """``body`` parsed as JSON, however deep the plan inside it.

    orjson stops at 1,024 levels, and the answer holds the plan two levels down:
    a plan as deep as acp accepts (1,024) would make its own answer unreadable.
    Such rare answers are parsed by the standard library with room to recurse.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" not in str(exc):
            raise
    import json
    import sys

    limit = sys.getrecursionlimit()
    # A margin, not an exact need: any limit well above the answer's depth plus the
    # stack reads it, so only mutants that make it too small can fail a test.
    sys.setrecursionlimit(max(limit, 4 * MAX_DEPTH + 1000))  # pragma: no mutate
    try:
        return json.loads(body)
    except RecursionError:  # deeper still: the caller says it is not JSON acp can read
        raise ValueError from None
    finally:
        sys.setrecursionlimit(limit)


def error_for_response(
    status: int, headers: Mapping[str, str], body: bytes, binding_id: str
) -> AcpError:
    """The typed error for a non-success answer, with the server's own words."""
    rule = next((rule for rule in STATUS_RULES if status in rule.statuses), UNEXPECTED_STATUS)
    code, detail = server_message(body)
    said = f"{code or ''} {detail}"  # pragma: no mutate: searched for the hints' codes only
    hint = next((h for known, h in SERVER_CODE_HINTS.items() if known in said), rule.hint)
    message = rule.message.format(
        status=status,
        said=f": {detail}" if detail else "",
        binding_id=binding_id,
        location=one_line(headers.get("location", ""), limit=200) or "another location",
    )
    return rule.error(message, hint=hint, request_id=request_id_of(headers), server_code=code)


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The server's ``X-Request-Id``, printable, or None."""
    return one_line(headers.get("x-request-id", ""), limit=200) or None


def server_message(body: bytes) -> tuple[str | None, str]:
    """The server's error code (``error.code``, None when it sent none) and its message
    (``error.message``, another message field, or a short excerpt), kept apart: the
    code is for searching and reports, the message for reading."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, _excerpt(body)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            code = one_line(str(error.get("code") or ""), limit=100) or None
            message = one_line(str(error.get("message") or ""), limit=500)
            if code or message:
                return code, message
        for key in ("message", "error", "detail"):
            if isinstance(data.get(key), str):
                return None, one_line(data[key], limit=500)
    return None, _excerpt(body)


def _excerpt(body: bytes) -> str:
    """A single short line from a body that is not JSON: an HTML title, or its start."""
    text = body.decode(errors="replace")  # UTF-8
    title = HTML_TITLE.search(text)
    if title:
        text = title.group(1)
    elif "<" in text:
        text = re.sub(r"<[^>]*>", " ", text)
    return one_line(text, limit=EXCERPT_LIMIT)


# --- no answer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExceptionRule:
    """What an exception of the transport means.

    ``message`` and ``reason`` may name ``{origin}``, ``{detail}`` (the
    exception's own words), ``{said}`` (the TLS library's reason), and the
    attempt's timeouts ``{connect}``, ``{read}``, ``{write}`` and ``{pool}``;
    ``message`` may also name ``{reason}``, the reason filled in.
    """

    message: str
    reason: str
    hint: str | None
    retryable: bool


CA_HINT = (
    "If the server's certificate comes from a private CA, trust that CA with "
    f"--ca-bundle FILE, {CA_BUNDLE.variable} or `acp config set {CA_BUNDLE.name} FILE` "
    "(SSL_CERT_FILE replaces the default CA certificates)."
)
NETWORK_HINT = (
    "Check the API URL, your network connection and any proxy (HTTPS_PROXY, NO_PROXY), "
    "then try again."
)
TIMEOUT_HINT = "If the server is slow, raise --timeout, or `acp config set timeout SECONDS`."


TIMED_OUT = "The request to {origin} timed out: {reason}."


_BROKEN = ExceptionRule(
    # The connection closed or broke before a whole answer arrived: dropped,
    # reset, or shorter than its Content-Length. The server may or may not
    # have acted; trying again is safe, it reuses the session.
    "The connection to {origin} broke before a complete answer: {detail}.",
    "the connection broke: {detail}",
    NETWORK_HINT,
    retryable=True,
)

EXCEPTION_RULES: Mapping[str, ExceptionRule] = {
    "ConnectTimeout": ExceptionRule(
        TIMED_OUT, "no connection within {connect}", TIMEOUT_HINT, retryable=True
    ),
    "WriteTimeout": ExceptionRule(
        TIMED_OUT, "the request could not be sent within {write}", TIMEOUT_HINT, retryable=True
    ),
    "PoolTimeout": ExceptionRule(
        TIMED_OUT, "no free connection within {pool}", TIMEOUT_HINT, retryable=True
    ),
    "TimeoutException": ExceptionRule(
        TIMED_OUT, "no answer within {read}", TIMEOUT_HINT, retryable=True
    ),
    "ProxyError": ExceptionRule(
        "The proxy did not connect acp to {origin}: {detail}.",
        "proxy error",
        "Check HTTPS_PROXY, HTTP_PROXY and NO_PROXY.",
        retryable=False,
    ),
    "ConnectError": ExceptionRule(
        "Could not connect to {origin}: {detail}.",
        "could not connect: {detail}",
        NETWORK_HINT,
        retryable=True,
    ),
    "RemoteProtocolError": _BROKEN,
    "NetworkError": _BROKEN,
    # The request itself could not be written; httpx's message quotes the
    # offending header, which may be the Authorization header: never show it.
    "LocalProtocolError": ExceptionRule(
        "acp could not send the request: a header value is not valid HTTP.",
        "invalid request",
        f"Check {DEVICE_ID.variable} and the token for stray characters.",
        retryable=False,
    ),
    "HTTPError": ExceptionRule(
        "The request to {origin} failed: {detail}.", "{detail}", NETWORK_HINT, retryable=False
    ),
}
"""By httpx exception class name; the most specific class of an exception's MRO wins.
Names rather than classes keep httpx out of the import of this module."""

TLS_RULES: Mapping[str, ExceptionRule | None] = {
    # A certificate that fails today fails on the next attempt too.
    "SSLCertVerificationError": ExceptionRule(
        "The TLS certificate of {origin} could not be verified: {said}.",
        "certificate verify failed",
        CA_HINT,
        retryable=False,
    ),
    # The peer closed the connection: not a TLS failure, `EXCEPTION_RULES` decides.
    "SSLEOFError": None,
    "SSLZeroReturnError": None,
    "SSLError": ExceptionRule(
        "The TLS handshake with {origin} failed: {said}.",
        "TLS handshake failed",
        "Check that the API URL is right: https:// must point at a TLS port.",
        retryable=False,
    ),
}
"""By ssl exception class name, for the ssl error behind an httpx exception."""


class AttemptLimits(Protocol):
    """The four timeouts of the attempt that failed, in seconds: what its messages name.

    Only these numbers: whichever layer sends says how it holds them.
    """

    @property
    def connect(self) -> float: ...
    @property
    def read(self) -> float: ...
    @property
    def write(self) -> float: ...
    @property
    def pool(self) -> float: ...


_Rule = TypeVar("_Rule", ExceptionRule, ExceptionRule | None)


def transport_failure(exc: httpx.HTTPError, origin: str, limits: AttemptLimits) -> Failure:
    """What a failed exchange (no answer, or a broken one) means, and whether to retry it."""
    detail = one_line(str(exc), limit=300).rstrip(".") or type(exc).__name__
    tls = _tls_cause(exc)
    rule = _rule_for(tls, TLS_RULES) if tls is not None else None
    if rule is None:
        rule = _rule_for(exc, EXCEPTION_RULES)
    said = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or detail
    fields = {
        "origin": origin,
        "detail": detail,
        "said": one_line(str(said), limit=300),
        "connect": seconds(limits.connect),
        "read": seconds(limits.read),
        "write": seconds(limits.write),
        "pool": seconds(limits.pool),
    }
    reason = rule.reason.format(**fields)
    error = UnavailableError(rule.message.format(reason=reason, **fields), hint=rule.hint)
    return Failure(error, reason=reason, retryable=rule.retryable)


def deadline_failure(origin: str, deadline: float) -> Failure:
    """An attempt cut off by the overall deadline while it was still sending or receiving."""
    error = UnavailableError(
        f"The request to {origin} did not complete within the {seconds(deadline)} deadline.",
        hint=DEADLINE_HINT,
    )
    return Failure(error, reason="the deadline passed", retryable=False)


def _rule_for(exc: BaseException, rules: Mapping[str, _Rule]) -> _Rule:
    """The rule of the most specific class of ``exc`` that ``rules`` names.

    There always is one: the transport raises only httpx.HTTPError, the last
    class EXCEPTION_RULES names, and a TLS cause is an ssl.SSLError.
    """
    return next(rules[klass.__name__] for klass in type(exc).__mro__ if klass.__name__ in rules)


def _tls_cause(exc: BaseException) -> BaseException | None:
    """The ssl error behind an exception, if there is one."""
    import ssl

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
