"""The HTTP client: the push-session endpoint, retries, and answers turned into typed errors.

Never prints: retry lines go to the ``announce`` callable and the ``-v``
exchange to the ``log`` callable the caller passes in, with the token masked.
The retry policy itself (which failures, how long to wait) is `acp_cli.retry`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from acp_cli import __version__
from acp_cli.credentials import mask
from acp_cli.errors import (
    AcpError,
    AuthError,
    ConfigError,
    NotFoundError,
    RejectedError,
    UnavailableError,
    UsageError,
)
from acp_cli.retry import (
    RETRYABLE_STATUSES,
    SCALE_VARIABLE,
    Deadline,
    GiveUp,
    RetryPolicy,
    Wait,
    seconds,
)
from acp_cli.server_text import has_control, one_line
from acp_cli.settings import origin_of

if TYPE_CHECKING:
    import ssl

    import httpx

Log = Callable[[str], None]


def user_agent() -> str:
    """``acp-cli/<version> (Python <version>; <os>)``."""
    import platform  # a few milliseconds of start-up, spent only when sending

    return (
        f"acp-cli/{__version__} "
        f"(Python {platform.python_version()}; {platform.system() or sys.platform})"
    )


EXCERPT_LIMIT = 120
UTF8_BOM = b"\xef\xbb\xbf"


def binding_segment(binding_id: str) -> str:
    """``binding_id`` percent-encoded as exactly one path segment.

    Every reserved character is encoded (``/``, ``?``, ``#``, space, ``%``), and
    the dots of a ``.`` or ``..`` ID too, which clients and proxies would
    otherwise collapse as a relative path.
    """
    if not binding_id.strip():
        raise UsageError("The binding ID is empty.", hint="Pass the workspace binding ID.")
    if has_control(binding_id):
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


@dataclass(frozen=True)
class Timeouts:
    """How long one attempt may wait at each step, in seconds: httpx's four timeouts."""

    connect: float = 10.0
    """To open a connection (and finish the TLS handshake)."""
    read: float = 30.0
    """Between two reads of the answer, including the wait for its first byte."""
    write: float = 30.0
    """Between two writes of the request."""
    pool: float = 10.0
    """To get a connection from the pool."""

    @classmethod
    def of(cls, timeout: float, connect: float = 10.0) -> Timeouts:
        """The timeouts for the ``timeout`` and ``connect_timeout`` settings."""
        connect = min(connect, timeout)
        return cls(connect=connect, read=timeout, write=timeout, pool=connect)

    def for_body(self, size: int) -> Timeouts:
        """These timeouts with the read timeout raised by one second per MiB of body.

        The server checks the whole plan before it answers: a 45 MB plan must
        not time out where a 2 kB one would not.
        """
        return replace(self, read=self.read + size / READ_ALLOWANCE_BYTES_PER_SECOND)

    def within(self, remaining: float) -> Timeouts:
        """These timeouts, none longer than ``remaining`` (what is left of the deadline)."""
        return Timeouts(
            connect=min(self.connect, remaining),
            read=min(self.read, remaining),
            write=min(self.write, remaining),
            pool=min(self.pool, remaining),
        )


READ_ALLOWANCE_BYTES_PER_SECOND = 1024 * 1024

CA_HINT = (
    "If the server's certificate comes from a private CA, trust that CA with "
    "--ca-bundle FILE, ACP_CA_BUNDLE or `acp config set ca_bundle FILE` "
    "(SSL_CERT_FILE replaces the default CA certificates)."
)
NETWORK_HINT = (
    "Check the API URL, your network connection and any proxy (HTTPS_PROXY, NO_PROXY), "
    "then try again."
)
TIMEOUT_HINT = "If the server is slow, raise --timeout, or `acp config set timeout SECONDS`."


def tls_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The certificates acp trusts: httpx's defaults, plus ``ca_bundle`` when given.

    The defaults are certifi's CA certificates, or the file or folder named by
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``. ``ca_bundle`` adds to them: a private
    CA is trusted without distrusting the public ones.
    """
    import httpx

    try:
        context = httpx.create_ssl_context()
    except OSError as exc:
        raise ConfigError(
            f"The CA certificates named by SSL_CERT_FILE or SSL_CERT_DIR could not be "
            f"loaded: {exc}.",
            hint="Fix or unset SSL_CERT_FILE and SSL_CERT_DIR.",
        ) from None
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except OSError as exc:  # ssl.SSLError is an OSError
            raise ConfigError(
                f"The CA bundle {ca_bundle} could not be loaded: {exc}.",
                hint="Give a PEM file of CA certificates with --ca-bundle, ACP_CA_BUNDLE "
                "or the ca_bundle setting.",
            ) from None
    return context


def _no_tls() -> ssl.SSLContext:
    """A context that trusts no certificate, for plain http to loopback.

    Loading the CA certificates costs tens of milliseconds of every run that
    never uses them; should TLS happen after all, verification fails closed.
    """
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def send_prepare(
    request: Request,
    *,
    binding_id: str,
    timeout: float | Timeouts,
    log: Log | None = None,
    announce: Log | None = None,
    policy: RetryPolicy | None = None,
    ca_bundle: Path | None = None,
    transport: httpx.BaseTransport | None = None,
) -> PrepareResult:
    """Send ``request`` until it succeeds, and return the answer; or raise the last error.

    Failures that may pass are tried again under ``policy`` (see `acp_cli.retry`):
    connect errors, timeouts, dropped connections, truncated answers, 408, 429
    and 5xx but 501 and 505. Every attempt sends the same body bytes; redirects are
    never followed. ``log`` gets each attempt's exchange (``-v``, token masked),
    ``announce`` one line per retry. Proxies come from ``HTTPS_PROXY`` and its
    relatives (httpx's ``trust_env``) for https only: plain http, which acp
    allows to loopback only, never goes through a proxy, where the token would
    cross a network in clear text. Certificates come from `tls_context`.
    """
    import httpx

    https = not request.url.startswith("http://")

    policy = policy or RetryPolicy()
    timeouts = timeout if isinstance(timeout, Timeouts) else Timeouts.of(timeout)
    try:
        client = httpx.Client(
            verify=tls_context(ca_bundle) if https or ca_bundle else _no_tls(),
            follow_redirects=False,
            transport=transport,
            trust_env=https,
        )
    except (ValueError, ImportError) as exc:  # e.g. HTTPS_PROXY=socks5://... without socksio
        raise ConfigError(
            f"The proxy settings are not usable: {exc}.",
            hint="Check HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY.",
        ) from None
    exchange = _Exchange(
        request,
        binding_id=binding_id,
        timeouts=timeouts.for_body(len(request.body)),
        policy=policy,
        deadline=policy.start(),
        client=client,
        log=log,
        announce=announce,
    )
    with client:
        first_failure: _AttemptFailed | None
        try:
            return exchange.once()
        except _AttemptFailed as failed:
            first_failure = failed
        # Most pushes succeed at once: stamina (and tenacity under it) is only
        # imported, at some start-up cost, when a first attempt has failed.
        import stamina
        import stamina.instrumentation

        # acp announces its own retries; stamina's default instrumentation would
        # add a raw log line on stderr (or on stdout, when structlog is installed).
        stamina.instrumentation.set_on_retry_hooks(())
        try:
            # Every backoff comes from `exchange.decide`, so stamina's own
            # wait parameters never apply; its test mode (stamina.set_testing)
            # still makes the waits instant.
            for attempt in stamina.retry_context(
                on=exchange.decide, attempts=policy.attempts, timeout=None
            ):
                with attempt:
                    if first_failure is not None:
                        # The failure of the attempt made above counts as the first.
                        earlier, first_failure = first_failure, None
                        raise earlier
                    return exchange.once()
        except _AttemptFailed as failed:
            raise failed.final_error(policy.attempts) from None
    raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover


class _AttemptFailed(Exception):
    """One attempt failed: the error it stands for, and whether another attempt may help."""

    def __init__(
        self,
        error: AcpError,
        *,
        reason: str,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.reason = reason
        """A short clause for the retry line: ``503 Service Unavailable``."""
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempt = 0
        self.give_up: GiveUp | None = None

    def final_error(self, attempts: int) -> AcpError:
        """The error to report when no more attempts will be made."""
        error = self.error
        hint = error.hint
        if self.give_up is not None:
            ending = self.give_up.reason
            if self.give_up.hint:
                hint = f"{hint} {self.give_up.hint}" if hint else self.give_up.hint
        elif self.attempt > 1:
            ending = f"on attempt {self.attempt} of {attempts}"
        else:
            return error
        return type(error)(
            f"{error.message.rstrip('.')}; {ending}.", hint=hint, request_id=error.request_id
        )


@dataclass
class _Exchange:
    """The attempts of one request, and the decision after each failed one."""

    request: Request
    binding_id: str
    timeouts: Timeouts
    policy: RetryPolicy
    deadline: Deadline
    client: httpx.Client
    log: Log | None
    announce: Log | None
    attempt: int = 0

    def once(self) -> PrepareResult:
        """One attempt: the answer, or `_AttemptFailed`."""
        import httpx

        self.attempt += 1
        limits = self.timeouts.within(self.deadline.remaining())
        if self.log:
            self.log(f"* Attempt {self.attempt}/{self.policy.attempts}")
            log_request(self.request, self.log)
        try:
            try:
                response = self.client.request(
                    self.request.method,
                    self.request.url,
                    headers=self.request.headers,
                    content=self.request.body,
                    timeout=httpx.Timeout(
                        connect=limits.connect,
                        read=limits.read,
                        write=limits.write,
                        pool=limits.pool,
                    ),
                )
            except httpx.RequestError as exc:
                failure = transport_failure(exc, self.request.url, limits)
                if self.log:
                    self.log(f"* No answer: {failure.reason}")
                raise failure from None
            if self.log:
                log_response(response, self.log)
            try:
                return read_answer(response, self.binding_id)
            except AcpError as error:
                retryable = response.status_code in RETRYABLE_STATUSES
                header = response.headers.get("retry-after")
                raise _AttemptFailed(
                    error,
                    reason=f"{response.status_code} {response.reason_phrase}".strip(),
                    retryable=retryable,
                    retry_after=self.policy.retry_after(header) if retryable else None,
                ) from None
        except _AttemptFailed as failed:
            failed.attempt = self.attempt
            raise

    def decide(self, exc: Exception) -> bool | float:
        """stamina's backoff hook: False to stop, or the seconds to sleep before retrying."""
        if not isinstance(exc, _AttemptFailed) or not exc.retryable:
            return False
        decision = self.policy.after_failure(
            exc.attempt, retry_after=exc.retry_after, remaining=self.deadline.remaining()
        )
        if isinstance(decision, GiveUp):
            exc.give_up = decision
            return False
        if self.announce:
            self.announce(retry_line(exc.attempt, self.policy, exc.reason, decision))
        return decision.slept


def retry_line(attempt: int, policy: RetryPolicy, reason: str, wait: Wait) -> str:
    """The one line that announces a retry: attempt, reason, wait."""
    line = f"Attempt {attempt}/{policy.attempts} failed ({reason}); "
    line += f"retrying in {seconds(wait.seconds)}"
    if wait.asked is not None:
        line += ", as the server asked"
    if wait.slept != wait.seconds:
        line += f" ({SCALE_VARIABLE}={policy.scale:g}: sleeping {seconds(wait.slept)})"
    return line + "."


def transport_failure(exc: httpx.RequestError, url: str, limits: Timeouts) -> _AttemptFailed:
    """What a failed exchange (no answer, or a broken one) means, and whether to retry it."""
    import ssl

    import httpx

    origin = origin_of(url)
    detail = str(exc).strip().rstrip(".") or type(exc).__name__
    tls = _tls_cause(exc)
    if isinstance(tls, ssl.SSLCertVerificationError):
        # A certificate that fails today fails on the next attempt too.
        said = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or detail
        return _AttemptFailed(
            UnavailableError(
                f"The TLS certificate of {origin} could not be verified: {said}.", hint=CA_HINT
            ),
            reason="certificate verify failed",
            retryable=False,
        )
    if tls is not None and not isinstance(tls, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        said = getattr(tls, "reason", None) or detail
        return _AttemptFailed(
            UnavailableError(
                f"The TLS handshake with {origin} failed: {said}.",
                hint="Check that the API URL is right: https:// must point at a TLS port.",
            ),
            reason="TLS handshake failed",
            retryable=False,
        )
    if isinstance(exc, httpx.TimeoutException):
        if isinstance(exc, httpx.ConnectTimeout):
            reason = f"no connection within {seconds(limits.connect)}"
        elif isinstance(exc, httpx.WriteTimeout):
            reason = f"the request could not be sent within {seconds(limits.write)}"
        elif isinstance(exc, httpx.PoolTimeout):
            reason = f"no free connection within {seconds(limits.pool)}"
        else:
            reason = f"no answer within {seconds(limits.read)}"
        error = UnavailableError(f"The request to {origin} timed out: {reason}.", hint=TIMEOUT_HINT)
        return _AttemptFailed(error, reason=reason, retryable=True)
    if isinstance(exc, httpx.ProxyError):
        return _AttemptFailed(
            UnavailableError(
                f"The proxy did not connect acp to {origin}: {detail}.",
                hint="Check HTTPS_PROXY, HTTP_PROXY and NO_PROXY.",
            ),
            reason="proxy error",
            retryable=False,
        )
    if isinstance(exc, httpx.ConnectError):
        reason = f"could not connect: {detail}"
        error = UnavailableError(f"Could not connect to {origin}: {detail}.", hint=NETWORK_HINT)
        return _AttemptFailed(error, reason=reason, retryable=True)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.NetworkError):
        # The connection closed or broke before a whole answer arrived: dropped,
        # reset, or shorter than its Content-Length. The server may or may not
        # have acted; trying again is safe, it reuses the session.
        reason = f"the connection broke: {detail}"
        error = UnavailableError(
            f"The connection to {origin} broke before a complete answer: {detail}.",
            hint=NETWORK_HINT,
        )
        return _AttemptFailed(error, reason=reason, retryable=True)
    if isinstance(exc, httpx.LocalProtocolError):
        # The request itself could not be written; httpx's message quotes the
        # offending header, which may be the Authorization header: never show it.
        return _AttemptFailed(
            UnavailableError(
                "acp could not send the request: a header value is not valid HTTP.",
                hint="Check ACP_DEVICE_ID and the token for stray characters.",
            ),
            reason="invalid request",
            retryable=False,
        )
    return _AttemptFailed(
        UnavailableError(f"The request to {origin} failed: {detail}.", hint=NETWORK_HINT),
        reason=detail,
        retryable=False,
    )


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The ssl error behind an httpx error, if there is one."""
    import ssl

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


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
    request_id = request_id_of(response.headers)
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
    request_id = request_id_of(headers)
    detail = server_message(body)
    said = f": {detail}" if detail else ""
    if 300 <= status < 400:
        where = one_line(headers.get("location", ""), limit=200) or "another location"
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
            hint=_rejection_hint(status, detail),
            request_id=request_id,
        )
    return UnavailableError(
        f"The server answered with an unexpected status {status}{said}.",
        request_id=request_id,
    )


def _rejection_hint(status: int, detail: str) -> str:
    """What to do about a refused request."""
    if status == 413:
        return "The plan is larger than the server accepts; push the workspace in smaller parts."
    if "plan_signature_mismatch" in detail:
        return (
            "acp and the server disagree on the plan's signature (RFC 8785): please report "
            "it with the output of `acp push signature PLAN_FILE`."
        )
    return "Check the plan and metadata against the server's message above."


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The server's ``X-Request-Id``, printable, or None."""
    return one_line(headers.get("x-request-id", ""), limit=200) or None


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
                return one_line(text, limit=500)
        for key in ("message", "error", "detail"):
            if isinstance(data.get(key), str):
                return one_line(data[key], limit=500)
    return _excerpt(body)


def _excerpt(body: bytes) -> str:
    """A single short line from a body that is not JSON: an HTML title, or its start."""
    text = body.decode("utf-8", errors="replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1)
    elif "<" in text:
        text = re.sub(r"<[^>]*>", " ", text)
    return one_line(text, limit=EXCERPT_LIMIT)
