"""What one run (`acp_cli.cli.context.Invocation`) reads: config.toml once, whatever
the command needs from it (the profile, the settings, the device ID); only a write
reads it again, under the file's lock, so as not to lose another process's change."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_runner import TOKEN, run_acp
from tests.support.file_opens import opens_of

STORED = """\
device_id = "0b6c5c8e-1111-4222-8333-444455556666"

[profiles.default]
api_url = "https://api.example.com"
timeout = 30

[profiles.staging]
api_url = "https://staging.example.com"
"""

NEW_PROFILE = ["--profile", "new", "--api-url", "https://new.example.com"]
"""A profile that config.toml does not hold yet, and its API."""

PLAN = '{"files": [{"path": "a.txt", "size": 3, "mtime": 1.5}], "root": "/w"}'

ONCE = [
    ["config", "get", "api_url"],
    ["config", "get", "deadline"],
    ["config", "list"],
    ["config", "list", "--profile", "staging", "--json"],
    ["config", "profiles"],
    ["config", "unset", "deadline"],
    ["config", "unset", "timeout", "--profile", "staging"],
    ["auth", "status"],
    ["auth", "status", "--profile", "staging", "--json"],
    ["auth", "token"],
    ["auth", "logout"],
    ["push", "prepare", "wb_1", "--plan", "-", "--dry-run"],
    ["push", "prepare", "wb_1", "--plan", "-", "--dry-run", "-o", "json", "--timeout", "5"],
]


@pytest.fixture
def config(isolated_env: Path) -> Path:
    isolated_env.mkdir(mode=0o700)
    path = isolated_env / "config.toml"
    path.write_text(STORED, encoding="utf-8")
    return path


@pytest.mark.parametrize("args", ONCE, ids=" ".join)
def test_a_command_reads_config_toml_once(config: Path, args: list[str]) -> None:
    with opens_of(config) as opened:
        run = run_acp(*args, env={"ACP_TOKEN": TOKEN}, stdin=PLAN)

    assert "Traceback" not in run.stderr
    assert run.code in (0, 1), run.stderr  # 1: `config get` of a key nothing sets
    assert opened == ["r"]


def test_a_profile_the_file_does_not_know_is_found_in_the_same_read(config: Path) -> None:
    with opens_of(config) as opened:
        run = run_acp("auth", "status", "--profile", "stagign", env={"ACP_TOKEN": TOKEN})

    assert run.code == 2
    assert "Did you mean 'staging'?" in run.stderr
    assert opened == ["r"]


@pytest.mark.parametrize(
    "args", [["config", "unset", "timeout"], ["config", "unset", "api_url", "--profile", "staging"]]
)
def test_a_removal_reads_again_only_under_the_lock_to_write(config: Path, args: list[str]) -> None:
    with opens_of(config) as opened:
        run = run_acp(*args)

    assert run.code == 0, run.stderr
    assert "Removed" in run.stderr
    assert opened == ["r", "r"]  # the read of the run, then the write's own read


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["config", "set", "timeout", "9"], None),
        (["config", "set", "api_url", "https://new.example.com", "--profile", "new"], None),
        (["auth", "login", "--with-token", "--insecure-storage"], TOKEN),
        (["auth", "login", "--with-token", "--insecure-storage", *NEW_PROFILE], TOKEN),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_a_command_that_writes_reads_config_toml_once(
    config: Path, args: list[str], stdin: str | None
) -> None:
    with opens_of(config) as opened:
        run = run_acp(*args, stdin=stdin)

    assert run.code == 0, run.stderr
    assert opened == ["r"]  # config set: only the write's own read, under the lock


def test_a_new_device_id_is_stored_after_the_one_read(config: Path) -> None:
    config.write_text(STORED.split("\n", 2)[2], encoding="utf-8")  # no device_id yet

    with opens_of(config) as opened:
        run = run_acp(
            "push", "prepare", "wb_1", "--plan", "-", "--dry-run", "-o", "json",
            env={"ACP_TOKEN": TOKEN}, stdin=PLAN,
        )  # fmt: skip

    assert run.code == 0, run.stderr
    assert "device_id = " in config.read_text(encoding="utf-8")
    assert opened == ["r", "r"]  # the read of the run, then the write's own read


def test_the_count_sees_every_open(config: Path) -> None:
    """The audit hook counts opens that go around acp's reader, so the tests above
    cannot pass by missing a read."""
    with opens_of(config) as opened:
        config.read_bytes()
        with open(config, "rb"):  # the builtin, not Path.open
            pass

    assert opened == ["r", "r"]
