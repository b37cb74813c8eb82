"""Refusals from the server come with what to do next."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acp_cli.emulator import Emulator
from tests.cli_runner import BINDING, TOKEN, run_acp


def test_a_plan_over_the_servers_limit_says_to_push_in_parts(plan_file: Path) -> None:
    with Emulator(tokens=[TOKEN], max_body=64) as emu:
        run = run_acp(
            "push", "prepare", BINDING, "--plan", str(plan_file),
            env={"ACP_API_URL": emu.url, "ACP_TOKEN": TOKEN},
        )  # fmt: skip
    assert run.code == 5
    assert "(413)" in run.stderr
    assert "smaller parts" in run.stderr


def test_a_signature_mismatch_asks_for_a_report(
    emulator: Any, api_env: dict[str, str], plan_file: Path
) -> None:
    body = {"error": {"code": "plan_signature_mismatch", "message": "expected sha256:00"}}
    emulator.queue_fault(status=422, body=json.dumps(body), content_type="application/json")
    run = run_acp("push", "prepare", BINDING, "--plan", str(plan_file), env=api_env)
    assert run.code == 5
    assert "plan_signature_mismatch expected sha256:00" in run.stderr
    assert "acp push signature PLAN_FILE" in run.stderr


@pytest.mark.parametrize(
    ("options", "text", "expected"),
    [
        ([], "Run `acp auth login`.", "Run `acp auth login`."),
        (
            ["--profile", "local"],
            'Set ACP_TOKEN, or `acp auth login --insecure-storage`; printf %s "$T" | acp auth '
            "login --with-token.",
            "Set ACP_TOKEN, or `acp --profile local auth login --insecure-storage`; printf %s "
            '"$T" | acp --profile local auth login --with-token.',
        ),
        (
            ["--profile", "my team", "--api-url", "https://x.example.com"],
            "`acp config set timeout 60` and `acp push signature PLAN_FILE`",
            "`acp --profile 'my team' --api-url https://x.example.com config set timeout 60` and "
            "`acp --profile 'my team' --api-url https://x.example.com push signature PLAN_FILE`",
        ),
        (
            ["--profile", "local"],
            "service acp-cli, acp_cli.files, /usr/bin/acp push, acp is not a command here",
            "service acp-cli, acp_cli.files, /usr/bin/acp push, acp is not a command here",
        ),
    ],
)
def test_commands_in_messages_repeat_the_global_options(
    options: list[str], text: str, expected: str
) -> None:
    from acp_cli.render import with_global_options

    assert with_global_options(text, options) == expected
