"""Reliability under injected faults: the real `acp` entry point over real loopback sockets.

Each fault comes from the emulator's fault queue or, where the emulator cannot
produce it, from `tests.support.raw_server` (silence, a reset mid-body, TLS, a proxy).
Retry waits are instant here (conftest sets ACP_RETRY_SCALE=0, which scales
only the sleep: the announced waits and every decision are the real ones);
the few tests that prove real waits set it back to 1 and stay under ~2 s.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from acp_cli.emulator import Emulator
from tests.support.cli_runner import ACP, BINDING, PREPARED_SESSION, TOKEN, Run, run_acp
from tests.support.polling import wait_until
from tests.support.raw_server import (
    Certificates,
    ProxyLog,
    RawServer,
    answer,
    close_without_answer,
    make_certificates,
    never_answer,
    proxy,
    reset_mid_body,
)

RETRY_LINE = re.compile(
    r"^Attempt (\d)/4 failed \((.+)\); retrying in ([\d.]+) s(, as the server asked)?"
    r"( \(ACP_RETRY_SCALE=[\d.]+: sleeping [\d.]+ s\))?\.$"
)
SESSION_ANSWER = answer(201, json.dumps(PREPARED_SESSION).encode())
"""A raw server's good answer: a prepared session, whose ID is SESSION_ID."""
SESSION_ID = PREPARED_SESSION["pushSession"]["id"]


def prepare(*args: str, env: dict[str, str], timeout: float = 60) -> Run:
    run = run_acp("push", "prepare", BINDING, *args, env=env, timeout=timeout)
    assert TOKEN not in run.output, "the token leaked into the output"
    assert "Traceback" not in run.output
    return run


def retries(run: Run) -> list[re.Match[str]]:
    """The retry lines of a run, checked to be the only such lines, in order."""
    found = [RETRY_LINE.match(line) for line in run.stderr.splitlines()]
    matches = [m for m in found if m]
    assert [int(m.group(1)) for m in matches] == list(range(1, len(matches) + 1))
    assert len(re.findall(r"^Attempt ", run.stderr, re.M)) == len(matches), run.stderr
    return matches


def env_for(url: str, **extra: str) -> dict[str, str]:
    return {"ACP_API_URL": url, "ACP_TOKEN": TOKEN, **extra}


@pytest.fixture
def plan(plan_file: Path) -> str:
    return str(plan_file)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    pytest.importorskip("cryptography")
    return make_certificates(tmp_path_factory.mktemp("tls"))


# --- no answer at all ---------------------------------------------------------------------


def test_connection_refused_is_tried_4_times_then_exit_6(plan: str) -> None:
    with RawServer(never_answer) as srv:
        url = srv.url
    run = prepare("--plan", plan, env=env_for(url))  # nothing listens any more
    assert run.code == 6
    assert [m.group(2).startswith("could not connect") for m in retries(run)] == [True] * 3
    assert f"Error: Could not connect to {url}" in run.stderr
    assert "gave up after 4 attempts" in run.stderr


def test_a_server_that_never_answers_times_out_on_each_attempt(plan: str) -> None:
    with RawServer(never_answer) as srv:
        started = time.monotonic()
        run = prepare("--plan", plan, "--timeout", "0.2", env=env_for(srv.url))
        elapsed = time.monotonic() - started
    assert run.code == 6
    assert srv.connections == 4
    assert [m.group(2) for m in retries(run)] == ["no answer within 0.2 s"] * 3
    assert "timed out: no answer within 0.2 s; gave up after 4 attempts." in run.stderr
    assert "--timeout" in run.stderr
    assert elapsed >= 0.8  # four real read timeouts of 0.2 s


def test_the_timeout_comes_from_the_profile(plan: str, isolated_env: Path) -> None:
    with RawServer(never_answer) as srv:
        isolated_env.mkdir(parents=True, exist_ok=True)
        (isolated_env / "config.toml").write_text(
            f'[profiles.default]\napi_url = "{srv.url}"\ntimeout = 0.1\n'
        )
        run = prepare("--plan", plan, env={"ACP_TOKEN": TOKEN})
    assert run.code == 6
    assert "no answer within 0.1 s" in run.stderr


def test_the_deadline_bounds_the_whole_command(plan: str) -> None:
    with RawServer(never_answer) as srv:
        started = time.monotonic()
        run = prepare("--plan", plan, "--timeout", "20", "--deadline", "0.6", env=env_for(srv.url))
        elapsed = time.monotonic() - started
    assert run.code == 6
    assert srv.connections == 1
    assert "no answer within 0.6 s" in run.stderr  # the read timeout was cut to the deadline
    assert "the 0.6 s deadline leaves no time for another attempt" in run.stderr
    assert "--deadline" in run.stderr
    assert elapsed < 10


def test_a_connection_closed_before_any_answer_is_retried(plan: str) -> None:
    with RawServer(close_without_answer) as srv:
        run = prepare("--plan", plan, env=env_for(srv.url))
    assert run.code == 6
    assert srv.connections == 4
    assert all("Server disconnected" in m.group(2) for m in retries(run))
    assert "gave up after 4 attempts" in run.stderr


def test_a_reset_in_the_middle_of_the_body_is_retried_with_the_same_bytes(
    tmp_path: Path,
) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"files": [{"path": f"f{i:07d}", "size": i} for i in range(60000)]}))
    with RawServer(reset_mid_body(after=65536), SESSION_ANSWER) as srv:
        run = prepare("--plan", str(big), "-o", "id", env=env_for(srv.url))
    assert run.code == 0, run.stderr
    assert run.stdout == SESSION_ID + "\n"
    assert srv.connections == 2
    cut, whole = srv.received
    assert len(whole.body) > 2_000_000
    assert 65536 <= len(cut.body) < len(whole.body)
    assert whole.body.startswith(cut.body)
    [line] = retries(run)
    assert "connection" in line.group(2)


# --- broken or unusable answers -----------------------------------------------------------


def test_an_answer_shorter_than_its_content_length_is_retried(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(truncate=True)  # processed, then half an answer
    run = prepare("--plan", plan, env=api_env)
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("Reused push session for binding")
    assert [r.status for r in emulator.requests()] == [201, 200]
    [line] = retries(run)
    assert "incomplete" in line.group(2) or "closed" in line.group(2)


def test_a_success_status_with_invalid_json_is_not_retried(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(
        status=201, body='{"pushSession": {"id": "ps_1"', content_type="application/json"
    )
    run = prepare("--plan", plan, env=api_env)
    assert run.code == 6
    assert len(emulator.requests()) == 1
    assert "not the documented JSON" in run.stderr
    assert retries(run) == []


def test_a_502_html_page_is_retried_and_never_shown(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    page = (
        "<html><head><title>502 Bad Gateway</title></head><body><h1>upstream failed</h1>"
        + "<p>lorem ipsum</p>" * 2000
        + "</body></html>"
    )
    emulator.queue_fault(status=502, body=page, content_type="text/html", times=4)
    run = prepare("--plan", plan, env=api_env)
    assert run.code == 6
    assert len(emulator.requests()) == 4
    assert [m.group(2) for m in retries(run)] == ["502 Bad Gateway"] * 3
    assert "(502)" in run.stderr
    assert "gave up after 4 attempts" in run.stderr
    assert f"request ID: {emulator.requests()[-1].request_id}" in run.stderr
    assert "lorem" not in run.stderr
    assert "<" not in run.stderr
    assert len(run.stderr.splitlines()) <= 3 + 3


def test_500_every_time_is_exactly_4_attempts(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(status=500, times=10)
    run = prepare("--plan", plan, env=api_env)
    assert run.code == 6
    sent = emulator.requests()
    assert len(sent) == 4
    assert len(retries(run)) == 3
    assert "The server is unavailable (500)" in run.stderr
    assert "gave up after 4 attempts." in run.stderr
    assert f"request ID: {sent[-1].request_id}" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 5), (401, 3), (403, 3), (404, 4), (409, 5), (413, 5), (422, 5), (501, 6), (505, 6)],
)
def test_a_status_that_will_not_pass_is_tried_once(
    emulator: Emulator, api_env: dict[str, str], plan: str, status: int, code: int
) -> None:
    emulator.queue_fault(status=status, retry_after="1", times=2)
    run = prepare("--plan", plan, env=api_env)
    assert run.code == code, run.stderr
    assert len(emulator.requests()) == 1
    assert retries(run) == []
    assert f"({status})" in run.stderr
    assert "attempt" not in run.stderr


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_a_status_that_may_pass_is_retried(
    emulator: Emulator, api_env: dict[str, str], plan: str, status: int
) -> None:
    emulator.queue_fault(status=status)
    run = prepare("--plan", plan, "-o", "id", env=api_env)
    assert run.code == 0, run.stderr
    assert [r.status for r in emulator.requests()] == [status, 201]
    [line] = retries(run)
    assert line.group(2).startswith(str(status))


# --- Retry-After ----------------------------------------------------------------------------


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "date"])
def test_retry_after_is_honoured(
    emulator: Emulator, api_env: dict[str, str], plan: str, status: int, form: str
) -> None:
    emulator.queue_fault(status=status, retry_after="7" if form == "seconds" else http_date(30))
    run = prepare("--plan", plan, "-o", "id", env=api_env)
    assert run.code == 0, run.stderr
    assert len(emulator.requests()) == 2
    [line] = retries(run)
    assert line.group(4) == ", as the server asked"
    waited = float(line.group(3))
    if form == "seconds":
        assert waited == 7
    else:
        assert 27 <= waited <= 31
    assert line.group(5) == " (ACP_RETRY_SCALE=0: sleeping 0 s)"


@pytest.mark.parametrize("value", ["3600", "date"])
def test_a_retry_after_beyond_the_cap_fails_at_once(
    emulator: Emulator, api_env: dict[str, str], plan: str, value: str
) -> None:
    emulator.queue_fault(status=503, retry_after=value if value != "date" else http_date(7200))
    started = time.monotonic()
    run = prepare("--plan", plan, env=api_env)
    assert run.code == 6
    assert len(emulator.requests()) == 1
    assert retries(run) == []
    asked = re.search(r"the server asked to wait (\d+) s before trying again", run.stderr)
    assert asked, run.stderr
    assert int(asked.group(1)) == 3600 if value == "3600" else 7190 <= int(asked.group(1)) <= 7201
    assert "longer than acp waits (60 s)" in run.stderr
    assert "gave up after attempt 1 of 4" in run.stderr
    assert "request ID: req_" in run.stderr
    assert time.monotonic() - started < 20


def test_a_retry_after_beyond_the_deadline_fails_at_once(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(status=429, retry_after="30")
    run = prepare("--plan", plan, "--deadline", "10", env=api_env)
    assert run.code == 6
    assert len(emulator.requests()) == 1
    said = re.search(
        r"asked to wait 30 s .* more than the (\d+(?:\.\d)?) s left of the 10 s deadline",
        run.stderr,
    )
    assert said, run.stderr
    # The seconds left depend on how long the first attempt took on a loaded machine:
    # 10 s, or 9.9 s once it took more than 50 ms (retry.seconds shows tenths below 10).
    assert 1 <= float(said[1]) <= 10


def test_a_junk_retry_after_is_ignored(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(status=503, retry_after="soon, maybe")
    run = prepare("--plan", plan, "-o", "id", env=api_env)
    assert run.code == 0, run.stderr
    [line] = retries(run)
    assert line.group(4) is None  # the usual backoff, not "as the server asked"
    assert 0.5 <= float(line.group(3)) <= 1.0


# --- what is sent, what is shown -----------------------------------------------------------


def test_every_attempt_sends_the_same_bytes(
    emulator: Emulator, api_env: dict[str, str], tmp_path: Path
) -> None:
    plan = tmp_path / "odd.json"
    plan.write_bytes('{ "b" : [1.50, 1e2],\n "a": "\\u00e9 é" }\n'.encode())
    emulator.queue_faults([{"status": 503}, {"drop": True}, {"status": 502, "retryAfter": "1"}])
    run = prepare("--plan", str(plan), "--meta", "n:=1", "-o", "id", env=api_env)
    assert run.code == 0, run.stderr
    bodies = [r.body for r in emulator.requests()]
    assert len(bodies) == 4
    assert len(set(bodies)) == 1
    assert b'"plan":{ "b" : [1.50, 1e2],\n "a": "\\u00e9 \xc3\xa9" }' in (bodies[0] or b"")


@pytest.mark.parametrize(
    "faults",
    [
        # Error answers after which the emulator keeps the connection open.
        [{"status": 503}, {"status": 502}, {"status": 429, "retryAfter": "1"}],
        [{"status": 503}, {"drop": True}, {"status": 500}],
    ],
)
def test_every_attempt_opens_its_own_connection(
    emulator: Emulator, api_env: dict[str, str], plan: str, faults: list[dict[str, Any]]
) -> None:
    # transport._client keeps no connection: a retry never rides the connection that
    # just failed, though the server would keep it (tests/emulator/test_controls.py).
    emulator.queue_faults(faults)
    run = prepare("--plan", plan, "-o", "id", env=api_env)
    assert run.code == 0, run.stderr
    sent = emulator.requests()
    assert [r.status for r in sent] == [f.get("status") for f in faults] + [201]
    assert len({r.connection_id for r in sent}) == 4


def test_a_201_lost_to_a_dropped_connection_then_200_is_shown_as_reused(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(drop=True, process=True)  # the session is made, the answer lost
    run = prepare("--plan", plan, env=api_env)
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("Reused push session for binding")
    assert [r.status for r in emulator.requests()] == [None, 200]
    assert len(emulator.sessions()) == 1
    assert len(retries(run)) == 1


def test_quiet_hides_the_retry_lines(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(status=503, times=2)
    run = prepare("--plan", plan, "-o", "id", "-q", env=api_env)
    assert run.code == 0
    assert run.stderr == ""
    assert len(emulator.requests()) == 3


def test_verbose_shows_every_attempt_with_the_token_masked(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(status=503)
    emulator.queue_fault(drop=True)
    run = prepare("--plan", plan, "-o", "id", "-v", env=api_env)
    assert run.code == 0, run.stderr
    for n in (1, 2, 3):
        assert f"* Attempt {n}/4" in run.stderr
    assert run.stderr.count("> Authorization: Bearer tok_****") == 3
    assert "< HTTP/1.1 503 Service Unavailable" in run.stderr
    assert "* No answer: the connection broke" in run.stderr
    assert "< HTTP/1.1 201 Created" in run.stderr
    assert len(retries(run)) == 2


def test_a_redirect_is_not_followed_nor_retried(
    emulator: Emulator, make_emulator: Callable[..., Emulator], api_env: dict[str, str], plan: str
) -> None:
    target = make_emulator()
    emulator.queue_fault(status=307, body="", headers={"Location": target.url + "/v1/elsewhere"})
    run = prepare("--plan", plan, env=api_env)
    assert target.requests() == []
    assert len(emulator.requests()) == 1
    assert run.code == 6
    assert "redirect" in run.stderr
    assert retries(run) == []


# --- TLS ------------------------------------------------------------------------------------


def tls_server(certificates: Certificates) -> RawServer:
    return RawServer(SESSION_ANSWER, tls=certificates.server_context())


def test_an_unknown_ca_fails_once_and_names_the_options(
    certificates: Certificates, plan: str
) -> None:
    with tls_server(certificates) as srv:
        run = prepare("--plan", plan, env=env_for(srv.url))
    assert run.code == 6
    assert srv.connections == 1
    assert srv.received == []
    assert "certificate" in run.stderr
    assert "could not be verified" in run.stderr
    for option in ("--ca-bundle", "ACP_CA_BUNDLE", "ca_bundle", "SSL_CERT_FILE"):
        assert option in run.stderr
    assert retries(run) == []


@pytest.mark.parametrize("how", ["--ca-bundle", "ACP_CA_BUNDLE", "profile", "SSL_CERT_FILE"])
def test_a_private_ca_can_be_trusted(
    certificates: Certificates, plan: str, isolated_env: Path, how: str
) -> None:
    with tls_server(certificates) as srv:
        env = env_for(srv.url)
        args = ["--plan", plan, "-o", "id"]
        if how == "--ca-bundle":
            args += ["--ca-bundle", str(certificates.ca)]
        elif how == "profile":
            isolated_env.mkdir(parents=True, exist_ok=True)
            (isolated_env / "config.toml").write_text(
                f'[profiles.default]\nca_bundle = "{certificates.ca}"\n'
            )
        else:
            env[how] = str(certificates.ca)
        run = prepare(*args, env=env)
    assert run.code == 0, run.stderr
    assert run.stdout == SESSION_ID + "\n"
    [request] = srv.received
    assert request.request_line == f"POST /v1/workspace-bindings/{BINDING}/push-sessions HTTP/1.1"


def test_a_ca_bundle_that_is_not_pem_is_a_usage_error(tmp_path: Path, plan: str) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    run = prepare("--plan", plan, "--ca-bundle", str(bogus), env=env_for("https://127.0.0.1:9"))
    assert run.code == 2
    assert f"The CA bundle {bogus} could not be loaded" in run.stderr
    missing = prepare(
        "--plan", plan, env=env_for("https://127.0.0.1:9", ACP_CA_BUNDLE=str(tmp_path / "no.pem"))
    )
    assert missing.code == 2
    assert "(from ACP_CA_BUNDLE) is not an existing file" in missing.stderr


# --- proxies --------------------------------------------------------------------------------


def test_plain_http_never_goes_through_a_proxy(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    # Plain http is allowed to loopback only; through a proxy the token would
    # cross a network in clear text.
    log = ProxyLog()
    with RawServer(proxy(log)) as proxy_server:
        run = prepare(
            "--plan", plan, "-o", "id",
            env={
                **api_env,
                "HTTP_PROXY": proxy_server.url,
                "ALL_PROXY": proxy_server.url,
                "NO_PROXY": "",
                "no_proxy": "",
            },
        )  # fmt: skip
    assert run.code == 0, run.stderr
    assert log.request_lines == []
    assert proxy_server.connections == 0
    assert len(emulator.requests()) == 1


def test_https_proxy_tunnels_and_never_sees_the_token(
    certificates: Certificates, plan: str
) -> None:
    log = ProxyLog()
    with tls_server(certificates) as srv, RawServer(proxy(log)) as proxy_server:
        run = prepare(
            "--plan", plan, "-o", "id", "--ca-bundle", str(certificates.ca),
            env=env_for(srv.url, HTTPS_PROXY=proxy_server.url, NO_PROXY="", no_proxy=""),
        )  # fmt: skip
    assert run.code == 0, run.stderr
    assert log.request_lines == [f"CONNECT 127.0.0.1:{srv.port} HTTP/1.1"]
    assert len(srv.received) == 1
    assert log.relayed  # the TLS bytes went through the tunnel ...
    assert TOKEN.encode() not in log.relayed  # ... encrypted


def test_no_proxy_bypasses_the_proxy(certificates: Certificates, plan: str) -> None:
    log = ProxyLog()
    with tls_server(certificates) as srv, RawServer(proxy(log)) as proxy_server:
        run = prepare(
            "--plan", plan, "-o", "id", "--ca-bundle", str(certificates.ca),
            env=env_for(srv.url, HTTPS_PROXY=proxy_server.url, NO_PROXY="127.0.0.1"),
        )  # fmt: skip
    assert run.code == 0, run.stderr
    assert log.request_lines == []
    assert proxy_server.connections == 0
    assert len(srv.received) == 1


# --- real waits -----------------------------------------------------------------------------


def received_gap(emulator: Emulator) -> float:
    first, second = (
        datetime.fromisoformat(r.received_at.replace("Z", "+00:00"))
        for r in emulator.requests()[:2]
    )
    return (second - first).total_seconds()


def test_the_backoff_is_really_waited(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(status=503)
    run = prepare("--plan", plan, "-o", "id", env={**api_env, "ACP_RETRY_SCALE": "1"})
    assert run.code == 0, run.stderr
    [line] = retries(run)
    announced = float(line.group(3))
    assert 0.5 <= announced <= 1.0
    assert line.group(5) is None  # not scaled
    assert received_gap(emulator) >= max(0.5, announced - 0.06)


def test_the_scale_shortens_only_the_sleep(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(status=429, retry_after="3")
    run = prepare("--plan", plan, "-o", "id", env={**api_env, "ACP_RETRY_SCALE": "0.1"})
    assert run.code == 0, run.stderr
    [line] = retries(run)
    assert line.group(0).endswith(
        "retrying in 3 s, as the server asked (ACP_RETRY_SCALE=0.1: sleeping 0.3 s)."
    )
    assert 0.3 <= received_gap(emulator) < 2.5


def test_ctrl_c_during_a_backoff_exits_130_with_one_line(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    emulator.queue_fault(status=503, retry_after="30")
    proc = subprocess.Popen(
        [str(ACP), "push", "prepare", BINDING, "--plan", plan],
        env={**os.environ, **api_env, "ACP_RETRY_SCALE": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def waiting_30_s() -> None:
        assert proc.stderr is not None
        announced = _read_line(proc.stderr, within=30)
        assert RETRY_LINE.match(announced), announced
        assert "retrying in 30 s" in announced

    ctrl_c_once(proc, waiting_30_s)  # 0.2 s later: well inside the 30 s wait
    assert len(emulator.requests()) == 1


def test_ctrl_c_while_waiting_for_an_answer_exits_130_with_one_line(plan: str) -> None:
    with RawServer(never_answer) as srv:
        proc = subprocess.Popen(
            [str(ACP), "push", "prepare", BINDING, "--plan", plan, "--timeout", "30"],
            env={**os.environ, **env_for(srv.url)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # 0.2 s after the request is in: its answer never comes.
        ctrl_c_once(proc, lambda: wait_until(lambda: srv.received, timeout=30))
    assert srv.connections == 1


def ctrl_c_once(proc: subprocess.Popen[bytes], ready: Callable[[], None]) -> None:
    """Once ``ready`` returns (it fails when what it waits for does not happen), and
    0.2 s more, press Ctrl-C (SIGINT) in ``proc``: it must exit 130, print nothing and
    say only "Interrupted." on stderr. It is killed if it is still running."""
    try:
        ready()
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert stderr.decode() == "Interrupted.\n"
    assert stdout == b""


def _read_line(stream: Any, *, within: float) -> str:
    """One line from a pipe, or fail after ``within`` seconds."""
    line = b""
    deadline = time.monotonic() + within
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            assert left > 0, f"no line within {within} s: {line!r}"
            if selector.select(timeout=left):
                byte = os.read(stream.fileno(), 1)
                assert byte, f"stream closed: {line!r}"
                line += byte
    return line.decode().rstrip("\n")


# --- answers that are not what they claim (issue 11, item 1) -------------------------------------


NOT_A_SESSION = [
    "{}",
    '{"pushSession": null}',
    '{"pushSession": "ps_1"}',
    '{"pushSession": [], "created": true}',
    '{"error": {"code": "internal", "message": "db down"}}',
    '[{"pushSession": {"id": "ps_1"}}]',
    '"ps_1"',
    '{"pushSession": {"id": "ps_1"}, "created": "yes"}',
]


@pytest.mark.parametrize("body", NOT_A_SESSION)
@pytest.mark.parametrize("fmt", ["table", "json", "id"])
def test_a_success_status_without_a_session_object_is_exit_6(
    emulator: Emulator, api_env: dict[str, str], plan: str, body: str, fmt: str
) -> None:
    emulator.queue_fault(status=200, body=body, content_type="application/json")
    run = prepare("--plan", plan, "-o", fmt, env=api_env)
    assert run.code == 6, run.stdout
    assert run.stdout == ""
    assert "The server answered 200 but its body is not the documented JSON" in run.stderr
    [sent] = emulator.requests()
    assert f"request ID: {sent.request_id}" in run.stderr
    assert retries(run) == []


def test_missing_fields_inside_the_session_are_tolerated(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    body = '{"pushSession": {"id": "ps_9", "status": null}}'
    emulator.queue_fault(status=201, body=body, content_type="application/json")
    run = prepare("--plan", plan, "--json", env=api_env)
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout) == json.loads(body)


# --- the deadline bounds the reading of the answer (item 2) -------------------------------------


def trickle(head: bytes, arrivals: list[float], *, every: float = 0.5) -> Any:
    """Read the request (noting when in ``arrivals``), send ``head``, then a byte per interval."""

    def behaviour(conn: Any, server: RawServer) -> None:
        from tests.support.raw_server import read_request

        read_request(conn, server)
        arrivals.append(time.monotonic())
        conn.sendall(head)
        while not server.stopping.wait(every):
            conn.sendall(b" ")

    return behaviour


TRICKLES = {
    "body": b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n{",
    "headers": b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Slow: a",
}


@pytest.mark.parametrize("part", sorted(TRICKLES))
def test_the_deadline_bounds_an_answer_that_trickles_in(plan: str, part: str) -> None:
    deadline = 3.0
    arrivals: list[float] = []
    with RawServer(trickle(TRICKLES[part], arrivals)) as srv:
        run = prepare(
            "--plan", plan, "--deadline", str(deadline), "--timeout", "2", env=env_for(srv.url)
        )
        ended = time.monotonic()
    assert run.code == 6, run.stderr
    assert srv.connections == 1
    assert f"did not complete within the {deadline:g} s deadline" in run.stderr
    assert "--deadline" in run.stderr
    # Each byte comes well within the 2 s read timeout: only the deadline ends it,
    # which started just before the request arrived (process start-up not counted).
    [arrived] = arrivals
    assert deadline / 2 <= ended - arrived < deadline + 1.0, ended - arrived


def test_a_trickle_that_ends_before_the_deadline_is_an_answer(plan: str) -> None:
    body = json.dumps(PREPARED_SESSION).encode()

    def slow_answer(conn: Any, server: RawServer) -> None:
        from tests.support.raw_server import read_request

        read_request(conn, server)
        conn.sendall(f"HTTP/1.1 201 Created\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        for start in range(0, len(body), len(body) // 4 + 1):
            time.sleep(0.3)
            conn.sendall(body[start : start + len(body) // 4 + 1])

    with RawServer(slow_answer) as srv:
        run = prepare("--plan", plan, "-o", "id", "--deadline", "10", env=env_for(srv.url))
    assert run.code == 0, run.stderr
    assert run.stdout == SESSION_ID + "\n"


# --- every 3xx is one attempt (item 3) --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "location"),
    [(301, "http://[bad"), (302, "http://127.0.0.1:99999/x"), (307, None), (308, "")],
)
def test_a_redirect_is_one_attempt_whatever_its_location(
    plan: str, status: int, location: str | None
) -> None:
    headers = {} if location is None else {"Location": location}
    with RawServer(answer(status, b"", headers)) as srv:
        run = prepare("--plan", plan, env=env_for(srv.url))
    assert run.code == 6, run.stderr
    assert srv.connections == 1
    assert f"The server answered {status} with a redirect" in run.stderr
    assert retries(run) == []


# --- ACP_RETRY_SCALE changes the sleeps only (item 4) -------------------------------------------


def test_the_retry_scale_changes_no_decision_against_the_deadline(
    emulator: Emulator, api_env: dict[str, str], plan: str
) -> None:
    # --deadline 3.5: after attempt 2 at most 1 s + 2 s of waits have passed, so a
    # third attempt always fits, and a fourth never (its wait is 2 s or more).
    runs = {}
    for scale in ("0", "0.01", "1"):
        emulator.clear_requests()
        emulator.queue_fault(status=503, times=10)
        run = prepare(
            "--plan", plan, "--deadline", "3.5", env={**api_env, "ACP_RETRY_SCALE": scale}
        )
        emulator.clear_faults()
        assert run.code == 6
        runs[scale] = (len(emulator.requests()), _without_numbers(run.stderr))
    assert runs["0"] == runs["0.01"] == runs["1"]
    attempts, stderr = runs["1"]
    assert attempts == 3
    assert "the 3.5 s deadline leaves no time for another attempt" in stderr
    assert "gave up after attempt 3 of 4" in stderr


def _without_numbers(stderr: str) -> str:
    """stderr without what differs between runs: waits, the scale's note, request IDs."""
    stderr = re.sub(r" \(ACP_RETRY_SCALE=[\d.]+: sleeping [\d.]+ s\)", "", stderr)
    stderr = re.sub(r"retrying in [\d.]+ s", "retrying in N s", stderr)
    return re.sub(r"req_\w+", "req_N", stderr)


# --- binding IDs that cannot be sent (item 9) -----------------------------------------------


@pytest.mark.parametrize(
    ("binding", "said"),
    [
        (os.fsdecode(b"a\xffb"), "holds bytes that are not UTF-8"),
        (os.fsdecode(b"\xc3\x28"), "holds bytes that are not UTF-8"),
        ("w" * 70_000, "The binding ID is too long: 70000 characters"),
        ("é" * 2_000, "The binding ID is too long: 2000 characters"),  # 12,000 once encoded
    ],
)
def test_a_binding_id_that_cannot_be_sent_is_a_usage_error(
    emulator: Emulator, api_env: dict[str, str], plan: str, binding: str, said: str
) -> None:
    run = run_acp("push", "prepare", binding, "--plan", plan, env=api_env)
    assert run.code == 2, run.stderr
    assert said in run.stderr
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []


# --- what came from the server is sanitised before any stream (item 18) --------------------------

UNSAFE_SHOWN = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
"""Every character the sanitiser must keep off a terminal (the newline ends lines)."""
EVIL = "\u009b2J\u202egnp.exe\u0085\u2066x"
"""A CSI that clears the screen, a right-to-left override, NEL (C1), an isolate."""


def evil_answer(status: int, *, extra_head: bytes = b"") -> Any:
    """An answer whose status line, headers and body all carry `EVIL`, raw, in UTF-8."""
    session = {"pushSession": {"id": "ps_" + EVIL, "status": EVIL}, "created": True}
    body = json.dumps(session, ensure_ascii=False).encode()

    def behaviour(conn: Any, server: RawServer) -> None:
        from tests.support.raw_server import read_request

        read_request(conn, server)
        conn.sendall(
            f"HTTP/1.1 {status} Fine{EVIL}\r\n".encode()
            + f"X-Evil: {EVIL}\r\nX-Request-Id: req_{EVIL}\r\n".encode()
            + b"X-C0: \x1b[2J\x07\x7f\r\n"
            + extra_head
            + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    return behaviour


@pytest.mark.parametrize("fmt", ["table", "json", "id"])
@pytest.mark.parametrize("status", [201, 503, 422])
def test_server_text_is_escaped_in_every_mode_and_in_the_verbose_log(
    plan: str, fmt: str, status: int
) -> None:
    with RawServer(evil_answer(status)) as srv:
        run = prepare("--plan", plan, "-v", "-o", fmt, env=env_for(srv.url))
    assert run.code == {201: 6 if fmt == "id" else 0, 503: 6, 422: 5}[status], run.stderr
    assert UNSAFE_SHOWN.search(run.stdout) is None, repr(run.stdout)
    assert UNSAFE_SHOWN.search(run.stderr) is None, repr(run.stderr)
    # The -v log shows the headers, escaped rather than dropped.
    assert "< X-Evil: \\x9b2J\\u202egnp.exe\\x85\\u2066x" in run.stderr
    assert "< X-Request-Id: req_\\x9b2J\\u202egnp.exe\\x85\\u2066x" in run.stderr
    assert "< X-C0: \\x1b[2J\\x07\\x7f" in run.stderr
    if status == 201 and fmt == "json":
        # The same JSON value, with the characters written as escapes.
        assert "\\u009b2J\\u202egnp.exe" in run.stdout
        assert json.loads(run.stdout)["pushSession"]["status"] == EVIL


def test_headers_that_are_not_utf8_are_escaped_too(plan: str) -> None:
    # One header that is not UTF-8 makes httpx read them all as Latin-1: the
    # UTF-8 bytes of EVIL become C1 characters of their own, escaped as well.
    with RawServer(evil_answer(201, extra_head=b"X-Latin-1: \x9b2J\x85\r\n")) as srv:
        run = prepare("--plan", plan, "-v", "-o", "id", env=env_for(srv.url))
    assert UNSAFE_SHOWN.search(run.stderr) is None, repr(run.stderr)
    assert "< X-Latin-1: \\x9b2J\\x85" in run.stderr
    assert "< X-Evil: \u00c2\\x9b2J" in run.stderr
