"""The generated files: current with the command tree, and a man page that renders cleanly.

`make docs` (tools/gen_docs.py) writes src/acp_cli/completions/ and man/acp.1 from the live
command tree. groff, mandoc and man are checked when installed; CI (CI=true)
installs them, so there a missing one fails.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tools.command_tree import read_tree
from tools.gen_docs import COMPLETIONS, OUTPUTS, render_all, write_all
from tools.man_page import environment

from acp_cli.cli.root import whole_tree
from acp_cli.errors import ExitCode
from tests.support.paths import REPO
from tests.support.shells import require

MAN_PAGE = REPO / "man" / "acp.1"


def test_generated_files_are_current(tmp_path: Path) -> None:
    write_all(tmp_path)
    stale = [
        relative
        for relative in OUTPUTS
        if not (REPO / relative).is_file()
        or (REPO / relative).read_bytes() != (tmp_path / relative).read_bytes()
    ]
    assert not stale, (
        f"Stale generated files: {', '.join(stale)}. "
        "The command tree changed: run `make docs` and commit the result."
    )


def test_no_leftover_files_in_completions() -> None:
    generated = {Path(relative).name for relative in OUTPUTS if relative.startswith(COMPLETIONS)}
    present = {path.name for path in (REPO / COMPLETIONS).iterdir()}
    assert present == generated, "run `make docs`, and remove files it no longer writes"


def test_output_depends_on_the_code_only(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's own profiles and settings never leak into the generated files."""
    first = render_all()
    isolated_env.mkdir(parents=True, exist_ok=True)
    (isolated_env / "config.toml").write_text(
        '[profiles.mine]\napi_url = "https://mine.example.com"\n', encoding="utf-8"
    )
    monkeypatch.setenv("ACP_PROFILE", "mine")
    monkeypatch.setenv("COLUMNS", "40")
    assert render_all() == first


def test_man_page_lists_every_command_option_variable_and_exit_code() -> None:
    source = MAN_PAGE.read_text(encoding="utf-8")

    def troff(text: str) -> str:
        return text.replace("-", "\\-")

    for command in read_tree(whole_tree()).walk():
        assert f"\n.SS {troff(command.name)}\n" in source or not command.path, command.name
        for option in command.options:
            for name in option.names:
                assert f"\\fB{troff(name)}\\fR" in source, f"{command.name} {name}"
    for names, _ in environment():
        assert troff(names) in source
    for code in ExitCode:
        assert f".TP\n\\fB{int(code)}\\fR\n" in source
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT", "FILES"):
        assert f"\n.SH {section}\n" in source
    for section in ("EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in source


def test_groff_reports_nothing() -> None:
    result = subprocess.run(
        [require("groff"), "-man", "-ww", "-z", str(MAN_PAGE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_mandoc_lint_reports_nothing() -> None:
    result = subprocess.run(
        [require("mandoc"), "-T", "lint", str(MAN_PAGE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_man_renders_the_page() -> None:
    env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100", LANG="C.UTF-8")
    result = subprocess.run(
        [require("man"), "-l", str(MAN_PAGE)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    text = result.stdout
    assert text.startswith("ACP(1)")
    for words in (
        "acp push prepare BINDING [OPTIONS]",
        "acp push plan [DIR] [OPTIONS]",
        "--dir DIR",
        "-o, --output table|json|id",
        "ACP_CONFIG_DIR",
        "~/Library/Application Support/acp/",
        "%LOCALAPPDATA%\\acp\\acp\\",
        'export ACP_TOKEN="$ACP_TOKEN_SECRET"',
    ):
        assert words in text
