"""``acp-emulator`` as a real process: its URL line, its log, its flags, its signals."""

from __future__ import annotations

import io
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from acp_cli.emulator import Emulator, EmulatorClient
from tests.support.emulator_http import TOKEN, endpoint, raw_exchange, signed_body
from tests.support.emulator_process import (
    emulator_command,
    emulator_process,
    spawn_emulator,
)
from tests.support.polling import wait_until

PLAN = {"files": [{"path": "a.txt", "size": 3}]}
LOG_LINE = re.compile(
    r"^(?P<method>[A-Z]+) (?P<target>\S+) (?P<status>\d{3}|-) (?P<ms>\d+\.\d)ms"
    r" (?P<id>req_[0-9a-f]{16})( .*)?$"
)


def prepare(url: str, token: str = TOKEN, binding: str = "wb_1") -> httpx.Response:
    """One correctly signed request."""
    return httpx.post(
        url + endpoint(binding),
        json=signed_body(PLAN),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_prints_its_url_serves_logs_and_stops_on_sigterm(tmp_path: Path) -> None:
    with emulator_process(["--token", "t"], tmp_path) as emu:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emu.url)
        assert int(emu.url.rsplit(":", 1)[1]) > 0
        created = prepare(emu.url)
        assert created.status_code == 201
        refused = prepare(emu.url, token="wrong")
        assert refused.status_code == 401
        wait_until(lambda: emu.stderr().count(" req_") >= 2)
        assert emu.stop(signal.SIGTERM) == 0
        stderr = emu.stderr()
    assert "accepting only the 1 token(s) given with --token" in stderr
    assert "Traceback" not in stderr
    # A request's line is written when its connection ends, so two requests on two
    # connections may be logged in either order: each line is found by its request ID.
    lines = {m["id"]: m for line in stderr.splitlines() if (m := LOG_LINE.match(line))}
    assert {
        request_id: (m["method"], m["target"], m["status"]) for request_id, m in lines.items()
    } == {
        created.headers["x-request-id"]: ("POST", endpoint("wb_1"), "201"),
        refused.headers["x-request-id"]: ("POST", endpoint("wb_1"), "401"),
    }, stderr


def test_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    with emulator_process([], tmp_path) as emu:
        assert prepare(emu.url).status_code == 201
        assert emu.stop(signal.SIGINT) == 0
        stderr = emu.stderr()
    assert "Traceback" not in stderr
    assert "KeyboardInterrupt" not in stderr


def test_stops_with_an_idle_keep_alive_connection_open(tmp_path: Path) -> None:
    with emulator_process([], tmp_path) as emu, httpx.Client() as client:
        response = client.post(
            emu.url + endpoint("b"), json=signed_body(PLAN), headers={"Authorization": "Bearer x"}
        )
        assert response.status_code == 201  # the client keeps the connection open
        assert emu.stop(signal.SIGTERM, timeout=5) == 0


def test_without_tokens_any_token_is_accepted_and_it_says_so(tmp_path: Path) -> None:
    with emulator_process([], tmp_path) as emu:
        assert prepare(emu.url, token="anything").status_code == 201
        no_token = httpx.post(
            emu.url + endpoint("x"), json=signed_body(PLAN), headers={"Authorization": "Bearer"}
        )
        assert no_token.status_code == 401
        stderr = emu.stderr()
    assert "accepting any non-empty bearer token" in stderr
    assert "every workspace binding ID exists" in stderr


def test_bindings_given_make_others_404(tmp_path: Path) -> None:
    with emulator_process(["--binding", "wb_1", "--binding", "a/b"], tmp_path) as emu:
        assert prepare(emu.url, binding="a/b").status_code == 201
        missing = prepare(emu.url, binding="wb_2")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "binding_not_found"


class ByteByByte(io.StringIO):
    """A stream that writes one character at a time and lets other threads run in
    between, as an unbuffered stderr may split a write."""

    def write(self, text: str) -> int:
        for char in text:
            super().write(char)
            time.sleep(0)
        return len(text)


def test_notes_and_request_lines_never_run_into_each_other(
    make_emulator: Callable[..., Emulator],
) -> None:
    """Everything the emulator logs (its start notes, its request lines) is written whole:
    notes printed while the first requests arrive once ran into their lines."""
    log = ByteByByte()
    emu = make_emulator(quiet=False, log_stream=log)
    notes = [f"acp-emulator: note {index}" for index in range(20)]
    writers = [threading.Thread(target=emu.log, args=(note,)) for note in notes]
    for writer in writers:
        writer.start()
    with httpx.Client(base_url=emu.url) as client:
        for _ in range(10):
            client.post(
                endpoint("wb_1"), json=signed_body(PLAN), headers={"Authorization": "Bearer t"}
            )
    for writer in writers:
        writer.join()
    wait_until(lambda: log.getvalue().count(" req_") == 10)
    lines = log.getvalue().splitlines()
    assert sorted(line for line in lines if line.startswith("acp-emulator:")) == sorted(notes)
    requests = [line for line in lines if not line.startswith("acp-emulator:")]
    assert len(requests) == 10
    assert all(LOG_LINE.match(line) for line in requests), requests


def test_quiet_logs_nothing(tmp_path: Path) -> None:
    with emulator_process(["--quiet"], tmp_path) as emu:
        assert emu.url.startswith("http://127.0.0.1:")
        assert prepare(emu.url).status_code == 201
        assert httpx.get(emu.url + "/nope").status_code == 404
        assert emu.stop() == 0
        assert emu.stderr() == ""


def test_max_body_limits_the_body(tmp_path: Path) -> None:
    with emulator_process(["--max-body", "50"], tmp_path) as emu:
        assert prepare(emu.url).status_code == 413


def test_db_keeps_sessions_across_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    with emulator_process(["--db", str(db)], tmp_path, name="first") as emu:
        first = prepare(emu.url)
        assert first.status_code == 201
        assert emu.stop() == 0
        assert f"state in {db}" in emu.stderr()
    with emulator_process(["--db", str(db)], tmp_path, name="second") as emu:
        assert EmulatorClient(emu.url).sessions() == [first.json()["pushSession"]]
        again = prepare(emu.url)
        assert again.status_code == 200
        assert again.json()["pushSession"]["id"] == first.json()["pushSession"]["id"]


def test_without_db_a_restart_forgets(tmp_path: Path) -> None:
    with emulator_process([], tmp_path, name="first") as emu:
        assert prepare(emu.url).status_code == 201
    with emulator_process([], tmp_path, name="second") as emu:
        assert prepare(emu.url).status_code == 201


def test_two_processes_sharing_one_db_still_make_one_session(tmp_path: Path) -> None:
    # In one process a lock serializes writers; across processes only SQLite's
    # write transaction and the unique index do. Race both.
    db = tmp_path / "shared.sqlite3"
    with (
        emulator_process(["--db", str(db), "--quiet"], tmp_path, name="one") as one,
        emulator_process(["--db", str(db), "--quiet"], tmp_path, name="two") as two,
    ):
        body = httpx.Request("POST", "/", json=signed_body(PLAN)).read()
        barrier = threading.Barrier(16)
        statuses: list[int] = []
        lock = threading.Lock()

        def send(url: str) -> None:
            with httpx.Client(timeout=20) as client:
                request = client.build_request(
                    "POST",
                    url + endpoint("wb_1"),
                    content=body,
                    headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
                )
                barrier.wait()
                status = client.send(request).status_code
            with lock:
                statuses.append(status)

        threads = [threading.Thread(target=send, args=(u,)) for u in [one.url, two.url] * 8]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(statuses) == [200] * 15 + [201]
        assert len(EmulatorClient(one.url).sessions()) == 1


def test_the_controls_work_against_the_process(tmp_path: Path) -> None:
    with emulator_process([], tmp_path) as emu:
        control = EmulatorClient(emu.url)
        control.queue_fault(status=503, retry_after=7)
        failed = prepare(emu.url)
        assert failed.status_code == 503
        assert failed.headers["retry-after"] == "7"
        made = prepare(emu.url).json()["pushSession"]
        [_, recorded] = control.requests()
        assert recorded.json()["plan"] == PLAN
        assert control.cancel(made["id"])["status"] == "cancelled"


def test_module_entry_point_works_too(tmp_path: Path) -> None:
    stderr_path = tmp_path / "m.stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "acp_cli.emulator", "--port", "0", "--quiet"],
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert httpx.get(url + "/_emulator/health").json()["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()  # type: ignore[union-attr]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])  # noqa: S104
def test_a_host_that_is_not_loopback_is_refused(host: str) -> None:
    result = subprocess.run(
        [*emulator_command(), "--host", host], capture_output=True, timeout=10, check=False
    )
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"loopback" in result.stderr
    assert b"Traceback" not in result.stderr


def test_localhost_binds_127_0_0_1(tmp_path: Path) -> None:
    with emulator_process(["--host", "localhost"], tmp_path) as emu:
        assert emu.url.startswith("http://127.0.0.1:")


def _ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback here")
def test_ipv6_loopback(tmp_path: Path) -> None:
    with emulator_process(["--host", "::1"], tmp_path) as emu:
        assert re.fullmatch(r"http://\[::1\]:\d+", emu.url)
        assert prepare(emu.url).status_code == 201


@pytest.mark.parametrize(
    "args", [["--port", "70000"], ["--port", "x"], ["--max-body", "-1"], ["--nope"]]
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    result = subprocess.run(
        [*emulator_command(), *args], capture_output=True, timeout=10, check=False
    )
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"usage: acp-emulator" in result.stderr


def test_a_port_in_use_exits_1_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = spawn_emulator(["--port", str(port)], tmp_path / "busy.stderr")
        assert proc.wait(timeout=10) == 1
        assert proc.stdout is not None
        assert proc.stdout.read() == b""
        proc.stdout.close()
    stderr = (tmp_path / "busy.stderr").read_text()
    assert f"cannot listen on 127.0.0.1:{port}" in stderr
    assert "Traceback" not in stderr


def test_version_and_help() -> None:
    version = subprocess.run(
        [*emulator_command(), "--version"], capture_output=True, timeout=10, check=True
    )
    assert version.stdout.startswith(b"acp-emulator ")
    usage = subprocess.run(
        [*emulator_command(), "--help"], capture_output=True, timeout=10, check=True
    )
    assert b"--max-body" in usage.stdout
    assert b"/_emulator/" in usage.stdout


def test_every_answer_of_the_process_has_a_request_id(tmp_path: Path) -> None:
    with emulator_process(["--quiet"], tmp_path) as emu:
        status, headers, _ = raw_exchange(emu.url, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 404
        assert headers["x-request-id"].startswith("req_")
        status, headers, _ = raw_exchange(emu.url, b"GET / x HTTP/1.1\r\n\r\n")
        assert status == 400
        assert headers["x-request-id"].startswith("req_")
