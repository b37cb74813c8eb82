"""The retry policy's arithmetic, and the retry loop in-process with an injected transport.

Nothing here sleeps for real: the random source and the clocks are injected,
and the loop runs with ``scale=0`` (or stamina's own test mode).
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina

from acp_cli import api, settings
from acp_cli.errors import (
    AcpError,
    AuthError,
    ConfigError,
    NotFoundError,
    RejectedError,
    UnavailableError,
)
from acp_cli.retry import (
    Deadline,
    GiveUp,
    RetryPolicy,
    Wait,
    parse_retry_after,
    scale_from_env,
    seconds,
)
from tests.cli_runner import PREPARED_SESSION

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
    return RetryPolicy(**{"rng": Extremes(0.0), "wall_clock": lambda: NOW, **fields})


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


# --- the loop, in-process -----------------------------------------------------------------


Handler = Callable[[httpx.Request], httpx.Response]


def request(body: bytes = b'{"planSignature":"sha256:x","plan":{}}') -> api.Request:
    return api.prepare_request(
        api_url="http://127.0.0.1:9", binding_id="wb_1", token="tok_secret_123456",
        device_id="dev", body=body,
    )  # fmt: skip


class Recorder:
    """A MockTransport handler that plays a script and records what it got."""

    def __init__(self, *script: httpx.Response | BaseException | Callable[[], Any]) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        self.bodies.append(req.read())
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        if callable(step) and not isinstance(step, httpx.Response):
            step = step()
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, httpx.Response)
        return step


def send(
    handler: Recorder, *, pol: RetryPolicy | None = None, timeout: Any = 30.0, **kw: Any
) -> tuple[api.PrepareResult | AcpError, list[str]]:
    lines: list[str] = []
    try:
        result: api.PrepareResult | AcpError = api.send_prepare(
            kw.pop("req", None) or request(),
            binding_id="wb_1",
            timeout=timeout,
            announce=lines.append,
            policy=pol or policy(scale=0.0),
            transport=httpx.MockTransport(handler),
            **kw,
        )
    except AcpError as exc:
        result = exc
    return result, lines


def tls_failure() -> httpx.ConnectError:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate"
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.__cause__ = cause
    return error


def handshake_failure() -> httpx.ConnectError:
    error = httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number")
    error.__cause__ = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    return error


RETRIED = {
    "connect-error": httpx.ConnectError("[Errno 111] Connection refused"),
    "connect-timeout": httpx.ConnectTimeout("timed out"),
    "read-timeout": httpx.ReadTimeout("timed out"),
    "write-timeout": httpx.WriteTimeout("timed out"),
    "pool-timeout": httpx.PoolTimeout("timed out"),
    "dropped": httpx.RemoteProtocolError("Server disconnected without sending a response."),
    "truncated": httpx.RemoteProtocolError("peer closed connection without sending complete"),
    "read-error": httpx.ReadError("[Errno 104] Connection reset by peer"),
    "write-error": httpx.WriteError("[Errno 32] Broken pipe"),
}
NOT_RETRIED = {
    "certificate": tls_failure(),
    "handshake": handshake_failure(),
    "proxy": httpx.ProxyError("407 Proxy Authentication Required"),
    "local-protocol": httpx.LocalProtocolError("Illegal header value"),
    "unsupported": httpx.UnsupportedProtocol("Request URL has an unsupported protocol"),
}


@pytest.mark.parametrize("name", sorted(RETRIED))
def test_transport_failures_that_may_pass_are_tried_4_times(name: str) -> None:
    handler = Recorder(RETRIED[name])
    error, lines = send(handler)
    assert isinstance(error, UnavailableError)
    assert len(handler.requests) == 4
    assert len(lines) == 3
    assert error.message.endswith("; gave up after 4 attempts.")


@pytest.mark.parametrize("name", sorted(RETRIED))
def test_a_transport_failure_then_an_answer_is_a_success(name: str) -> None:
    reused = {**PREPARED_SESSION, "created": False}
    handler = Recorder(RETRIED[name], httpx.Response(200, json=reused))
    result, lines = send(handler)
    assert isinstance(result, api.PrepareResult)
    assert not result.created
    assert len(lines) == 1


@pytest.mark.parametrize("name", sorted(NOT_RETRIED))
def test_transport_failures_that_will_not_pass_are_tried_once(name: str) -> None:
    handler = Recorder(NOT_RETRIED[name])
    error, lines = send(handler)
    assert isinstance(error, UnavailableError)
    assert len(handler.requests) == 1
    assert lines == []
    assert "attempt" not in error.message


def test_a_certificate_failure_says_so_and_points_at_the_options() -> None:
    error, _ = send(Recorder(tls_failure()))
    assert isinstance(error, UnavailableError)
    assert error.message == (
        "The TLS certificate of http://127.0.0.1:9 could not be verified: self-signed certificate."
    )
    assert error.hint is not None
    for option in ("--ca-bundle", "ACP_CA_BUNDLE", "acp config set ca_bundle", "SSL_CERT_FILE"):
        assert option in error.hint


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_statuses_that_may_pass_are_tried_4_times(status: int) -> None:
    handler = Recorder(httpx.Response(status, headers={"X-Request-Id": "r"}))
    error, lines = send(handler)
    assert isinstance(error, UnavailableError)
    assert len(handler.requests) == 4
    assert [line.split(" failed ")[0] for line in lines] == [f"Attempt {n}/4" for n in (1, 2, 3)]
    assert error.request_id == "r"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (301, UnavailableError),
        (307, UnavailableError),
        (400, RejectedError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (409, RejectedError),
        (413, RejectedError),
        (418, RejectedError),
        (422, RejectedError),
        (501, UnavailableError),
        (505, UnavailableError),
    ],
)
def test_statuses_that_will_not_pass_are_tried_once(status: int, kind: type[AcpError]) -> None:
    handler = Recorder(httpx.Response(status, headers={"Retry-After": "1", "Location": "/x"}))
    error, lines = send(handler)
    assert type(error) is kind
    assert len(handler.requests) == 1
    assert lines == []


def test_a_later_failure_that_will_not_pass_says_which_attempt() -> None:
    handler = Recorder(httpx.Response(503), httpx.Response(422, json={"message": "bad plan"}))
    error, lines = send(handler)
    assert isinstance(error, RejectedError)
    assert error.message == "The server rejected the request (422): bad plan; on attempt 2 of 4."
    assert len(lines) == 1


def test_the_same_body_object_is_sent_on_every_attempt() -> None:
    body = b'{"planSignature":"sha256:x","plan":{"a": [1.50, "\\u00e9"]}}'
    handler = Recorder(
        httpx.Response(503), httpx.Response(502), httpx.Response(201, json=PREPARED_SESSION)
    )
    result, _ = send(handler, req=request(body))
    assert isinstance(result, api.PrepareResult)
    assert handler.bodies == [body] * 3


def test_the_retry_line_names_the_attempt_the_reason_and_the_wait() -> None:
    handler = Recorder(
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.Response(201, json=PREPARED_SESSION),
    )
    _, lines = send(handler, pol=policy(scale=0.0))
    assert lines == [
        "Attempt 1/4 failed (429 Too Many Requests); retrying in 7 s, as the server asked "
        "(ACP_RETRY_SCALE=0: sleeping 0 s).",
        "Attempt 2/4 failed (could not connect: [Errno 111] Connection refused); "
        "retrying in 1 s (ACP_RETRY_SCALE=0: sleeping 0 s).",
    ]


def test_timeouts_are_explicit_and_the_read_timeout_grows_with_the_body() -> None:
    handler = Recorder(httpx.Response(201, json=PREPARED_SESSION))
    big = b'{"planSignature":"sha256:x","plan":{"p":"' + b"x" * (8 * 1024 * 1024) + b'"}}'
    send(handler, req=request(big), timeout=api.Timeouts.of(30, connect=5))
    assert handler.requests[0].extensions["timeout"] == pytest.approx(
        {"connect": 5.0, "read": 38.0, "write": 30.0, "pool": 5.0}, abs=0.01
    )
    assert api.Timeouts.of(2, connect=10) == api.Timeouts(connect=2, read=2, write=2, pool=2)


def test_the_deadline_cuts_the_timeouts_and_stops_the_retries() -> None:
    clock = FakeClock()

    def slow_timeout() -> Exception:
        clock.now += 50  # each attempt waits a long read timeout
        return httpx.ReadTimeout("timed out")

    handler = Recorder(slow_timeout)
    error, lines = send(handler, pol=policy(deadline=120, clock=clock, scale=0.0))
    assert isinstance(error, UnavailableError)
    reads = [r.extensions["timeout"]["read"] for r in handler.requests]
    # The last attempt gets what is left of the deadline: 120 - 2 * 50.
    assert reads == pytest.approx([30.0, 30.0, 20.0], abs=0.01)
    assert len(lines) == 2
    assert "the 120 s deadline leaves no time for another attempt" in error.message
    assert "after attempt 3 of 4" in error.message
    assert "--timeout" in str(error.hint)
    assert "--deadline" in str(error.hint)


def test_stamina_test_mode_makes_real_waits_instant() -> None:
    handler = Recorder(httpx.Response(503, headers={"Retry-After": "5"}))
    started = time.monotonic()
    with stamina.set_testing(True, attempts=4, cap=True):
        error, lines = send(handler, pol=policy(scale=1.0))
    assert time.monotonic() - started < 4
    assert isinstance(error, UnavailableError)
    assert len(handler.requests) == 4
    assert len(lines) == 3


def test_a_keyboard_interrupt_is_never_retried() -> None:
    handler = Recorder(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        send(handler)
    assert len(handler.requests) == 1


# --- certificates and settings ---------------------------------------------------------------


def test_the_ca_bundle_adds_to_the_default_certificates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)  # a folder loads lazily: nothing to count
    raw = pytest.importorskip("tests.raw_server")
    certs = raw.make_certificates(tmp_path)
    default = api.tls_context()
    added = api.tls_context(certs.ca)
    assert added.cert_store_stats()["x509_ca"] == default.cert_store_stats()["x509_ca"] + 1
    assert default.cert_store_stats()["x509_ca"] > 50  # the public CAs are still trusted


def test_a_ca_bundle_that_is_not_pem_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("hello")
    with pytest.raises(ConfigError, match="could not be loaded"):
        api.tls_context(bogus)


@pytest.fixture
def config(isolated_env: Path) -> Path:
    isolated_env.mkdir(parents=True, exist_ok=True)
    return isolated_env / "config.toml"


def resolve(env: dict[str, str] | None = None, **flags: Any) -> settings.Settings:
    import os

    return settings.resolve(
        profile=None, api_url="https://api.example.com", env={**os.environ, **(env or {})},
        **flags,
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
        resolve(**{key: 0.0})
    assert settings.parse_profile_value(key, "2.5") == 2.5
    with pytest.raises(ConfigError):
        settings.parse_profile_value(key, "-1")


def test_a_missing_ca_bundle_names_where_it_came_from(config: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\(from --ca-bundle\) is not an existing file"):
        resolve(ca_bundle=str(tmp_path / "nope.pem"))
    config.write_text(f'[profiles.default]\nca_bundle = "{tmp_path / "gone.pem"}"\n')
    with pytest.raises(ConfigError, match=r"from ca_bundle in .*config.toml \[profiles.default\]"):
        resolve()


def test_an_unreadable_ssl_cert_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="SSL_CERT_FILE or SSL_CERT_DIR could not be loaded"):
        api.tls_context()
