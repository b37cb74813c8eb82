"""``acp completion SHELL``, ``-h`` on every command, ``acp --version``: what a user
with no checkout gets from the installed command itself."""

from __future__ import annotations

import platform
from importlib.metadata import version
from pathlib import Path
from typing import get_args

import pytest
from tools.command_tree import read_tree
from tools.gen_docs import COMPLETIONS

import acp_cli
from acp_cli.cli.completion import SCRIPTS, Shell
from acp_cli.cli.root import whole_tree
from tests.support.cli_runner import modules_after_console_script, run_acp
from tests.support.paths import REPO

SHELLS = list(get_args(Shell))


def test_every_shell_has_a_script_and_every_script_a_shell() -> None:
    assert list(SCRIPTS) == SHELLS
    assert {path.name for path in (REPO / COMPLETIONS).iterdir()} == set(SCRIPTS.values())


@pytest.mark.parametrize("shell", SHELLS)
def test_prints_the_packaged_script_byte_for_byte(shell: str) -> None:
    run = run_acp("completion", shell)
    assert (run.code, run.stderr) == (0, "")
    assert run.stdout.encode("utf-8") == (REPO / COMPLETIONS / SCRIPTS[shell]).read_bytes()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ([], "Missing argument 'SHELL'"),
        (["tcsh"], "'tcsh' is not one of"),
        (["BASH"], "'BASH' is not one of"),
        ([""], "'' is not one of"),
    ],
    ids=["missing", "unknown", "upper-case", "empty"],
)
def test_a_missing_or_unknown_shell_is_exit_2_naming_the_supported_ones(
    args: list[str], complaint: str
) -> None:
    run = run_acp("completion", *args, env={"COLUMNS": "200"})
    assert (run.code, run.stdout) == (2, "")
    assert complaint in run.stderr
    for shell in SHELLS:
        assert shell in run.stderr


@pytest.mark.parametrize("args", [["--version"], ["completion", "zsh"]])
def test_version_and_completion_load_no_heavy_modules(args: list[str]) -> None:
    """`source <(acp completion zsh)` runs at every shell start."""
    stdout, loaded, said = modules_after_console_script(*args)
    assert stdout.startswith("acp " if args == ["--version"] else "#compdef acp\n")
    for heavy in ("rich", "httpx", "keyring", "tomlkit", "orjson"):
        assert heavy not in loaded, f"acp {' '.join(args)} imported {heavy}; it said: {said}"


@pytest.mark.parametrize("args", [["--version"], ["config", "profiles"]])
def test_version_and_the_profile_names_load_no_command_tree(
    args: list[str], isolated_env: Path
) -> None:
    """Shell completion runs `acp config profiles` on every Tab: Typer and the command
    tree would be most of its time."""
    isolated_env.mkdir(mode=0o700)
    (isolated_env / "config.toml").write_text("[profiles.default]\n[profiles.staging]\n")
    stdout, loaded, said = modules_after_console_script(*args)
    assert stdout == ("default\nstaging\n" if args[0] == "config" else run_acp(*args).stdout)
    assert not {"typer", "acp_cli.cli.root", "acp_cli.cli.options"} & loaded, said


@pytest.mark.parametrize(
    "args", [["--version"], ["--no-color", "--version"]], ids=["quick", "tree"]
)
def test_version_names_acp_python_and_the_platform(args: list[str]) -> None:
    # Alone, --version is answered before the command tree loads (acp_cli.cli.quick);
    # after a global option, by the tree: the same line.
    run = run_acp(*args)
    assert (run.code, run.stderr) == (0, "")
    assert run.stdout == (
        f"acp {acp_cli.__version__} (Python {platform.python_version()}; "
        f"{platform.system()} {platform.machine()})\n"
    )
    # Scripts read the second word of the first line; it is the installed distribution's.
    assert run.stdout.splitlines()[0].split()[1] == version("acp-api-cli")


COMMANDS = [command.path for command in read_tree(whole_tree()).walk()]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(("acp", *path)))
def test_dash_h_is_help_on_every_command_and_group(path: tuple[str, ...]) -> None:
    long = run_acp(*path, "--help", env={"COLUMNS": "100"})
    short = run_acp(*path, "-h", env={"COLUMNS": "100"})
    assert long.code == short.code == 0
    assert short.stdout == long.stdout
    assert f"Usage: {' '.join(('acp', *path))} " in short.stdout


def test_no_command_uses_dash_h_for_anything_but_help() -> None:
    for command in read_tree(whole_tree()).walk():
        [option] = [option for option in command.options if "-h" in option.names]
        assert option.names == ("--help", "-h"), command.name
