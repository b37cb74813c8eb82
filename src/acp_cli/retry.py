"""When acp tries a request again, how long it waits first, and when it gives up.

Pure arithmetic: no I/O, no sleeping, no printing. The clock, the wall clock
(for ``Retry-After`` dates) and the random source are injected, so every
number here is tested exactly. ``acp_cli.transport`` runs the attempts with
the waits this module computes.

Retrying is safe because the server reuses a prepared session by its plan
signature: a repeated request cannot make a second session (SPEC.md section 6).

The policy, after botocore's standard retry mode and Stripe's clients:

- at most ``MAX_ATTEMPTS`` (4) attempts;
- before retry n (n = 1, 2, 3) wait ``base * 2**(n-1)`` plus a random part of
  the same size: 0.5-1 s, 1-2 s, 2-4 s ("equal jitter": a floor, so a fleet of
  CI jobs never hammers a recovering server at once), capped at ``max_backoff``;
- ``Retry-After`` (seconds or an HTTP date) is a lower bound on that wait;
- a server asking for more than ``max_retry_after`` (60 s), or for more than
  the time left before the overall deadline, gets no retry: acp gives up at
  once and says how long it was asked to wait;
- the deadline bounds all attempts and waits together.

``ACP_RETRY_SCALE`` (a number from 0 to 1, default 1) multiplies the time acp
actually sleeps between attempts, and nothing else: every decision (which
wait, whether it fits the deadline or the cap) is taken on the unscaled wait,
the deadline counts each wait at its unscaled length (`Deadline.charge`), and
the retry message says when a wait was scaled. It exists for test suites,
which set it to 0 so retries cost no time; users have no reason to set it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acp_cli.errors import ConfigError

if TYPE_CHECKING:  # random and datetime are imported when first used: the settings
    import random  # import this module, and most runs never wait to retry
    from datetime import datetime

MAX_ATTEMPTS = 4
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_DEADLINE = 120.0
SCALE_VARIABLE = "ACP_RETRY_SCALE"


def utc_now() -> datetime:
    """The current time, in UTC."""
    from datetime import UTC, datetime

    return datetime.now(UTC)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """The seconds a ``Retry-After`` header asks for, or None when it is absent or junk.

    Both forms of RFC 9110 section 10.2.3: a number of seconds (digits only) or
    an HTTP date, counted from ``now``; a date in the past asks for 0 seconds.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        from email.utils import parsedate_to_datetime  # only for the rare date form

        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None for junk
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are always UTC
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def scale_from_env(env: Mapping[str, str]) -> float:
    """``ACP_RETRY_SCALE`` as a factor from 0 to 1; 1 when unset."""
    text = env.get(SCALE_VARIABLE, "").strip()
    if not text:
        return 1.0
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not 0.0 <= scale <= 1.0:
        raise ConfigError(
            f"{SCALE_VARIABLE} must be a number from 0 to 1, not '{text}'.",
            hint=f"It only shortens retry waits in test suites; unset {SCALE_VARIABLE}.",
        )
    return scale


@dataclass(frozen=True)
class Wait:
    """Retry after ``seconds``."""

    seconds: float
    """The policy's wait, before any ``ACP_RETRY_SCALE``."""
    slept: float
    """What will actually be slept: ``seconds`` times the scale."""
    asked: float | None = None
    """What ``Retry-After`` asked for, when it set the wait."""


@dataclass(frozen=True)
class GiveUp:
    """Do not retry; ``reason`` says why, as a clause: "the server asked to wait ...\"."""

    reason: str
    hint: str | None = None


class Deadline:
    """The overall time budget of one command, counted from when it is made."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._started = clock()
        self._charged = 0.0

    def charge(self, seconds: float) -> None:
        """Count ``seconds`` as spent though no clock saw them pass.

        The part of a wait that ``ACP_RETRY_SCALE`` took off the sleep: so the
        deadline runs out after the same attempts whatever the scale.
        """
        self._charged += seconds

    def remaining(self) -> float:
        """Seconds left, never below 0."""
        return max(0.0, self.seconds - (self._clock() - self._started) - self._charged)


DEADLINE_HINT = "Raise the deadline with --deadline SECONDS, or `acp config set deadline SECONDS`."


def _random_source() -> random.Random:
    """A new random source, for the random part of the waits."""
    import random

    return random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """The numbers of the retry policy, and the decision taken after each failed attempt."""

    attempts: int = MAX_ATTEMPTS
    base: float = 0.5
    """The floor of the first wait; the first wait is ``base`` to ``2 * base``."""
    max_backoff: float = 10.0
    """No computed wait is longer (``Retry-After`` may ask for more, up to the next cap)."""
    max_retry_after: float = 60.0
    """A server that asks for a longer wait gets no retry."""
    deadline: float = DEFAULT_DEADLINE
    """Seconds for all attempts and waits together."""
    scale: float = 1.0
    """``ACP_RETRY_SCALE``: multiplies the time slept, and nothing else."""
    rng: random.Random = field(default_factory=_random_source, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    """Monotonic seconds, for the deadline."""
    wall_clock: Callable[[], datetime] = field(default=utc_now, repr=False, compare=False)
    """The current UTC time, for ``Retry-After`` dates."""

    def start(self) -> Deadline:
        """Start the clock of the overall deadline."""
        return Deadline(self.deadline, self.clock)

    def backoff(self, retry: int) -> float:
        """The computed wait before retry number ``retry`` (1 for the first retry).

        ``floor = base * 2**(retry-1)``, then a uniformly random extra of up
        to ``floor``, the whole capped at ``max_backoff``.
        """
        floor = self.base * 2.0 ** min(max(retry, 1) - 1, 62)
        return min(self.max_backoff, floor + self.rng.uniform(0.0, floor))

    def retry_after(self, header: str | None) -> float | None:
        """The seconds a ``Retry-After`` header value asks for, or None."""
        return parse_retry_after(header, now=self.wall_clock())

    def after_failure(
        self, attempt: int, *, retry_after: float | None, remaining: float
    ) -> Wait | GiveUp:
        """What to do after attempt number ``attempt`` failed in a retryable way.

        ``retry_after``: seconds the server asked for, if it did; ``remaining``:
        seconds left before the deadline.
        """
        if attempt >= self.attempts:
            return GiveUp(f"gave up after {self.attempts} attempts")
        wait = self.backoff(attempt)
        asked = None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return GiveUp(
                    f"the server asked to wait {seconds(retry_after)} before trying again "
                    f"(Retry-After), longer than acp waits ({seconds(self.max_retry_after)}), "
                    f"so it gave up after attempt {attempt} of {self.attempts}"
                )
            if retry_after >= wait:
                wait, asked = retry_after, retry_after
        if wait >= remaining:
            if asked is not None:
                reason = (
                    f"the server asked to wait {seconds(asked)} before trying again "
                    f"(Retry-After), more than the {seconds(remaining)} left of the "
                    f"{seconds(self.deadline)} deadline"
                )
            else:
                reason = f"the {seconds(self.deadline)} deadline leaves no time for another attempt"
            return GiveUp(
                f"{reason}, so it gave up after attempt {attempt} of {self.attempts}",
                hint=DEADLINE_HINT,
            )
        return Wait(wait, wait * self.scale, asked)


def seconds(value: float) -> str:
    """A duration for people: ``0.7 s``, ``2 s``, ``3600 s``."""
    shown = round(value, 1)
    if shown >= 10 or shown == int(shown):
        return f"{shown:.0f} s"
    return f"{shown:.1f} s"
