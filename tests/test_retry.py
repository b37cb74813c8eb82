"""The retry policy's arithmetic, and the network settings.

Nothing here sleeps: the random source and the clocks are injected. The loop
that runs the policy is tested in tests/test_transport.py.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from acp_cli import settings
from acp_cli.errors import ConfigError
from acp_cli.retry import (
    Deadline,
    GiveUp,
    RetryPolicy,
    Wait,
    parse_retry_after,
    scale_from_env,
    seconds,
)
from tests.support.retry_policy import NOW, Extremes, FakeClock, policy

# --- backoff --------------------------------------------------------------------------------


@pytest.mark.parametrize(("retry", "low", "high"), [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0)])
def test_backoff_doubles_with_a_floor_and_jitter_up_to_the_floor(
    retry: int, low: float, high: float
) -> None:
    assert policy(rng=Extremes(0.0)).backoff(retry) == low
    assert policy(rng=Extremes(1.0)).backoff(retry) == high
    assert policy(rng=Extremes(0.5)).backoff(retry) == (low + high) / 2


def test_backoff_with_a_seeded_random_source_stays_in_its_band() -> None:
    seeded = RetryPolicy(rng=random.Random(20240601))
    waits = [[seeded.backoff(n) for n in (1, 2, 3)] for _ in range(500)]
    for first, second, third in waits:
        assert 0.5 <= first <= 1.0
        assert 1.0 <= second <= 2.0
        assert 2.0 <= third <= 4.0
    firsts = sorted(w[0] for w in waits)
    assert firsts[0] < 0.55
    assert firsts[-1] > 0.95  # jitter really spreads the fleet over the band
    again = RetryPolicy(rng=random.Random(20240601))
    assert [again.backoff(n) for n in (1, 2, 3)] == waits[0]


def test_backoff_is_capped() -> None:
    assert policy(rng=Extremes(1.0), max_backoff=3.0).backoff(3) == 3.0
    assert policy(rng=Extremes(0.0)).backoff(10) == 10.0
    assert policy(rng=Extremes(1.0)).backoff(10_000) == 10.0  # no overflow


# --- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("3600", 3600.0),
        ("99999999999999999999", 1e20),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),  # IMF-fixdate
        ("Sunday, 01-Mar-26 12:01:00 GMT", 60.0),  # obsolete RFC 850
        ("Sun Mar  1 12:00:05 2026", 5.0),  # obsolete asctime, no zone: UTC
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past: no wait asked
    ],
)
def test_retry_after_in_seconds_and_as_a_date(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value", [None, "", " ", "soon", "-5", "1.5", "1e3", "+3", "٣", "5 s", "Sun, 99 Foo 2026"]
)
def test_junk_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


# --- the decision after a failed attempt ---------------------------------------------------------


def test_without_retry_after_the_backoff_is_used() -> None:
    assert policy().after_failure(1, retry_after=None, remaining=100) == Wait(0.5, 0.5)
    assert policy().after_failure(3, retry_after=None, remaining=100) == Wait(2.0, 2.0)


def test_retry_after_is_a_lower_bound() -> None:
    assert policy().after_failure(1, retry_after=7, remaining=100) == Wait(7, 7, asked=7)
    assert policy().after_failure(3, retry_after=0.1, remaining=100) == Wait(2.0, 2.0)
    assert policy().after_failure(1, retry_after=60, remaining=100) == Wait(60, 60, asked=60)


def test_a_retry_after_beyond_the_cap_gives_up_and_says_how_long() -> None:
    decision = policy().after_failure(1, retry_after=3600, remaining=1000)
    assert isinstance(decision, GiveUp)
    assert "asked to wait 3600 s" in decision.reason
    assert "longer than acp waits (60 s)" in decision.reason
    assert "after attempt 1 of 4" in decision.reason
    assert isinstance(
        policy(max_retry_after=5).after_failure(1, retry_after=6, remaining=99), GiveUp
    )


def test_a_wait_past_the_deadline_gives_up() -> None:
    asked = policy(deadline=60).after_failure(2, retry_after=30, remaining=12)
    assert isinstance(asked, GiveUp)
    assert "asked to wait 30 s" in asked.reason
    assert "more than the 12 s left of the 60 s deadline" in asked.reason
    assert "--deadline" in str(asked.hint)
    computed = policy(deadline=5).after_failure(3, retry_after=None, remaining=1.5)
    assert isinstance(computed, GiveUp)
    assert "the 5 s deadline leaves no time for another attempt" in computed.reason
    assert "after attempt 3 of 4" in computed.reason


def test_the_last_attempt_is_the_last() -> None:
    decision = policy().after_failure(4, retry_after=None, remaining=100)
    assert decision == GiveUp("gave up after 4 attempts")
    assert isinstance(policy(attempts=2).after_failure(2, retry_after=1, remaining=100), GiveUp)


def test_the_scale_changes_the_sleep_and_no_decision() -> None:
    real, scaled = policy(), policy(scale=0.0)
    for attempt, asked, remaining in [(1, None, 100), (2, 7, 100), (1, 3600, 1e6), (2, 30, 12)]:
        one = real.after_failure(attempt, retry_after=asked, remaining=remaining)
        two = scaled.after_failure(attempt, retry_after=asked, remaining=remaining)
        if isinstance(one, Wait):
            assert isinstance(two, Wait)
            assert (two.seconds, two.asked, two.slept) == (one.seconds, one.asked, 0.0)
        else:
            assert two == one
    assert policy(scale=0.25).after_failure(1, retry_after=2, remaining=100) == Wait(2, 0.5, 2)


def test_retry_after_dates_use_the_injected_wall_clock() -> None:
    later = policy(wall_clock=lambda: NOW + timedelta(seconds=20))
    assert later.retry_after("Sun, 01 Mar 2026 12:00:30 GMT") == 10.0


def test_the_deadline_counts_on_the_injected_clock() -> None:
    clock = FakeClock()
    deadline = Deadline(10, clock)
    assert deadline.remaining() == 10
    clock.now += 4
    assert deadline.remaining() == 6
    clock.now += 40
    assert deadline.remaining() == 0


@pytest.mark.parametrize(("text", "scale"), [(None, 1.0), ("", 1.0), ("0", 0.0), ("0.5", 0.5)])
def test_retry_scale_from_the_environment(text: str | None, scale: float) -> None:
    env = {} if text is None else {"ACP_RETRY_SCALE": text}
    assert scale_from_env(env) == scale


@pytest.mark.parametrize("text", ["2", "-1", "nan", "fast"])
def test_a_bad_retry_scale_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="ACP_RETRY_SCALE must be a number from 0 to 1"):
        scale_from_env({"ACP_RETRY_SCALE": text})


@pytest.mark.parametrize(
    ("value", "text"), [(0.0, "0 s"), (0.54, "0.5 s"), (0.96, "1 s"), (2, "2 s"), (9.97, "10 s")]
)
def test_durations_are_short(value: float, text: str) -> None:
    assert seconds(value) == text


# --- settings -------------------------------------------------------------------------------


@pytest.fixture
def config(isolated_env: Path) -> Path:
    isolated_env.mkdir(parents=True, exist_ok=True)
    return isolated_env / "config.toml"


def resolve(env: dict[str, str] | None = None, **flags: Any) -> settings.Settings:
    import os

    return settings.resolve(
        profile=None, api_url="https://api.example.com", env={**os.environ, **(env or {})},
        flags=flags,
    )  # fmt: skip


def test_network_settings_default(config: Path) -> None:
    conf = resolve()
    assert (conf.timeout, conf.connect_timeout, conf.deadline, conf.ca_bundle) == (
        30.0,
        10.0,
        120.0,
        None,
    )


def test_network_settings_flag_over_profile(config: Path, tmp_path: Path) -> None:
    ca_file, ca_env, ca_flag = (tmp_path / n for n in ("file.pem", "env.pem", "flag.pem"))
    for path in (ca_file, ca_env, ca_flag):
        path.write_text("")
    config.write_text(
        "[profiles.default]\ntimeout = 5\nconnect_timeout = 2\ndeadline = 40\n"
        f'ca_bundle = "{ca_file}"\n'
    )
    conf = resolve()
    assert (conf.timeout, conf.connect_timeout, conf.deadline, conf.ca_bundle) == (
        5.0,
        2.0,
        40.0,
        ca_file,
    )
    assert resolve({"ACP_CA_BUNDLE": str(ca_env)}).ca_bundle == ca_env
    flagged = resolve(
        {"ACP_CA_BUNDLE": str(ca_env)},
        timeout=7,
        connect_timeout=1,
        deadline=9,
        ca_bundle=str(ca_flag),
    )
    assert (flagged.timeout, flagged.connect_timeout, flagged.deadline) == (7.0, 1.0, 9.0)
    assert flagged.ca_bundle == ca_flag


@pytest.mark.parametrize("key", ["timeout", "connect_timeout", "deadline"])
def test_bad_durations_are_refused(config: Path, key: str) -> None:
    config.write_text(f'[profiles.default]\n{key} = "soon"\n')
    with pytest.raises(ConfigError, match=f"{key} in .* must be a positive number of seconds"):
        resolve()
    config.write_text("")
    with pytest.raises(ConfigError, match="must be a positive number of seconds"):
        resolve(None, **{key: 0.0})
    assert settings.parse_profile_value(key, "2.5") == 2.5
    with pytest.raises(ConfigError):
        settings.parse_profile_value(key, "-1")


def test_a_missing_ca_bundle_names_where_it_came_from(config: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\(from --ca-bundle\) is not an existing file"):
        resolve(ca_bundle=str(tmp_path / "nope.pem"))
    config.write_text(f'[profiles.default]\nca_bundle = "{tmp_path / "gone.pem"}"\n')
    with pytest.raises(ConfigError, match=r"from ca_bundle in .*config.toml \[profiles.default\]"):
        resolve()
