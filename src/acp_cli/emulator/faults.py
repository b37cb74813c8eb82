"""Injected faults: what the emulator does to the next API requests instead of answering well.

A fault is queued through ``POST /_emulator/faults`` (JSON, camelCase keys) or
``Emulator.queue_fault`` (Python, snake_case keywords). Each API request (any
request outside ``/_emulator/`` whose ``Content-Length`` framing is valid) takes
the oldest queued fault, if any. A fault holds at most one *action*:

===========================  =================================================
``status`` (int, 200-599)    answer with this status instead of processing the
                             request; optional ``retryAfter``, ``body``,
                             ``contentType`` and extra ``headers``. Without a
                             ``body`` the answer is the usual JSON error.
``drop`` (true)              read the request, then close the connection
                             without answering; with ``process: true`` the
                             request is processed first (the answer is lost).
``truncate`` (true)          process the request, then send its answer with a
                             ``Content-Length`` larger than the bytes sent,
                             and close.
``reset`` (true)             right after the headers, reset the connection
                             (TCP RST) without reading the body.
===========================  =================================================

``delay`` (seconds, 0 to 300) waits after reading the request and before the
action; a fault with only a delay answers normally, late. ``times`` (1 to 1000,
default 1) queues the same fault that many times.

Every field is checked when a `Fault` is made, so an invalid one is never
queued (`FaultSpecError`; over HTTP a 400): types, ranges, unknown or null
fields, header names that are not RFC 9110 tokens, header values
(``retryAfter``, ``contentType``, ``headers``) holding CR, LF or NUL (which
would end the header early and inject others) or characters beyond U+00FF
(which HTTP cannot carry), and a ``body`` with lone surrogates.

Odd values that a hostile or broken server can really get through a client's
HTTP parser pass on purpose, because testing how the client copes with them is
what faults are for: ``Retry-After: soon``, bytes 0x80-0xFF, and control
characters such as ESC or CSI (``\x1b[2J``, ``\x9b``) in header values, which
the client must not print raw.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from acp_cli.emulator.http_syntax import BREAKS_HEADER_LINE, HEADER_NAME

_JSON_KEYS = {
    "status": "status",
    "retryAfter": "retry_after",
    "body": "body",
    "contentType": "content_type",
    "headers": "headers",
    "delay": "delay",
    "drop": "drop",
    "process": "process",
    "truncate": "truncate",
    "reset": "reset",
    "times": "times",
}

# The emulator writes these itself; a second copy would make the answer unparseable.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
# Answers that never carry a body (http.server sends none for them).
_BODILESS_STATUSES = frozenset({204, 304})

# The longest delay a fault may ask for: long enough for any client timeout
# test, short enough that a typo cannot hang a test run for an hour.
MAX_DELAY_SECONDS = 300.0


class FaultSpecError(ValueError):
    """A fault description is malformed; the message says which field and why."""


@dataclass(frozen=True)
class Fault:
    """One injected fault; see the module docstring for the meaning of each field."""

    status: int | None = None
    retry_after: str | None = None
    body: str | None = None
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=())
    delay: float = 0.0
    drop: bool = False
    process: bool = False
    truncate: bool = False
    reset: bool = False

    def __post_init__(self) -> None:
        """Check every field, so an invalid fault is never queued; raises `FaultSpecError`."""
        actions = [
            name
            for name, on in (
                ("status", self.status is not None),
                ("drop", self.drop),
                ("truncate", self.truncate),
                ("reset", self.reset),
            )
            if on
        ]
        if len(actions) > 1:
            raise FaultSpecError(f"a fault has at most one action, got {', '.join(actions)}")
        for name in ("drop", "process", "truncate", "reset"):
            if not isinstance(getattr(self, name), bool):
                raise FaultSpecError(f"{name} must be true or false")
        if self.process and not self.drop:
            raise FaultSpecError("process only goes with drop")
        if not (_is_number(self.delay) and 0 <= self.delay <= MAX_DELAY_SECONDS):
            raise FaultSpecError(f"delay must be a number of seconds from 0 to {MAX_DELAY_SECONDS}")
        if self.status is None:
            for name in ("retry_after", "body", "content_type"):
                if getattr(self, name) is not None:
                    raise FaultSpecError(f"{_camel(name)} only goes with status")
            if self.headers:
                raise FaultSpecError("headers only goes with status")
            if not actions and not self.delay:
                raise FaultSpecError(
                    "a fault does something: give status, drop, truncate, reset or a delay"
                )
            return
        if not (_is_integer(self.status) and 200 <= self.status <= 599):
            raise FaultSpecError("status must be an integer from 200 to 599")
        for name in ("retry_after", "content_type"):
            _check_header_value(_camel(name), getattr(self, name))
        if self.body is not None:
            if not isinstance(self.body, str):
                raise FaultSpecError("body must be a string")
            if not _is_utf8(self.body):
                raise FaultSpecError("body must be text without lone surrogates (\\ud800-\\udfff)")
            if self.status in _BODILESS_STATUSES:
                raise FaultSpecError(f"a {self.status} answer has no body")
        for pair in self.headers:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise FaultSpecError("headers must map header names to string values")
            name, value = pair
            if not (isinstance(name, str) and HEADER_NAME.fullmatch(name)):
                raise FaultSpecError(
                    f"headers: {name!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"
                )
            if name.lower() in _FRAMING_HEADERS:
                raise FaultSpecError(f"headers cannot set {name}: the emulator frames the body")
            _check_header_value(f"headers[{name!r}]", value)

    @property
    def kind(self) -> str:
        """A short name for logs: ``status=503``, ``drop``, ``truncate``, ``reset`` or ``delay``."""
        if self.status is not None:
            return f"status={self.status}"
        for name in ("drop", "truncate", "reset"):
            if getattr(self, name):
                return name
        return "delay"

    def to_json(self) -> dict[str, Any]:
        """The camelCase JSON form, leaving out fields at their defaults."""
        out: dict[str, Any] = {}
        for json_key, attr in _JSON_KEYS.items():
            if attr == "times":
                continue
            value = getattr(self, attr)
            if attr == "headers":
                if value:
                    out[json_key] = dict(value)
            elif value is not None and value is not False and not (attr == "delay" and not value):
                out[json_key] = value
        return out

    @classmethod
    def from_json(cls, spec: Any) -> list[Fault]:
        """Read one JSON fault object; return it ``times`` times. Raises `FaultSpecError`."""
        if not isinstance(spec, Mapping):
            raise FaultSpecError("a fault must be a JSON object")
        unknown = sorted(set(spec) - set(_JSON_KEYS))
        if unknown:
            raise FaultSpecError(
                f"unknown fault field {unknown[0]!r}; known: {', '.join(sorted(_JSON_KEYS))}"
            )
        nulls = sorted(key for key, value in spec.items() if value is None)
        if nulls:
            raise FaultSpecError(f"{nulls[0]} is null; leave a field out to mean its default")
        if "headers" in spec and not isinstance(spec["headers"], Mapping):
            raise FaultSpecError("headers must be a JSON object of header names to strings")
        fields = {_JSON_KEYS[key]: value for key, value in spec.items()}
        return cls.build(**fields)

    @classmethod
    def build(
        cls,
        *,
        times: int = 1,
        retry_after: str | int | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        **fields: Any,
    ) -> list[Fault]:
        """Make a fault from Python keywords (snake_case) and return it ``times`` times.

        ``retry_after`` may be an int (seconds) or a string (seconds or an HTTP
        date); ``headers`` a mapping or pairs. Raises `FaultSpecError`.
        """
        if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= 1000:
            raise FaultSpecError("times must be an integer from 1 to 1000")
        retry: Any = retry_after  # anything but an int is checked by __post_init__
        if isinstance(retry_after, int) and not isinstance(retry_after, bool):
            retry = str(retry_after)
        pairs: tuple[tuple[str, str], ...] = ()
        if headers is not None:
            items = headers.items() if isinstance(headers, Mapping) else headers
            try:
                pairs = tuple((name, value) for name, value in items)
            except (TypeError, ValueError) as exc:
                raise FaultSpecError("headers must map header names to string values") from exc
        try:
            fault = cls(retry_after=retry, headers=pairs, **fields)
        except TypeError as exc:
            raise FaultSpecError(str(exc)) from exc
        return [fault] * times


class FaultQueue:
    """The queued faults, oldest first; safe to use from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()

    def extend(self, faults: Iterable[Fault]) -> None:
        """Append faults after the ones already queued."""
        with self._lock:
            self._queue.extend(faults)

    def pop(self) -> Fault | None:
        """Take the oldest fault, or None when none is queued."""
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def pending(self) -> list[Fault]:
        """The faults still queued, oldest first."""
        with self._lock:
            return list(self._queue)

    def clear(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._queue.clear()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    # NaN fails every comparison, so the range checks refuse it; infinities are out of range.
    return _is_integer(value) or isinstance(value, float)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_header_value(field_name: str, value: Any) -> None:
    """A header value the emulator can send as one header line (see the module docstring).

    A CR or LF would end the header and inject others (or split the answer),
    and every HTTP parser refuses a NUL; characters beyond U+00FF cannot be
    sent at all (header bytes are Latin-1). Other control characters are
    invalid HTTP but pass, for tests of a client's defences.
    """
    if value is None:
        return
    if not isinstance(value, str):
        raise FaultSpecError(f"{field_name} must be a string")
    bad = BREAKS_HEADER_LINE.search(value)
    if bad is not None:
        raise FaultSpecError(
            f"{field_name} holds {bad.group()!r}, which a header line cannot carry"
            " (CR, LF, NUL or a character beyond U+00FF)"
        )
