"""A `RetryPolicy` whose waits tests can predict: jitter at a chosen end of its range
(`Extremes`), a wall clock fixed at `NOW`, and a monotonic clock that moves only when
a test moves it (`FakeClock`)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from acp_cli.retry import RetryPolicy

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Extremes(random.Random):
    """A random source that always picks the same point of the range: 0 low, 1 high."""

    def __init__(self, point: float) -> None:
        super().__init__(0)
        self.point = point

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.point


class FakeClock:
    """Monotonic seconds that move only when a test moves them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(**fields: Any) -> RetryPolicy:
    """A retry policy with the shortest jitter and the wall clock at `NOW`; ``fields``
    set the rest."""
    return RetryPolicy(**{"rng": Extremes(0.0), "wall_clock": lambda: NOW, **fields})
