"""The token chain against real keyring backends, and against backends that fail.

- keyrings.alt's file backend and the real Linux Secret Service (gnome-keyring on
  a private D-Bus session bus): log in, prepare, check status, log out;
- the `fail` backend (no keyring at all) and the plain-text fallback;
- backends that are locked, raise D-Bus errors or hang (tests/support/keyring_backends):
  every command ends within the bound with exit 3, one message naming ACP_TOKEN
  and --insecure-storage, and no traceback;
- ACP_TOKEN: the keyring is never touched.

The Secret Service tests need `dbus-daemon` and `gnome-keyring-daemon`
(Debian: dbus, gnome-keyring; .ci/run installs them). Without them they are
skipped on a developer's machine and fail in CI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.cli_runner import BINDING, TOKEN, Run, run_acp, run_acp_process
from tests.support.paths import TEST_BACKENDS

if TYPE_CHECKING:
    from acp_cli.emulator import Emulator

# In-process runs find the test backends by name, as PYTHONPATH makes a process do.
if str(TEST_BACKENDS) not in sys.path:
    sys.path.insert(0, str(TEST_BACKENDS))
FILE_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
FAIL_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
SECRET_SERVICE_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
SHORT_BOUND = 0.3
"""ACP_KEYRING_TIMEOUT for the hanging backends, so the suite stays fast."""
SLACK = 4.0
"""Seconds allowed on top of the bound for starting Python and acp on a busy machine."""


def misbehaving(name: str, bound: float | None = SHORT_BOUND) -> dict[str, str]:
    """The environment that makes `acp` use one of tests/support/keyring_backends' backends."""
    env = {"PYTHONPATH": str(TEST_BACKENDS), "PYTHON_KEYRING_BACKEND": f"acp_test_keyrings.{name}"}
    # Backends that answer (locked, broken) keep the default bound: a short one could
    # run out while a busy machine imports them, and they need no waiting anyway.
    if bound is not None and name.startswith("Hanging"):
        env["ACP_KEYRING_TIMEOUT"] = f"{bound:g}"
    return env


def acp(*args: str, env: dict[str, str], stdin: str | None = None) -> Run:
    """Run `acp`: never a traceback, never the token (but from `acp auth token`).

    In-process, but for what only a process shows: a backend that hangs (its call
    never returns; acp gives up on it and the process ends, the stuck thread with
    it) and the real Secret Service on its own D-Bus (a D-Bus client keeps its
    connection, and a stalled one, for the life of the process).
    """
    own_process = "Hanging" in env.get("PYTHON_KEYRING_BACKEND", "") or (
        "DBUS_SESSION_BUS_ADDRESS" in env
    )
    runner = run_acp_process if own_process else run_acp
    run = runner(*args, env=env, stdin=stdin, timeout=60)
    assert "Traceback" not in run.output
    if tuple(args[:2]) != ("auth", "token"):
        assert TOKEN not in run.output, f"the token leaked into the output of {args}"
    return run


def assert_keyring_failure(run: Run) -> None:
    """Exit 3 with one error naming both ways around the keyring."""
    assert run.code == 3, run.output
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, run.stderr
    assert "keyring" in errors[0]
    assert "ACP_TOKEN" in run.stderr
    assert "--insecure-storage" in run.stderr


def bearer_tokens(emulator: Emulator) -> list[str | None]:
    return [request.header("Authorization") for request in emulator.requests()]


def login_use_and_logout(env: dict[str, str], emulator: Emulator, plan_file: Path) -> None:
    """The life of a token in the keyring, from `acp auth login` to `acp auth logout`."""
    env = {**env, "ACP_API_URL": emulator.url}
    prepare = ("push", "prepare", BINDING, "--plan", str(plan_file))

    login = acp("auth", "login", "--with-token", stdin=f"{TOKEN}\n", env=env)
    assert login.code == 0, login.stderr
    assert "stored in the system keyring" in login.stderr

    status = acp("auth", "status", env=env)
    assert status.code == 0, status.stderr
    assert f"Source:  system keyring (service acp-cli, user {emulator.url})" in status.stdout
    assert acp("auth", "token", env=env).stdout == TOKEN + "\n"
    assert acp(*prepare, env=env).code == 0
    assert bearer_tokens(emulator) == [f"Bearer {TOKEN}"]

    logout = acp("auth", "logout", env=env)
    assert logout.code == 0, logout.stderr
    assert f"Removed the token for {emulator.url} from the system keyring." in logout.stderr
    assert acp("auth", "status", env=env).code == 3
    assert acp(*prepare, env=env).code == 3
    assert len(emulator.requests()) == 1


# --- keyrings.alt's file backend ------------------------------------------------------


def test_file_backend_login_use_logout(emulator: Emulator, plan_file: Path) -> None:
    login_use_and_logout(FILE_KEYRING, emulator, plan_file)


# --- no keyring at all: the `fail` backend and the plain-text fallback ----------------


def test_without_a_keyring_login_points_to_the_fallbacks(emulator: Emulator) -> None:
    env = {**FAIL_KEYRING, "ACP_API_URL": emulator.url}
    run = acp("auth", "login", "--with-token", stdin=TOKEN, env=env)
    assert_keyring_failure(run)
    assert "no keyring backend is available on this machine" in run.stderr


def test_without_a_keyring_the_plain_text_file_works_end_to_end(
    emulator: Emulator, plan_file: Path, isolated_env: Path
) -> None:
    env = {**FAIL_KEYRING, "ACP_API_URL": emulator.url}
    login = acp("auth", "login", "--with-token", "--insecure-storage", stdin=TOKEN, env=env)
    assert login.code == 0, login.stderr
    assert "plain text" in login.stderr

    status = acp("auth", "status", env=env)
    assert status.code == 0
    assert "plain-text file" in status.stdout
    assert acp("push", "prepare", BINDING, "--plan", str(plan_file), env=env).code == 0
    assert bearer_tokens(emulator) == [f"Bearer {TOKEN}"]

    logout = acp("auth", "logout", env=env)
    assert logout.code == 0, logout.stderr
    assert "Removed the plain-text token" in logout.stderr
    assert "Warning" not in logout.stderr  # no keyring here: nothing to warn about
    assert TOKEN not in (isolated_env / "credentials.toml").read_text()
    assert acp("auth", "status", env=env).code == 3


def test_without_a_keyring_logout_with_nothing_stored_is_fine() -> None:
    run = acp("auth", "logout", env={**FAIL_KEYRING, "ACP_API_URL": "https://api.example.com"})
    assert run.code == 0
    assert "No token was stored" in run.stderr


# --- backends that fail: locked, D-Bus errors, hangs ----------------------------------

COMMANDS = {
    "login": (("auth", "login", "--with-token"), TOKEN),
    "status": (("auth", "status"), None),
    "token": (("auth", "token"), None),
    "logout": (("auth", "logout"), None),
    "prepare": (("push", "prepare", BINDING, "--plan", "-"), '{"files": [{"path": "a.txt"}]}'),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("backend", ["Locked", "Broken", "Hanging", "HangingAtStart"])
def test_a_failing_keyring_is_exit_3_within_the_bound(backend: str, command: str) -> None:
    args, stdin = COMMANDS[command]
    env = {**misbehaving(backend), "ACP_API_URL": "https://api.example.com"}

    started = time.monotonic()
    run = acp(*args, env=env, stdin=stdin)
    elapsed = time.monotonic() - started

    assert_keyring_failure(run)
    assert elapsed < SHORT_BOUND + SLACK
    if backend.startswith("Hanging"):
        assert f"did not answer within {SHORT_BOUND:g} second" in run.stderr
    if command == "logout":
        assert "may still be there" in run.stderr
    if command in ("token", "prepare"):
        assert run.stdout == ""


@pytest.mark.slow
def test_the_default_bound_is_a_few_seconds() -> None:
    from acp_cli.settings import DEFAULT_KEYRING_TIMEOUT as KEYRING_TIMEOUT

    env = {**misbehaving("Hanging", bound=None), "ACP_API_URL": "https://api.example.com"}
    started = time.monotonic()
    run = acp("auth", "status", env=env)
    elapsed = time.monotonic() - started

    assert_keyring_failure(run)
    assert f"did not answer within {KEYRING_TIMEOUT:g} seconds" in run.stderr
    assert KEYRING_TIMEOUT <= elapsed < KEYRING_TIMEOUT + SLACK


def test_a_hanging_keyring_falls_back_to_the_plain_text_file(
    emulator: Emulator, plan_file: Path
) -> None:
    env = {**misbehaving("Hanging"), "ACP_API_URL": emulator.url}
    login = acp("auth", "login", "--with-token", "--insecure-storage", stdin=TOKEN, env=env)
    assert login.code == 0, login.stderr

    status = acp("auth", "status", env=env)
    assert status.code == 0, status.stderr
    assert "plain-text file" in status.stdout
    assert "Keyring: The system keyring did not answer" in status.stdout
    assert acp("push", "prepare", BINDING, "--plan", str(plan_file), env=env).code == 0
    assert bearer_tokens(emulator) == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_a_bad_keyring_timeout_is_exit_2(value: str) -> None:
    env = {**FILE_KEYRING, "ACP_API_URL": "https://api.example.com", "ACP_KEYRING_TIMEOUT": value}
    run = acp("auth", "status", env=env)
    assert run.code == 2
    assert "ACP_KEYRING_TIMEOUT" in run.stderr


# --- ACP_TOKEN: the keyring is never touched ------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("auth", "status"),
        ("auth", "token"),
        ("push", "prepare", BINDING, "--plan", "-"),
    ],
)
def test_with_acp_token_a_hanging_keyring_costs_nothing(
    emulator: Emulator, args: tuple[str, ...]
) -> None:
    # The default bound: touching this keyring would cost at least five seconds.
    env = {**misbehaving("HangingAtStart", bound=None), "ACP_API_URL": emulator.url}
    started = time.monotonic()
    run = acp(*args, env={**env, "ACP_TOKEN": TOKEN}, stdin='{"files": [{"path": "a.txt"}]}')
    elapsed = time.monotonic() - started

    assert run.code == 0, run.stderr
    assert elapsed < 4.0
    assert "keyring" not in run.stderr


# --- the real Linux Secret Service ----------------------------------------------------

BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={folder}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass
class SecretService:
    """gnome-keyring's Secret Service on a private session bus, login collection unlocked."""

    address: str
    daemon: subprocess.Popen[bytes]

    @property
    def env(self) -> dict[str, str]:
        """What `acp` needs to use it."""
        return {**SECRET_SERVICE_KEYRING, "DBUS_SESSION_BUS_ADDRESS": self.address}

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        from jeepney.io.blocking import open_dbus_connection

        with contextlib.closing(open_dbus_connection(bus=self.address)) as connection:
            yield connection

    def secrets(self, origin: str) -> list[str]:
        """The secrets stored for ``origin`` under service acp-cli, read over D-Bus."""
        import secretstorage

        with self.connection() as connection:
            attributes = {"service": "acp-cli", "username": origin}
            return [
                item.get_secret().decode()
                for item in secretstorage.search_items(connection, attributes)
            ]

    def lock(self) -> None:
        import secretstorage

        with self.connection() as connection:
            secretstorage.get_default_collection(connection).lock()

    def ready(self) -> bool:
        import secretstorage

        try:
            with self.connection() as connection:
                return not secretstorage.get_default_collection(connection).is_locked()
        except Exception:
            return False


def _require(*programs: str) -> None:
    missing = [name for name in programs if shutil.which(name) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (Debian: apt-get install dbus gnome-keyring)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{message}: CI must run the Secret Service tests")
    pytest.skip(message)


@pytest.fixture
def secret_service(tmp_path: Path) -> Iterator[SecretService]:
    """Start dbus-daemon and gnome-keyring-daemon for one test, and stop both after it."""
    _require("dbus-daemon", "gnome-keyring-daemon")
    # Unix socket paths are short (108 bytes): the bus and the keyring's control
    # socket live in a short folder, not under tmp_path.
    runtime = Path(tempfile.mkdtemp(prefix="acp-ss-", dir="/tmp"))
    (runtime / "bus.conf").write_text(BUS_CONFIG.format(folder=runtime))
    env = {
        **os.environ,
        "HOME": str(tmp_path / "keyring-home"),
        "XDG_DATA_HOME": str(tmp_path / "keyring-data"),
        "XDG_RUNTIME_DIR": str(runtime),
    }
    bus = subprocess.Popen(
        ["dbus-daemon", "--nofork", "--nosyslog", f"--config-file={runtime / 'bus.conf'}",
         "--print-address=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    daemon: subprocess.Popen[bytes] | None = None
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        assert address, "dbus-daemon printed no address"
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        # --unlock reads the login keyring's password from stdin and creates the
        # keyring, unlocked, when there is none: what a desktop login does.
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        assert daemon.stdin is not None
        daemon.stdin.write(b"test-password")
        daemon.stdin.close()
        service = SecretService(address, daemon)
        deadline = time.monotonic() + 15
        while not service.ready():
            if daemon.poll() is not None or time.monotonic() > deadline:
                errors = daemon.stderr.read().decode() if daemon.stderr else ""
                pytest.fail(f"gnome-keyring-daemon did not start: {errors}")
            time.sleep(0.05)
        yield service
    finally:
        for process in (daemon, bus):
            if process is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)  # in case a test stopped it
                process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(runtime, ignore_errors=True)


def test_secret_service_login_use_logout(
    secret_service: SecretService, emulator: Emulator, plan_file: Path
) -> None:
    env = {**secret_service.env, "ACP_API_URL": emulator.url}
    assert acp("auth", "login", "--with-token", stdin=TOKEN, env=env).code == 0
    assert secret_service.secrets(emulator.url) == [TOKEN]
    assert acp("auth", "logout", env=env).code == 0
    assert secret_service.secrets(emulator.url) == []

    login_use_and_logout(secret_service.env, emulator, plan_file)
    assert secret_service.secrets(emulator.url) == []


def test_secret_service_chosen_by_keyring_itself(
    secret_service: SecretService, monkeypatch: pytest.MonkeyPatch, emulator: Emulator
) -> None:
    # No PYTHON_KEYRING_BACKEND: keyring picks its backend as on a user's desktop.
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    env = {"DBUS_SESSION_BUS_ADDRESS": secret_service.address, "ACP_API_URL": emulator.url}
    assert acp("auth", "login", "--with-token", stdin=TOKEN, env=env).code == 0
    assert secret_service.secrets(emulator.url) == [TOKEN]
    assert acp("auth", "token", env=env).stdout == TOKEN + "\n"


def test_secret_service_profiles_keep_separate_tokens(
    secret_service: SecretService, isolated_env: Path
) -> None:
    isolated_env.mkdir()
    (isolated_env / "config.toml").write_text(
        '[profiles.default]\napi_url = "https://api.example.com"\n'
        '[profiles.staging]\napi_url = "https://staging.example.com:8443/api"\n'
    )
    other = "tok_staging_0123456789abcdef"
    env = secret_service.env
    assert acp("auth", "login", "--with-token", stdin=TOKEN, env=env).code == 0
    assert (
        acp("auth", "login", "--with-token", "--profile", "staging", stdin=other, env=env).code == 0
    )
    assert secret_service.secrets("https://api.example.com") == [TOKEN]
    assert secret_service.secrets("https://staging.example.com:8443") == [other]
    assert acp("--profile", "staging", "auth", "token", env=env).stdout == other + "\n"


def test_secret_service_locked_collection_is_exit_3(secret_service: SecretService) -> None:
    secret_service.lock()
    env = {**secret_service.env, "ACP_API_URL": "https://api.example.com"}
    for args in (("auth", "status"), ("auth", "login", "--with-token")):
        run = acp(*args, env=env, stdin=TOKEN)
        assert_keyring_failure(run)
        assert "KeyringLocked" in run.stderr


def test_secret_service_that_stops_answering_is_exit_3_within_the_bound(
    secret_service: SecretService,
) -> None:
    env = {**secret_service.env, "ACP_API_URL": "https://api.example.com"}
    assert acp("auth", "login", "--with-token", stdin=TOKEN, env=env).code == 0
    secret_service.daemon.send_signal(signal.SIGSTOP)  # alive, on the bus, silent
    started = time.monotonic()
    run = acp("auth", "status", env={**env, "ACP_KEYRING_TIMEOUT": f"{SHORT_BOUND:g}"})
    elapsed = time.monotonic() - started

    assert_keyring_failure(run)
    assert "did not answer" in run.stderr
    assert elapsed < SHORT_BOUND + SLACK


def test_secret_service_without_a_session_bus_is_exit_3(tmp_path: Path) -> None:
    env = {
        **SECRET_SERVICE_KEYRING,
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus-here",
        "ACP_API_URL": "https://api.example.com",
    }
    for args in (("auth", "status"), ("auth", "login", "--with-token")):
        assert_keyring_failure(acp(*args, env=env, stdin=TOKEN))
