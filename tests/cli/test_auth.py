"""`acp auth login|logout|status|token` through the real entry point.

The keyring here is keyrings.alt's file backend (a real backend, stored under
the test's XDG_DATA_HOME); tests/test_keyring_backends.py covers the others.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import pytest

from tests.support.cli_runner import (
    ACP,
    BINDING,
    PREPARED_SESSION,
    TOKEN,
    Run,
    run_acp,
    run_acp_process,
)

if TYPE_CHECKING:
    from acp_cli.emulator import Emulator

API = "https://api.example.com"
OTHER_TOKEN = "tok_test_fedcba9876543210OTHER"
FILE_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}


def acp(*args: str, env: dict[str, str] | None = None, stdin: str | bytes | None = None) -> Run:
    """Run `acp`; only `acp auth token` may ever show a token, and nothing a traceback."""
    run = run_acp(*args, env={**FILE_KEYRING, **(env or {})}, stdin=stdin, timeout=30)
    if tuple(args[:2]) != ("auth", "token"):
        for secret in (TOKEN, OTHER_TOKEN):
            assert secret not in run.output, f"a token leaked into the output of {args}"
    assert "Traceback" not in run.stderr
    return run


def in_keyring(origin: str, env: dict[str, str] | None = None) -> str | None:
    """What the file keyring holds for ``origin``, read by the keyring backend itself."""
    from keyrings.alt.file import PlaintextKeyring

    with mock.patch.dict(os.environ, env or {}):
        return PlaintextKeyring().get_password("acp-cli", origin) or None


def rows_of(report: str) -> dict[str, str]:
    """The ``Label: value`` lines of a plain-text report."""
    pairs = (line.split(":", 1) for line in report.splitlines() if ": " in line)
    return {label.strip(): value.strip() for label, value in pairs}


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def configured(isolated_env: Path) -> Path:
    """A config file whose default profile points at API."""
    return write_config(isolated_env, f'[profiles.default]\napi_url = "{API}"\n')


def login(*args: str, token: str = TOKEN, env: dict[str, str] | None = None) -> Run:
    return acp("auth", "login", "--with-token", *args, stdin=token + "\n", env=env)


# --- login ------------------------------------------------------------------------------


@pytest.mark.usefixtures("configured")
def test_login_with_token_stores_it_in_the_keyring_under_the_origin() -> None:
    run = acp("auth", "login", "--with-token", stdin=f"  {TOKEN}\n\n\n")

    assert run.code == 0, run.stderr
    assert run.stdout == ""
    assert run.stderr == (
        "Token for https://api.example.com (profile default) stored in the system keyring "
        "(service acp-cli). It is checked on first use: the first command that calls the API "
        "says if the server refuses it.\n"
    )
    assert in_keyring(API) == TOKEN  # whitespace and trailing newlines trimmed


@pytest.mark.usefixtures("configured")
def test_login_from_stdin_with_windows_line_endings() -> None:
    assert acp("auth", "login", "--with-token", stdin=f"{TOKEN}\r\n").code == 0
    assert in_keyring(API) == TOKEN


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize("stdin", ["", "\n", "   \n\t\n"])
def test_login_with_empty_stdin_is_exit_2(stdin: str) -> None:
    run = acp("auth", "login", "--with-token", stdin=stdin)
    assert run.code == 2
    assert "The token is empty" in run.stderr
    assert in_keyring(API) is None


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize(
    "stdin", [f"{TOKEN}\n{TOKEN}\n", f"Bearer {TOKEN}", f"{TOKEN}\x00", "tok\u00e9n"]
)
def test_login_refuses_what_cannot_be_one_token_without_echoing_it(stdin: str) -> None:
    run = acp("auth", "login", "--with-token", stdin=stdin)
    assert run.code == 2
    assert "one line" in run.stderr
    assert in_keyring(API) is None


@pytest.mark.usefixtures("configured")
def test_login_without_terminal_and_without_with_token_fails_at_once() -> None:
    started = time.monotonic()
    run = acp("auth", "login", stdin=TOKEN)  # stdin is a pipe, not a terminal

    assert time.monotonic() - started < 10
    assert run.code == 2
    assert "No terminal" in run.stderr
    assert "--with-token" in run.stderr
    assert in_keyring(API) is None


def test_login_needs_an_api_url(isolated_env: Path) -> None:
    run = acp("auth", "login", "--with-token", stdin=TOKEN)
    assert run.code == 2
    assert "No API URL is configured for profile 'default'" in run.stderr
    assert "acp config set api_url" in run.stderr
    assert not (isolated_env / "credentials.toml").exists()


@pytest.mark.usefixtures("configured")
def test_login_still_stores_but_warns_when_acp_token_is_set() -> None:
    run = login(env={"ACP_TOKEN": OTHER_TOKEN})

    assert run.code == 0, run.stderr
    assert "Warning: ACP_TOKEN is set in the environment and takes precedence" in run.stderr
    assert in_keyring(API) == TOKEN


@pytest.mark.usefixtures("configured")
def test_login_replaces_an_older_token() -> None:
    assert login(token=OTHER_TOKEN).code == 0
    assert login().code == 0
    assert in_keyring(API) == TOKEN


def test_login_on_a_terminal_prompts_without_echo(configured: Path) -> None:
    shown, code = run_on_terminal(["auth", "login"], typed=TOKEN + "\n")

    assert code == 0, shown
    assert "Token for https://api.example.com (input hidden):" in shown
    assert TOKEN not in shown  # not echoed by the terminal, not printed by acp
    assert "Token for https://api.example.com (profile default) stored" in shown
    assert in_keyring(API) == TOKEN


def test_ctrl_c_at_the_prompt_is_exit_130(configured: Path) -> None:
    shown, code = run_on_terminal(["auth", "login"], typed="\x03")
    assert code == 130, shown
    assert "Traceback" not in shown
    assert in_keyring(API) is None


FAIL_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def test_without_a_keyring_login_says_so_before_asking_for_the_token(configured: Path) -> None:
    shown, code = run_on_terminal(["auth", "login"], typed=TOKEN + "\n", env=FAIL_KEYRING)
    assert code == 3, shown
    assert "input hidden" not in shown  # never asked
    assert "Error: Could not store the token in the system keyring" in shown
    assert "`acp auth login --insecure-storage`" in shown


def test_a_private_file_in_a_folder_others_can_change_is_refused_before_asking(
    configured: Path,
) -> None:
    configured.parent.chmod(0o777)
    shown, code = run_on_terminal(
        ["auth", "login", "--insecure-storage"], typed=TOKEN + "\n", env=FAIL_KEYRING
    )
    assert code == 2, shown
    assert "input hidden" not in shown
    assert "is writable by other users" in shown
    assert not (configured.parent / "credentials.toml").exists()


def test_the_keyring_hint_repeats_the_global_options_and_works_as_written(
    isolated_env: Path,
) -> None:
    local = "http://127.0.0.1:9"
    write_config(isolated_env, f'[profiles.default]\napi_url = "{API}"\n[profiles.local]\n')
    run = acp(
        "--profile", "local", "auth", "login", "--with-token", "--api-url", local,
        stdin=TOKEN, env=FAIL_KEYRING,
    )  # fmt: skip
    assert run.code == 3
    [hint] = re.findall(r"`(acp [^`]*)`", run.stderr)
    assert hint == f"acp --profile local --api-url {local} auth login --insecure-storage"
    followed = acp(*shlex.split(hint)[1:], "--with-token", stdin=TOKEN, env=FAIL_KEYRING)
    assert followed.code == 0, followed.stderr
    status = acp("auth", "status", "--json", "--profile", "local", "--api-url", local)
    assert json.loads(status.stdout)["token_source"] == "file"
    assert acp("auth", "status", env=FAIL_KEYRING).code == 3  # not for the default profile


def run_on_terminal(
    args: list[str], *, typed: str, env: dict[str, str] | None = None
) -> tuple[str, int]:
    """Run `acp` with a pseudo-terminal as its controlling terminal; type once the prompt shows.

    Returns what the terminal showed and the exit code.
    """
    master, slave = os.openpty()
    # The child starts a session and opens the terminal by name, which makes it the
    # controlling terminal (what getpass reads from), then becomes `acp` itself.
    claim_terminal = (
        "import os, sys; os.open(os.ttyname(0), os.O_RDWR); os.execv(sys.argv[1], sys.argv[1:])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", claim_terminal, str(ACP), *args],
        stdin=slave, stdout=slave, stderr=slave,
        env={**os.environ, **FILE_KEYRING, **(env or {})}, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    shown = b""
    typed_yet = False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if not typed_yet and b"(input hidden): " in shown:
                os.write(master, typed.encode())
                typed_yet = True
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return shown.decode("utf-8", "replace"), code


# --- --insecure-storage -----------------------------------------------------------------


def test_insecure_storage_writes_a_private_file_and_says_so_first(configured: Path) -> None:
    folder = configured.parent
    run = login("--insecure-storage")

    assert run.code == 0, run.stderr
    first_line = run.stderr.splitlines()[0]
    assert first_line.startswith("Warning: storing the token in plain text in ")
    path = folder / "credentials.toml"
    assert str(path) in first_line
    assert path.read_text() == f'[origins."{API}"]\ntoken = "{TOKEN}"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert in_keyring(API) is None
    assert not [name for name in os.listdir(folder) if name.endswith(".tmp")]


def test_insecure_storage_keeps_other_origins_in_the_file(isolated_env: Path) -> None:
    assert login("--insecure-storage", "--api-url", "https://a.example.com").code == 0
    assert (
        login("--insecure-storage", "--api-url", "http://127.0.0.1:8080/", token=OTHER_TOKEN).code
        == 0
    )
    text = (isolated_env / "credentials.toml").read_text()
    assert f'[origins."https://a.example.com"]\ntoken = "{TOKEN}"\n' in text
    assert f'[origins."http://127.0.0.1:8080"]\ntoken = "{OTHER_TOKEN}"\n' in text


@pytest.mark.parametrize("mode", [0o700, 0o750, 0o755, 0o711])
def test_insecure_storage_accepts_a_folder_only_the_user_can_change(
    isolated_env: Path, mode: int
) -> None:
    # OpenSSH's StrictModes: others may read and enter the folder, the file is 0600.
    isolated_env.mkdir()
    os.chmod(isolated_env, mode)
    run = login("--insecure-storage", "--api-url", API)
    assert run.code == 0, run.stderr
    path = isolated_env / "credentials.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_env.stat().st_mode) == mode  # not ours to change
    assert acp("auth", "token", "--api-url", API).stdout == TOKEN + "\n"


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777, 0o770, 0o1777, 0o720, 0o702])
def test_insecure_storage_refuses_a_folder_others_can_write(isolated_env: Path, mode: int) -> None:
    isolated_env.mkdir()
    os.chmod(isolated_env, mode)
    run = login("--insecure-storage", "--api-url", API)
    assert run.code == 2
    assert f"{isolated_env} is writable by other users (mode {mode:o})" in run.stderr
    assert f"chmod go-w {isolated_env}" in run.stderr
    assert not (isolated_env / "credentials.toml").exists()
    assert stat.S_IMODE(isolated_env.stat().st_mode) == mode  # not ours to change


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_insecure_storage_refuses_a_folder_another_user_owns(isolated_env: Path) -> None:
    isolated_env.mkdir(mode=0o700)
    os.chown(isolated_env, 65534, 65534)
    run = login("--insecure-storage", "--api-url", API)
    assert run.code == 2
    assert f"{isolated_env} is owned by another user" in run.stderr
    assert not (isolated_env / "credentials.toml").exists()


def test_logout_from_a_folder_others_can_write_keeps_the_rule(isolated_env: Path) -> None:
    # Removing one origin's token rewrites the file with the others': a secret write.
    assert login("--insecure-storage", "--api-url", API).code == 0
    assert login("--insecure-storage", "--api-url", "https://b.example.com").code == 0
    os.chmod(isolated_env, 0o777)  # noqa: S103 - the point of the test
    run = acp("auth", "logout", "--api-url", API)
    assert run.code == 2
    assert "writable by other users" in run.stderr


def stored_in_file(folder: Path) -> Path:
    """A credentials file holding TOKEN for API, written by acp itself."""
    assert login("--insecure-storage", "--api-url", API).code == 0
    return folder / "credentials.toml"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610])
@pytest.mark.parametrize("command", [["auth", "token"], ["auth", "status"]])
def test_a_token_file_others_can_read_or_write_is_refused(
    isolated_env: Path, mode: int, command: list[str]
) -> None:
    path = stored_in_file(isolated_env)
    os.chmod(path, mode)
    run = acp(*command, "--api-url", API)
    assert run.code == 3
    assert TOKEN not in run.stdout
    assert f"{path} can be read or changed by other users (mode {mode:o})" in run.output
    assert f"chmod 600 {path}" in run.output
    assert stat.S_IMODE(path.stat().st_mode) == mode  # acp reports; the user fixes


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_token_file_only_the_user_can_read_is_used(isolated_env: Path, mode: int) -> None:
    path = stored_in_file(isolated_env)
    os.chmod(path, mode)
    assert acp("auth", "token", "--api-url", API).stdout == TOKEN + "\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_token_file_another_user_owns_is_refused(isolated_env: Path) -> None:
    path = stored_in_file(isolated_env)
    os.chown(path, 65534, 65534)
    run = acp("auth", "token", "--api-url", API)
    assert run.code == 3
    assert f"{path} is owned by another user" in run.stderr


@pytest.mark.parametrize(("mode", "code"), [(0o600, 0), (0o644, 3)])
def test_a_symlinked_token_file_is_judged_by_its_target(
    isolated_env: Path, tmp_path: Path, mode: int, code: int
) -> None:
    # The link's own mode means nothing (always 777); the target holds the token.
    path = stored_in_file(isolated_env)
    target = tmp_path / "dotfiles" / "acp-credentials.toml"
    target.parent.mkdir()
    path.rename(target)
    path.symlink_to(target)
    os.chmod(target, mode)
    run = acp("auth", "token", "--api-url", API)
    assert run.code == code
    if code:
        assert f"chmod 600 {path}" in run.stderr
    else:
        assert run.stdout == TOKEN + "\n"


def test_with_acp_token_a_token_file_others_can_read_does_not_stop_the_run(
    isolated_env: Path,
) -> None:
    path = stored_in_file(isolated_env)
    os.chmod(path, 0o644)
    run = acp("auth", "status", "--api-url", API, env={"ACP_TOKEN": OTHER_TOKEN})
    assert run.code == 0, run.stderr


def test_logout_removes_a_token_file_others_can_read(isolated_env: Path) -> None:
    path = stored_in_file(isolated_env)
    os.chmod(path, 0o644)
    run = acp("auth", "logout", "--api-url", API)
    assert run.code == 0, run.stderr
    assert TOKEN not in path.read_text()


def test_keyring_login_removes_the_plain_text_copy(configured: Path) -> None:
    assert login("--insecure-storage").code == 0
    run = login()

    assert run.code == 0, run.stderr
    assert "Removed the plain-text copy of the token" in run.stderr
    assert TOKEN not in (configured.parent / "credentials.toml").read_text()
    assert in_keyring(API) == TOKEN


@pytest.mark.usefixtures("configured")
def test_insecure_storage_removes_an_older_keyring_token_that_would_shadow_it() -> None:
    assert login(token=OTHER_TOKEN).code == 0
    run = login("--insecure-storage")

    assert run.code == 0, run.stderr
    assert (
        "Removed the older token for https://api.example.com from the system keyring" in run.stderr
    )
    assert in_keyring(API) is None
    token = acp("auth", "token")
    assert token.stdout == TOKEN + "\n"


# --- status -----------------------------------------------------------------------------


def test_status_without_api_url_reports_and_exits_2(isolated_env: Path) -> None:
    run = acp("auth", "status")
    assert run.code == 2
    assert run.stdout.splitlines()[0] == "No API URL is configured for profile default."
    assert "Origin:  none" in run.stdout
    assert "acp config set api_url" in run.stderr

    as_json = acp("auth", "status", "--json", env={"ACP_TOKEN": TOKEN})
    assert as_json.code == 2
    report = json.loads(as_json.stdout)
    assert report["origin"] is None
    assert report["token_source"] == "environment"


@pytest.mark.usefixtures("configured")
def test_status_with_no_token_is_exit_3() -> None:
    run = acp("auth", "status")
    assert run.code == 3
    assert run.stdout.splitlines()[0] == "Not logged in to https://api.example.com."
    assert "Source:  none" in run.stdout
    assert "Error: No token for https://api.example.com." in run.stderr
    assert "acp auth login" in run.stderr
    assert "ACP_TOKEN" in run.stderr


@pytest.mark.usefixtures("configured")
def test_status_with_a_keyring_token() -> None:
    assert login().code == 0
    run = acp("auth", "status")

    assert run.code == 0, run.stderr
    assert run.stdout == (
        "Logged in to https://api.example.com.\n"
        "Profile: default\n"
        "API URL: https://api.example.com\n"
        "Origin:  https://api.example.com\n"
        "Token:   tok_****\n"
        "Source:  system keyring (service acp-cli, user https://api.example.com)\n"
    )
    assert run.stderr == ""


@pytest.mark.usefixtures("configured")
def test_status_json_for_scripts() -> None:
    assert login().code == 0
    run = acp("auth", "status", "--json")
    assert run.code == 0
    assert json.loads(run.stdout) == {
        "profile": "default",
        "api_url": API,
        "origin": API,
        "logged_in": True,
        "token_source": "keyring",
        "token": "tok_****",
        "plain_text_file": None,
        "keyring_error": None,
    }

    assert acp("auth", "logout").code == 0
    gone = acp("auth", "status", "--json")
    assert gone.code == 3
    assert json.loads(gone.stdout)["logged_in"] is False


def test_status_keeps_saying_plain_text_while_the_file_holds_the_token(configured: Path) -> None:
    path = configured.parent / "credentials.toml"
    assert login("--insecure-storage").code == 0

    run = acp("auth", "status")
    assert run.code == 0
    assert f"Source:  plain-text file {path}\n" in run.stdout
    assert f"Warning: a token for {API} is stored in plain text in {path}" in run.stderr
    assert json.loads(acp("auth", "status", "--json").stdout)["plain_text_file"] == str(path)

    # ACP_TOKEN wins, but the plain-text copy is still reported.
    with_env = acp("auth", "status", env={"ACP_TOKEN": OTHER_TOKEN})
    assert rows_of(with_env.stdout)["Source"] == "environment variable ACP_TOKEN"
    assert rows_of(with_env.stdout)["Plain text"] == f"a token is also stored in {path}"
    assert "plain text" in with_env.stderr


@pytest.mark.usefixtures("configured")
def test_status_from_the_environment_does_not_import_keyring() -> None:
    # Imports show in a fresh process only.
    env = {**FILE_KEYRING, "ACP_TOKEN": TOKEN, "PYTHONPROFILEIMPORTTIME": "1"}
    run = run_acp_process("auth", "status", env=env)
    assert run.code == 0
    assert "Source:  environment variable ACP_TOKEN" in run.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()}
    assert "acp_cli.cli.auth" in imported  # the import log is really there
    assert "keyring" not in imported
    assert "rich" not in imported  # not a terminal: plain text, no rich


# --- token ------------------------------------------------------------------------------


@pytest.mark.usefixtures("configured")
def test_token_prints_the_token_alone() -> None:
    assert login().code == 0
    run = acp("auth", "token")
    assert run.code == 0
    assert run.stdout == TOKEN + "\n"
    assert run.stderr == ""

    env_run = acp("auth", "token", env={"ACP_TOKEN": f" {OTHER_TOKEN} "})
    assert env_run.stdout == OTHER_TOKEN + "\n"


@pytest.mark.usefixtures("configured")
def test_token_without_one_is_exit_3_and_prints_nothing() -> None:
    run = acp("auth", "token")
    assert run.code == 3
    assert run.stdout == ""
    assert "No token for https://api.example.com" in run.stderr


# --- logout -----------------------------------------------------------------------------


def test_logout_removes_keyring_and_file_tokens(configured: Path) -> None:
    assert login("--insecure-storage").code == 0
    # Put a token in the keyring too (an older `acp` or another tool may have).
    subprocess.run(
        [sys.executable, "-c",
         "import keyring, sys; keyring.set_password('acp-cli', sys.argv[1], sys.argv[2])",
         API, OTHER_TOKEN],
        env={**os.environ, **FILE_KEYRING}, check=True,
    )  # fmt: skip
    run = acp("auth", "logout")

    assert run.code == 0, run.stderr
    assert f"Removed the token for {API} from the system keyring." in run.stderr
    assert f"Removed the plain-text token for {API} from" in run.stderr
    assert in_keyring(API) is None
    assert TOKEN not in (configured.parent / "credentials.toml").read_text()
    assert acp("auth", "status").code == 3


@pytest.mark.usefixtures("configured")
def test_logout_with_nothing_stored_says_so() -> None:
    run = acp("auth", "logout")
    assert run.code == 0
    assert run.stderr == f"No token was stored for {API} (profile default).\n"


@pytest.mark.usefixtures("configured")
def test_logout_says_acp_token_stays_in_use() -> None:
    assert login().code == 0
    run = acp("auth", "logout", env={"ACP_TOKEN": OTHER_TOKEN})
    assert run.code == 0
    assert "Removed the token" in run.stderr
    assert "ACP_TOKEN is set: acp keeps using it until you unset it." in run.stderr
    assert in_keyring(API) is None


# --- profiles, origins and the token in use ---------------------------------------------


def test_profiles_keep_separate_tokens_by_origin(
    isolated_env: Path, plan_file: Path, make_emulator: Callable[..., Emulator]
) -> None:
    first = make_emulator(tokens=[TOKEN])
    second = make_emulator()
    # The other profile's API URL has a path, so its request goes to /v1/v1/...,
    # which the emulator does not serve: an injected answer stands in for it.
    second.queue_fault(
        status=201, body=json.dumps(PREPARED_SESSION), content_type="application/json"
    )
    write_config(
        isolated_env,
        f'[profiles.default]\napi_url = "{first.url}"\n\n'
        f'[profiles.other]\napi_url = "{second.url}/v1"\n',
    )
    assert login().code == 0
    assert login("--profile", "other", token=OTHER_TOKEN).code == 0
    assert in_keyring(first.url) == TOKEN
    assert in_keyring(second.url) == OTHER_TOKEN

    assert acp("push", "prepare", BINDING, "--plan", str(plan_file)).code == 0
    assert acp("--profile", "other", "push", "prepare", BINDING, "--plan", str(plan_file)).code == 0
    assert acp("auth", "token", "--profile", "other").stdout == OTHER_TOKEN + "\n"
    assert acp("auth", "token", env={"ACP_PROFILE": "other"}).stdout == OTHER_TOKEN + "\n"

    assert acp("auth", "logout", "--profile", "other").code == 0
    assert in_keyring(first.url) == TOKEN
    assert in_keyring(second.url) is None
    assert [r.header("Authorization") for r in first.requests()] == [f"Bearer {TOKEN}"]
    assert [r.header("Authorization") for r in second.requests()] == [f"Bearer {OTHER_TOKEN}"]


def test_a_stored_token_is_never_sent_to_another_origin(
    isolated_env: Path, plan_file: Path, make_emulator: Callable[..., Emulator]
) -> None:
    stored_for, other = make_emulator(), make_emulator()
    assert login("--api-url", stored_for.url).code == 0
    assert login("--insecure-storage", "--api-url", stored_for.url, token=OTHER_TOKEN).code == 0
    run = acp("push", "prepare", BINDING, "--plan", str(plan_file), "--api-url", other.url)
    assert run.code == 3
    assert f"No token for {other.url}" in run.stderr
    assert other.requests() == []


@pytest.mark.usefixtures("configured")
def test_global_options_work_before_and_after_the_subcommand(isolated_env: Path) -> None:
    write_config(isolated_env, '[profiles.ci]\napi_url = "https://ci.example.com"\n')
    for args in (
        ("--profile", "ci", "auth", "status", "--json"),
        ("auth", "status", "--json", "--profile", "ci"),
        ("--no-color", "-v", "auth", "status", "--profile", "ci", "--json"),
    ):
        run = acp(*args, env={"ACP_TOKEN": TOKEN})
        assert run.code == 0, (args, run.stderr)
        assert json.loads(run.stdout)["origin"] == "https://ci.example.com"
    run = acp(
        "auth", "status", "--api-url", "http://localhost:9/x", "--json", env={"ACP_TOKEN": TOKEN}
    )
    assert json.loads(run.stdout)["origin"] == "http://localhost:9"


@pytest.mark.parametrize("command", ["login", "logout", "status", "token"])
def test_every_auth_command_has_a_summary_and_examples(command: str) -> None:
    run = acp("auth", command, "--help", env={"COLUMNS": "100"})
    assert run.code == 0
    assert "Examples:" in run.stdout
    assert "--profile" in run.stdout
    assert "--api-url" in run.stdout
