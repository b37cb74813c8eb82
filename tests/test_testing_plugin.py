"""The ``acp_emulator`` pytest plugin, run as a user would: pytest on a test file of theirs.

Each test writes a user-like test file into a scratch folder and runs pytest on
it with ``pytester``; the plugin is found through its ``pytest11`` entry point,
as in a user's environment where acp is installed.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = r"""
import os
import subprocess
import sys

import httpx
import pytest

from acp_cli.emulator import FaultSpecError
from acp_cli.emulator.endpoint import reference_signature

PLAN = {"files": [{"path": "a.txt", "size": 3}]}


def prepare(acp_emulator, binding=None, token=None):
    body = {"planSignature": reference_signature(PLAN), "plan": PLAN}
    return httpx.post(
        f"{acp_emulator.url}/v1/workspace-bindings/{binding or acp_emulator.binding}/push-sessions",
        json=body,
        headers={"Authorization": f"Bearer {token or acp_emulator.token}"},
        timeout=10,
    )


def test_prepare_then_inspect(acp_emulator):
    response = prepare(acp_emulator)
    assert response.status_code == 201
    [session] = acp_emulator.sessions()
    assert session["id"] == response.json()["pushSession"]["id"]
    assert session["workspaceBindingId"] == acp_emulator.binding
    assert session["status"] == "prepared"
    assert acp_emulator.session(session["id"]) == session
    [received] = acp_emulator.requests()
    assert received.method == "POST"
    assert received.header("authorization") == f"Bearer {acp_emulator.token}"
    assert received.json()["plan"] == PLAN
    assert received.status == 201
    assert prepare(acp_emulator).status_code == 200  # the same plan: reused


def test_a_queued_503(acp_emulator):
    acp_emulator.queue_fault(status=503, retry_after=2)
    assert acp_emulator.faults() == [{"status": 503, "retryAfter": "2"}]
    failed = prepare(acp_emulator)
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "2"
    assert failed.json()["error"]["code"] == "service_unavailable"
    assert acp_emulator.sessions() == []
    assert prepare(acp_emulator).status_code == 201  # the fault was used up
    assert [r.status for r in acp_emulator.requests()] == [503, 201]
    assert acp_emulator.requests()[0].fault is not None


def test_each_test_gets_a_fresh_emulator(acp_emulator):
    assert acp_emulator.sessions() == []
    assert acp_emulator.requests() == []
    assert acp_emulator.faults() == []


def test_a_wrong_token_is_refused(acp_emulator):
    assert prepare(acp_emulator, token="not-the-token").status_code == 401


def test_env_points_acp_at_it(acp_emulator):
    assert acp_emulator.env["ACP_API_URL"] == acp_emulator.url
    assert acp_emulator.env["ACP_TOKEN"] == acp_emulator.token
    assert acp_emulator.token not in repr(acp_emulator)


@pytest.mark.acp_emulator(tokens=["tok-a", "tok-b"], bindings=["wb_1", "wb_2"], max_body=1000)
def test_the_marker_chooses_tokens_and_bindings(acp_emulator):
    assert acp_emulator.token == "tok-a"
    assert acp_emulator.binding == "wb_1"
    assert prepare(acp_emulator, token="tok-b").status_code == 201
    assert prepare(acp_emulator, binding="wb_2").status_code == 201
    assert prepare(acp_emulator, binding="wb_other").status_code == 404
    assert prepare(acp_emulator, token="acp-test-token").status_code == 401
    big = httpx.post(
        acp_emulator.url + "/v1/workspace-bindings/wb_1/push-sessions",
        content=b"x" * 1001,
        headers={"Authorization": "Bearer tok-a"},
    )
    assert big.status_code == 413


def test_queue_fault_takes_typed_keywords_and_checks_them(acp_emulator):
    acp_emulator.queue_fault(delay=0.01, times=2)
    acp_emulator.queue_fault(drop=True, process=True)
    acp_emulator.queue_fault(
        status=502, body="<html>", content_type="text/html", headers={"X-Upstream": "down"}
    )
    acp_emulator.queue_fault(truncate=True)
    acp_emulator.queue_fault(reset=True)
    assert acp_emulator.faults() == [
        {"delay": 0.01},
        {"delay": 0.01},
        {"drop": True, "process": True},
        {"status": 502, "body": "<html>", "contentType": "text/html",
         "headers": {"X-Upstream": "down"}},
        {"truncate": True},
        {"reset": True},
    ]
    acp_emulator.clear_faults()
    assert acp_emulator.faults() == []
    with pytest.raises(FaultSpecError):
        acp_emulator.queue_fault(status=503, drop=True)
    with pytest.raises(FaultSpecError):
        acp_emulator.queue_fault(status=500, retry_after="1\r\nX-Injected: yes")
    with pytest.raises(TypeError):
        acp_emulator.queue_fault(colour="red")
    assert acp_emulator.faults() == []


def test_acp_env_runs_the_acp_command_against_the_emulator(acp_env, acp_emulator, tmp_path):
    assert os.environ["ACP_API_URL"] == acp_emulator.url
    plan = tmp_path / "plan.json"
    plan.write_text('{"files": [{"path": "a.txt"}]}')
    acp_emulator.queue_fault(status=503)
    run = subprocess.run(
        [sys.executable, "-m", "acp_cli", "push", "prepare", "wb_9", "--plan", plan, "-o", "id"],
        capture_output=True,
        text=True,
        env={**os.environ, "ACP_CONFIG_DIR": str(tmp_path / "config")},
    )
    assert run.returncode == 0, run.stderr
    [session] = acp_emulator.sessions()
    assert run.stdout.strip() == session["id"]
    assert [r.status for r in acp_emulator.requests()] == [503, 201]


def test_zz_acp_env_is_undone_after_its_test():
    assert "ACP_API_URL" not in os.environ


def test_a_wrong_expectation_fails(acp_emulator):
    # The fixture's answers are real: this user's test must fail.
    assert acp_emulator.sessions() != []
"""


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    [entry] = [e for e in entry_points(group="pytest11") if e.name == "acp"]
    assert entry.value == "acp_cli.testing"


def test_a_users_test_file_gets_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    # A separate process, as a user runs pytest; --strict-markers as many projects do.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", "-rf")
    result.assert_outcomes(passed=9, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_user.py::test_a_wrong_expectation_fails*"])


def test_a_bad_marker_is_a_clear_error(pytester: pytest.Pytester) -> None:
    complaints = {
        '"wb_1"': "takes keywords only",
        'colour="red"': "unknown option 'colour'",
        'tokens="t"': "tokens must be a list of non-empty strings",
        'bindings=[""]': "bindings must be a list of non-empty strings",
    }
    pytester.makepyfile(
        test_user="import pytest\n"
        + "".join(
            f"@pytest.mark.acp_emulator({marker})\n"
            f"def test_marked_{index}(acp_emulator):\n    pass\n"
            for index, marker in enumerate(complaints)
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=len(complaints))
    result.stdout.fnmatch_lines([f"*{complaint}*" for complaint in complaints.values()])


def test_the_plugin_can_be_switched_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_x(acp_emulator):\n    pass\n")
    result = pytester.runpytest("-p", "no:acp")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'acp_emulator' not found*"])


def test_importing_the_plugin_loads_no_emulator_or_http_code() -> None:
    code = (
        "import sys, acp_cli.testing\n"
        "heavy = [m for m in ('acp_cli.emulator', 'httpx', 'sqlite3', 'rfc8785', 'http.server')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
