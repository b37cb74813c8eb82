"""The command tree a run builds (only the group it names, the whole tree otherwise) and
the global options that every command of it takes."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from acp_cli.cli import root
from acp_cli.cli.root import GROUPS, app_for, whole_tree
from tests.support.cli_runner import run_acp


def group_names(tree: typer.Typer) -> list[str]:
    return [
        str(info.typer_instance.info.name) for info in tree.registered_groups if info.typer_instance
    ]


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


def command_names(tree: typer.Typer) -> list[str]:
    """The names of the commands of the one group of ``tree``."""
    [info] = tree.registered_groups
    assert info.typer_instance is not None
    return [str(command.name) for command in info.typer_instance.registered_commands]


@pytest.mark.parametrize(
    ("argv", "commands"),
    [
        (["push", "prepare", "wb", "--plan", "p.json", "-o", "id"], ["prepare"]),
        (["-v", "config", "profiles", "--no-color"], ["profiles"]),
        (["--profile", "plan", "push", "plan", "."], ["plan"]),  # "plan" is the profile's name
        (["auth", "status", "-h"], ["status"]),  # a command's help names no other command
    ],
)
def test_a_run_builds_only_the_command_it_names(argv: list[str], commands: list[str]) -> None:
    assert command_names(app_for(argv)) == commands


@pytest.mark.parametrize(
    "argv",
    [
        ["push"],
        ["push", "-h"],  # the group's help lists every command
        ["push", "prepar", "wb"],  # "Did you mean"
        ["auth", "--profile", "x", "status"],  # whatever an option before the command does
    ],
)
def test_anything_else_after_a_group_gets_the_whole_group(argv: list[str]) -> None:
    whole = [info.typer_instance for info in whole_tree().registered_groups]
    [group] = [tree for tree in whole if tree is not None and tree.info.name == argv[0]]
    assert command_names(app_for(argv)) == [str(info.name) for info in group.registered_commands]


def test_a_mistyped_command_still_gets_did_you_mean() -> None:
    run = run_acp("push", "prepar", "wb_1")
    assert run.code == 2
    assert "prepare" in run.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["push", "-h"],
        ["push", "prepare", "-h"],
        ["config", "profiles", "--help"],
        ["push", "prepare"],  # a usage error
        ["auth", "status", "--bogus"],
    ],
)
def test_what_a_run_prints_is_what_the_whole_tree_prints(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = run_acp(*argv, env={"COLUMNS": "100"})
    monkeypatch.setattr(root, "app_for", lambda argv: whole_tree())
    whole = run_acp(*argv, env={"COLUMNS": "100"})
    assert built == whole
    assert built.code in (0, 2)


@pytest.mark.parametrize("argv", [[], ["--help"], ["--version"], ["pussh", "prepare"]])
def test_anything_else_gets_the_whole_tree(argv: list[str]) -> None:
    assert app_for(argv) is whole_tree()
    assert group_names(whole_tree()) == list(GROUPS)


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


# --- the global options, declared once (acp_cli.cli.options.command) -------------------

GLOBAL_OPTIONS = [["--profile"], ["--api-url"], ["--verbose", "-v"], ["--no-color"]]


def leaf_commands() -> list[tuple[tuple[str, ...], Any]]:
    """Every command of the whole tree (not the groups) with its path."""
    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if not hasattr(command, "list_commands"):
            found.append((path, command))
            return
        ctx = typer.Context(command, info_name=path[-1] if path else "acp")
        for name in command.list_commands(ctx):
            walk(command.get_command(ctx, name), (*path, name))

    walk(typer.main.get_command(whole_tree()), ())
    return found


def test_every_command_takes_the_global_options_last_but_completion() -> None:
    """The options that help lists last on every command, as the root declares them;
    `acp completion` prints the same script whatever they say, so it takes none."""
    root_options = [param.opts for param in typer.main.get_command(whole_tree()).params]
    assert root_options[: len(GLOBAL_OPTIONS)] == GLOBAL_OPTIONS
    commands = leaf_commands()
    assert len(commands) == 15  # the walk reached them all
    for path, command in commands:
        options = [param.opts for param in command.params]
        if path == ("completion",):
            assert not [names for names in options if names in GLOBAL_OPTIONS]
        else:
            assert options[-len(GLOBAL_OPTIONS) :] == GLOBAL_OPTIONS, path


@pytest.mark.parametrize(
    "args",
    [
        ["auth", "status", "--json"],
        ["auth", "logout"],
        ["auth", "token"],
        ["config", "get", "api_url"],
        ["config", "unset", "timeout"],
        ["config", "list"],
        ["push", "diff", "--last", "wb_1", "."],
        ["push", "prepare", "wb_1", "--dir", ".", "--dry-run"],
    ],
    ids=" ".join,
)
def test_a_global_option_after_the_command_reaches_it(args: list[str]) -> None:
    """Each command reads --profile given after its name from its Invocation: a profile
    that config.toml lacks is refused, naming it, before anything is sent or written."""
    assert run_acp("config", "set", "api_url", "https://api.example.com").code == 0
    run = run_acp(*args, "--profile", "ghost")
    assert run.code == 2, run.stderr
    assert "Error: Profile 'ghost' (from --profile) is not in" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize("where", ["before", "after"])
def test_settings_stored_for_the_profile_given_before_or_after(where: str) -> None:
    args = ["config", "set", "timeout", "7"]
    run = run_acp(
        *(["--profile", "new", *args] if where == "before" else [*args, "--profile", "new"])
    )
    assert run.code == 0, run.stderr
    listed = run_acp("config", "get", "timeout", "--profile", "new")
    assert (listed.code, listed.stdout) == (0, "7\n")
