"""Refusals from the server come with what to do next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acp_cli.emulator import Emulator
from tests.support.cli_runner import BINDING, TOKEN, run_acp


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
    emulator: Emulator, api_env: dict[str, str], plan_file: Path
) -> None:
    body = {"error": {"code": "plan_signature_mismatch", "message": "expected sha256:00"}}
    emulator.queue_fault(status=422, body=json.dumps(body), content_type="application/json")
    run = run_acp("push", "prepare", BINDING, "--plan", str(plan_file), env=api_env)
    assert run.code == 5
    assert "(422): expected sha256:00.\n  server code: plan_signature_mismatch\n" in run.stderr
    assert "acp push signature PLAN_FILE" in run.stderr


@pytest.mark.parametrize(
    ("options", "text", "expected"),
    [
        ([], "Run `acp auth login`.", "Run `acp auth login`."),
        (
            ["--profile", "local"],
            'Set ACP_TOKEN, `acp auth login --insecure-storage` or `printf %s "$T" | acp auth '
            "login --with-token`.",
            "Set ACP_TOKEN, `acp --profile local auth login --insecure-storage` or `printf %s "
            '"$T" | acp --profile local auth login --with-token`.',
        ),
        (
            ["--profile", "my team", "--api-url", "https://x.example.com"],
            "`acp config set timeout 60` and `acp push signature PLAN_FILE`",
            "`acp --profile 'my team' --api-url https://x.example.com config set timeout 60` and "
            "`acp --profile 'my team' --api-url https://x.example.com push signature PLAN_FILE`",
        ),
        (
            ["--profile", "local"],
            "acp push plan needs git; `acp-cli`, `/usr/bin/acp push`, `acp is` are no commands",
            "acp push plan needs git; `acp-cli`, `/usr/bin/acp push`, `acp is` are no commands",
        ),
    ],
)
def test_commands_in_messages_repeat_the_global_options(
    options: list[str], text: str, expected: str
) -> None:
    from acp_cli.cli.render import with_global_options

    assert with_global_options(text, options) == expected


FAILING_RUNS = [
    (["--profile", "stagin", "config", "list"], {}),
    (["push", "prepare", BINDING, "--dir", "."], {"ACP_API_URL": ""}),
    (["push", "prepare", BINDING], {}),
    (["config", "set", "timeout", "soon"], {}),
    (["--profile", "ci", "--api-url", "https://api.example.com", "auth", "token"], {}),
    (["auth", "login"], {}),
    (
        ["auth", "login", "--with-token"],
        {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
    ),
]


@pytest.mark.parametrize(("args", "env"), FAILING_RUNS, ids=lambda value: " ".join(value))
def test_every_command_a_hint_quotes_is_a_real_acp_command(
    isolated_env: Path, args: list[str], env: dict[str, str]
) -> None:
    import re
    import shlex

    run = run_acp(*args, env={"ACP_TOKEN": "", **env}, stdin=TOKEN)
    assert run.code in (2, 3), run.stderr
    assert run.stderr.startswith("Error: "), run.stderr
    quoted = re.findall(r"`([^`]*)`", run.stderr)
    commands = [part.strip() for text in quoted for part in text.split("|")]
    commands = [command for command in commands if command.startswith("acp ")]
    assert commands, run.stderr
    for command in commands:
        words = shlex.split(command)[1:]
        assert [word for word in ("--profile", "--api-url") if word in args] == [
            word for word in ("--profile", "--api-url") if word in words
        ]
        helped = run_acp(*words, "--help")  # the command and its options exist
        assert helped.code == 0, (command, helped.stderr)
