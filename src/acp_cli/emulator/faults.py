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

``delay`` (seconds) waits after reading the request and before the action; a
fault with only a delay answers normally, late. ``times`` (default 1) queues the
same fault that many times.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
        if self.status is not None and (
            isinstance(self.status, bool)
            or not isinstance(self.status, int)
            or not 200 <= self.status <= 599
        ):
            raise FaultSpecError("status must be an integer from 200 to 599")
        if self.status is None:
            for name in ("retry_after", "body", "content_type"):
                if getattr(self, name) is not None:
                    raise FaultSpecError(f"{_camel(name)} only goes with status")
            if self.headers:
                raise FaultSpecError("headers only goes with status")
        for name in ("retry_after", "body", "content_type"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise FaultSpecError(f"{_camel(name)} must be a string")
        for pair in self.headers:
            if not (
                isinstance(pair, tuple)
                and len(pair) == 2
                and all(isinstance(part, str) and _is_header_safe(part) for part in pair)
                and pair[0]
            ):
                raise FaultSpecError("headers must map header names to string values")
            if pair[0].lower() in _FRAMING_HEADERS:
                raise FaultSpecError(f"headers cannot set {pair[0]}: the emulator frames the body")
        if self.process and not self.drop:
            raise FaultSpecError("process only goes with drop")
        if (
            isinstance(self.delay, bool)
            or not isinstance(self.delay, int | float)
            or not 0 <= self.delay <= MAX_DELAY_SECONDS
        ):
            raise FaultSpecError(f"delay must be a number of seconds from 0 to {MAX_DELAY_SECONDS}")
        for name in ("drop", "process", "truncate", "reset"):
            if not isinstance(getattr(self, name), bool):
                raise FaultSpecError(f"{name} must be true or false")

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


def _is_header_safe(text: str) -> bool:
    # A CR or LF in an injected header would split the response itself.
    return "\r" not in text and "\n" not in text
