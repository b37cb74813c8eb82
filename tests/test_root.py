"""The command tree a run builds: only the group it names, the whole tree otherwise."""

from __future__ import annotations

import pytest
import typer

from acp_cli.cli.root import GROUPS, app, app_for
from tests.cli_runner import run_acp


def group_names(tree: typer.Typer) -> list[str]:
    return [info.typer_instance.info.name for info in tree.registered_groups if info.typer_instance]


@pytest.mark.parametrize(
    ("argv", "groups"),
    [
        (["push", "prepare", "wb", "--plan", "p.json"], ["push"]),
        (["--profile", "push", "auth", "status"], ["auth"]),  # "push" is the profile's name
        (["--api-url", "config", "-v", "config", "list"], ["config"]),
        (["-v", "--no-color", "push", "plan"], ["push"]),
        (["--profile", "push", "completion", "zsh"], []),  # acp completion needs no group
    ],
)
def test_a_run_builds_only_the_group_it_names(argv: list[str], groups: list[str]) -> None:
    assert group_names(app_for(argv)) == groups


@pytest.mark.parametrize("argv", [[], ["--help"], ["--version"], ["pussh", "prepare"]])
def test_anything_else_gets_the_whole_tree(argv: list[str]) -> None:
    assert app_for(argv) is app
    assert group_names(app) == list(GROUPS)


def test_a_mistyped_group_still_gets_did_you_mean() -> None:
    run = run_acp("pussh", "prepare")
    assert run.code == 2
    assert "push" in run.stderr


def test_global_options_before_the_group_still_apply(isolated_env: object) -> None:
    assert run_acp("config", "set", "timeout", "5", "--profile", "staging").code == 0
    run = run_acp("--profile", "staging", "--api-url", "https://api.example.com", "config", "list")
    assert run.code == 0, run.stderr
    assert "Profile staging:" in run.stdout
    assert "https://api.example.com" in run.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["push", "prepare"], "Error: Missing argument 'BINDING'."),
        (["push", "prepare", "wb_1", "--bogus"], "Error: No such option: --bogus"),
        (["config", "get"], "Error: Missing argument 'KEY'."),
        (["push", "prepare", "wb_1", "-o", "yaml"], "Error: Invalid value for '--output' / '-o'"),
    ],
)
def test_usage_errors_are_plain_error_lines_like_every_other_error(
    args: list[str], said: str
) -> None:
    run = run_acp(*args)
    assert run.code == 2
    assert run.stdout == ""
    assert said in run.stderr
    assert run.stderr.startswith(f"Usage: acp {args[0]} {args[1]} [OPTIONS]")
    assert not any(character in run.stderr for character in "╭│╰─")
