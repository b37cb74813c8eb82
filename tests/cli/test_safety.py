"""Odd tokens, odd folders and hostile server text: clear errors, no leaks, no damage."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from acp_cli.emulator import Emulator
from tests.support.cli_runner import ACP, BINDING, TOKEN, run_acp


def prepare(*args: str, env: dict[str, str]) -> Any:
    return run_acp("push", "prepare", BINDING, *args, env=env)


@pytest.mark.parametrize(
    "token",
    [
        TOKEN + "\nsecond-line",
        TOKEN + "\x1b[2J",
        "tok_é_0123456789abcdef",
        "tok_first_half tok_second_half",
    ],
)
def test_an_unusable_acp_token_is_exit_3_and_never_echoed(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, token: str
) -> None:
    run = prepare("--plan", str(plan_file), "-v", env={**api_env, "ACP_TOKEN": token})
    assert run.code == 3, run.stderr
    assert "ACP_TOKEN contains" in run.stderr
    for part in token.split():
        assert part.strip() not in run.output
    assert emulator.requests() == []


def test_an_unusable_token_in_the_keyring_is_never_echoed(
    emulator: Emulator, plan_file: Path
) -> None:
    backend = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    subprocess.run(
        [str(ACP.parent / "python"), "-c",
         "import keyring, sys; keyring.set_password('acp-cli', sys.argv[1], sys.argv[2])",
         emulator.url, TOKEN + "\nmore"],
        env={**os.environ, **backend}, check=True,
    )  # fmt: skip
    run = prepare("--plan", str(plan_file), env={**backend, "ACP_API_URL": emulator.url})
    assert run.code == 3
    assert "keyring" in run.stderr
    assert "acp auth login" in run.stderr
    assert TOKEN not in run.output
    assert emulator.requests() == []


@pytest.mark.parametrize("device", ["dé", "x\ny", "has space"])
def test_an_unusable_device_id_is_exit_2(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, device: str
) -> None:
    run = prepare("--plan", str(plan_file), env={**api_env, "ACP_DEVICE_ID": device})
    assert run.code == 2, run.stderr
    assert "ACP_DEVICE_ID" in run.stderr
    assert emulator.requests() == []


def test_an_existing_shared_config_folder_keeps_its_mode(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "workspace"
    shared.mkdir()
    shared.chmod(0o755)
    run = prepare(
        "--plan", str(plan_file), "-o", "id", env={**api_env, "ACP_CONFIG_DIR": str(shared)}
    )
    assert run.code == 0, run.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "config.toml").stat().st_mode) == 0o600


def test_a_new_config_folder_is_private(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, isolated_env: Path
) -> None:
    assert not isolated_env.exists()
    run = prepare("--plan", str(plan_file), "-o", "id", env=api_env)
    assert run.code == 0, run.stderr
    assert stat.S_IMODE(isolated_env.stat().st_mode) == 0o700


def test_a_config_folder_that_cannot_be_written_is_exit_2(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    folder = "/proc/acp-cannot-exist"  # not even root can create it
    run = prepare("--plan", str(plan_file), env={**api_env, "ACP_CONFIG_DIR": folder})
    assert run.code == 2, run.stderr
    assert folder in run.stderr
    assert "ACP_CONFIG_DIR" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_broken_credentials_file_does_not_stop_acp_token(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path, isolated_env: Path
) -> None:
    isolated_env.mkdir(mode=0o700)
    (isolated_env / "credentials.toml").write_text("[origins\n")
    run = prepare("--plan", str(plan_file), "-o", "id", env=api_env)
    assert run.code == 0, run.stderr


def test_control_characters_from_the_server_never_reach_the_terminal(
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    hostile = "\x1b[2J\x1b]0;pwned\x07"
    answer = {"pushSession": {"id": "ps_1" + hostile, "status": "prepared" + hostile}}
    for _ in range(2):
        emulator.queue_fault(
            status=201,
            body=json.dumps(answer),
            content_type="application/json",
            headers={"X-Request-Id": "req_1" + hostile},
        )
    table = prepare("--plan", str(plan_file), env=api_env)
    assert table.code == 0, table.stderr
    assert "\x1b" not in table.output
    assert "\x07" not in table.output
    assert "ID:             ps_1 [2J" in table.stdout
    only_id = prepare("--plan", str(plan_file), "-o", "id", env=api_env)
    assert only_id.code == 6
    assert only_id.stdout == ""
    assert "\x1b" not in only_id.output

    emulator.queue_fault(
        status=500,
        body=json.dumps({"error": {"code": "x", "message": "bad" + hostile}}),
        content_type="application/json",
        headers={"X-Request-Id": "req_2" + hostile},
        times=4,
    )
    failed = prepare("--plan", str(plan_file), env=api_env)
    assert failed.code == 6
    assert "\x1b" not in failed.output
    assert "req_2 [2J ]0;pwned" in failed.stderr
