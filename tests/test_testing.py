"""The ``acp_emulator`` pytest plugin, run as a user would: pytest on a test file of theirs.

Each test writes a user-like test file into a scratch folder and runs pytest on
it with ``pytester``; the plugin is found through its ``pytest11`` entry point,
as in a user's environment where acp is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from acp_cli.settings import (
    SETTINGS,
    ApiUrl,
    ExistingFile,
    Folder,
    HeaderValue,
    Seconds,
    Text,
    ValueType,
)
from tests.support.readme import PYTHON_BLOCKS

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


# --- the fixtures keep acp away from everything of the user's own -----------------------------

USERS_CONFIG = """\
# The user's own config.toml: every line of it would break or redirect a test.
[profiles.default]
api_url = "https://api.users-own.example"
ca_bundle = "/old/ca.pem"
timeout = 0.001
connect_timeout = 0.001
deadline = 0.001

[profiles.work]
api_url = "https://api.work.example"
ca_bundle = "/old/work-ca.pem"
"""

EXTRA_USER_TESTS = r"""
import os
import subprocess
import sys

RUN = [sys.executable, "-m", "acp_cli"]


def test_the_device_id_is_the_fixtures(acp_env, acp_emulator, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text('{"files": [{"path": "a.txt", "size": 0}]}')
    subprocess.run([*RUN, "push", "prepare", acp_emulator.binding, "--plan", plan], check=True)
    [request] = acp_emulator.requests()
    assert request.header("ACP-Device-Id") == acp_emulator.device_id


def test_the_python_api_in_this_process_reads_no_users_setting(acp_env, acp_emulator):
    from acp_cli import Client

    client = Client.from_config()
    assert (client.timeout, client.ca_bundle) == (30, None)
    client.prepare_push_session(acp_emulator.binding, {"files": []})
    [request] = acp_emulator.requests()
    assert request.header("ACP-Device-Id") == acp_emulator.device_id


def test_planning_a_folder_caches_in_the_tests_own_folder(acp_env, acp_emulator, tmp_path):
    (tmp_path / "a.txt").write_text("abc")
    subprocess.run([*RUN, "push", "plan", tmp_path, "-o", tmp_path / "plan.json"], check=True)
    assert list(acp_emulator.cache_dir.rglob("*.json"))


def test_a_login_stores_nothing_in_the_users_keyring(acp_env, acp_emulator):
    login = [*RUN, "auth", "login", "--with-token"]
    refused = subprocess.run(login, input="tok", capture_output=True, text=True)
    assert refused.returncode == 3, refused.stderr
    assert "--insecure-storage" in refused.stderr  # the hint, followed:
    subprocess.run([*RUN, "auth", "login", "--with-token", "--insecure-storage"], input="tok",
                   text=True, check=True)
    assert (acp_emulator.config_dir / "credentials.toml").is_file()


def test_a_subprocess_given_the_env_reads_no_users_setting(acp_emulator):
    shown = subprocess.run([*RUN, "config", "list"], capture_output=True, text=True, check=True,
                           env={**os.environ, **acp_emulator.env})
    assert "users-own" not in shown.stdout and "/old/" not in shown.stdout, shown.stdout
"""


def readme_pytest_example() -> str:
    """The README's ``test_release.py``, among its Python blocks (tests/support/readme.py)."""
    [code] = [block for block in PYTHON_BLOCKS if "def test_" in block]
    return str(code)


def users_home(root: Path) -> Path:
    """A user's home as acp finds it through platformdirs: a config.toml that would
    break every test, a cache, and a keyring stored in a file."""
    home = root / "home"
    config = home / ".config" / "acp"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(USERS_CONFIG, encoding="utf-8")
    cache = home / ".cache" / "acp" / "plans"
    cache.mkdir(parents=True)
    (cache / "0123abcd.json").write_text('{"users": "own cache"}', encoding="utf-8")
    return home


def snapshot(home: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``home``: its mode, its mtime and its content (a link's target)."""
    entries = {}
    for folder, names, files in os.walk(home):
        for name in [*names, *files]:
            path = Path(folder, name)
            status = path.lstat()
            if path.is_symlink():
                content = os.readlink(path).encode()
            elif path.is_file():
                content = path.read_bytes()
            else:
                content = b""
            entries[str(path.relative_to(home))] = (status.st_mode, status.st_mtime_ns, content)
    return entries


def live_in(home: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Make the environment a user's shell with ``home`` and ``env``: acp's platform
    folders and the user's keyring (a file backend) are in ``home``."""
    variables = [setting.variable for setting in SETTINGS.values() if setting.variable]
    for name in (*variables, "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def run_users_suite(pytester: pytest.Pytester) -> tuple[pytest.RunResult, int]:
    """The README's example and EXTRA_USER_TESTS, run as the user runs pytest; the result
    and the number of their tests."""
    files = {"test_release": readme_pytest_example(), "test_more": EXTRA_USER_TESTS}
    pytester.makepyfile(**files)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-rf")
    return result, sum(code.count("\ndef test_") for code in files.values())


def test_the_readme_example_passes_and_nothing_in_the_users_home_changes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = users_home(pytester.path)
    live_in(home, monkeypatch, {})
    # The user's config is really there for acp to find, outside the fixtures.
    seen = subprocess.run(
        [sys.executable, "-m", "acp_cli", "config", "get", "ca_bundle"],
        capture_output=True,
        text=True,
    )
    assert "/old/ca.pem" in seen.stdout + seen.stderr
    before = snapshot(home)
    result, tests = run_users_suite(pytester)
    assert snapshot(home) == before
    result.assert_outcomes(passed=tests)


HOSTILE_BY_TYPE: dict[type[ValueType], str] = {
    Seconds: "-1",
    ApiUrl: "https://api.users-own.example",
    ExistingFile: "/old/ca.pem",
    HeaderValue: "users-own-device",
    Text: "users-own",
}
"""A value of the user's for each type of setting, that would break a test if it reached it;
a folder is one in the user's home (`hostile_env`)."""


def hostile_env(home: Path) -> dict[str, str]:
    """Every ``ACP_*`` variable of the registry, set as a user's shell might set it."""
    env = {}
    for name, setting in SETTINGS.items():
        if setting.variable:
            if isinstance(setting.type, Folder):
                value = str(home / ".config" / "acp" if name == "config_dir" else home / name)
            else:
                value = HOSTILE_BY_TYPE.get(type(setting.type), f"users-own-{name}")
            env[setting.variable] = value
    return env


def test_no_acp_variable_of_the_users_shell_reaches_a_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = users_home(pytester.path)
    hostile = hostile_env(home)
    assert set(hostile) == {s.variable for s in SETTINGS.values() if s.variable}
    live_in(home, monkeypatch, hostile)
    pytester.makepyfile(
        test_variables=f"""
import os
import pytest

HOSTILE = {hostile!r}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_acp_env_leaves_out(name, acp_env):
    assert os.environ.get(name) != HOSTILE[name]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_emulators_env_overrides(name, acp_emulator):
    assert {{**os.environ, **acp_emulator.env}}[name] != HOSTILE[name]
"""
    )
    before = snapshot(home)
    result, tests = run_users_suite(pytester)
    assert snapshot(home) == before
    result.assert_outcomes(passed=tests + 2 * len(hostile))
